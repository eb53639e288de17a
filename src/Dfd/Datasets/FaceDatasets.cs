using System.Text.Json.Nodes;
using Dfd.Imaging;

namespace Dfd.Datasets;

/// <summary>One photo and whose it is. <see cref="Aligned"/>: already a crop in the encoder's alignment.</summary>
public sealed record FaceItem(string Path, string Identity, bool Aligned = false);

/// <summary>
/// Readers for the layouts people have: LFW (people folders <c>Name/Name_NNNN.jpg</c>), VGGFace2 (<c>nXXXXXX/NNNN_NN.jpg</c>
/// with <c>identity_meta.csv</c>), CelebA-HQ (flat numbered files, people from its identity file, <see cref="CelebAHq"/>), <c>dfd align</c> output (aligned
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
            "celebahq" => CelebAHq(dir),
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

    /// <summary>Identity files CelebA-HQ comes with, looked for in its folder and the folder above.</summary>
    public static readonly string[] CelebAHqIdentityFiles = ["CelebA-HQ-identity.txt", "identity_CelebAHQ.txt"];
    public const string CelebAHqMapping = "CelebA-HQ-to-CelebA-mapping.txt", CelebAIdentity = "identity_CelebA.txt";

    /// <summary>
    /// CelebA-HQ: numbered images (<c>0.jpg</c>…<c>29999.jpg</c>, in DIR or DIR/CelebA-HQ-img as CelebAMask-HQ ships
    /// them), each person's from an identity file in DIR or the folder above: either one line per image
    /// (<c>FILE IDENTITY</c>, e.g. <c>CelebA-HQ-identity.txt</c>), or CelebAMask-HQ's <c>CelebA-HQ-to-CelebA-mapping.txt</c>
    /// (<c>idx orig_idx orig_file</c>: image idx is CelebA's orig_file) with CelebA's <c>identity_CelebA.txt</c>
    /// (<c>FILE IDENTITY</c>). Without any, each image is its own person (no type-II pairs). Files are matched by
    /// number, so <c>12.jpg</c>, <c>00012.png</c> and <c>12.png</c> are the same image.
    /// </summary>
    /// <exception cref="InvalidDataException">A malformed identity file, or images it does not list.</exception>
    public static List<FaceItem> CelebAHq(string dir)
    {
        var imgDir = dir;
        var files = ImageIO.ListImages(dir, recursive: false);
        if (files.Count == 0 && Directory.Exists(Path.Combine(dir, "CelebA-HQ-img")))
            files = ImageIO.ListImages(imgDir = Path.Combine(dir, "CelebA-HQ-img"), recursive: false);
        var ids = CelebAHqIdentities(dir);
        if (ids == null) return files.Select(p => new FaceItem(p, Path.GetFileNameWithoutExtension(p))).ToList();
        var (map, source) = ids.Value;
        var items = new List<FaceItem>();
        var missing = new List<string>();
        foreach (var p in files)
        {
            if (Number(Path.GetFileName(p)) is { } n && map.TryGetValue(n, out var id)) items.Add(new FaceItem(p, id));
            else missing.Add(Path.GetFileName(p));
        }
        if (missing.Count > 0)
            throw new InvalidDataException($"{source}: lists no identity for {missing.Count} of the {files.Count} images in {imgDir} (e.g. {missing[0]})");
        return items;
    }

    /// <summary>Image number → identity, and the file(s) it came from; null when no identity file is found.</summary>
    static (Dictionary<long, string> Map, string Source)? CelebAHqIdentities(string dir)
    {
        var places = new[] { dir, Path.GetDirectoryName(Path.GetFullPath(dir).TrimEnd('/')) ?? dir };
        string? Find(string name) => places.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        foreach (var name in CelebAHqIdentityFiles)
            if (Find(name) is { } direct) return (ReadPairs(direct, "FILE IDENTITY", (f, v) => (Number(f), v)), direct);
        if (Find(CelebAHqMapping) is { } mapping)
        {
            var celeba = Find(CelebAIdentity)
                ?? throw new InvalidDataException($"{mapping}: found, but not CelebA's {CelebAIdentity} beside it, which gives the people of the images it maps to");
            var person = ReadPairs(celeba, "FILE IDENTITY", (f, v) => (Number(f), v));
            var map = new Dictionary<long, string>();
            int line = 0;
            foreach (var raw in File.ReadLines(mapping))
            {
                line++;
                var f = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (f.Length == 0 || line == 1 && f[0] == "idx") continue;
                if (f.Length < 3 || !long.TryParse(f[0], out var idx) || Number(f[2]) is not { } orig)
                    throw new InvalidDataException($"{mapping}, line {line}: expected idx orig_idx orig_file");
                map[idx] = person.TryGetValue(orig, out var id) ? id
                    : throw new InvalidDataException($"{celeba}: has no identity for {f[2]} (CelebA-HQ image {idx}, per {Path.GetFileName(mapping)} line {line})");
            }
            return (map, mapping);
        }
        return null;
    }

    static Dictionary<long, string> ReadPairs(string path, string expected, Func<string, string, (long? Key, string Value)> parse)
    {
        var d = new Dictionary<long, string>();
        int line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            line++;
            var f = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0) continue;
            var (k, v) = f.Length == 2 ? parse(f[0], f[1]) : (null, "");
            if (k is not { } key)
            {
                if (line == 1 && f.Length == 2 && Number(f[1]) == null) continue; // a header row
                throw new InvalidDataException($"{path}, line {line}: expected {expected}, e.g. '12.jpg 2880'");
            }
            d[key] = v;
        }
        return d;
    }

    /// <summary>The number a file is named by (<c>00012.jpg</c> → 12), or null.</summary>
    static long? Number(string file) => long.TryParse(Path.GetFileNameWithoutExtension(file), out var n) && n >= 0 ? n : null;

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
