using System.Text;
using System.Text.Json;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Datasets;

/// <summary>
/// Aligned crops with an encoder's templates of each crop and of its mirror image, computed once. Held in memory (small
/// sets, tests) or read from an on-disk set (<see cref="FaceSet"/>: shards under the cache folder, keyed by encoder
/// weights and the file list), whose lists read each row from disk when asked, so memory stays flat in the set's size.
/// Training reads its batches from one; evaluation scores one per FR model.
/// </summary>
public sealed partial class EncodedFaces : IDisposable
{
    public required IReadOnlyList<FaceItem> Items { get; init; }
    public required IReadOnlyList<byte[]> Crops { get; init; }         // HWC RGB, Width×Height
    public required IReadOnlyList<float[]> Templates { get; init; }
    public required IReadOnlyList<float[]> MirrorTemplates { get; init; }
    public required int Width { get; init; }
    public required int Height { get; init; }
    /// <summary>Optional second crop per face, aligned at the decoder's output size (TargetWidth × TargetHeight, HWC RGB).</summary>
    public IReadOnlyList<byte[]>? Targets { get; init; }
    public int TargetWidth { get; init; }
    public int TargetHeight { get; init; }
    public List<(string File, string Problem)> Skipped { get; init; } = [];
    /// <summary>The on-disk set the lists read from; null when held in memory.</summary>
    public FaceSet? Store { get; init; }

    public int Count => Crops.Count;

    public RgbImage Image(int i) => new(Width, Height, Crops[i]);

    /// <summary>Plain then mirrored templates, one list (the training set's mean template), without copying them all.</summary>
    public IReadOnlyList<float[]> AllTemplates => new LazyRows<float[]>(2 * Count, i => i < Count ? Templates[i] : MirrorTemplates[i - Count]);

    public void Dispose() => Store?.Dispose();

    /// <summary>Default input items per shard of an on-disk set (69 MB of 150² crops).</summary>
    public const int DefaultFacesPerShard = 1024;

    public static EncodedFaces Build(IReadOnlyList<FaceItem> items, IEncoder encoder, FacePipeline? pipeline, string? cacheDir, string weightsId,
        IProgress<(int Done, int Total)>? progress = null) =>
        Build(items, encoder, pipeline, cacheDir, weightsId, new BuildOptions
        {
            Progress = progress == null ? null : new SyncProgress<BuildProgress>(p => progress.Report(((int)p.FacesDone, (int)p.FacesTotal))),
        });

    /// <summary>
    /// The set of <paramref name="items"/> as <paramref name="encoder"/> sees them. With a cache folder: built there as
    /// shards (or continued, when an earlier build stopped; or converted from a cache of the earlier single-file format)
    /// and read from disk; without one: in memory.
    /// </summary>
    /// <exception cref="FaceSetException">Only part of a split build is there (<see cref="BuildOptions.Part"/>), or a shard is refused.</exception>
    public static EncodedFaces Build(IReadOnlyList<FaceItem> items, IEncoder encoder, FacePipeline? pipeline, string? cacheDir, string weightsId,
        BuildOptions opt, TargetCrops? targets = null)
    {
        var spec = encoder.Spec;
        var set = Info(items, spec, weightsId, targets);
        var source = EncoderSource(items, encoder, pipeline, targets);
        if (cacheDir == null) return InMemory(set, items, source);
        var dir = SetDir(cacheDir, set);
        FaceSource? legacy = FaceSet.IsComplete(dir) || targets != null ? null : LegacyCache.Source(dir, items, set, opt.Note);
        var r = FaceSetBuilder.Build(dir, set, items.Count, legacy ?? source, opt);
        if (!r.Complete)
            throw new FaceSetException(dir, $"{r.Missing.Count} shard(s) still missing ({string.Join(", ", r.Missing.Take(8))}{(r.Missing.Count > 8 ? ", …" : "")}): " +
                "the other --shard parts build them; then dfd cache merge");
        return FaceSet.Open(dir, set).ToFaces();
    }

    /// <summary>Where the set of these items lives under a cache folder.</summary>
    public static string SetDir(string cacheDir, SetInfo set) => Path.Combine(cacheDir, $"{set.Encoder}-{set.Key}");

    public static SetInfo Info(IReadOnlyList<FaceItem> items, EncoderSpec spec, string weightsId, TargetCrops? targets = null) =>
        new(Key(items, spec, weightsId, targets), spec.Name, weightsId, spec.InputWidth, spec.InputHeight, spec.EmbeddingSize,
            targets?.Width ?? 0, targets?.Height ?? 0);

    /// <summary>Each item's crop and templates, encoded in batches of 32 input items (within a shard: a shard of a
    /// multiple of 32 items batches as one pass over the whole list does, so the templates agree bit for bit).</summary>
    public static FaceSource EncoderSource(IReadOnlyList<FaceItem> items, IEncoder encoder, FacePipeline? pipeline, TargetCrops? targets = null) =>
        (first, count, ct) => Encode(items, first, count, encoder, pipeline, targets, ct);

    static IEnumerable<SourceFace> Encode(IReadOnlyList<FaceItem> items, int first, int count, IEncoder encoder, FacePipeline? pipeline, TargetCrops? targets, CancellationToken ct)
    {
        var spec = encoder.Spec;
        const int batch = 32;
        for (int i = first; i < first + count; i += batch)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = new List<(FaceItem Item, RgbImage? Crop, byte[]? Target, string? Problem)>();
            for (int k = i; k < Math.Min(i + batch, first + count); k++)
            {
                var it = items[k];
                if (targets == null)
                {
                    var r = FaceInput.Crop(it.Path, spec, it.Aligned ? null : pipeline, FacePick.MostCentral);
                    chunk.Add((it, r.Crop, null, r.Crop == null ? r.Problem : null));
                    continue;
                }
                var (crop, target, problem) = targets.Crop(it);
                if (crop != null && (target == null || target.Width != targets.Width || target.Height != targets.Height))
                    (crop, problem) = (null, $"no {targets.Width}×{targets.Height} target crop");
                chunk.Add((it, crop, crop == null ? null : target!.Data, crop == null ? problem ?? "no face" : null));
            }
            var crops = chunk.Where(c => c.Crop != null).Select(c => c.Crop!).ToList();
            var plain = crops.Count > 0 ? encoder.Encode(crops) : [];
            var mirror = crops.Count > 0 ? encoder.Encode(crops.Select(c => c.Mirror()).ToList()) : [];
            int j = 0;
            foreach (var c in chunk)
            {
                if (c.Crop == null) { yield return new SourceFace(c.Item, null, null, null, null, c.Problem); continue; }
                yield return new SourceFace(c.Item, c.Crop.Data, plain[j], mirror[j], c.Target);
                j++;
            }
        }
    }

    static EncodedFaces InMemory(SetInfo set, IReadOnlyList<FaceItem> items, FaceSource source)
    {
        var kept = new List<FaceItem>();
        var crops = new List<byte[]>();
        var targets = new List<byte[]>();
        var plain = new List<float[]>();
        var mirror = new List<float[]>();
        var skipped = new List<(string, string)>();
        foreach (var f in source(0, items.Count, default))
        {
            if (f.Crop == null) { skipped.Add((f.Item.Path, f.Problem ?? "no face")); continue; }
            kept.Add(f.Item); crops.Add(f.Crop); plain.Add(f.Template!); mirror.Add(f.Mirror!);
            if (f.Target != null) targets.Add(f.Target);
        }
        return new EncodedFaces
        {
            Items = kept, Crops = crops.ToArray(), Templates = plain.ToArray(), MirrorTemplates = mirror.ToArray(),
            Width = set.Width, Height = set.Height, Skipped = skipped,
            Targets = set.HasTargets ? targets.ToArray() : null, TargetWidth = set.TargetWidth, TargetHeight = set.TargetHeight,
        };
    }

    static string Key(IReadOnlyList<FaceItem> items, EncoderSpec spec, string weightsId, TargetCrops? targets)
    {
        // "v1" and this layout are those of the single-file caches, so a set finds the cache it replaces (LegacyCache).
        var sb = new StringBuilder($"{spec.Name}|{spec.InputWidth}x{spec.InputHeight}|{weightsId}|v1\n");
        foreach (var it in items) sb.Append(it.Path).Append('|').Append(it.Identity).Append('\n');
        // Sets without targets keep the key they always had.
        return FileId.OfText(sb.ToString()) + (targets != null ? $"-out{targets.Width}x{targets.Height}" : "");
    }

    /// <summary>A cached set of the earlier single-file format (basePath.json, .templates.npy, .crops.bin), in memory;
    /// null if absent or damaged.</summary>
    public static EncodedFaces? LoadCache(string basePath) => LegacyCache.Load(basePath);


    /// <summary>Crops (mirrored where flipped) → [N,3,H,W] 0..255; templates (the mirror's where flipped) → [N,D].</summary>
    public (Tensor Images, Tensor Templates) Batch(int[] idx, bool[] flips)
    {
        // Bytes in, one libtorch cast to float out: building the float batch in managed code took 74 ms a step
        // (numpy: 4 ms), mostly allocating and filling 8.6 MB of floats.
        int d = Store?.Info.Dim ?? Templates[0].Length;
        var t = new float[idx.Length * d];
        for (int k = 0; k < idx.Length; k++)
        {
            int i = idx[k];
            var rows = flips[i] ? MirrorTemplates : Templates;
            if (rows is IRowSource<float> src) src.Read(i, t.AsSpan(k * d, d));
            else rows[i].CopyTo(t, k * d);
        }
        return (Gather(Crops, Width, Height, idx, flips), torch.tensor(t, new long[] { idx.Length, d }));
    }

    /// <summary>Rows idx (mirrored where flipped) → [N,3,H,W] float 0..255, read straight into the batch from an
    /// on-disk set.</summary>
    static Tensor Gather(IReadOnlyList<byte[]> rows, int w, int h, int[] idx, bool[] flips)
    {
        int size = w * 3 * h;
        var bytes = new byte[idx.Length * size];
        var src = rows as IRowSource<byte>;
        var scratch = src != null ? new byte[size] : null;
        for (int k = 0; k < idx.Length; k++)
        {
            int i = idx[k];
            var dst = bytes.AsSpan(k * size, size);
            if (src != null)
            {
                if (flips[i]) { src.Read(i, scratch); RgbImage.Mirror(scratch!, dst, w, h); }
                else src.Read(i, dst);
            }
            else if (flips[i]) RgbImage.Mirror(rows[i], dst, w, h);
            else rows[i].CopyTo(dst);
        }
        using var hwc = torch.tensor(bytes, new long[] { idx.Length, h, w, 3 });
        return hwc.permute(0, 3, 1, 2).to_type(ScalarType.Float32).contiguous();
    }
}

/// <summary>How an item becomes its encoder crop and its target crop at the decoder's output size (Width × Height),
/// both aligned from the original photo; (null, null, problem) when it cannot.</summary>
public sealed record TargetCrops(int Width, int Height, Func<FaceItem, (RgbImage? Crop, RgbImage? Target, string? Problem)> Crop);
