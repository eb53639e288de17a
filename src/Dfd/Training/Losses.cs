using Dfd.Core;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Training;

/// <summary>
/// Weights of the loss terms (0 turns a term off). "Local" terms repeat the global ones inside the inner-face box (the
/// paper's local loss). The defaults are the recipe of the shipped decoder; docs/ablation.md says what each term adds.
/// <see cref="IdentityPerson"/> weighs an identity term whose target is the image's person's centre, the mean of all
/// that person's training templates (plain and mirrored), rather than the image's own template: type-II match rates
/// compare a reconstruction with the person's <i>other</i> photos. For a person with one image the centre is the mean
/// of that image's plain and mirrored templates. <see cref="Adv"/> weighs the adversarial term of a patch
/// discriminator (<see cref="DiscriminatorConfig"/>), which the trainer adds: the decoder is pushed towards images the
/// discriminator cannot tell from photos, not towards the average that pixel losses reward. <see cref="Frequency"/>
/// weighs the focal frequency loss (<see cref="DecoderLoss.FocalFrequency"/>), which weighs the spectrum's hard, mostly
/// high, frequencies up where pixel losses let a decoder give them up. <see cref="IdentityWarped"/> weighs an identity
/// term taken on a randomly warped copy of the reconstruction (<see cref="DecoderLoss.IdentityWarp"/>, a new warp each
/// step), aimed at the person's centre where the person term is on, else at the image's own template: a face whose
/// template holds only at its one exact placement (detail that speaks to the encoder's pixels rather than to the face)
/// pays for it. Augmented identity terms carry over to models that were in no loss (Struppek et al., "Plug &amp; Play
/// Attacks", ICML 2022); a sharp decoder's drawn detail needs that, since the cross-model bars judge it.
/// <see cref="Colour"/> weighs the tint of the batch: its mean colour (per channel, 0–1) minus its photos', over the
/// whole image and over the inner face, averaged. The adversarial term tints faces (red, blue), and per-pixel L1 terms
/// do not pull a tint back, since they are lowest at the median, not at the mean; the tint is what <c>dfd evaluate</c>'s
/// colour bias measures. <see cref="PixelLow"/> weighs an L1 distance of the two images
/// averaged over 8×8 blocks (150² → 18²): it holds the face's layout, pose, mouth and tint to the photo's, and says
/// nothing of detail finer than a block, which the adversarial term is then free to draw (per-pixel terms at full
/// resolution are lowest at the blurred mean face). <see cref="Apart"/> weighs how far a reconstruction's template
/// matches other people's centres beyond what photos do at FMR 1e-3 (<see cref="Impostors"/>): person-centre terms
/// raise false matches along with type-II rates.
/// </summary>
public sealed record LossWeights(
    double Pixel = 1.0, double PixelLocal = 1.0,
    double Sobel = 0.5, double SobelLocal = 0.5,
    double Perceptual = 0.0, double PerceptualLocal = 0.0,
    double Identity = 0.5,
    double Ssim = 0.5,
    double IdentityPerson = 0.0,
    double Adv = 0.0,
    double Frequency = 0.0,
    double IdentityWarped = 0.0,
    double Colour = 0.0,
    double PixelLow = 0.0,
    double Apart = 0.0)
{
    /// <summary>Every image and feature term on, for tests and ablations.</summary>
    public static LossWeights All => new(Perceptual: 1.0, PerceptualLocal: 0.5);

    public bool NeedsFeatures => Perceptual > 0 || PerceptualLocal > 0;
}

/// <summary>
/// How the loss terms are computed, apart from how much each weighs. The perceptual terms compare <see cref="PerceptualStages"/>
/// feature maps of the encoder, starting at stage <see cref="PerceptualFrom"/> (1-based; dlib-resnet has five: 35², 17²,
/// 8², 4², 2²). <see cref="IdentityCentred"/> takes the identity cosine after subtracting the training set's mean
/// template, for encoders whose templates share a large common part (dlib-resnet: two different people score 0.84 on
/// average on the LFW test split). <see cref="WarpShrink"/> &gt; 0 also shrinks each step's warped copy of the
/// <see cref="LossWeights.IdentityWarped"/> term by a random fraction up to it (side × 1 − U[0, WarpShrink], area
/// average) and enlarges it back: identity that lives only in detail finer than another model's input (mobilefacenet:
/// 112×96 against dlib's 150×150) pays for it, as in the input-diversity attacks that carry over to unseen models
/// (Xie et al., "Improving transferability of adversarial examples with input diversity", CVPR 2019).
/// </summary>
public sealed record LossOptions(bool PixelL2 = false, int PerceptualStages = 3, int PerceptualFrom = 1, bool IdentityCentred = false,
    double WarpShrink = 0, int Warps = 0)
{
    /// <summary>Warped copies per step for the <see cref="LossWeights.IdentityWarped"/> term (<c>warps=N</c>; 0 means
    /// one, the default, so that runs from before the option keep their fingerprint); the term is their mean.</summary>
    public int WarpCopies => Math.Max(1, Warps);
}

/// <summary>The loss as <c>dfd train --loss name=number,...</c> gives it: weights and options in one list.</summary>
public static class LossSpec
{
    static readonly Dictionary<string, Func<LossWeights, double, LossWeights>> weights = new()
    {
        ["pixel"] = (w, v) => w with { Pixel = v }, ["pixel_local"] = (w, v) => w with { PixelLocal = v },
        ["sobel"] = (w, v) => w with { Sobel = v }, ["sobel_local"] = (w, v) => w with { SobelLocal = v },
        ["perceptual"] = (w, v) => w with { Perceptual = v }, ["perceptual_local"] = (w, v) => w with { PerceptualLocal = v },
        ["identity"] = (w, v) => w with { Identity = v }, ["ssim"] = (w, v) => w with { Ssim = v },
        ["identity_person"] = (w, v) => w with { IdentityPerson = v },
        ["adv"] = (w, v) => w with { Adv = v },
        ["frequency"] = (w, v) => w with { Frequency = v },
        ["identity_warped"] = (w, v) => w with { IdentityWarped = v },
        ["colour"] = (w, v) => w with { Colour = v },
        ["pixel_low"] = (w, v) => w with { PixelLow = v },
        ["apart"] = (w, v) => w with { Apart = v },
    };

    static readonly Dictionary<string, Func<LossOptions, double, LossOptions>> options = new()
    {
        ["l2"] = (o, v) => o with { PixelL2 = v != 0 }, ["identity_centred"] = (o, v) => o with { IdentityCentred = v != 0 },
        ["stages"] = (o, v) => o with { PerceptualStages = (int)v }, ["stage_from"] = (o, v) => o with { PerceptualFrom = (int)v },
        ["warp_shrink"] = (o, v) => o with { WarpShrink = v }, ["warps"] = (o, v) => o with { Warps = (int)v },
    };

    public static IEnumerable<string> Names => weights.Keys.Concat(options.Keys);
    public static IEnumerable<string> WeightNames => weights.Keys;

    /// <summary>
    /// <paramref name="w"/> and <paramref name="o"/> with some values replaced, from <c>name=number,...</c> (e.g.
    /// <c>ssim=1,perceptual=1,stage_from=3</c>). Weights must be finite and ≥ 0; <c>stages</c> and <c>stage_from</c>
    /// whole numbers ≥ 1; <c>l2</c> and <c>identity_centred</c> are switches (0 off, anything else on).
    /// </summary>
    /// <exception cref="FormatException">A part that is not name=number, an unknown name, or a value out of range.</exception>
    public static (LossWeights Weights, LossOptions Options) Parse(string spec, LossWeights? w = null, LossOptions? o = null)
    {
        w ??= new(); o ??= new();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || !double.TryParse(kv[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v))
                throw new FormatException($"'{part}' is not name=number");
            if (!weights.ContainsKey(kv[0]) && !options.ContainsKey(kv[0]))
                throw new FormatException($"unknown term '{kv[0]}' ({string.Join(", ", Names)})");
            if (!double.IsFinite(v) || v < 0)
                throw new FormatException($"{kv[0]} must be a finite number ≥ 0, not {kv[1]}");
            if (kv[0] is "stages" or "stage_from" or "warps" && (v < 1 || v != Math.Floor(v) || v > 1000))
                throw new FormatException($"{kv[0]} must be a whole number ≥ 1, not {kv[1]}");
            if (kv[0] == "warp_shrink" && v >= 0.9)
                throw new FormatException($"warp_shrink must be below 0.9 (the most a side may shrink by), not {kv[1]}");
            if (weights.TryGetValue(kv[0], out var setW)) w = setW(w, v);
            else o = options[kv[0]](o, v);
        }
        return (w, o);
    }

    /// <summary>
    /// Why these terms cannot run on <paramref name="encoder"/>; null when they can. Only the perceptual terms need more
    /// than templates: feature maps, and as many as the stages ask.
    /// </summary>
    public static string? Problem(LossWeights w, LossOptions o, IEncoder encoder)
    {
        if ((o.WarpShrink > 0 || o.Warps > 1) && w.IdentityWarped == 0)
            return $"{(o.WarpShrink > 0 ? "warp_shrink" : "warps")} shapes the identity_warped term's copies; set identity_warped > 0 in --loss, or leave it out";
        if (!w.NeedsFeatures) return null;
        if (encoder is not IFeatureEncoder f)
            return $"encoder '{encoder.Spec.Name}' exposes no feature maps for the perceptual terms; set perceptual=0,perceptual_local=0 in --loss";
        int last = o.PerceptualFrom + o.PerceptualStages - 1;
        return o.PerceptualFrom < 1 || o.PerceptualStages < 1 || last > f.FeatureMaps
            ? $"perceptual stages {o.PerceptualFrom}..{last} asked (--loss stage_from, stages), but encoder '{encoder.Spec.Name}' has {f.FeatureMaps} feature maps"
            : null;
    }
}

/// <summary>The decoder's training loss: pixel, Sobel-gradient, perceptual (encoder features), identity; global and local.</summary>
public sealed class DecoderLoss
{
    readonly IEncoder encoder;
    readonly LossWeights w;
    readonly LossOptions o;
    readonly Box inner;
    readonly Tensor? centre;

    /// <param name="meanTemplate">The training set's mean template; needed when <see cref="LossOptions.IdentityCentred"/> is on.</param>
    /// <exception cref="ArgumentException">Perceptual terms on an encoder without (enough) feature maps, or a centred
    /// identity term without a mean template of the encoder's size.</exception>
    public DecoderLoss(IEncoder encoder, LossWeights weights, Box inner, float[]? meanTemplate = null, LossOptions? options = null)
    {
        o = options ?? new();
        if (LossSpec.Problem(weights, o, encoder) is { } problem) throw new ArgumentException(problem);
        if (o.IdentityCentred && weights.Identity > 0)
        {
            if (meanTemplate?.Length != encoder.Spec.EmbeddingSize)
                throw new ArgumentException($"a centred identity term needs the mean template ({encoder.Spec.EmbeddingSize} values), got {meanTemplate?.Length.ToString() ?? "none"}");
            centre = torch.tensor(meanTemplate, device: encoder.Device).unsqueeze(0).DetachFromDisposeScope();
        }
        (this.encoder, w, this.inner) = (encoder, weights, inner);
    }

    /// <summary>The mean of templates [N][D], in double precision, for <see cref="LossOptions.IdentityCentred"/>.</summary>
    public static float[] MeanTemplate(IReadOnlyList<float[]> templates)
    {
        var sum = new double[templates[0].Length];
        foreach (var t in templates) for (int i = 0; i < sum.Length; i++) sum[i] += t[i];
        return sum.Select(v => (float)(v / templates.Count)).ToArray();
    }

    /// <summary>
    /// For each item, the mean (in double) of the plain and mirrored templates of every item with its identity, for
    /// <see cref="LossWeights.IdentityPerson"/>.
    /// </summary>
    public static float[][] PersonCentres(IReadOnlyList<string> identities, IReadOnlyList<float[]> templates, IReadOnlyList<float[]> mirrors)
    {
        if (templates.Count != identities.Count || mirrors.Count != identities.Count)
            throw new ArgumentException($"{identities.Count} identities, {templates.Count} templates and {mirrors.Count} mirrored templates");
        var (rows, of) = PersonTable(identities, templates, mirrors);
        return of.Select(p => rows[p]).ToArray();
    }

    /// <summary>Each person's centre (as <see cref="PersonCentres"/>), one row per person in order of first appearance,
    /// and each item's row.</summary>
    public static (float[][] Centres, int[] PersonOf) PersonTable(IReadOnlyList<string> identities, IReadOnlyList<float[]> templates, IReadOnlyList<float[]> mirrors)
    {
        if (templates.Count != identities.Count || mirrors.Count != identities.Count)
            throw new ArgumentException($"{identities.Count} identities, {templates.Count} templates and {mirrors.Count} mirrored templates");
        var person = new Dictionary<string, int>();
        var of = new int[identities.Count];
        var members = new List<List<int>>();
        for (int i = 0; i < of.Length; i++)
        {
            var id = identities[i];
            if (!person.TryGetValue(id, out int p)) { person[id] = p = members.Count; members.Add([]); }
            of[i] = p;
            members[p].Add(i);
        }
        var rows = members.Select(g => MeanTemplate([.. g.Select(i => templates[i]), .. g.Select(i => mirrors[i])])).ToArray();
        return (rows, of);
    }

    /// <summary>The warps of the <see cref="LossWeights.IdentityWarped"/> term: turns up to 5°, shifts up to 5% of the side,
    /// zooms up to 10%, no colour change. About what a face detector's alignment varies by, which an FR model is
    /// trained to ignore.</summary>
    public static readonly AugmentConfig IdentityWarp = new(Degrees: 5, Shift: 0.05, Zoom: 0.1, Photometric: 0);

    /// <summary>Images [N,C,H,W] shrunk to <paramref name="factor"/> of their sides (area average, at least 8 pixels)
    /// and enlarged back (bilinear): what a model with a smaller input can see of them. Differentiable.</summary>
    public static Tensor Shrink(Tensor x, double factor)
    {
        long h = x.shape[2], w = x.shape[3];
        long sh = Math.Max(8, (long)Math.Round(h * factor)), sw = Math.Max(8, (long)Math.Round(w * factor));
        if (sh == h && sw == w) return x;
        var small = F.interpolate(x, [sh, sw], mode: InterpolationMode.Area);
        return F.interpolate(small, [h, w], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    /// <summary>The block side of the <see cref="LossWeights.PixelLow"/> term.</summary>
    public const int LowBlock = 8;

    public LossWeights Weights => w;
    public LossOptions Options => o;

    /// <summary>Images in 0..255 [N,3,H,W]; <paramref name="targetTemplates"/> are the encoder's templates of the targets;
    /// <paramref name="personCentres"/> [N,D] their people's centres, needed when <see cref="LossWeights.IdentityPerson"/> is on.
    /// A reconstruction larger than the encoder's crop (a decoder with an output size of its own) is compared pixel for
    /// pixel with <paramref name="target"/> at its size, and shown to the encoder (identity, perceptual) resized to the
    /// encoder's input by <see cref="Reconstruction.ToSize"/>; the perceptual terms then compare with
    /// <paramref name="encoderTarget"/>, the target's crop at the encoder's size (default: the target resized).
    /// <paramref name="warp"/> draws the warps of the <see cref="LossWeights.IdentityWarped"/> term (the trainer seeds it
    /// per step, so a resumed run warps as the uninterrupted one). <paramref name="impostors"/> and each target's person in
    /// it (<paramref name="persons"/>) serve the <see cref="LossWeights.Apart"/> term.</summary>
    /// <exception cref="ArgumentException">A person-centre term without centres, a warped identity term without draws, or
    /// the apart term without impostors and persons.</exception>
    public (Tensor Total, Dictionary<string, Tensor> Terms) Compute(Tensor recon, Tensor target, Tensor targetTemplates, Tensor? personCentres = null,
        Tensor? encoderTarget = null, Random? warp = null, Impostors? impostors = null, IReadOnlyList<int>? persons = null)
    {
        if (w.IdentityPerson > 0 && personCentres is null) throw new ArgumentException("the identity_person term needs each target's person centre");
        if (w.IdentityWarped > 0 && warp is null) throw new ArgumentException("the identity_warped term needs a random source for its warps");
        if (w.Apart > 0 && (impostors is null || persons is null)) throw new ArgumentException("the apart term needs the impostors and each target's person");
        var terms = new Dictionary<string, Tensor>();
        int ew = encoder.Spec.InputWidth, eh = encoder.Spec.InputHeight;
        // The inner-face box is in the encoder's crop; on a larger output the same region, scaled.
        bool encoderSize = recon.shape[3] == ew && recon.shape[2] == eh;
        Tensor Inner(Tensor x) => encoderSize ? inner.Crop(x) : inner.CropScaled(x, ew, eh);
        var r = recon.Over(255f);
        var t = target.Over(255f);
        if (w.Pixel > 0) terms["pixel"] = Pixel(r, t).Times(w.Pixel);
        if (w.PixelLocal > 0) terms["pixel_local"] = Pixel(Inner(r), Inner(t)).Times(w.PixelLocal);
        if (w.Ssim > 0) terms["ssim"] = Ssim(r, t).Rsub(1).Times(w.Ssim);
        if (w.Frequency > 0) terms["frequency"] = FocalFrequency(r, t).Times(w.Frequency);
        if (w.PixelLow > 0) terms["pixel_low"] = (F.avg_pool2d(r, LowBlock) - F.avg_pool2d(t, LowBlock)).abs().mean().Times(w.PixelLow);
        if (w.Colour > 0)
        {
            Tensor Tint(Tensor a, Tensor b) => (a.mean([0L, 2L, 3L]) - b.mean([0L, 2L, 3L])).abs().mean();
            terms["colour"] = Tint(r, t).Plus(Tint(Inner(r), Inner(t))).Times(w.Colour / 2);
        }
        if (w.Sobel > 0 || w.SobelLocal > 0)
        {
            var (gr, gt) = (Sobel(r), Sobel(t));
            if (w.Sobel > 0) terms["sobel"] = (gr - gt).abs().mean().Times(w.Sobel);
            if (w.SobelLocal > 0) terms["sobel_local"] = (Inner(gr) - Inner(gt)).abs().mean().Times(w.SobelLocal);
        }
        if (w.NeedsFeatures || w.Identity > 0 || w.IdentityPerson > 0 || w.IdentityWarped > 0 || w.Apart > 0)
        {
            // One pass gives the template and, where the perceptual terms need them, the feature maps.
            var fenc = encoder as IFeatureEncoder;
            var er = Reconstruction.ToSize(recon, ew, eh);
            var (rt, rf) = w.NeedsFeatures ? fenc!.ForwardWithFeatures(er) : (encoder.Forward(er), []);
            if (w.NeedsFeatures)
            {
                List<Tensor> tf;
                var et = encoderTarget ?? Reconstruction.ToSize(target, ew, eh);
                using (torch.no_grad()) tf = fenc!.ForwardWithFeatures(et).Features;
                Tensor? g = null, l = null;
                int width = (int)et.shape[3], height = (int)et.shape[2];
                for (int i = o.PerceptualFrom - 1; i < o.PerceptualFrom - 1 + o.PerceptualStages; i++)
                {
                    var gi = (rf[i] - tf[i]).abs().mean();
                    var li = (inner.CropScaled(rf[i], width, height) - inner.CropScaled(tf[i], width, height)).abs().mean();
                    g = g is null ? gi : g.Plus(gi);
                    l = l is null ? li : l.Plus(li);
                }
                if (w.Perceptual > 0) terms["perceptual"] = g!.Times(w.Perceptual);
                if (w.PerceptualLocal > 0) terms["perceptual_local"] = l!.Times(w.PerceptualLocal);
            }
            if (w.Identity > 0)
            {
                var (a, b) = centre is null ? (rt, targetTemplates) : (rt - centre, targetTemplates - centre);
                terms["identity"] = F.cosine_similarity(a, b, dim: 1).Rsub(1).mean().Times(w.Identity);
            }
            if (w.IdentityPerson > 0)
                terms["identity_person"] = F.cosine_similarity(rt, personCentres!, dim: 1).Rsub(1).mean().Times(w.IdentityPerson);
            if (w.IdentityWarped > 0)
            {
                // Copies drawn one after another from the same source: copy k's draws follow copy k−1's.
                Tensor? sum = null;
                for (int k = 0; k < o.WarpCopies; k++)
                {
                    var wx = IdentityWarp.Apply(er, warp!, wholeLevels: false);
                    if (o.WarpShrink > 0) wx = Shrink(wx, 1 - warp!.NextDouble() * o.WarpShrink);
                    var d = F.cosine_similarity(encoder.Forward(wx), personCentres ?? targetTemplates, dim: 1).Rsub(1).mean();
                    sum = sum is null ? d : sum.Plus(d);
                }
                terms["identity_warped"] = sum!.Times(w.IdentityWarped / o.WarpCopies);
            }
            if (w.Apart > 0) terms["apart"] = impostors!.Excess(rt, persons!).mean().Times(w.Apart);
        }
        Tensor total = terms.Values.Aggregate((a, b) => a.Plus(b));
        return (total, terms);
    }

    /// <summary>
    /// Differentiable mean SSIM of images in 0..1, the same definition as <see cref="ImageQuality.Ssim(ReadOnlySpan{byte}, ReadOnlySpan{byte}, int, int, int)"/>
    /// (11×11 Gaussian σ 1.5, valid region, population moments), so the term trains the number the evaluation reports.
    /// </summary>
    public static Tensor Ssim(Tensor a, Tensor b)
    {
        var g = torch.tensor(ImageQuality.Window().Select(v => (float)v).ToArray(), device: a.device);
        int k = (int)g.shape[0], c = (int)a.shape[1];
        var gx = g.view(1, 1, 1, k).repeat(c, 1, 1, 1);
        var gy = g.view(1, 1, k, 1).repeat(c, 1, 1, 1);
        Tensor Blur(Tensor x) => F.conv2d(F.conv2d(x, gx, groups: c), gy, groups: c);
        double c1 = Math.Pow(ImageQuality.K1, 2), c2 = Math.Pow(ImageQuality.K2, 2);
        var (ua, ub) = (Blur(a), Blur(b));
        var (uaa, ubb, uab) = (ua * ua, ub * ub, ua * ub);
        var va = Blur(a * a) - uaa;
        var vb = Blur(b * b) - ubb;
        var cov = Blur(a * b) - uab;
        // (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2))
        var map = uab.Times(2).Plus(c1) * cov.Times(2).Plus(c2) / (uaa.Plus(ubb).Plus(c1) * va.Plus(vb).Plus(c2));
        return map.mean();
    }

    /// <summary>
    /// Focal frequency loss (Jiang et al., ICCV 2021) of images in 0..1: the squared distance of the orthonormal 2-D
    /// spectra per channel, each frequency weighted by its own distance (α = 1), normalised by the image's largest
    /// and detached, so the frequencies the decoder gets most wrong count most.
    /// </summary>
    public static Tensor FocalFrequency(Tensor a, Tensor b)
    {
        var d = torch.view_as_real(torch.fft.fft2(a, norm: FFTNormType.Ortho) - torch.fft.fft2(b, norm: FFTNormType.Ortho));
        var dist = (d * d).sum([-1L]);                                   // |Fa − Fb|² per frequency
        Tensor weight;
        using (torch.no_grad())
        {
            var amp = dist.sqrt();
            var max = amp.amax([-2L, -1L], keepdim: true).clamp_min(Scalars.Of(1e-12));
            weight = (amp / max).detach();
        }
        return (weight * dist).mean();
    }

    Tensor Pixel(Tensor a, Tensor b) => o.PixelL2 ? (a - b).pow(Scalars.Of(2)).mean() : (a - b).abs().mean();

    /// <summary>Horizontal and vertical Sobel responses per channel, stacked: [N,6,H,W] (replicate padding: no fake edges at the border).</summary>
    public static Tensor Sobel(Tensor x)
    {
        var kx = torch.tensor(new float[] { -1, 0, 1, -2, 0, 2, -1, 0, 1 }, device: x.device).view(1, 1, 3, 3).Over(4f);
        var ky = kx.transpose(2, 3);
        var k = torch.cat([kx, ky], 0).repeat(3, 1, 1, 1); // [6,1,3,3]: (x,y) per channel
        var p = F.pad(x, [1, 1, 1, 1], PaddingModes.Replicate);
        return F.conv2d(p, k, groups: 3);
    }
}
