using System.Text.Json;
using Dfd.IO;

namespace Dfd.Datasets;

/// <summary>
/// The single-file cache format before shards: basePath.json (index), basePath.templates.npy ([2N, D]: each face's plain
/// then mirrored template), basePath.crops.bin (N raw HWC crops). Still read: loaded whole (it was made to fit in
/// memory), or converted into a shard set without running the encoder again.
/// </summary>
public static class LegacyCache
{
    sealed record Index(List<string> Files, List<string> Identities, List<bool> Aligned, int Width, int Height, List<string[]> Skipped);

    public static bool Exists(string basePath) => File.Exists(basePath + ".json");

    /// <summary>The cache at basePath in memory, or null if absent or damaged.</summary>
    public static EncodedFaces? Load(string basePath)
    {
        try
        {
            if (!File.Exists(basePath + ".json")) return null;
            var idx = JsonSerializer.Deserialize<Index>(File.ReadAllText(basePath + ".json"))!;
            var (t, shape) = Npy.Read(basePath + ".templates.npy");
            int n = idx.Files.Count, d = (int)shape[1], size = idx.Width * idx.Height * 3;
            var raw = File.ReadAllBytes(basePath + ".crops.bin");
            if (raw.Length != (long)n * size || shape[0] != 2 * n) return null;
            return new EncodedFaces
            {
                Items = Enumerable.Range(0, n).Select(i => new FaceItem(idx.Files[i], idx.Identities[i], idx.Aligned[i])).ToList(),
                Crops = Enumerable.Range(0, n).Select(i => raw.AsSpan(i * size, size).ToArray()).ToArray(),
                Templates = Enumerable.Range(0, n).Select(i => t.AsSpan(2 * i * d, d).ToArray()).ToArray(),
                MirrorTemplates = Enumerable.Range(0, n).Select(i => t.AsSpan((2 * i + 1) * d, d).ToArray()).ToArray(),
                Width = idx.Width, Height = idx.Height,
                Skipped = idx.Skipped.Select(s => (s[0], s[1])).ToList(),
            };
        }
        catch (Exception e) when (e is JsonException or IOException or ModelFileException or NullReferenceException or ArgumentException)
        {
            return null; // a damaged cache is rebuilt
        }
    }

    /// <summary>
    /// A source that reads the faces of <paramref name="items"/> from the old cache at basePath (the set's folder name
    /// plus the old suffixes), or null when there is none or it does not hold exactly these items (then the set is
    /// built from the photos, and <paramref name="note"/> says why).
    /// </summary>
    public static FaceSource? Source(string basePath, IReadOnlyList<FaceItem> items, SetInfo set, Action<string>? note)
    {
        if (!Exists(basePath)) return null;
        var old = Load(basePath);
        if (old == null || old.Width != set.Width || old.Height != set.Height || old.Templates.Count > 0 && old.Templates[0].Length != set.Dim)
        {
            note?.Invoke($"{basePath}.json: an old-format cache that cannot be read (damaged or of another shape); building the set from the photos instead");
            return null;
        }
        // Kept faces are in input order; the skipped ones are listed with their problems.
        var row = new int[items.Count];
        var problems = old.Skipped.GroupBy(s => s.File).ToDictionary(g => g.Key, g => g.First().Problem);
        int next = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (next < old.Count && old.Items[next].Path == items[i].Path) row[i] = next++;
            else if (problems.ContainsKey(items[i].Path)) row[i] = -1;
            else { note?.Invoke($"{basePath}.json: an old-format cache of another item list; building the set from the photos instead"); return null; }
        }
        if (next != old.Count) { note?.Invoke($"{basePath}.json: an old-format cache of another item list; building the set from the photos instead"); return null; }
        note?.Invoke($"{basePath}.json: converting the old single-file cache into shards (no encoding needed); the old files can be deleted afterwards");
        return (first, count, ct) => Enumerable.Range(first, count).Select(i => row[i] < 0
            ? new SourceFace(items[i], null, null, null, null, problems[items[i].Path])
            : new SourceFace(old.Items[row[i]], old.Crops[row[i]], old.Templates[row[i]], old.MirrorTemplates[row[i]]));
    }
}
