using TorchSharp;
using TorchSharp.Modules;
using Dfd.Core;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Training;

public enum AdversarialLoss { Hinge, LeastSquares }

/// <summary>
/// The adversarial term's settings (its weight is <see cref="LossWeights.Adv"/>): a patch discriminator of
/// <see cref="Layers"/> stride-2 4×4 convolutions starting at <see cref="Width"/> channels, its loss and learning rate,
/// optional feature matching on its layers, and which DiffAugment transforms both real and reconstructed images go
/// through (small data needs them: the discriminator otherwise learns the training photos by heart). Colour jitter is
/// off by default: with it the backgrounds of a fine-tune drifted blue within 250 steps (issue 25).
/// <see cref="SpectralNorm"/> divides every conv's weight by its largest singular value (power iteration, Miyato et al.
/// 2018); <see cref="R1"/> is the weight γ of the R1 penalty γ/2·E‖∇D(x)‖² on real images (Mescheder et al. 2018),
/// applied every <see cref="R1Every"/> discriminator steps and scaled by that interval (lazy regularisation, StyleGAN2);
/// <see cref="Scales"/> &gt; 1 adds discriminators of the same shape on the images average-pooled by 2, 4, …, and the
/// terms are averaged over the scales.
/// </summary>
public sealed record DiscriminatorConfig(
    int Width = 32,
    int Layers = 3,
    AdversarialLoss Loss = AdversarialLoss.Hinge,
    double Lr = 2e-4,
    double FeatureMatching = 0,
    bool Colour = false,
    bool Translation = true,
    bool Cutout = true,
    bool SpectralNorm = false,
    double R1 = 0,
    int R1Every = 4,
    int Scales = 1);

/// <summary>
/// A 2-D convolution whose weight is divided by its largest singular value (the weight seen as [out, in·k·k]), estimated
/// by one power-iteration step per training forward from the vector <c>u</c>, a buffer, so it is saved in checkpoints
/// and a resumed run estimates exactly as the uninterrupted one.
/// </summary>
public sealed class SpectralConv2d : Module<Tensor, Tensor>
{
    readonly Parameter weight, bias;
    readonly Tensor u;
    readonly long stride, padding;

    public SpectralConv2d(long cin, long cout, long kernel, long stride = 1, long padding = 0) : base("SpectralConv2d")
    {
        // Initialised as a plain Conv2d, then normalised on the fly.
        using (var c = Conv2d(cin, cout, kernel, stride: stride, padding: padding))
        {
            weight = new Parameter(c.weight!.detach().clone());
            bias = new Parameter(c.bias!.detach().clone());
        }
        (this.stride, this.padding) = (stride, padding);
        u = F.normalize(torch.randn(cout), p: 2, dim: 0);
        // A few steps at the start, as PyTorch's parametrisation does, so the first forward is already near σ.
        using (torch.no_grad()) { using var _ = Normalise(weight.view(cout, -1), u, 15); }
        RegisterComponents();
    }

    /// <summary>
    /// <paramref name="w"/> [out, in] divided by its largest singular value σ ≈ uᵀWv, after <paramref name="iterations"/>
    /// power-iteration steps that update <paramref name="u"/> in place (without gradients); the gradient flows through
    /// W and σ as in Miyato et al.
    /// </summary>
    public static Tensor Normalise(Tensor w, Tensor u, int iterations)
    {
        Tensor v;
        using (torch.no_grad())
        {
            v = F.normalize(w.t().mv(u), p: 2, dim: 0);
            for (int i = 0; i < iterations; i++)
            {
                u.copy_(F.normalize(w.mv(v), p: 2, dim: 0));
                v = F.normalize(w.t().mv(u), p: 2, dim: 0);
            }
        }
        // A copy of u: the next forward updates u in place, and backward still needs this one's value.
        var sigma = u.clone().dot(w.mv(v));
        return w / sigma;
    }

    public override Tensor forward(Tensor x)
    {
        var w = Normalise(weight.view(weight.shape[0], -1), u, training ? 1 : 0).view(weight.shape);
        return F.conv2d(x, w, bias, strides: [stride, stride], padding: [padding, padding]);
    }
}

/// <summary>
/// PatchGAN-style discriminator: images 0..255 → a map of real/fake logits, one per overlapping patch, and the feature
/// map of every layer (for feature matching). No normalisation layers: real and reconstructed batches go through
/// separately, and batch statistics would tell them apart by themselves. With <see cref="DiscriminatorConfig.Scales"/>
/// &gt; 1 it holds one more discriminator per coarser scale (<see cref="Views"/>).
/// </summary>
public sealed class PatchDiscriminator : Module<Tensor, List<Tensor>>
{
    readonly ModuleList<Module<Tensor, Tensor>> convs;
    readonly Module<Tensor, Tensor> head;
    readonly ModuleList<PatchDiscriminator>? coarser;

    /// <summary>The settings it was built with; its loss, feature matching and augmentation come from here too.</summary>
    public DiscriminatorConfig Config { get; }

    public PatchDiscriminator(DiscriminatorConfig cfg) : base("disc")
    {
        Config = cfg;
        if (cfg.Layers < 1 || cfg.Width < 16 || cfg.Scales < 1 || cfg.R1Every < 1)
            throw new ArgumentException($"discriminator needs ≥ 1 layer, width ≥ 16, ≥ 1 scale and R1 every ≥ 1 steps (got {cfg.Layers} layers, width {cfg.Width}, {cfg.Scales} scales, R1 every {cfg.R1Every})");
        Module<Tensor, Tensor> Conv(long cin, long cout, long k, long stride, long padding) => cfg.SpectralNorm
            ? new SpectralConv2d(cin, cout, k, stride, padding)
            : Conv2d(cin, cout, k, stride: stride, padding: padding);
        var list = new List<Module<Tensor, Tensor>>();
        int cin = 3;
        for (int i = 0; i < cfg.Layers; i++)
        {
            int cout = cfg.Width << Math.Min(i, 3);
            list.Add(Conv(cin, cout, 4, 2, 1));
            cin = cout;
        }
        convs = new ModuleList<Module<Tensor, Tensor>>(list.ToArray());
        head = Conv(cin, 1, 3, 1, 1);
        if (cfg.Scales > 1)
            coarser = new ModuleList<PatchDiscriminator>(Enumerable.Range(1, cfg.Scales - 1).Select(_ => new PatchDiscriminator(cfg with { Scales = 1 })).ToArray());
        RegisterComponents();
    }

    /// <summary>Feature maps of each layer, then the logits [N,1,h,w] last (this scale only).</summary>
    public override List<Tensor> forward(Tensor rgb255)
    {
        var x = rgb255.Over(127.5).Minus(1.0);
        var outs = new List<Tensor>();
        foreach (var c in convs) { x = c.forward(x).LeakyRelu(0.2); outs.Add(x); }
        outs.Add(head.forward(x));
        return outs;
    }

    /// <summary>Every scale's <see cref="forward"/>: the full image, then average-pooled by 2, 4, ….</summary>
    public List<List<Tensor>> Views(Tensor rgb255)
    {
        var views = new List<List<Tensor>> { forward(rgb255) };
        if (coarser != null)
            for (int i = 0; i < coarser.Count; i++)
                views.Add(coarser[i].forward(F.avg_pool2d(rgb255, 2 << i)));
        return views;
    }

    // x·x rather than square(): TorchSharp's square() passes a bare exponent Scalar (see Scalars).
    static Tensor Square(Tensor x) => x * x;

    /// <summary>The generator's (decoder's) loss on the logits of reconstructions.</summary>
    public static Tensor GeneratorLoss(Tensor fake, AdversarialLoss kind) => kind == AdversarialLoss.Hinge
        ? fake.mean().neg()
        : Square(fake.Minus(1.0)).mean();

    /// <summary>The discriminator's loss on logits of real images and of (detached) reconstructions.</summary>
    public static Tensor DiscriminatorLoss(Tensor real, Tensor fake, AdversarialLoss kind) => kind == AdversarialLoss.Hinge
        ? F.relu(real.Rsub(1.0)).mean().Plus(F.relu(fake.Plus(1.0)).mean())
        : Square(real.Minus(1.0)).mean().Plus(Square(fake).mean());

    /// <summary>
    /// The decoder's side of a training step: the adversarial term (times <paramref name="weight"/>, averaged over the
    /// scales) on this discriminator's view of augmented reconstructions, and feature matching against the originals
    /// under the same augmentation (same <paramref name="seed"/>); each goes into <paramref name="terms"/> and is added
    /// to <paramref name="total"/>, which comes back.
    /// </summary>
    public Tensor AddGeneratorTerms(Tensor recon, Tensor real, double weight, int seed, Tensor total, Dictionary<string, Tensor> terms)
    {
        var d = Config;
        var fake = Views(DiffAugment.Apply(recon, d, new Random(seed)));
        Tensor? adv = null;
        foreach (var v in fake) { var g = GeneratorLoss(v[^1], d.Loss); adv = adv is null ? g : adv.Plus(g); }
        adv = adv!.Times(weight / fake.Count);
        terms["adv"] = adv;
        total = total.Plus(adv);
        if (d.FeatureMatching > 0)
        {
            List<List<Tensor>> r;
            using (torch.no_grad()) r = Views(DiffAugment.Apply(real, d, new Random(seed)));
            Tensor? fm = null;
            for (int s = 0; s < r.Count; s++)
                for (int i = 0; i < r[s].Count - 1; i++) { var li = (fake[s][i] - r[s][i]).abs().mean(); fm = fm is null ? li : fm.Plus(li); }
            terms["feature_matching"] = fm!.Times(d.FeatureMatching / r.Count);
            total = total.Plus(terms["feature_matching"]);
        }
        return total;
    }

    /// <summary>
    /// Each image's score for the R1 gradient [N]: per scale, the sum of its P patch logits over √P, averaged over the
    /// scales. Then ‖∇score‖² approximates the mean over patches of each patch logit's own ‖∇‖² (exactly where receptive
    /// fields do not overlap): R1 for a patch discriminator is R1 for each of its patch discriminators, not for their
    /// mean, whose gradient is P times weaker.
    /// </summary>
    static Tensor Score(List<List<Tensor>> views)
    {
        Tensor? s = null;
        foreach (var v in views)
        {
            var l = v[^1];
            var m = l.sum([1L, 2L, 3L]).Over(Math.Sqrt(l.shape[1] * l.shape[2] * l.shape[3]));
            s = s is null ? m : s.Plus(m);
        }
        return s!.Over(views.Count);
    }

    /// <summary>
    /// The R1 penalty γ/2·E‖∇ₓD(x)‖² at <paramref name="x"/> (images 0..255, requires_grad set), D as in
    /// <see cref="Score"/>, with the gradient taken in the discriminator's own input units (−1..1), so γ reads as in the
    /// literature; <paramref name="views"/> are this discriminator's outputs at x. The graph of the gradient is kept,
    /// so the penalty trains the discriminator.
    /// </summary>
    public static Tensor R1Penalty(Tensor x, List<List<Tensor>> views, double gamma)
    {
        var g = torch.autograd.grad([Score(views).sum()], [x], retain_graph: true, create_graph: true)[0].Times(127.5);
        return (g * g).sum([1L, 2L, 3L]).mean().Times(gamma / 2);
    }

    /// <summary>
    /// The discriminator's side of a training step: one <paramref name="adam"/> update at <paramref name="lr"/> on
    /// freshly augmented originals and (detached) reconstructions, plus the R1 penalty when
    /// <paramref name="step"/> falls on its interval; skipped when a gradient is not finite. Returns its loss; the R1
    /// penalty, when applied, goes into <paramref name="terms"/> as "r1".
    /// </summary>
    public Tensor Update(Adam adam, Tensor fake, Tensor real, int seedReal, int seedFake, double lr, long step = 0, Dictionary<string, Tensor>? terms = null)
    {
        var d = Config;
        zero_grad();
        bool r1 = d.R1 > 0 && step % d.R1Every == 0;
        var realAug = DiffAugment.Apply(real, d, new Random(seedReal));
        // The gradient is taken at the augmented image the discriminator sees (StyleGAN2-ADA does the same), which
        // also keeps double backward out of grid_sample, whose second derivative libtorch lacks.
        if (r1) realAug = realAug.detach().requires_grad_(true);
        var onReal = Views(realAug);
        var onFake = Views(DiffAugment.Apply(fake, d, new Random(seedFake)));
        Tensor? loss = null;
        for (int s = 0; s < onReal.Count; s++)
        {
            var l = DiscriminatorLoss(onReal[s][^1], onFake[s][^1], d.Loss);
            loss = loss is null ? l : loss.Plus(l);
        }
        loss = loss!.Over(onReal.Count);
        var total = loss;
        if (r1)
        {
            var pen = R1Penalty(realAug, onReal, d.R1);
            if (terms != null) terms["r1"] = pen.detach();
            total = total.Plus(pen.Times(d.R1Every));
        }
        total.backward();
        if (Adam.GradientsFinite(this)) adam.Step(lr);
        return loss.detach();
    }
}
