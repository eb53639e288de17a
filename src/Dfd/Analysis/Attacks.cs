using Dfd.Core;
using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Analysis;

/// <summary>What the attacker wants from the encoder.</summary>
public enum AttackGoal
{
    /// <summary>Untargeted: push the template away from the clean image's own (minimise cos(E(x′), E(x))).</summary>
    Dodge,
    /// <summary>Targeted: pull the template towards a given person's (maximise cos(E(x′), t_target)).</summary>
    Impersonate,
}

/// <summary>
/// L∞ attack settings, in grey levels (0..255 units, so ε = 4 means ±4 grey levels, i.e. 4/255 in [0,1] units).
/// </summary>
/// <param name="Epsilon">Radius of the L∞ ball about the clean image.</param>
/// <param name="Steps">Gradient steps (1 with StepSize = ε and no random start is FGSM).</param>
/// <param name="StepSize">Per-step size; null means 2.5·ε/Steps (Madry et al. 2018).</param>
/// <param name="RandomStart">Start from a uniform point in the ε-ball rather than the clean image. Off by default, for determinism.</param>
/// <param name="Seed">Seed of the random start (System.Random, so the same on every platform).</param>
public sealed record AttackOptions(double Epsilon, int Steps = 10, double? StepSize = null, bool RandomStart = false, int Seed = 0)
{
    public double Step => StepSize ?? 2.5 * Epsilon / Steps;

    public static AttackOptions Fgsm(double epsilon) => new(epsilon, 1, epsilon);
    public static AttackOptions Pgd(double epsilon, int steps = 10, double? stepSize = null) => new(epsilon, steps, stepSize);
}

/// <summary>An attack's outcome.</summary>
/// <param name="Images">Adversarial crops (rounded to bytes, within ε of the originals and within 0..255).</param>
/// <param name="Templates">The encoder's templates of <see cref="Images"/>.</param>
/// <param name="References">What similarity is measured against: the clean templates (dodging) or the targets.</param>
/// <param name="Trace">Trace[k][i]: cosine similarity of image i to its reference at the point where step k took its
/// gradient (k = 0 is the start), plus a last entry for the returned, byte-rounded images; Steps + 1 entries.</param>
public sealed record AttackResult(
    AttackGoal Goal,
    AttackOptions Options,
    IReadOnlyList<RgbImage> Images,
    float[][] Templates,
    float[][] References,
    IReadOnlyList<double[]> Trace)
{
    /// <summary>Similarity of each returned image to its reference (the last trace entry).</summary>
    public double[] FinalSimilarity => Trace[^1];
}

/// <summary>
/// Gradient attacks on an <see cref="IEncoder"/>: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018), L∞,
/// through <see cref="IEncoder.Forward"/> on [N,3,H,W] 0..255 tensors. Each image is attacked independently (the loss
/// is a sum of per-image similarities, and the encoders have no batch statistics in inference).
/// </summary>
public static class Attacks
{
    /// <summary>
    /// What an attack changed, made visible: mid-grey plus <paramref name="gain"/> times the per-channel difference
    /// (adversarial − clean), clamped to 0..255. Same-sized images only.
    /// </summary>
    public static RgbImage Difference(RgbImage clean, RgbImage adversarial, double gain)
    {
        if (clean.Width != adversarial.Width || clean.Height != adversarial.Height)
            throw new ArgumentException($"images differ in size: {clean.Width}×{clean.Height} and {adversarial.Width}×{adversarial.Height}");
        var d = new RgbImage(clean.Width, clean.Height);
        for (int i = 0; i < d.Data.Length; i++)
            d.Data[i] = (byte)Math.Clamp((int)Math.Round(128 + gain * (adversarial.Data[i] - clean.Data[i])), 0, 255);
        return d;
    }

    public static AttackResult Fgsm(IEncoder enc, IReadOnlyList<RgbImage> images, AttackGoal goal, double epsilon,
        IReadOnlyList<float[]>? targets = null) =>
        Run(enc, images, goal, AttackOptions.Fgsm(epsilon), targets);

    public static AttackResult Pgd(IEncoder enc, IReadOnlyList<RgbImage> images, AttackGoal goal, AttackOptions options,
        IReadOnlyList<float[]>? targets = null) =>
        Run(enc, images, goal, options, targets);

    /// <summary>
    /// Runs the attack. <paramref name="targets"/>: for <see cref="AttackGoal.Impersonate"/>, one template per image or
    /// a single one for all; ignored (must be null) for <see cref="AttackGoal.Dodge"/>, whose references are the
    /// clean images' templates.
    /// </summary>
    public static AttackResult Run(IEncoder enc, IReadOnlyList<RgbImage> images, AttackGoal goal, AttackOptions options,
        IReadOnlyList<float[]>? targets = null)
    {
        if (images.Count == 0) throw new ArgumentException("no images", nameof(images));
        if (!(options.Epsilon >= 0) || double.IsInfinity(options.Epsilon)) throw new ArgumentOutOfRangeException(nameof(options), options.Epsilon, "ε must be finite and ≥ 0");
        if (options.Steps < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Steps, "need at least one step");
        if (!(options.Step >= 0) || double.IsInfinity(options.Step)) throw new ArgumentOutOfRangeException(nameof(options), options.Step, "step size must be finite and ≥ 0");
        int n = images.Count, w = enc.Spec.InputWidth, h = enc.Spec.InputHeight;

        float[][] refs = goal switch
        {
            AttackGoal.Dodge when targets is not null => throw new ArgumentException("dodging attacks the clean templates; pass no targets", nameof(targets)),
            AttackGoal.Dodge => enc.Encode(images),
            AttackGoal.Impersonate when targets is null => throw new ArgumentException("impersonation needs target templates", nameof(targets)),
            AttackGoal.Impersonate when targets.Count == 1 => Enumerable.Repeat(targets[0], n).ToArray(),
            AttackGoal.Impersonate when targets.Count == n => targets.ToArray(),
            AttackGoal.Impersonate => throw new ArgumentException($"{targets.Count} targets for {n} images: give one, or one per image", nameof(targets)),
            _ => throw new ArgumentOutOfRangeException(nameof(goal)),
        };
        int dim = refs[0].Length;
        if (refs.Any(r => r.Length != dim)) throw new ArgumentException("target templates differ in length", nameof(targets));

        var trace = new List<double[]>();
        double eps = options.Epsilon, alpha = options.Step;
        // Gradient ascent on the similarity for impersonation, descent for dodging.
        double sign = goal == AttackGoal.Impersonate ? 1 : -1;

        using var outer = torch.NewDisposeScope();
        var x0 = Tensors.FromImages(images, w, h).to(enc.Device);
        var r = torch.tensor(refs.SelectMany(v => v).ToArray(), new long[] { n, dim }).to(enc.Device);
        var lo = x0.Minus(eps).clamp_min(Scalars.Of(0));
        var hi = x0.Plus(eps).clamp_max(Scalars.Of(255));

        var x = x0.clone();
        if (options.RandomStart && eps > 0)
        {
            var rng = new Random(options.Seed);
            var noise = new float[n * 3 * h * w];
            for (int i = 0; i < noise.Length; i++) noise[i] = (float)((rng.NextDouble() * 2 - 1) * eps);
            x = torch.min(torch.max(x0.Plus(torch.tensor(noise, x0.shape).to(enc.Device)), lo), hi);
        }

        for (int k = 0; k < options.Steps; k++)
        {
            using var scope = torch.NewDisposeScope();
            var (grad, sim) = Gradient(enc, x, r);
            trace.Add(sim);
            var next = torch.min(torch.max(x.Plus(grad.sign().Times(sign * alpha)), lo), hi);
            x = next.detach().MoveToOuterDisposeScope();
        }

        // Round to bytes and project again in the byte domain, so rounding cannot leave the ε-ball: x0 is integral,
        // so the integers in [x0 − ε, x0 + ε] are [x0 − ⌊ε⌋, x0 + ⌊ε⌋].
        double fl = Math.Floor(eps);
        var q = torch.min(torch.max(x.round(), x0.Minus(fl).clamp_min(Scalars.Of(0))), x0.Plus(fl).clamp_max(Scalars.Of(255)));
        var adv = Tensors.ToImages(q);
        var templates = enc.Encode(adv);
        trace.Add(templates.Select((t, i) => Verification(t, refs[i])).ToArray());
        return new AttackResult(goal, options, adv, templates, refs, trace);
    }

    /// <summary>
    /// An attack crafted in one model's crop, carried to another's: the perturbation δ = <paramref name="adversarial"/> −
    /// <paramref name="clean"/> is moved by <paramref name="sourceToTarget"/> (the fixed similarity between the two
    /// alignment templates; null when the crops coincide), zero where the source crop does not reach, and added to
    /// <paramref name="target"/> (the other model's own crop of the same photo), rounded and clipped to 0..255.
    /// Alignment is a linear resampling of the photo, so the other model's crop of the perturbed photo is its clean
    /// crop plus its crop of the perturbation; this is that, with the perturbation resampled once (crop to crop)
    /// rather than twice (crop to photo to crop). Bilinear weights are convex, so the moved δ stays within ±ε.
    /// </summary>
    public static RgbImage Transplant(RgbImage clean, RgbImage adversarial, RgbImage target, Similarity? sourceToTarget)
    {
        if (clean.Width != adversarial.Width || clean.Height != adversarial.Height)
            throw new ArgumentException($"adversarial image is {adversarial.Width}×{adversarial.Height}, its clean one {clean.Width}×{clean.Height}", nameof(adversarial));
        if (sourceToTarget == null && (clean.Width != target.Width || clean.Height != target.Height))
            throw new ArgumentException($"crops of {clean.Width}×{clean.Height} and {target.Width}×{target.Height} need a similarity between them", nameof(sourceToTarget));
        var delta = new float[clean.Data.Length];
        for (int i = 0; i < delta.Length; i++) delta[i] = adversarial.Data[i] - clean.Data[i];
        var moved = sourceToTarget is { } w ? Warp.AffineField(delta, clean.Width, clean.Height, w, target.Width, target.Height) : delta;
        var r = new RgbImage(target.Width, target.Height);
        for (int i = 0; i < moved.Length; i++) r.Data[i] = (byte)Math.Clamp((int)Math.Round(target.Data[i] + moved[i]), 0, 255);
        return r;
    }

    static double Verification(float[] a, float[] b) => Cosine.Of(a, b);

    /// <summary>∂Σᵢ cos(E(xᵢ), rᵢ)/∂x and the similarities, with a guard against non-finite gradients.</summary>
    static (Tensor Grad, double[] Similarity) Gradient(IEncoder enc, Tensor x, Tensor r)
    {
        // libtorch 2.10's CPU float32 convolution backward occasionally returns NaN input gradients for narrow convs
        // (an intermittent kernel issue, not a property of the loss: the same inputs give finite gradients when
        // recomputed). A NaN gradient's sign is NaN and would poison the image for good, so a non-finite gradient is
        // recomputed once — plainly, no reseeding, as nothing here is random — and if it is still non-finite the
        // attack stops with an exception rather than return corrupted images.
        for (int attempt = 0; ; attempt++)
        {
            var xi = x.detach().requires_grad_(true);
            var t = enc.Forward(xi);
            var cos = (t * r).sum(1) / (t.norm(1, keepdim: false) * r.norm(1, keepdim: false)).clamp_min(Scalars.Of(1e-12));
            var g = torch.autograd.grad([cos.sum()], [xi])[0];
            if (g.isfinite().all().item<bool>())
            {
                var sims = cos.detach().cpu().to_type(ScalarType.Float64).data<double>().ToArray();
                return (g.detach(), sims);
            }
            if (attempt >= 1)
                throw new InvalidOperationException(
                    $"{enc.Spec.Name}: the input gradient is non-finite twice in a row (known intermittent libtorch CPU " +
                    "float32 conv-backward NaNs); not continuing with a corrupted attack");
        }
    }
}
