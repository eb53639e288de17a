namespace Dfd.Datasets;

/// <summary>
/// What a decoder trains on: every dataset given, less the LFW test people of the split, and a few test faces (one
/// each of the first eight test people) to draw sample grids with.
/// </summary>
public sealed record TrainingData(List<FaceItem> Items, List<FaceItem> Preview, List<string> Descriptions)
{
    /// <param name="specs">Dataset specs (<see cref="FaceDatasets.Open"/>), e.g. <c>lfw:DIR</c>, <c>folder:DIR</c>.</param>
    /// <param name="limit">Keep the first N items (after the split), for short runs.</param>
    public static TrainingData Assemble(IReadOnlyList<string> specs, LfwSplit? split, int limit = int.MaxValue)
    {
        var items = new List<FaceItem>();
        var preview = new List<FaceItem>();
        var desc = new List<string>();
        foreach (var ds in specs)
        {
            var (kind, list) = FaceDatasets.Open(ds);
            var named = ds.StartsWith(kind + ":", StringComparison.Ordinal) ? ds : kind + ":" + ds;
            if (kind == "lfw" && split != null)
            {
                preview.AddRange(list.Where(i => split.IsTest(i.Identity)).GroupBy(i => i.Identity).Select(g => g.First()).Take(8));
                int before = list.Count;
                list = list.Where(i => !split.IsTest(i.Identity)).ToList();
                desc.Add($"{named} ({list.Count} of {before} images; split {split.Name} holds out {before - list.Count})");
            }
            else desc.Add($"{named} ({list.Count} images)");
            items.AddRange(list);
        }
        if (items.Count > limit) items = items.Take(limit).ToList();
        return new TrainingData(items, preview, desc);
    }
}
