using System.Text.Json.Serialization;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;

namespace Dfd.Analysis;

/// <summary>One aligned input face.</summary>
public sealed record AnalysisInput(string Name, RgbImage Crop);

/// <summary>Input faces for an analysis.</summary>
public static class AnalysisInputs
{
    /// <summary>Aligned crops of the files; a broken file or a missed face is noted and the rest go on.</summary>
    public static List<AnalysisInput> Load(IReadOnlyList<string> files, EncoderSpec spec, FacePipeline? pipeline, int limit, List<string> problems)
    {
        var list = new List<AnalysisInput>();
        var seen = new HashSet<string>();
        foreach (var f in files)
        {
            if (list.Count >= limit) break;
            string name = Path.GetFileNameWithoutExtension(f);
            if (!seen.Add(name)) name = $"{name}~{list.Count}";
            var r = FaceInput.Crop(f, spec, pipeline, FacePick.MostCentral);
            if (r.Crop is { } crop) list.Add(new(name, crop));
            else problems.Add($"{f}: {r.Problem}");
        }
        return list;
    }

}

/// <summary>One perturbation strength applied to every input.</summary>
public sealed class AnalysisPoint
{
    /// <summary>"rotate", "translate-x", "occlude:eyes", "fgsm:dodge", "interpolate", …: one curve per series.</summary>
    public required string Series { get; init; }
    public required double Strength { get; init; }
    /// <summary>Per input: cosine of the perturbed template to the reference (the clean template; the target's for impersonation).</summary>
    public required double[] Similarity { get; init; }
    /// <summary>Per input: similarity ≥ the encoder's FMR 1e-3 threshold.</summary>
    public required bool[] Match { get; init; }
    /// <summary>Impersonation only: cosine to the input's own clean template.</summary>
    public double[]? SimilarityToSelf { get; init; }
    public FaceGeometry?[]? InputGeometry { get; set; }
    public FaceGeometry?[]? ReconGeometry { get; set; }
    [JsonIgnore] public RgbImage[]? Images { get; set; }
    [JsonIgnore] public RgbImage[]? Reconstructions { get; set; }

    public double MeanSimilarity => Similarity.Average();
    public double MatchRate => Match.Count(m => m) / (double)Match.Length;
}

/// <summary>How much of a geometric change the template keeps: recon Δ = Slope · input Δ + Intercept.</summary>
public sealed record GeometryFit(string Series, string Quantity, double Slope, double Intercept, int Points,
    int ReconFacesFound, int ReconCount, int InputFacesFound, int InputCount, double InputSlopeVsStrength);

/// <summary>The most damaging place of an occlusion map (pixel of the crop) and its mean similarity drop.</summary>
public sealed record OcclusionPeak(int X, int Y, double Drop);

/// <summary>Occlusion heat map: per pixel, the mean similarity drop (1 − cos) of the sweep patches covering it.</summary>
public sealed record OcclusionMap(int Width, int Height, int Patch, int Stride, [property: JsonIgnore] double[][] PerInput, [property: JsonIgnore] double[] Mean)
{
    /// <summary>The mean map's peak (most damaging place) and its value.</summary>
    public OcclusionPeak Peak
    {
        get
        {
            int best = 0;
            for (int i = 1; i < Mean.Length; i++) if (Mean[i] > Mean[best]) best = i;
            return new(best % Width, best / Width, Mean[best]);
        }
    }
}

public sealed class AnalysisResult
{
    public required string Kind { get; init; }
    public required string Encoder { get; init; }
    public string? Decoder { get; init; }
    /// <summary>A transferred attack (<see cref="Analyzer.Transfer"/>): the encoder the perturbations were crafted on; null otherwise.</summary>
    public string? CraftedOn { get; init; }
    public required double Threshold { get; init; }
    public required string ThresholdSource { get; init; }
    public required string[] Inputs { get; init; }
    public Dictionary<string, object> Options { get; init; } = new();
    [JsonIgnore] public RgbImage[] Clean { get; init; } = [];
    [JsonIgnore] public RgbImage[]? CleanReconstructions { get; set; }
    public FaceGeometry?[]? CleanGeometry { get; set; }
    public FaceGeometry?[]? CleanReconGeometry { get; set; }
    public List<AnalysisPoint> Points { get; } = [];
    public List<GeometryFit> Fits { get; } = [];
    public OcclusionMap? Occlusion { get; set; }
    public List<string> Notes { get; } = [];

    public IEnumerable<IGrouping<string, AnalysisPoint>> Series => Points.GroupBy(p => p.Series);
}

/// <summary>
/// Perturb the input, follow the template, decode it: the analyses of Križaj et al. (2024, Sec. 5) as one engine.
/// Every perturbed face is encoded, compared with the clean template at the encoder's FMR 1e-3 threshold, decoded
/// when a decoder is given, and (with a <see cref="GeometryProbe"/>) measured by the face detector, input and
/// reconstruction alike, so one can read off how much of a rotation, shift or zoom the template carries.
/// </summary>
public sealed class Analyzer(IEncoder encoder, FaceDecoder? decoder, GeometryProbe? probe, IProgress<(int Done, int Total)>? progress = null)
{
    public IEncoder Encoder { get; } = encoder;
    public FaceDecoder? Decoder { get; } = decoder;
    public int Batch { get; init; } = 32;

    double Threshold => Encoder.Spec.Threshold1e3;

    AnalysisResult Start(string kind, IReadOnlyList<AnalysisInput> inputs, string? decoderName, out float[][] clean, string? craftedOn = null)
    {
        if (inputs.Count == 0) throw new ArgumentException("no input faces", nameof(inputs));
        var r = new AnalysisResult
        {
            Kind = kind, Encoder = Encoder.Spec.Name, Decoder = decoderName, CraftedOn = craftedOn,
            Threshold = Threshold, ThresholdSource = Encoder.Spec.ThresholdSource,
            Inputs = inputs.Select(i => i.Name).ToArray(), Clean = inputs.Select(i => i.Crop).ToArray(),
        };
        if (!double.IsFinite(Threshold)) r.Notes.Add($"{Encoder.Spec.Name} has no calibrated FMR 1e-3 threshold: match columns are all false");
        clean = Encoder.Encode(r.Clean);
        if (Decoder != null) r.CleanReconstructions = Decode(clean);
        if (probe != null)
        {
            r.CleanGeometry = r.Clean.Select(probe.Measure).ToArray();
            if (r.CleanReconstructions != null) r.CleanReconGeometry = r.CleanReconstructions.Select(probe.Measure).ToArray();
        }
        return r;
    }

    /// <summary>Applies each perturbation to every input. <paramref name="keepImages"/> = false keeps numbers only (big sweeps).</summary>
    public AnalysisResult Sweep(string kind, IReadOnlyList<AnalysisInput> inputs, IReadOnlyList<Perturbation> perturbations,
        string? decoderName = null, bool keepImages = true, bool measure = true)
    {
        var r = Start(kind, inputs, decoderName, out var clean);
        int total = perturbations.Count, done = 0;
        foreach (var p in perturbations)
        {
            var imgs = r.Clean.Select(p.Apply).ToArray();
            var t = Encoder.Encode(imgs);
            var sims = t.Select((v, i) => Cosine.Of(v, clean[i])).ToArray();
            var pt = new AnalysisPoint
            {
                Series = p.Kind, Strength = p.Strength, Similarity = sims, Match = sims.Select(s => s >= Threshold).ToArray(),
            };
            if (keepImages)
            {
                pt.Images = imgs;
                if (Decoder != null) pt.Reconstructions = Decode(t);
                if (probe != null && measure)
                {
                    pt.InputGeometry = imgs.Select(probe.Measure).ToArray();
                    if (pt.Reconstructions != null) pt.ReconGeometry = pt.Reconstructions.Select(probe.Measure).ToArray();
                }
            }
            r.Points.Add(pt);
            progress?.Report((++done, total));
        }
        if (probe != null && measure) Fit(r);
        return r;
    }

    /// <summary>
    /// Occlusion: a patch swept over the crop (numbers only, turned into a heat map) and the named face-part occluders
    /// (with images and reconstructions).
    /// </summary>
    public AnalysisResult Occlusion(IReadOnlyList<AnalysisInput> inputs, int patch, int stride, Colour colour, string? decoderName = null)
    {
        int w = inputs[0].Crop.Width, h = inputs[0].Crop.Height;
        var boxes = Occluders.Sweep(w, h, patch, stride).ToList();
        var named = Perturbations.NamedOcclusions(Encoder.Spec.Template, colour).ToList();
        var r = Start(AnalysisKinds.Occlusion.Name, inputs, decoderName, out var clean);
        int total = boxes.Count + named.Count, done = 0;
        var heat = inputs.Select(_ => new double[w * h]).ToArray();
        var cover = new int[w * h];
        foreach (var b in boxes)
            for (int y = b.Y; y < b.Bottom; y++) for (int x = b.X; x < b.Right; x++) cover[y * w + x]++;
        // Patches are independent, so several go through the encoder in one batch.
        int per = Math.Max(1, Batch / inputs.Count);
        for (int k = 0; k < boxes.Count; k += per)
        {
            var chunk = boxes.Skip(k).Take(per).ToList();
            var imgs = chunk.SelectMany(b => r.Clean.Select(c => Perturbations.Occlude(c, b, colour))).ToList();
            var t = Encoder.Encode(imgs);
            for (int j = 0; j < chunk.Count; j++)
            {
                var b = chunk[j];
                for (int i = 0; i < inputs.Count; i++)
                {
                    double drop = 1 - Cosine.Of(t[j * inputs.Count + i], clean[i]);
                    for (int y = b.Y; y < b.Bottom; y++) for (int x = b.X; x < b.Right; x++) heat[i][y * w + x] += drop;
                }
            }
            done += chunk.Count;
            progress?.Report((done, total));
        }
        for (int i = 0; i < heat.Length; i++) for (int q = 0; q < w * h; q++) heat[i][q] /= Math.Max(1, cover[q]);
        var mean = new double[w * h];
        for (int q = 0; q < mean.Length; q++) mean[q] = heat.Average(m => m[q]);
        r.Occlusion = new OcclusionMap(w, h, patch, stride, heat, mean);

        foreach (var p in named)
        {
            var imgs = r.Clean.Select(p.Apply).ToArray();
            var t = Encoder.Encode(imgs);
            var sims = t.Select((v, i) => Cosine.Of(v, clean[i])).ToArray();
            r.Points.Add(new AnalysisPoint
            {
                Series = p.Kind, Strength = p.Strength, Similarity = sims, Match = sims.Select(s => s >= Threshold).ToArray(),
                Images = imgs, Reconstructions = Decoder != null ? Decode(t) : null,
            });
            progress?.Report((++done, total));
        }
        r.Options["patch"] = patch; r.Options["stride"] = stride; r.Options["colour"] = $"{colour.R},{colour.G},{colour.B}";
        return r;
    }

    /// <summary>
    /// FGSM or PGD at each ε (grey levels). Dodging pushes each template away from its clean one; impersonation pulls
    /// input i towards the clean template of <paramref name="targetOf"/>(i) (default: the next input that does not
    /// already match it). Success: dodging ends below the threshold,
    /// impersonation ends at or above it.
    /// </summary>
    public AnalysisResult Attack(string kind, IReadOnlyList<AnalysisInput> inputs, AttackGoal goal, IReadOnlyList<double> epsilons,
        Func<double, AttackOptions> options, Func<int, int>? targetOf = null, string? decoderName = null)
    {
        var r = Start(kind, inputs, decoderName, out var clean);
        float[][]? targets = null;
        if (goal == AttackGoal.Impersonate)
        {
            // By default each input targets the next input the model does not already match with it (another person,
            // as far as the model can tell); the plain next one only when every input matches.
            var of = targetOf ?? (i => Enumerable.Range(1, inputs.Count - 1).Select(k => (i + k) % inputs.Count)
                .Cast<int?>().FirstOrDefault(j => Cosine.Of(clean[i], clean[j!.Value]) < Threshold) ?? (i + 1) % inputs.Count);
            targets = Enumerable.Range(0, inputs.Count).Select(i => clean[of(i)]).ToArray();
            r.Options["targets"] = Enumerable.Range(0, inputs.Count).Select(i => inputs[of(i)].Name).ToArray();
        }
        int done = 0;
        foreach (var eps in epsilons)
        {
            var o = options(eps);
            var res = Attacks.Run(Encoder, r.Clean, goal, o, targets);
            var sims = res.FinalSimilarity;
            var self = res.Templates.Select((v, i) => Cosine.Of(v, clean[i])).ToArray();
            var pt = new AnalysisPoint
            {
                Series = $"{kind}:{goal.ToString().ToLowerInvariant()}", Strength = eps, Similarity = sims,
                Match = sims.Select(s => s >= Threshold).ToArray(),
                SimilarityToSelf = goal == AttackGoal.Impersonate ? self : null,
                Images = res.Images.ToArray(),
                Reconstructions = Decoder != null ? Decode(res.Templates) : null,
            };
            r.Points.Add(pt);
            progress?.Report((++done, epsilons.Count));
        }
        var first = options(epsilons.Count > 0 ? epsilons[^1] : 0);
        r.Options["goal"] = goal.ToString().ToLowerInvariant();
        r.Options["epsilons"] = epsilons.ToArray();
        r.Options["steps"] = first.Steps;
        r.Options["step_size"] = kind == AnalysisKinds.Fgsm.Name ? "ε" : first.StepSize?.ToString() ?? "2.5·ε/steps";
        return r;
    }

    /// <summary>
    /// Transfer: the attack of <paramref name="crafted"/> (an <see cref="Attack"/> result of another encoder, images
    /// kept) measured on this encoder. <paramref name="inputs"/> are this encoder's crops of the same faces, in the same
    /// order; each adversarial image's perturbation is carried to this crop by <see cref="Attacks.Transplant"/> with
    /// <paramref name="craftedToThis"/>. References are this encoder's own: dodging, the input's clean template;
    /// impersonation, the clean template of the same target face. Success is scored as for <see cref="Attack"/>, at
    /// this encoder's threshold; ε = 0 leaves the crop untouched (similarity 1 when dodging).
    /// </summary>
    public AnalysisResult Transfer(AnalysisResult crafted, IReadOnlyList<AnalysisInput> inputs, Similarity? craftedToThis, string? decoderName = null)
    {
        if (!crafted.Inputs.SequenceEqual(inputs.Select(i => i.Name)))
            throw new ArgumentException($"inputs ({string.Join(", ", inputs.Select(i => i.Name))}) are not the crafted attack's ({string.Join(", ", crafted.Inputs)})", nameof(inputs));
        if (crafted.Points.Any(p => p.Images == null)) throw new ArgumentException("the crafted attack kept no images", nameof(crafted));
        var r = Start(crafted.Kind, inputs, decoderName, out var clean, crafted.Encoder);
        var refs = clean;
        bool impersonate = crafted.Options.TryGetValue("targets", out var t) && t is string[];
        if (impersonate)
        {
            var names = (string[])t!;
            refs = names.Select(n => clean[Array.IndexOf(r.Inputs, n)]).ToArray();
            r.Options["targets"] = names;
        }
        int done = 0;
        foreach (var p in crafted.Points)
        {
            var imgs = p.Images!.Select((adv, i) => Attacks.Transplant(crafted.Clean[i], adv, r.Clean[i], craftedToThis)).ToArray();
            var tt = Encoder.Encode(imgs);
            var sims = tt.Select((v, i) => Cosine.Of(v, refs[i])).ToArray();
            r.Points.Add(new AnalysisPoint
            {
                Series = p.Series, Strength = p.Strength, Similarity = sims, Match = sims.Select(s => s >= Threshold).ToArray(),
                SimilarityToSelf = impersonate ? tt.Select((v, i) => Cosine.Of(v, clean[i])).ToArray() : null,
                Images = imgs, Reconstructions = Decoder != null ? Decode(tt) : null,
            });
            progress?.Report((++done, crafted.Points.Count));
        }
        foreach (var k in new[] { "goal", "epsilons", "steps", "step_size" })
            if (crafted.Options.TryGetValue(k, out var v)) r.Options[k] = v;
        r.Options["crafted_on"] = crafted.Encoder;
        r.Options["carried"] = craftedToThis is { } w
            ? $"perturbation moved from {crafted.Clean[0].Width}×{crafted.Clean[0].Height} to {r.Clean[0].Width}×{r.Clean[0].Height} crop (similarity: scale {w.Scale:0.###}, {w.AngleDegrees:0.##}°) and added to this model's crop"
            : "same crop: perturbation added as it is";
        return r;
    }

    /// <summary>Success of an attack point: dodging ends below the threshold, impersonation at or above it.</summary>
    public static double SuccessRate(AnalysisPoint p) => p.Series.EndsWith(":dodge") ? 1 - p.MatchRate : p.MatchRate;

    /// <summary>
    /// Templates along the great circle from A to B (both normalised), decoded. Similarity is to A; the path's
    /// cosine to B goes in <see cref="AnalysisPoint.SimilarityToSelf"/>. Match = still A at the threshold.
    /// </summary>
    public AnalysisResult Interpolate(AnalysisInput a, AnalysisInput b, int steps, string? decoderName = null)
    {
        if (steps < 2) throw new ArgumentOutOfRangeException(nameof(steps), steps, "need at least 2 steps (A and B)");
        var r = Start(AnalysisKinds.Interpolate.Name, [a, b], decoderName, out var clean);
        double omega = Angle(clean[0], clean[1]);
        for (int k = 0; k < steps; k++)
        {
            double s = k / (double)(steps - 1);
            var t = Between(clean[0], clean[1], s);
            double ca = Cosine.Of(t, clean[0]), cb = Cosine.Of(t, clean[1]);
            r.Points.Add(new AnalysisPoint
            {
                Series = AnalysisKinds.Interpolate.Series[0].Name, Strength = s, Similarity = [ca], Match = [ca >= Threshold], SimilarityToSelf = [cb],
                Reconstructions = Decoder != null ? Decode([t]) : null,
            });
            progress?.Report((k + 1, steps));
        }
        r.Options["steps"] = steps;
        r.Options["angle_degrees"] = omega * 180 / Math.PI;
        return r;
    }

    /// <summary>The angle between two templates, in radians.</summary>
    public static double Angle(float[] a, float[] b) => Math.Acos(Math.Clamp(Cosine.Dot(Cosine.Unit(a), Cosine.Unit(b)), -1, 1));

    /// <summary>
    /// The point a fraction <paramref name="s"/> (0 = A, 1 = B) along the great circle between the normalised
    /// templates, as <see cref="Interpolate"/> decodes it.
    /// </summary>
    public static float[] Between(float[] a, float[] b, double s)
    {
        if (a.Length != b.Length) throw new ArgumentException($"templates of {a.Length} and {b.Length} values");
        return Slerp(Cosine.Unit(a), Cosine.Unit(b), s, Angle(a, b));
    }

    static float[] Slerp(float[] a, float[] b, double s, double omega)
    {
        if (omega < 1e-6) return a.Select((x, i) => (float)((1 - s) * x + s * b[i])).ToArray();
        double wa = Math.Sin((1 - s) * omega) / Math.Sin(omega), wb = Math.Sin(s * omega) / Math.Sin(omega);
        return a.Select((x, i) => (float)(wa * x + wb * b[i])).ToArray();
    }

    /// <summary>Templates → reconstructions in the encoder's crop (see <see cref="Reconstruction.ReconstructAt"/>): the
    /// analyses set them beside the encoder's inputs and measure them with a probe of the encoder's template, so a
    /// decoder drawing larger is resized to it.</summary>
    public RgbImage[] Decode(IReadOnlyList<float[]> templates) =>
        (Decoder ?? throw new InvalidOperationException("no decoder")).ReconstructAt(templates, Encoder.Spec.InputWidth, Encoder.Spec.InputHeight, Batch).ToArray();

    /// <summary>Which detector quantity a geometric series moves (<see cref="AnalysisKinds"/>), as a change from the clean crop; null for the rest.</summary>
    public static (string Quantity, Func<FaceGeometry, FaceGeometry, double> Delta, Func<double, double> OfStrength)? Quantity(string series) =>
        AnalysisKinds.SeriesOf(series)?.Quantity is { } q and not GeometryQuantity.None
            ? (GeometryQuantities.Label(q), (g, c) => GeometryQuantities.Delta(q, g, c), s => GeometryQuantities.OfStrength(q, s))
            : null;

    void Fit(AnalysisResult r)
    {
        foreach (var g in r.Series)
        {
            if (Quantity(g.Key) is not { } q) continue;
            var pairs = new List<(double, double)>();
            var vsStrength = new List<(double, double)>();
            int reconFound = 0, reconCount = 0, inFound = 0, inCount = 0;
            foreach (var p in g)
                for (int i = 0; i < r.Inputs.Length; i++)
                {
                    var ci = r.CleanGeometry?[i];
                    var gi = p.InputGeometry?[i];
                    inCount++;
                    if (gi != null) inFound++;
                    if (gi != null && ci != null) vsStrength.Add((q.OfStrength(p.Strength), q.Delta(gi, ci)));
                    if (p.ReconGeometry == null) continue;
                    reconCount++;
                    var gr = p.ReconGeometry[i];
                    var cr = r.CleanReconGeometry?[i];
                    if (gr != null) reconFound++;
                    if (gi != null && ci != null && gr != null && cr != null) pairs.Add((q.Delta(gi, ci), q.Delta(gr, cr)));
                }
            var (slope, icpt, n) = GeometryProbe.Fit(pairs);
            var (inSlope, _, _) = GeometryProbe.Fit(vsStrength);
            r.Fits.Add(new GeometryFit(g.Key, q.Quantity, slope, icpt, n, reconFound, reconCount, inFound, inCount, inSlope));
            if (reconCount > 0 && reconFound < reconCount)
                r.Notes.Add($"{g.Key}: the detector found no face in {reconCount - reconFound} of {reconCount} reconstructions (left out of the fit)");
            if (inFound < inCount)
                r.Notes.Add($"{g.Key}: the detector found no face in {inCount - inFound} of {inCount} perturbed inputs (left out of the fit)");
        }
    }
}
