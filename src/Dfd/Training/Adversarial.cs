using TorchSharp;
using TorchSharp.Modules;
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

    public PatchDiscriminator(DiscriminatorConfig cfg) : base("disc")
    {
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
}

