using System.Text.Json;
using Dfd.Core;
using Dfd.Datasets;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;

namespace Dfd.Evaluation;

/// <summary>How an LFW image becomes the encoder's crop.</summary>
public enum CropMode
{
    /// <summary>YuNet landmarks → similarity warp to the encoder's template (the most central face is the person).</summary>
    Detect,
    /// <summary>A fixed centre crop: the baseline that shows what alignment buys.</summary>
    Centre,
}

/// <param name="WeightsId">Identifies the weights (e.g. file size and hash); cached templates of other weights are not reused.</param>
public sealed record VerifyOptions(CropMode Mode = CropMode.Detect, int CentreSide = 130, string? CacheDir = null, IReadOnlyList<int>? Folds = null, string WeightsId = "");

/// <summary>Accuracy and operating points of one template variant (plain, or averaged with the mirror image's).</summary>
public sealed record VerifyFigures(FoldedAccuracy Accuracy, double Auc, OperatingPoint TarAtFmr1e2, OperatingPoint TarAtFmr1e3);

public sealed record VerifyResult(
    string Model, string Pairs, int PairCount, int FoldCount, int ImageCount, int DetectionMisses, int Unreadable,
    CropMode Mode, VerifyFigures Plain, VerifyFigures FlipAveraged, double Seconds, bool FromCache);

/// <summary>The LFW View-2 protocol over one encoder: templates of every image the pairs name, cosine scores, 10 folds.</summary>
public static class LfwVerify
{
    public static VerifyResult Run(IEncoder encoder, FacePipeline? pipeline, string lfwDir, string pairsPath, VerifyOptions opt,
        IProgress<(int Done, int Total)>? progress = null)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var pairs = LfwPairs.Load(pairsPath);
        var list = pairs.Pairs.Where(p => opt.Folds == null || opt.Folds.Contains(p.Fold)).ToList();
        if (list.Count == 0) throw new ArgumentException($"{pairsPath}: no pairs in the requested folds");
        var files = list.SelectMany(p => new[] { p.Path1, p.Path2 }).Distinct().OrderBy(f => f, StringComparer.Ordinal).ToList();

        var cache = TemplateCache.Open(opt.CacheDir, encoder.Spec.Name, opt.Mode == CropMode.Detect ? "yunet" : $"centre{opt.CentreSide}", opt.WeightsId);
        int misses = 0, unreadable = 0, done = 0;
        bool allCached = files.All(cache.Contains);
        var todo = files.Where(f => !cache.Contains(f)).ToList();
        progress?.Report((files.Count - todo.Count, files.Count));
        const int batch = 32;
        for (int i = 0; i < todo.Count; i += batch)
        {
            var chunk = todo.Skip(i).Take(batch).ToList();
            var crops = new List<RgbImage>();
            foreach (var rel in chunk)
            {
                var path = Path.Combine(lfwDir, rel);
                RgbImage img;
                try { img = ImageIO.Load(path); }
                catch (ImageLoadException) { unreadable++; img = new RgbImage(encoder.Spec.InputWidth, encoder.Spec.InputHeight); }
                RgbImage crop;
                if (opt.Mode == CropMode.Detect && pipeline != null)
                {
                    var faces = pipeline.Detect(img);
                    if (faces.Count > 0) crop = FacePipeline.Align(img, FacePipeline.MostCentral(faces, img.Width, img.Height), encoder.Spec.Template);
                    else
                    {
                        // LFW counts every pair; a missed face falls back to the centre crop rather than dropping the pair.
                        misses++;
                        crop = Centre(img, encoder.Spec, opt.CentreSide);
                    }
                }
                else crop = Centre(img, encoder.Spec, opt.CentreSide);
                crops.Add(crop);
            }
            var plain = encoder.Encode(crops);
            var mirror = encoder.Encode(crops.Select(c => c.Mirror()).ToList());
            for (int k = 0; k < chunk.Count; k++) cache.Add(chunk[k], plain[k], mirror[k]);
            done += chunk.Count;
            progress?.Report((files.Count - todo.Count + done, files.Count));
            if ((i / batch) % 20 == 19) cache.Save(); // a killed run keeps most of its work
        }
        cache.SetCounts(misses, unreadable, todo.Count);
        cache.Save();

        VerifyFigures Figures(bool flip)
        {
            var scored = list.Select(p =>
            {
                var a = cache.Get(p.Path1, flip); var b = cache.Get(p.Path2, flip);
                return (score: Cosine.Of(a, b), same: p.Same, fold: p.Fold);
            }).ToList();
            var gen = scored.Where(s => s.same).Select(s => s.score).ToList();
            var imp = scored.Where(s => !s.same).Select(s => s.score).ToList();
            var acc = scored.Select(s => s.fold).Distinct().Count() >= 2
                ? Verification.TenFoldAccuracy(scored)
                : OneFold(scored);
            return new(acc, Verification.Auc(gen, imp), Verification.TarAtFmr(gen, imp, 1e-2), Verification.TarAtFmr(gen, imp, 1e-3));
        }

        var (cMiss, cUnread) = cache.Counts;
        return new VerifyResult(encoder.Spec.Name, pairsPath, list.Count, list.Select(p => p.Fold).Distinct().Count(), files.Count,
            allCached ? cMiss : misses, allCached ? cUnread : unreadable, opt.Mode, Figures(false), Figures(true), sw.Elapsed.TotalSeconds, allCached);
    }

    /// <summary>A single fold (View 1) has no held-out threshold; report the best-threshold accuracy, marked by fold list [fold].</summary>
    static FoldedAccuracy OneFold(List<(double score, bool same, int fold)> s)
    {
        var sorted = s.Select(x => x.score).Distinct().OrderBy(x => x).ToList();
        double best = 0, bestT = double.NegativeInfinity;
        var cands = new List<double> { double.NegativeInfinity };
        for (int i = 0; i + 1 < sorted.Count; i++) cands.Add((sorted[i] + sorted[i + 1]) / 2);
        foreach (var t in cands)
        {
            double acc = s.Count(x => (x.score >= t) == x.same) / (double)s.Count;
            if (acc > best) { best = acc; bestT = t; }
        }
        return new FoldedAccuracy([s[0].fold], [best], [bestT], best, 0);
    }

    /// <summary>The no-detection baseline: a square of <paramref name="side"/> pixels at the picture's centre.</summary>
    public static RgbImage Centre(RgbImage img, EncoderSpec spec, int side) =>
        Warp.CentreCrop(img, side, spec.InputWidth, spec.InputHeight);
}

/// <summary>
/// Templates of LFW images (plain and of the mirror image) kept on disk as .npy + a JSON index, keyed by encoder,
/// crop mode and the weights they came from, so a second verify run encodes nothing.
/// </summary>
public sealed class TemplateCache
{
    readonly string? npyPath, indexPath;
    readonly Dictionary<string, (float[] Plain, float[] Mirror)> map = new(StringComparer.Ordinal);
    readonly string weightsId;
    int misses, unreadable;

    public (int Misses, int Unreadable) Counts => (misses, unreadable);

    TemplateCache(string? dir, string key, string weightsId)
    {
        this.weightsId = weightsId;
        if (dir == null) return;
        npyPath = Path.Combine(dir, key + ".npy");
        indexPath = Path.Combine(dir, key + ".json");
        if (!File.Exists(npyPath) || !File.Exists(indexPath)) return;
        try
        {
            var index = JsonSerializer.Deserialize<Index>(File.ReadAllText(indexPath))!;
            var (data, shape) = Npy.Read(npyPath);
            int d = (int)shape[1];
            if (shape[0] != index.Files.Count * 2 || index.WeightsId != weightsId) return;
            for (int i = 0; i < index.Files.Count; i++)
                map[index.Files[i]] = (data.AsSpan(2 * i * d, d).ToArray(), data.AsSpan((2 * i + 1) * d, d).ToArray());
            misses = index.Misses; unreadable = index.Unreadable;
        }
        catch (Exception e) when (e is JsonException or ModelFileException or IOException or NullReferenceException)
        {
            map.Clear(); // a damaged cache is rebuilt, never trusted
        }
    }

    public static TemplateCache Open(string? dir, string encoder, string mode, string weightsId = "") => new(dir, $"{encoder}-{mode}", weightsId);

    public bool Contains(string file) => map.ContainsKey(file);
    public void Add(string file, float[] plain, float[] mirror) => map[file] = (plain, mirror);

    public float[] Get(string file, bool flipAverage)
    {
        var (p, m) = map[file];
        if (!flipAverage) return p;
        var r = new float[p.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (p[i] + m[i]) / 2;
        return r;
    }

    public void SetCounts(int newMisses, int newUnreadable, int encoded)
    {
        if (encoded == map.Count) { misses = newMisses; unreadable = newUnreadable; }
        else { misses += newMisses; unreadable += newUnreadable; }
    }

    public void Save()
    {
        if (npyPath == null || map.Count == 0) return;
        var files = map.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        int d = map[files[0]].Plain.Length;
        var data = new float[files.Count * 2 * d];
        for (int i = 0; i < files.Count; i++)
        {
            map[files[i]].Plain.CopyTo(data, 2 * i * d);
            map[files[i]].Mirror.CopyTo(data, (2 * i + 1) * d);
        }
        Npy.Write(npyPath, data, [files.Count * 2, d]);
        AtomicFile.WriteAllText(indexPath!, JsonSerializer.Serialize(new Index(files, misses, unreadable, weightsId)));
    }

    sealed record Index(List<string> Files, int Misses, int Unreadable, string WeightsId);
}
