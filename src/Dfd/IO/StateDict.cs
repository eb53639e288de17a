using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.IO;

/// <summary>Copies named host tensors into a module's parameters and buffers, naming every mismatch.</summary>
public static class StateDict
{
    public static void Assign(nn.Module module, IReadOnlyDictionary<string, HostTensor> tensors, string source)
    {
        var own = module.state_dict();
        var missing = own.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var unexpected = tensors.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var wrongShape = own.Keys.Where(tensors.ContainsKey)
            .Where(k => !own[k].shape.SequenceEqual(tensors[k].Shape))
            .Select(k => $"{k}: file [{string.Join(",", tensors[k].Shape)}], model [{string.Join(",", own[k].shape)}]").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys: {string.Join(", ", missing.Take(12))}{(missing.Count > 12 ? $" (+{missing.Count - 12} more)" : "")}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys: {string.Join(", ", unexpected.Take(12))}{(unexpected.Count > 12 ? $" (+{unexpected.Count - 12} more)" : "")}");
            if (wrongShape.Count > 0) parts.Add($"shape mismatches: {string.Join("; ", wrongShape.Take(12))}");
            throw new ModelFileException(source, "weights do not fit the model: " + string.Join("; ", parts));
        }
        using var _ = torch.no_grad();
        foreach (var (k, t) in own)
        {
            var src = torch.tensor(tensors[k].Data, tensors[k].Shape).to(t.dtype);
            t.copy_(src);
        }
    }

    public static Dictionary<string, HostTensor> ToHost(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key,
            kv => new HostTensor(kv.Value.shape, kv.Value.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray()));
}
