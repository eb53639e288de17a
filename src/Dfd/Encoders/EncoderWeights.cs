using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Encoders;

/// <summary>The one way an encoder's weights file becomes its model, for every encoder built in C#.</summary>
public static class EncoderWeights
{
    /// <summary>
    /// Reads <paramref name="path"/> (zip or legacy torch.save, or safetensors, told apart by content), refuses a file
    /// whose metadata names another encoder, drops a classifier head's keys (<paramref name="headPrefix"/>), accepts a
    /// one-element tensor for a 0-d one (num_batches_tracked as some converters write it), assigns the rest by exact
    /// name (mismatches name the keys and shapes), and returns <paramref name="model"/> in eval mode on
    /// <paramref name="device"/>; on failure the model is disposed.
    /// </summary>
    /// <exception cref="ModelFileException">The file is unreadable, another encoder's, or does not fit the model.</exception>
    public static T Load<T>(T model, string path, string encoderName, Device? device = null, string? headPrefix = null) where T : nn.Module
    {
        try
        {
            var tensors = Read(path, encoderName);
            if (headPrefix != null)
                foreach (var k in tensors.Keys.Where(k => k.StartsWith(headPrefix, StringComparison.Ordinal)).ToList()) tensors.Remove(k);
            foreach (var (k, own) in model.state_dict())
                if (own.dim() == 0 && tensors.TryGetValue(k, out var t) && t.Shape.Length > 0 && t.Count == 1)
                    tensors[k] = t with { Shape = [] };
            StateDict.Assign(model, tensors, path);
        }
        catch { model.Dispose(); throw; }
        model.eval();
        if (device != null) model.to(device);
        return model;
    }

    /// <summary>The tensors of a weights file, after checking that its metadata (where it has any) names <paramref name="encoderName"/>.</summary>
    public static Dictionary<string, HostTensor> Read(string path, string encoderName)
    {
        var (tensors, meta) = StateDictFile.Read(path);
        if (meta.TryGetValue("encoder", out var enc) && enc != encoderName)
            throw new ModelFileException(path, $"holds weights of encoder '{enc}', not '{encoderName}'");
        return tensors;
    }
}
