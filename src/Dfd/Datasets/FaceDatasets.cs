using System.Text.Json.Nodes;
using Dfd.Imaging;

namespace Dfd.Datasets;

/// <summary>One photo and whose it is. <see cref="Aligned"/>: already a crop in the encoder's alignment.</summary>
public sealed record FaceItem(string Path, string Identity, bool Aligned = false);

/// <summary>
/// Readers for the layouts people have: LFW (people folders <c>Name/Name_NNNN.jpg</c>), VGGFace2 (<c>nXXXXXX/NNNN_NN.jpg</c>
/// with <c>identity_meta.csv</c>), CelebA-HQ (flat numbered files, no identities), <c>dfd align</c> output (aligned
/// crops with <c>alignment.json</c>) and plain folders (identity = sub-folder name).
/// Give a kind explicitly as <c>kind:DIR</c>, or a folder and let the layout decide.
/// </summary>
public static class FaceDatasets
{
    public static readonly string[] Kinds = ["lfw", "vggface2", "celebahq", "aligned", "folder"];

    public static (string Kind, List<FaceItem> Items) Open(string spec)
    {
        string kind, dir;
        int colon = spec.IndexOf(':');
        if (colon > 1 && Kinds.Contains(spec[..colon])) { kind = spec[..colon]; dir = spec[(colon + 1)..]; }
        else { dir = spec; kind = Detect(dir); }
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: dataset folder not found");
        var items = kind switch
        {
            "lfw" => PeopleFolders(dir),
            "vggface2" => VggFace2(dir),
            "celebahq" => ImageIO.ListImages(dir, recursive: false).Select(p => new FaceItem(p, Path.GetFileNameWithoutExtension(p))).ToList(),
            "aligned" => Aligned(dir),
            _ => PeopleFolders(dir),
        };
        if (items.Count == 0) throw new InvalidDataException($"{dir}: no images found for a {kind} dataset");
        return (kind, items);
    }

    /// <summary>The test items: sorted by person then file; LFW limited to the split's test people where a split applies.</summary>
    public static (string Kind, List<FaceItem> Items, LfwSplit? Split, string? SplitFile, int ListedPeople) TestItems(string data, string? split, int? limitPeople)
    {
        var (kind, items) = FaceDatasets.Open(data);
        LfwSplit? sp = null;
        string? spPath = null;
        if (kind == "lfw")
        {
            (sp, spPath) = LfwSplit.Resolve(split);
            if (sp != null)
            {
                items = items.Where(i => sp.IsTest(i.Identity)).ToList();
                if (items.Count == 0) throw new InvalidDataException($"{data}: none of the {sp.TestPeople} test people of split {sp.Name} is in this folder");
            }
        }
        items = items.OrderBy(i => i.Identity, StringComparer.Ordinal).ThenBy(i => i.Path, StringComparer.Ordinal).ToList();
        int listed = items.Select(i => i.Identity).Distinct().Count();
        if (limitPeople is { } lim)
        {
            if (lim < 2) throw new ArgumentOutOfRangeException(nameof(limitPeople), lim, "thresholds need at least two people");
            var keep = items.Select(i => i.Identity).Distinct().Take(lim).ToHashSet(StringComparer.Ordinal);
            items = items.Where(i => keep.Contains(i.Identity)).ToList();
        }
        return (kind, items, sp, spPath, listed);
    }

    public static string Detect(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: dataset folder not found");
        if (File.Exists(Path.Combine(dir, "alignment.json"))) return "aligned";
        if (File.Exists(Path.Combine(dir, "identity_meta.csv")) ||
            Directory.EnumerateDirectories(dir).Take(5).Any(d => System.Text.RegularExpressions.Regex.IsMatch(Path.GetFileName(d), @"^n\d{6}$")))
            return "vggface2";
        var sub = Directory.EnumerateDirectories(dir).FirstOrDefault();
        if (sub != null)
        {
            var name = Path.GetFileName(sub);
            if (Directory.EnumerateFiles(sub).Any(f => Path.GetFileName(f).StartsWith(name + "_", StringComparison.Ordinal))) return "lfw";
            return "folder";
        }
        return "celebahq";
    }

    static List<FaceItem> PeopleFolders(string dir) =>
        ImageIO.ListImages(dir).Select(p => new FaceItem(p, Path.GetFileName(Path.GetDirectoryName(p)!))).ToList();

    static List<FaceItem> VggFace2(string dir)
    {
        var items = new List<FaceItem>();
        foreach (var p in ImageIO.ListImages(dir))
            items.Add(new FaceItem(p, Path.GetFileName(Path.GetDirectoryName(p)!)));
        return items;
    }

    static List<FaceItem> Aligned(string dir)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "alignment.json")));
        var items = new List<FaceItem>();
        foreach (var r in json!["results"]!.AsArray())
        {
            var src = r!["file"]!.GetValue<string>();
            foreach (var o in r["outputs"]!.AsArray())
            {
                var rel = o!.GetValue<string>();
                items.Add(new FaceItem(Path.Combine(dir, rel), Path.GetDirectoryName(rel) is { Length: > 0 } d ? d : Path.GetFileNameWithoutExtension(src), Aligned: true));
            }
        }
        return items;
    }
}
