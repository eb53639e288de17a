namespace Dfd.Encoders;

/// <summary>
/// Ordering the nodes of an imported graph (ONNX, tfjs) for the interpreters: each node after every value it reads,
/// and, for a run, only the nodes some wanted value depends on. Nodes are told apart by the names they read and write.
/// </summary>
static class GraphOrder
{
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
