using System.Collections;
using TorchSharp;
using TorchSharp.PyBridge;

namespace Dfd.IO;

/// <summary>
/// A state dict from any of the files Dfd accepts, told apart by content, not extension: a zip checkpoint as
/// <c>torch.save</c> writes it since torch 1.6 (read by TorchSharp.PyBridge's unpickler), a legacy pickle checkpoint
/// (<see cref="TorchLegacy"/>), or safetensors (<see cref="Safetensors"/>, which keeps its <c>__metadata__</c>).
/// </summary>
public static class StateDictFile
{
    public enum Kind { Safetensors, TorchZip, TorchLegacy }

    public static Kind Sniff(string path)
    {
        byte[] head = new byte[9];
        int n;
        try
        {
            using var f = File.OpenRead(path);
            n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (FileNotFoundException) { throw new ModelFileException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new ModelFileException(path, "file not found"); }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return Kind.TorchZip;
        // safetensors: an 8-byte header length (whose first byte may well be 0x80) and then the JSON header.
        if (n == 9 && head[8] == '{') return Kind.Safetensors;
        if (n >= 1 && head[0] == 0x80) return Kind.TorchLegacy;
        return Kind.Safetensors;
    }

    public static (Dictionary<string, HostTensor> Tensors, Dictionary<string, string> Metadata) Read(string path) =>
        Sniff(path) switch
        {
            Kind.TorchZip => (ReadZip(path), new Dictionary<string, string>()),
            Kind.TorchLegacy => (TorchLegacy.ReadStateDict(path), new Dictionary<string, string>()),
            _ => Safetensors.Read(path),
        };

    /// <summary>The tensors of a zip checkpoint: the state dict itself, or the one under state_dict/model_state_dict/model.</summary>
    public static Dictionary<string, HostTensor> ReadZip(string path)
    {
        Hashtable table;
        try { table = PyTorchUnpickler.UnpickleStateDict(path); }
        catch (Exception e) when (e is not ModelFileException)
        {
            throw new ModelFileException(path, $"could not read the PyTorch zip checkpoint ({e.GetType().Name}: {e.Message})");
        }
        if (!table.Values.OfType<torch.Tensor>().Any())
            foreach (var key in new[] { "state_dict", "model_state_dict", "net_state_dict", "model" })
                if (table[key] is Hashtable inner && inner.Values.OfType<torch.Tensor>().Any()) { table = inner; break; }
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in table)
        {
            if (e.Value is not torch.Tensor t) continue;
            using (t)
            {
                using var f = t.to_type(torch.ScalarType.Float32).contiguous();
                result[(string)e.Key] = new HostTensor(t.shape, f.data<float>().ToArray());
            }
        }
        if (result.Count == 0)
            throw new ModelFileException(path, $"no tensors in the checkpoint (top-level keys: {string.Join(", ", table.Keys.Cast<object>().Take(12))})");
        return result;
    }
}
