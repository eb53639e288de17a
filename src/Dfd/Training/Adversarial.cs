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
/// through (small data needs them: the discriminator otherwise learns the training photos by heart).
/// </summary>
public sealed record DiscriminatorConfig(
    int Width = 32,
    int Layers = 3,
    AdversarialLoss Loss = AdversarialLoss.Hinge,
    double Lr = 2e-4,
    double FeatureMatching = 0,
    bool Colour = true,
    bool Translation = true,
    bool Cutout = true);

/// <summary>
/// PatchGAN-style discriminator: images 0..255 → a map of real/fake logits, one per overlapping patch, and the feature
/// map of every layer (for feature matching). No normalisation layers: real and reconstructed batches go through
/// separately, and batch statistics would tell them apart by themselves.
/// </summary>
public sealed class PatchDiscriminator : Module<Tensor, List<Tensor>>
{
    readonly ModuleList<Conv2d> convs;
    readonly Conv2d head;

    /// <summary>The settings it was built with; its loss, feature matching and augmentation come from here too.</summary>
    public DiscriminatorConfig Config { get; }

    public PatchDiscriminator(DiscriminatorConfig cfg) : base("disc")
    {
        Config = cfg;
        if (cfg.Layers < 1 || cfg.Width < 16)
            throw new ArgumentException($"discriminator needs ≥ 1 layer and width ≥ 16 (got {cfg.Layers} layers, width {cfg.Width})");
        var list = new List<Conv2d>();
        int cin = 3;
        for (int i = 0; i < cfg.Layers; i++)
        {
            int cout = cfg.Width << Math.Min(i, 3);
            list.Add(Conv2d(cin, cout, 4, stride: 2, padding: 1));
            cin = cout;
        }
        convs = new ModuleList<Conv2d>(list.ToArray());
        head = Conv2d(cin, 1, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>Feature maps of each layer, then the logits [N,1,h,w] last.</summary>
    public override List<Tensor> forward(Tensor rgb255)
    {
        var x = rgb255.Over(127.5).Minus(1.0);
        var outs = new List<Tensor>();
        foreach (var c in convs) { x = c.forward(x).LeakyRelu(0.2); outs.Add(x); }
        outs.Add(head.forward(x));
        return outs;
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
    /// The decoder's side of a training step: the adversarial term (times <paramref name="weight"/>) on this
    /// discriminator's view of augmented reconstructions, and feature matching against the originals under the same
    /// augmentation (same <paramref name="seed"/>); each goes into <paramref name="terms"/> and is added to
    /// <paramref name="total"/>, which comes back.
    /// </summary>
    public Tensor AddGeneratorTerms(Tensor recon, Tensor real, double weight, int seed, Tensor total, Dictionary<string, Tensor> terms)
    {
        var d = Config;
        var fake = forward(DiffAugment.Apply(recon, d, new Random(seed)));
        var adv = GeneratorLoss(fake[^1], d.Loss).Times(weight);
        terms["adv"] = adv;
        total = total.Plus(adv);
        if (d.FeatureMatching > 0)
        {
            List<Tensor> r;
            using (torch.no_grad()) r = forward(DiffAugment.Apply(real, d, new Random(seed)));
            Tensor? fm = null;
            for (int i = 0; i < r.Count - 1; i++) { var li = (fake[i] - r[i]).abs().mean(); fm = fm is null ? li : fm.Plus(li); }
            terms["feature_matching"] = fm!.Times(d.FeatureMatching);
            total = total.Plus(terms["feature_matching"]);
        }
        return total;
    }

    /// <summary>
    /// The discriminator's side of a training step: one <paramref name="adam"/> update at <paramref name="lr"/> on
    /// freshly augmented originals and (detached) reconstructions, skipped when a gradient is not finite; returns its loss.
    /// </summary>
    public Tensor Update(Adam adam, Tensor fake, Tensor real, int seedReal, int seedFake, double lr)
    {
        var d = Config;
        zero_grad();
        var onReal = forward(DiffAugment.Apply(real, d, new Random(seedReal)))[^1];
        var onFake = forward(DiffAugment.Apply(fake, d, new Random(seedFake)))[^1];
        var loss = DiscriminatorLoss(onReal, onFake, d.Loss);
        loss.backward();
        if (Adam.GradientsFinite(this)) adam.Step(lr);
        return loss.detach();
    }
}

