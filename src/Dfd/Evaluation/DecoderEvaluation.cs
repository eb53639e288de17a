using System.Diagnostics;
using System.Text.Json.Serialization;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;

namespace Dfd.Evaluation;

/// <summary>
/// Similarity scores (cosine of templates) of one FR model over a test set with reconstructions, in the shapes the
/// match rates need. Person-level lists keep each person's pairs together so that rates can be averaged per person
/// first (one LFW man has 530 images; pooled, his ~280,000 pairs would outweigh everyone else).
/// </summary>
public sealed class ModelScores
{
    /// <summary>Originals of different people, one image each (each person's first): all unordered pairs.</summary>
    public required double[] Impostor { get; init; }
    /// <summary>cos(M(r_i), M(o_i)) for every image i.</summary>
    public required double[] TypeI { get; init; }
    /// <summary>Per person with ≥ 2 images: cos(M(r_i), M(o_j)) for all ordered pairs i ≠ j of that person's images.</summary>
    public required double[][] TypeII { get; init; }
    /// <summary>Per person with ≥ 2 images: cos(M(o_i), M(o_j)) for unordered pairs i &lt; j.</summary>
    public required double[][] Genuine { get; init; }
    public required int People { get; init; }
    /// <summary>
    /// For a model reached by the crop-to-crop warp: cos(M(warp(o_i in E0's crop)), M(o_i)) per image: the type-I score
    /// the warp itself leaves an exact reconstruction (the decoder's crop lacks parts of M's, which the warp fills by
    /// repeating the border). Null for E0.
    /// </summary>
    public double[]? WarpedOriginals { get; init; }
}

/// <summary>One FMR operating point of one model: the threshold and how often reconstructions (and, for context, genuine pairs) pass it.</summary>
/// <param name="TypeI">Fraction of images whose reconstruction matches its own original.</param>
/// <param name="TypeII">Fraction of (reconstruction, other image of the same person) pairs that match, averaged per person, then over persons.</param>
/// <param name="Genuine">The same for original-vs-original pairs of a person: what the model achieves on real images.</param>
/// <param name="WarpedOriginals">Type I of the originals themselves sent through the crop-to-crop warp (null for E0): the ceiling the warp allows.</param>
public sealed record RateAtFmr(double Fmr, double Threshold, int FalseAccepts, int ImpostorComparisons,
    double TypeI, int TypeIMatches, int TypeIImages, double TypeII, double Genuine, double? WarpedOriginals = null);

/// <summary>Everything measured with one FR model.</summary>
public sealed record ModelResult(
    string Model, string Role, string WeightsId, int InputWidth, int InputHeight, bool Warped,
    int Images, int People, int PeopleWithTwoOrMore, long ImpostorComparisons, long TypeIIPairs, long GenuinePairs,
    double MeanTypeI, double MeanTypeII, double MeanGenuine, double MeanImpostor, double? MeanWarpedOriginals,
    IReadOnlyList<RateAtFmr> Rates)
{
    [JsonIgnore] public ModelScores? Scores { get; init; }

    /// <summary>Rank-1 identification and false matches at FMR 1e-3 (null when the FMRs leave out 1e-3 or there is one person).</summary>
    public IdentificationResult? Identification { get; init; }

    /// <summary>Fréchet distance of this model's templates of reconstructions and originals.</summary>
    public FrechetResult? Frechet { get; init; }
}

/// <summary>
/// Detail drawn: mean <see cref="ImageQuality.GradientEnergy"/> of the reconstructions over that of the originals, on
/// the whole crop and on the inner-face box; the same ratios for the mean face (the floor; 1 would be a photo's detail).
/// </summary>
public sealed record SharpnessResult(double Whole, double Inner, double MeanFaceWhole, double MeanFaceInner, double OriginalsWhole, double OriginalsInner);

/// <summary>Reconstructions against the crops their templates came from. PSNR null = +∞ (identical images).</summary>
public sealed record QualityResult(int Images, double SsimMean, double SsimStd, double? PsnrMeanDb, double? PsnrStdDb, int IdenticalImages)
{
    /// <summary>Per-image values, in evaluation order.</summary>
    [JsonIgnore] public double[] Ssim { get; init; } = [];
    [JsonIgnore] public double[] Psnr { get; init; } = [];

    /// <summary>The floor: SSIM and PSNR of one image, the pixel mean of the originals, against each original.
    /// A decoder that ignored its input would score this; on the LFW test split it is most of the number.</summary>
    public double? MeanFaceSsim { get; init; }
    public double? MeanFacePsnrDb { get; init; }

    /// <summary>A reference from real photos: SSIM of each original against the same person's other originals (a
    /// person's first <see cref="DecoderEvaluation.SamePersonImages"/> images, unordered pairs), averaged per person,
    /// then over people. A reconstruction that showed the right person in another photo's pose, light and background
    /// would score about this. Null without identities or without a person of two images.</summary>
    public double? SamePersonSsim { get; init; }
    public int SamePersonPeople { get; init; }
    public long SamePersonPairs { get; init; }

    /// <summary>How much the images differ from face to face: the standard deviation of each pixel and channel over
    /// all the images, averaged, in units of the full range (0–1). The reconstructions' against the originals': a
    /// decoder that drew one average face for everyone would score 0, one as varied as the photos would score the
    /// originals' value. SSIM alone misses this, since the mean face already scores most of it.</summary>
    public double? PixelSpread { get; init; }
    public double? PixelSpreadOriginals { get; init; }

    /// <summary>The same SSIMs on the inner-face box only (eyes to mouth, as the local loss terms see it); null when not asked.</summary>
    public InnerFaceSsim? InnerFace { get; init; }

    /// <summary>How much of the originals' detail the reconstructions draw; null when no inner-face box was given.</summary>
    public SharpnessResult? Sharpness { get; init; }
}

/// <summary>SSIM of reconstructions, of the mean face and of another photo of the same person, on the inner-face box (crop pixels, end exclusive).</summary>
public sealed record InnerFaceSsim(int X0, int Y0, int X1, int Y1, double Reconstructions, double? MeanFace, double? SamePerson);

public sealed record DecoderProvenance(string Path, string Sha256, long Bytes, string Encoder, int TemplateDim, string OutputSize,
    string Format, int? EpochsDone, double? TrainSeconds, string? Split, string? TrainConfig, IReadOnlyDictionary<string, string> Metadata);

public sealed record DataProvenance(string Spec, string Kind, string? Split, string? SplitFile, int ListedImages, int ListedPeople,
    int? LimitPeople, int EvaluatedImages, int EvaluatedPeople, int SkippedImages, IReadOnlyList<string[]> Skipped, string CacheDir);

public sealed record EvaluationResult(
    DecoderProvenance Decoder, DataProvenance Data, string Encoder, IReadOnlyList<string> Models, IReadOnlyList<double> Fmrs,
    IReadOnlyList<ModelResult> Results, QualityResult Quality, string Device, IReadOnlyDictionary<string, double> StageSeconds,
    double Seconds, string Utc)
{
    /// <summary>Sample faces for the report: aligned originals (encoder E0's crop) and their reconstructions.</summary>
    [JsonIgnore] public IReadOnlyList<RgbImage> SampleOriginals { get; init; } = [];
    [JsonIgnore] public IReadOnlyList<RgbImage> SampleReconstructions { get; init; } = [];
    [JsonIgnore] public IReadOnlyList<string> SampleNames { get; init; } = [];
}

public sealed record EvaluationOptions
{
    /// <summary>A dataset spec (<see cref="FaceDatasets.Open"/>), e.g. <c>lfw:/data/lfw-deepfunneled</c>.</summary>
    public required string Data { get; init; }
    /// <summary>FR models besides the decoder's own encoder; null: <c>mobilefacenet-casia</c> where its weights are found.</summary>
    public IReadOnlyList<string>? Models { get; init; }
    /// <summary>Keep the first N people (sorted by name) of the test set.</summary>
    public int? LimitPeople { get; init; }
    /// <summary>Where aligned + encoded evaluation sets are cached; null: no cache.</summary>
    public string? CacheDir { get; init; }
    /// <summary>LFW split file; null: the committed one where found; "none": use every person.</summary>
    public string? Split { get; init; }
    public torch.Device? Device { get; init; }
    public IReadOnlyList<double> Fmrs { get; init; } = [1e-2, 1e-3, 1e-4];
    public int SampleFaces { get; init; } = 16;
    public int Batch { get; init; } = 32;
}

/// <summary>Stage name, done, total: for progress bars.</summary>
public readonly record struct EvaluationProgress(string Stage, int Done, int Total);

/// <summary>
/// Evaluates a decoder as Križaj et al. (2024) do: reconstructions of test templates go back into FR models (the
/// decoder's own encoder E0 and others), and the share that an FR system would accept at fixed false-match rates is
/// counted, against the original image itself (type I) and against the person's other images (type II).
/// </summary>
public static class DecoderEvaluation
{
    public const string DefaultExtraModel = "mobilefacenet-casia";

    // ---------- the arithmetic (pure, tested on hand-made lists) ----------

    /// <summary>
    /// Scores of one model. <paramref name="identities"/> gives each image's person; a person's first image (in the
    /// given order) stands for them among the impostors.
    /// </summary>
    public static ModelScores Scores(IReadOnlyList<float[]> originals, IReadOnlyList<float[]> reconstructions, IReadOnlyList<string> identities)
    {
        int n = identities.Count;
        if (originals.Count != n || reconstructions.Count != n)
            throw new ArgumentException($"{originals.Count} original and {reconstructions.Count} reconstruction templates for {n} images");
        var o = Cosine.Unit(originals);
        var r = Cosine.Unit(reconstructions);
        var people = People(identities);
        var first = people.Select(p => p[0]).ToArray();
        var impostor = new double[(long)first.Length * (first.Length - 1) / 2];
        long k = 0;
        for (int a = 0; a < first.Length; a++)
            for (int b = a + 1; b < first.Length; b++)
                impostor[k++] = Cosine.Dot(o[first[a]], o[first[b]]);
        var typeI = new double[n];
        for (int i = 0; i < n; i++) typeI[i] = Cosine.Dot(r[i], o[i]);
        var typeII = new List<double[]>();
        var genuine = new List<double[]>();
        foreach (var idx in people)
        {
            if (idx.Length < 2) continue;
            var t2 = new double[idx.Length * (idx.Length - 1)];
            var g = new double[idx.Length * (idx.Length - 1) / 2];
            int u = 0, v = 0;
            for (int a = 0; a < idx.Length; a++)
                for (int b = 0; b < idx.Length; b++)
                {
                    if (a == b) continue;
                    t2[u++] = Cosine.Dot(r[idx[a]], o[idx[b]]);
                    if (a < b) g[v++] = Cosine.Dot(o[idx[a]], o[idx[b]]);
                }
            typeII.Add(t2);
            genuine.Add(g);
        }
        return new ModelScores { Impostor = impostor, TypeI = typeI, TypeII = typeII.ToArray(), Genuine = genuine.ToArray(), People = people.Length };
    }

    /// <summary>Each person's image indices, people in order of first appearance, images in the given order.</summary>
    public static int[][] People(IReadOnlyList<string> identities) =>
        Enumerable.Range(0, identities.Count).GroupBy(i => identities[i], StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();

    /// <summary>Fraction of scores ≥ threshold.</summary>
    public static double Rate(IReadOnlyList<double> scores, double threshold)
    {
        if (scores.Count == 0) return double.NaN;
        return (double)Count(scores, threshold) / scores.Count;
    }

    static int Count(IReadOnlyList<double> scores, double threshold)
    {
        int c = 0;
        foreach (var s in scores) if (s >= threshold) c++;
        return c;
    }

    /// <summary>Each person's fraction of scores ≥ threshold, then their mean over persons (persons without scores skipped); NaN if none.</summary>
    public static double PerPersonRate(IReadOnlyList<IReadOnlyList<double>> perPerson, double threshold)
    {
        var r = perPerson.Where(p => p.Count > 0).Select(p => Rate(p, threshold)).ToList();
        return r.Count == 0 ? double.NaN : r.Average();
    }

    /// <summary>Each person's mean score, then their mean; NaN if none.</summary>
    public static double PerPersonMean(IReadOnlyList<IReadOnlyList<double>> perPerson)
    {
        var r = perPerson.Where(p => p.Count > 0).Select(p => p.Average()).ToList();
        return r.Count == 0 ? double.NaN : r.Average();
    }

    /// <summary>Thresholds at each FMR from the impostor scores, and the type-I / type-II / genuine rates at them.</summary>
    public static ModelResult Summarise(ModelScores s, IReadOnlyList<double> fmrs, string model = "", string role = "", string weightsId = "",
        int inputWidth = 0, int inputHeight = 0, bool warped = false)
    {
        if (s.Impostor.Length == 0) throw new ArgumentException("thresholds need impostor comparisons: the test set must hold at least two people");
        var rates = new List<RateAtFmr>();
        foreach (var fmr in fmrs)
        {
            var t = Verification.ThresholdAtFmr(s.Impostor, fmr);
            int m = Count(s.TypeI, t.Threshold);
            rates.Add(new RateAtFmr(fmr, t.Threshold, t.FalseAccepts, t.ImpostorCount, (double)m / s.TypeI.Length, m, s.TypeI.Length,
                PerPersonRate(s.TypeII, t.Threshold), PerPersonRate(s.Genuine, t.Threshold),
                s.WarpedOriginals is { } w ? Rate(w, t.Threshold) : null));
        }
        return new ModelResult(model, role, weightsId, inputWidth, inputHeight, warped,
            s.TypeI.Length, s.People, s.TypeII.Length, s.Impostor.Length, s.TypeII.Sum(p => (long)p.Length), s.Genuine.Sum(p => (long)p.Length),
            s.TypeI.Average(), PerPersonMean(s.TypeII), PerPersonMean(s.Genuine), s.Impostor.Average(),
            s.WarpedOriginals is { Length: > 0 } wo ? wo.Average() : null, rates) { Scores = s };
    }

    /// <summary>How many of a person's images (the first, in evaluation order) the same-person SSIM reference pairs up;
    /// LFW's largest test person has 530, whose 140,000 pairs would cost more than the rest of the evaluation.</summary>
    public const int SamePersonImages = 10;

    /// <summary>Per-image SSIM and PSNR of reconstructions against the crops they came from, and their means; with
    /// <paramref name="identities"/> (each image's person) also the same-person reference; with <paramref name="inner"/>
    /// the SSIMs again on that box.</summary>
    public static QualityResult Quality(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals,
        IReadOnlyList<string>? identities = null, Box? inner = null)
    {
        int n = reconstructions.Count;
        if (originals.Count != n) throw new ArgumentException($"{n} reconstructions, {originals.Count} originals");
        var ssim = new double[n];
        var psnr = new double[n];
        Parallel.For(0, n, i =>
        {
            ssim[i] = ImageQuality.Ssim(reconstructions[i], originals[i]);
            psnr[i] = ImageQuality.Psnr(reconstructions[i], originals[i]);
        });
        if (n == 0) return new QualityResult(0, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        int identical = psnr.Count(double.IsPositiveInfinity);
        double Std(double[] x) { double m = x.Average(); return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / x.Length); }
        double? pm = identical > 0 ? null : psnr.Average();
        double? ps = identical > 0 ? null : Std(psnr);
        var originalSums = PixelSums.Of(originals);
        var mean = originalSums.Mean();
        var floorSsim = new double[n];
        var floorPsnr = new double[n];
        Parallel.For(0, n, i =>
        {
            floorSsim[i] = ImageQuality.Ssim(mean, originals[i]);
            floorPsnr[i] = ImageQuality.Psnr(mean, originals[i]);
        });
        var same = identities is null ? null : SamePersonSsims(originals, identities);
        InnerFaceSsim? innerSsim = null;
        if (inner is { } b)
        {
            var q = Quality(reconstructions.Select(b.Crop).ToList(), originals.Select(b.Crop).ToList(), identities);
            innerSsim = new(b.X, b.Y, b.Right, b.Bottom, q.SsimMean, q.MeanFaceSsim, q.SamePersonSsim);
        }
        return new QualityResult(n, ssim.Average(), Std(ssim), pm, ps, identical)
        {
            InnerFace = innerSsim,
            Sharpness = inner is { } box ? Sharpness(reconstructions, originals, mean, box) : null,
            Ssim = ssim, Psnr = psnr, MeanFaceSsim = floorSsim.Average(),
            MeanFacePsnrDb = floorPsnr.All(double.IsFinite) ? floorPsnr.Average() : null,
            SamePersonSsim = same is { Length: > 0 } ? same.Average(p => p.Average()) : null,
            SamePersonPeople = same?.Length ?? 0, SamePersonPairs = same?.Sum(p => (long)p.Length) ?? 0,
            PixelSpread = PixelSpreadOf(reconstructions), PixelSpreadOriginals = originalSums.Spread(),
        };
    }

    /// <summary>Mean gradient energies of reconstructions and of the mean face over the originals', whole and in <paramref name="inner"/>.</summary>
    public static SharpnessResult Sharpness(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals, RgbImage meanFace, Box inner)
    {
        double Mean(IReadOnlyList<RgbImage> ims, Box? b)
        {
            var e = new double[ims.Count];
            Parallel.For(0, ims.Count, i => e[i] = ImageQuality.GradientEnergy(ims[i], b));
            return e.Average();
        }
        double ow = Mean(originals, null), oi = Mean(originals, inner);
        return new SharpnessResult(Mean(reconstructions, null) / ow, Mean(reconstructions, inner) / oi,
            ImageQuality.GradientEnergy(meanFace) / ow, ImageQuality.GradientEnergy(meanFace, inner) / oi, ow, oi);
    }

    /// <summary>Per person with ≥ 2 images: SSIM of every unordered pair among their first <see cref="SamePersonImages"/> images.</summary>
    public static double[][] SamePersonSsims(IReadOnlyList<RgbImage> originals, IReadOnlyList<string> identities)
    {
        if (identities.Count != originals.Count) throw new ArgumentException($"{identities.Count} identities for {originals.Count} images");
        var people = People(identities).Select(g => g.Take(SamePersonImages).ToArray()).Where(g => g.Length >= 2).ToArray();
        // One flat list of (person, image, image) so that Parallel.For spreads the pairs, not the people, over the cores.
        var pairs = people.SelectMany((g, p) => g.SelectMany((a, i) => g.Skip(i + 1).Select(b => (p, a, b)))).ToArray();
        var v = new double[pairs.Length];
        Parallel.For(0, pairs.Length, k => v[k] = ImageQuality.Ssim(originals[pairs[k].a], originals[pairs[k].b]));
        return Enumerable.Range(0, pairs.Length).GroupBy(k => pairs[k].p, k => v[k]).Select(g => g.ToArray()).ToArray();
    }

    /// <summary>Per-pixel-and-channel sum and sum of squares of same-sized images: one pass gives both the mean face and the spread.</summary>
    sealed record PixelSums(int Width, int Height, int Count, double[] Sum, double[] Squares)
    {
        public static PixelSums Of(IReadOnlyList<RgbImage> images)
        {
            var first = images[0];
            var sum = new double[first.Data.Length];
            var sq = new double[first.Data.Length];
            foreach (var im in images)
            {
                if (im.Width != first.Width || im.Height != first.Height) throw new ArgumentException($"images of {first.Width}×{first.Height} and {im.Width}×{im.Height}");
                for (int i = 0; i < sum.Length; i++) { double v = im.Data[i]; sum[i] += v; sq[i] += v * v; }
            }
            return new(first.Width, first.Height, images.Count, sum, sq);
        }

        public RgbImage Mean()
        {
            var m = new RgbImage(Width, Height);
            for (int i = 0; i < Sum.Length; i++) m.Data[i] = (byte)Math.Round(Sum[i] / Count);
            return m;
        }

        public double Spread()
        {
            double total = 0;
            for (int i = 0; i < Sum.Length; i++)
            {
                double m = Sum[i] / Count;
                total += Math.Sqrt(Math.Max(0, Squares[i] / Count - m * m));
            }
            return total / Sum.Length / 255;
        }
    }

    /// <summary>Population standard deviation of every pixel and channel over the images, averaged, in 0–1 units.</summary>
    public static double PixelSpreadOf(IReadOnlyList<RgbImage> images) => PixelSums.Of(images).Spread();

    /// <summary>Per-pixel mean of same-sized images, rounded.</summary>
    public static RgbImage MeanImage(IReadOnlyList<RgbImage> images) => PixelSums.Of(images).Mean();

    // ---------- the whole run ----------

    /// <summary>The FR models to score with: E0 first, then the extras (default: mobilefacenet-casia where its weights are found).</summary>
    public static List<string> ModelList(string e0, IReadOnlyList<string>? extra)
    {
        var list = new List<string> { e0 };
        IEnumerable<string> more = extra ?? (WeightsFound(DefaultExtraModel) ? [DefaultExtraModel] : []);
        foreach (var m in more)
        {
            var name = Registry.Spec(m).Name;   // unknown names fail here, before any work
            if (!list.Contains(name, StringComparer.OrdinalIgnoreCase)) list.Add(name);
        }
        return list;
    }

    static bool WeightsFound(string name)
    {
        try { return Registry.WeightsPath(name) != null; }
        catch (EncoderNotAvailableException) { return false; }
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

    /// <summary>The fixed 5-point similarity from encoder <paramref name="from"/>'s crop to <paramref name="to"/>'s; null when they coincide.</summary>
    public static Similarity? CropToCrop(AlignmentTemplate from, AlignmentTemplate to)
    {
        if (from.Width == to.Width && from.Height == to.Height && from.Points.SequenceEqual(to.Points)) return null;
        return Similarity.Estimate(from.Points, to.Points);
    }

    /// <summary>
    /// The whole evaluation: load and check the decoder; list the test people; align + encode their images for E0
    /// (cached); decode; SSIM/PSNR; then per FR model M: align + encode the originals for M (cached), bring the
    /// reconstructions to M's crop, encode them, score and summarise.
    /// </summary>
    public static EvaluationResult Run(string decoderPath, EvaluationOptions opt, IProgress<EvaluationProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var stages = new Dictionary<string, double>();
        var stage = Stopwatch.StartNew();
        void Lap(string name) { stages[name] = Math.Round(stage.Elapsed.TotalSeconds, 2); stage.Restart(); }
        IProgress<(int, int)> P(string name) => new StageProgress(progress, name);

        using var loaded = DecoderFile.Load(decoderPath, opt.Device);
        var (dec, info) = loaded;
        var spec0 = loaded.RequireEncoder();
        var models = ModelList(spec0.Name, opt.Models);
        var (kind, items, split, splitFile, listedPeople) = TestItems(opt.Data, opt.Split, opt.LimitPeople);
        using var pipe = items.All(i => i.Aligned) ? null : FacePipeline.CreateDefault();
        Lap("load");

        // E0: aligned crops and templates of the test images; the reconstructions.
        using var enc0 = Registry.Create(spec0.Name, null, opt.Device);
        string wid0 = Registry.WeightsId(spec0.Name);
        var set0 = EncodedFaces.Build(items, enc0, pipe, opt.CacheDir, wid0, P($"aligning + encoding test set ({spec0.Name})"));
        if (set0.Count == 0) throw new InvalidDataException($"{opt.Data}: no face found in any of the {items.Count} test images");
        Lap("test_set_" + spec0.Name);
        var recon = dec.Reconstruct(set0.Templates, opt.Batch, P("decoding"));
        Lap("decode");
        var originals0 = Enumerable.Range(0, set0.Count).Select(set0.Image).ToList();
        var meanFace0 = MeanImage(originals0);
        var quality = Quality(recon, originals0, set0.Items.Select(i => i.Identity).ToList(), Box.InnerFace(spec0.Template));
        Lap("ssim_psnr");

        var results = new List<ModelResult>();
        var index0 = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < set0.Count; i++) index0[set0.Items[i].Path] = i;
        foreach (var name in models)
        {
            bool isE0 = name == spec0.Name;
            var enc = isE0 ? enc0 : Registry.Create(name, null, opt.Device);
            try
            {
                var spec = enc.Spec;
                var set = isE0 ? set0 : EncodedFaces.Build(items, enc, pipe, opt.CacheDir, Registry.WeightsId(name), P($"aligning + encoding test set ({name})"));
                if (!isE0) Lap("test_set_" + name);
                // Images present in both sets (detection does not depend on the template, so normally all).
                var pairs = new List<(int I0, int I)>();
                for (int i = 0; i < set.Count; i++)
                    if (index0.TryGetValue(set.Items[i].Path, out var j)) pairs.Add((j, i));
                var warp = CropToCrop(spec0.Template, spec.Template);
                var inputs = pairs.Select(p => warp is { } w ? Warp.Affine(recon[p.I0], w, spec.InputWidth, spec.InputHeight) : recon[p.I0]).ToList();
                var rt = EncodeWithProgress(enc, inputs, opt.Batch, P($"encoding reconstructions ({name})"));
                var ot = pairs.Select(p => set.Templates[p.I]).ToList();
                var ids = pairs.Select(p => set.Items[p.I].Identity).ToList();
                var scores = Scores(ot, rt, ids);
                if (warp is { } wp)
                {
                    var wo = Cosine.Unit(EncodeWithProgress(enc, pairs.Select(p => Warp.Affine(originals0[p.I0], wp, spec.InputWidth, spec.InputHeight)).ToList(),
                        opt.Batch, P($"encoding warped originals ({name})")));
                    var on = Cosine.Unit(ot);
                    scores = new ModelScores
                    {
                        Impostor = scores.Impostor, TypeI = scores.TypeI, TypeII = scores.TypeII, Genuine = scores.Genuine, People = scores.People,
                        WarpedOriginals = wo.Select((v, i) => Cosine.Dot(v, on[i])).ToArray(),
                    };
                }
                var summary = Summarise(scores, opt.Fmrs, name, isE0 ? "decoder's encoder (E0)" : "other FR model",
                    isE0 ? wid0 : Registry.WeightsId(name), spec.InputWidth, spec.InputHeight, warp != null);
                // The mean face goes the reconstructions' way: drawn in E0's crop, moved to this model's.
                var meanT = enc.Encode([warp is { } mw ? Warp.Affine(meanFace0, mw, spec.InputWidth, spec.InputHeight) : meanFace0])[0];
                var at1e3 = summary.Rates.FirstOrDefault(x => x.Fmr == 1e-3);
                results.Add(summary with
                {
                    Identification = at1e3 != null && scores.People >= 2 ? Identification.Measure(ot, rt, meanT, ids, at1e3.Threshold) : null,
                    Frechet = scores.People >= 4 ? Frechet.Measure(ot, rt, meanT, ids) : null,
                });
                Lap("score_" + name);
            }
            finally { if (!isE0) enc.Dispose(); }
        }

        // Sample faces: one image each of people spread over the list (or the first images, when people are few).
        var samples = SampleIndices(set0.Items.Select(i => i.Identity).ToList(), opt.SampleFaces);
        var meta = info.Metadata;
        var decProv = new DecoderProvenance(RecordPath.Of(decoderPath), FileId.Of(decoderPath), new FileInfo(decoderPath).Length, info.Encoder,
            info.TemplateDim, $"{info.OutWidth}x{info.OutHeight}", meta.GetValueOrDefault("format", ""),
            int.TryParse(meta.GetValueOrDefault("epochs_done"), out var ep) ? ep : null,
            double.TryParse(meta.GetValueOrDefault("train_seconds"), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ts) ? ts : null,
            meta.GetValueOrDefault("split"), meta.GetValueOrDefault("train_config") is { } tc ? RecordPath.Scrub(tc) : null,
            meta.Where(kv => kv.Key != "epoch_sums").OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => RecordPath.Scrub(kv.Value)));
        var dataProv = new DataProvenance(RecordPath.Scrub(opt.Data), kind, split?.Name, splitFile == null ? null : RecordPath.Of(splitFile), items.Count,
            listedPeople, opt.LimitPeople, set0.Count, set0.Items.Select(i => i.Identity).Distinct().Count(), set0.Skipped.Count,
            set0.Skipped.Select(s => new[] { RecordPath.Of(s.File), s.Problem }).ToList(), opt.CacheDir == null ? "" : RecordPath.Of(opt.CacheDir));
        return new EvaluationResult(decProv, dataProv, spec0.Name, models, opt.Fmrs, results, quality,
            (opt.Device ?? torch.CPU).ToString(), stages, Math.Round(clock.Elapsed.TotalSeconds, 2), DateTime.UtcNow.ToString("o"))
        {
            SampleOriginals = samples.Select(i => originals0[i]).ToList(),
            SampleReconstructions = samples.Select(i => recon[i]).ToList(),
            SampleNames = samples.Select(i => Path.GetFileNameWithoutExtension(set0.Items[i].Path)).ToList(),
        };
    }

    /// <summary>Indices of up to <paramref name="count"/> images: each the first image of people evenly spread over the list.</summary>
    public static List<int> SampleIndices(IReadOnlyList<string> identities, int count)
    {
        var firsts = new List<int>();
        for (int i = 0; i < identities.Count; i++)
            if (i == 0 || identities[i] != identities[i - 1]) firsts.Add(i);
        if (firsts.Count < count) return Enumerable.Range(0, Math.Min(count, identities.Count)).ToList();
        return Enumerable.Range(0, count).Select(k => firsts[(int)((long)k * firsts.Count / count)]).ToList();
    }

    static float[][] EncodeWithProgress(IEncoder enc, IReadOnlyList<RgbImage> crops, int batch, IProgress<(int, int)> p)
    {
        var r = new List<float[]>(crops.Count);
        int chunk = batch * 4;
        for (int i = 0; i < crops.Count; i += chunk)
        {
            r.AddRange(enc.Encode(crops.Skip(i).Take(chunk).ToList(), batch: batch));
            p.Report((Math.Min(i + chunk, crops.Count), crops.Count));
        }
        if (crops.Count == 0) p.Report((0, 0));
        return r.ToArray();
    }

    sealed class StageProgress(IProgress<EvaluationProgress>? inner, string stage) : IProgress<(int, int)>
    {
        public void Report((int, int) v) => inner?.Report(new EvaluationProgress(stage, v.Item1, v.Item2));
    }
}
