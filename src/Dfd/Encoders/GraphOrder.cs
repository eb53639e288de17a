using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Encoders;

/// <summary>
/// Ordering and running the nodes of an imported graph (ONNX, tfjs) for the interpreters: each node after every value
/// it reads, for a run only the nodes some wanted value depends on, and every value freed after its last reader.
/// Nodes are told apart by the names they read and write; an empty name is an absent optional input or output.
/// </summary>
static class GraphOrder
{
    /// <summary>
    /// Runs <paramref name="nodes"/> (in order) on the <paramref name="constants"/> and <paramref name="feeds"/> (moved
    /// to <paramref name="device"/>) and returns the <paramref name="wanted"/> values as new tensors owned by the caller.
    /// <paramref name="execute"/> gets a node's inputs (null for an absent one) and returns its outputs in the order of
    /// <paramref name="writes"/>; errors name <paramref name="source"/> and the node (<paramref name="describe"/>).
    /// </summary>
    public static Dictionary<string, Tensor> Run<T>(string source, IReadOnlyList<T> nodes, IReadOnlyDictionary<string, Tensor> constants,
        IReadOnlyDictionary<string, Tensor> feeds, Device device, IReadOnlyList<string> wanted,
        Func<T, IReadOnlyList<string>> reads, Func<T, IReadOnlyList<string>> writes, Func<T, Tensor?[], Tensor?[]> execute, Func<T, string> describe)
    {
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int s = 0; s < nodes.Count; s++)
            foreach (var i in reads(nodes[s])) if (i.Length > 0) lastUse[i] = s;

        using var scope = torch.NewDisposeScope();
        var values = new Dictionary<string, Tensor>(constants, StringComparer.Ordinal);
        foreach (var (k, v) in feeds) values[k] = v.device == device ? v : v.to(device);
        var owned = new HashSet<string>(StringComparer.Ordinal);
        var keep = new HashSet<string>(wanted, StringComparer.Ordinal);

        for (int s = 0; s < nodes.Count; s++)
        {
            var node = nodes[s];
            var inNames = reads(node);
            var ins = new Tensor?[inNames.Count];
            for (int j = 0; j < ins.Length; j++)
                if (inNames[j].Length > 0 && !values.TryGetValue(inNames[j], out ins[j]))
                    throw new InvalidDataException($"{source}: {describe(node)}: input '{inNames[j]}' has no value");
            var outNames = writes(node);
            using (var nodeScope = torch.NewDisposeScope())
            {
                Tensor?[] outs;
                try { outs = execute(node, ins); }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    throw new InvalidDataException($"{source}: {describe(node)} failed on inputs " +
                        $"{string.Join(", ", ins.Select(t => t is null ? "-" : $"{t.dtype}[{string.Join(",", t.shape)}]"))}: {e.Message}", e);
                }
                for (int j = 0; j < outs.Length && j < outNames.Count; j++)
                {
                    var o = outs[j];
                    if (o is null || outNames[j].Length == 0) continue;
                    // Every value gets its own handle, so freeing one never frees another (or a constant or a feed).
                    if (ins.Any(t => ReferenceEquals(t, o)) || constants.Values.Any(c => ReferenceEquals(c, o))) o = o.alias();
                    o.MoveToOuterDisposeScope();
                    values[outNames[j]] = o;
                    owned.Add(outNames[j]);
                }
            }
            foreach (var name in inNames.Distinct())
                if (name.Length > 0 && lastUse[name] == s && owned.Contains(name) && !keep.Contains(name))
                {
                    values[name].Dispose();
                    values.Remove(name);
                    owned.Remove(name);
                }
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var w in wanted)
        {
            if (!values.TryGetValue(w, out var t)) throw new ArgumentException($"{source}: no value named '{w}' in the graph");
            if (!owned.Contains(w)) t = t.alias();
            result[w] = t.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>The nodes in an order that runs; <paramref name="unreadable"/> makes the error for a node reading a value
    /// that nothing before it produced (a missing value or a cycle).</summary>
    public static List<T> Sort<T>(IEnumerable<T> nodes, Func<T, IEnumerable<string>> reads, Func<T, IEnumerable<string>> writes,
        IEnumerable<string> available, Func<T, string, Exception> unreadable)
    {
        var have = new HashSet<string>(available, StringComparer.Ordinal);
        var pending = nodes.ToList();
        var sorted = new List<T>(pending.Count);
        while (pending.Count > 0)
        {
            int before = sorted.Count;
            for (int i = 0; i < pending.Count; i++)
            {
                var n = pending[i];
                if (!reads(n).All(have.Contains)) continue;
                sorted.Add(n);
                foreach (var o in writes(n)) have.Add(o);
                pending.RemoveAt(i--);
            }
            if (sorted.Count == before)
                throw unreadable(pending[0], reads(pending[0]).First(x => !have.Contains(x)));
        }
        return sorted;
    }

    /// <summary>The nodes of <paramref name="order"/> that some name in <paramref name="wanted"/> depends on, in order.</summary>
    public static List<T> Needed<T>(IReadOnlyList<T> order, IEnumerable<string> wanted, Func<T, IEnumerable<string>> reads, Func<T, IEnumerable<string>> writes)
    {
        var need = new HashSet<string>(wanted, StringComparer.Ordinal);
        var keep = new bool[order.Count];
        for (int i = order.Count - 1; i >= 0; i--)
        {
            if (!writes(order[i]).Any(need.Contains)) continue;
            keep[i] = true;
            foreach (var x in reads(order[i])) need.Add(x);
        }
        return order.Where((_, i) => keep[i]).ToList();
    }
}
