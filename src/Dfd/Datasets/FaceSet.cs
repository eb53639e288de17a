using System.Text.Json;

namespace Dfd.Datasets;

/// <summary>One shard in a set's manifest.</summary>
public sealed record ShardEntry(string File, int FirstItem, int Items, int Count, long Bytes, string Sha256);

/// <summary>set.json: written once every shard is there, so its presence means the set is complete.</summary>
public sealed record SetManifest
{
    public string Format { get; init; } = "dfd-faces-set";
    public int Version { get; init; } = FaceShard.Version;
    public required SetInfo Set { get; init; }
    public required int FacesPerShard { get; init; }
    public required int Items { get; init; }
    public required int Count { get; init; }
    public required long Bytes { get; init; }
    public required List<ShardEntry> Shards { get; init; }
}

/// <summary>build.json: what a (possibly split, possibly interrupted) build of the folder makes, written before the first
/// shard, so every later run and every --shard part builds the same shards.</summary>
public sealed record BuildPlan(SetInfo Set, int Items, int FacesPerShard)
{
    public int Shards => (Items + FacesPerShard - 1) / FacesPerShard;
    public (int First, int Count) Range(int shard) => (shard * FacesPerShard, Math.Min(FacesPerShard, Items - shard * FacesPerShard));
}

/// <summary>
/// An encoded training set on disk: a folder of fixed-size shards (<see cref="FaceShard"/>) and set.json. Faces are
/// read as needed with positional reads, not mapped: mapped pages count as the process's resident memory once touched,
/// so an epoch over a mapped 20 GB set would show 20 GB resident; plain reads leave them to the page cache.
/// </summary>
public sealed class FaceSet : IDisposable
{
    public const string ManifestName = "set.json", PlanName = "build.json";

    public string Dir { get; }
    public SetManifest Manifest { get; }
    public SetInfo Info => Manifest.Set;
    public int Count => Manifest.Count;
    public List<(string File, string Problem)> Skipped { get; }

    readonly ShardReader[] shards;
    readonly int[] starts;   // starts[s]: the set index of shard s's first face; starts[^1] = Count

    FaceSet(string dir, SetManifest m, ShardReader[] shards, List<(string, string)> skipped)
    {
        (Dir, Manifest, this.shards, Skipped) = (dir, m, shards, skipped);
        starts = new int[shards.Length + 1];
        for (int s = 0; s < shards.Length; s++) starts[s + 1] = starts[s] + shards[s].Header.Count;
    }

    public static bool IsComplete(string dir) => File.Exists(Path.Combine(dir, ManifestName));

    /// <summary>Opens a complete set, each shard checked against set.json and <paramref name="expect"/>, and, with
    /// <paramref name="verify"/>, its payload against its SHA-256.</summary>
    /// <exception cref="FaceSetException">Missing, truncated, damaged or foreign shard; the message names the file.</exception>
    public static FaceSet Open(string dir, SetInfo? expect = null, bool verify = true)
    {
        var mpath = Path.Combine(dir, ManifestName);
        if (!File.Exists(mpath)) throw new FaceSetException(dir, "no set.json: the set is not complete (dfd cache build, or dfd cache merge for a split build)");
        var m = ReadJson<SetManifest>(mpath);
        if (m.Version != FaceShard.Version) throw new FaceSetException(mpath, $"set format version {m.Version}; this Dfd reads {FaceShard.Version}");
        if (expect != null && expect.Mismatch(m.Set) is { } why) throw new FaceSetException(mpath, why);
        var readers = new List<ShardReader>();
        var skipped = new List<(string, string)>();
        try
        {
            foreach (var e in m.Shards)
            {
                var path = Path.Combine(dir, e.File);
                if (!File.Exists(path)) throw new FaceSetException(path, "missing: set.json lists it (build again to redo it)");
                var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
                ShardHeader hd;
                try { hd = FaceShard.ReadHeader(h, path); }
                catch { h.Dispose(); throw; }
                readers.Add(new ShardReader(path, hd, h));
                if (m.Set.Mismatch(hd.Set) is { } w) throw new FaceSetException(path, $"refused: {w}");
                if (hd.Sha256 != e.Sha256 || hd.Count != e.Count || hd.FirstItem != e.FirstItem)
                    throw new FaceSetException(path, "does not match set.json (replaced after the set was made?); delete set.json and build again");
                if (verify) FaceShard.Verify(path, hd);
                skipped.AddRange(hd.Skipped.Select(s => (s[0], s[1])));
            }
        }
        catch
        {
            foreach (var r in readers) r.Dispose();
            throw;
        }
        return new FaceSet(dir, m, [.. readers], skipped);
    }

    internal static T ReadJson<T>(string path)
    {
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), FaceShard.Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new FaceSetException(path, $"damaged ({e.Message.Split('\n')[0]})"); }
    }

    (ShardReader Shard, int Local) Locate(int i)
    {
        if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(i), $"face {i} of {Count}");
        int s = Array.BinarySearch(starts, i);
        if (s < 0) s = ~s - 1;
        while (starts[s + 1] == i) s++;   // empty shards (every item skipped) share their start with the next
        return (shards[s], i - starts[s]);
    }

    public FaceItem Item(int i) { var (s, k) = Locate(i); return s.ReadItem(k); }
    public void ReadCrop(int i, Span<byte> dst) { var (s, k) = Locate(i); s.ReadCrop(k, dst); }
    public void ReadTarget(int i, Span<byte> dst) { var (s, k) = Locate(i); s.ReadTarget(k, dst); }
    public void ReadTemplate(int i, bool mirror, Span<float> dst) { var (s, k) = Locate(i); s.ReadTemplate(k, mirror, dst); }

    /// <summary>Every face's plain and mirrored template, shard by shard (one read each), in set order.</summary>
    public IEnumerable<(float[] Plain, float[] Mirror)> AllTemplates()
    {
        int d = Info.Dim;
        foreach (var s in shards)
        {
            var buf = new float[2 * s.Header.Count * d];
            s.ReadTemplates(0, s.Header.Count, buf);
            for (int k = 0; k < s.Header.Count; k++)
                yield return (buf.AsSpan(2 * k * d, d).ToArray(), buf.AsSpan((2 * k + 1) * d, d).ToArray());
        }
    }

    /// <summary>The set as <see cref="EncodedFaces"/>, its lists reading from disk on each access.</summary>
    public EncodedFaces ToFaces() => new()
    {
        Items = new LazyRows<FaceItem>(Count, Item),
        Crops = new DiskRows<byte>(Count, (int)Info.CropBytes, ReadCrop),
        Templates = new DiskRows<float>(Count, Info.Dim, (i, d) => ReadTemplate(i, false, d)),
        MirrorTemplates = new DiskRows<float>(Count, Info.Dim, (i, d) => ReadTemplate(i, true, d)),
        Targets = Info.HasTargets ? new DiskRows<byte>(Count, (int)Info.TargetBytes, ReadTarget) : null,
        Width = Info.Width, Height = Info.Height, TargetWidth = Info.TargetWidth, TargetHeight = Info.TargetHeight,
        Skipped = Skipped, Store = this,
    };

    public void Dispose() { foreach (var s in shards) s.Dispose(); }
}

/// <summary>Reads row <c>i</c> into <c>dst</c>.</summary>
public delegate void RowReader<T>(int i, Span<T> dst);

/// <summary>Rows that can be copied straight into a caller's buffer (a batch), without a fresh array per row.</summary>
public interface IRowSource<T>
{
    int RowLength { get; }
    void Read(int i, Span<T> dst);
}

/// <summary>Rows read from disk on each access: indexing returns a fresh array; <see cref="Read"/> fills a buffer.</summary>
public sealed class DiskRows<T>(int count, int length, RowReader<T> read) : IReadOnlyList<T[]>, IRowSource<T>
{
    public int Count => count;
    public int RowLength => length;
    public void Read(int i, Span<T> dst) => read(i, dst);
    public T[] this[int i] { get { var a = new T[length]; read(i, a); return a; } }
    public IEnumerator<T[]> GetEnumerator() { for (int i = 0; i < count; i++) yield return this[i]; }
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A read-only list whose items are made on each access.</summary>
public sealed class LazyRows<T>(int count, Func<int, T> get) : IReadOnlyList<T>
{
    public int Count => count;
    public T this[int i] => get(i);
    public IEnumerator<T> GetEnumerator() { for (int i = 0; i < count; i++) yield return get(i); }
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
