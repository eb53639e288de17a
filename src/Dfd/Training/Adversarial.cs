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

/// <summary>
/// Differentiable augmentation (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", 2020) of
/// images 0..255 [N,3,H,W]: colour (brightness ±0.5, saturation ×0–2, contrast ×0.5–1.5, in 0–1 units), translation
/// by up to 1/8 of the side with zero fill, and cutout of a half-side square. The random draws come from a
/// <see cref="Random"/> the caller seeds (the trainer: seed, step, real or fake), so a resumed run augments exactly as
/// the uninterrupted one; gradients pass to the input.
/// </summary>
public static class DiffAugment
{
    public static Tensor Apply(Tensor x, DiscriminatorConfig cfg, Random rng)
    {
        long n = x.shape[0], h = x.shape[2], w = x.shape[3];
        var dev = x.device;
        var y = x.Over(255.0);
        Tensor PerSample(Func<double> draw) => torch.tensor(Enumerable.Range(0, (int)n).Select(_ => (float)draw()).ToArray(), device: dev).view(n, 1, 1, 1);
        if (cfg.Colour)
        {
            y = y.Plus(PerSample(() => rng.NextDouble() - 0.5));
            var grey = y.mean([1L], keepdim: true);
            y = (y - grey) * PerSample(() => rng.NextDouble() * 2);
            y = y.Plus(grey);
            var mean = y.mean([1L, 2L, 3L], keepdim: true);
            y = (y - mean) * PerSample(() => rng.NextDouble() + 0.5);
            y = y.Plus(mean);
        }
        if (cfg.Translation)
        {
            // Whole-pixel shifts through an affine grid with nearest sampling: zeros come in at the edges.
            var theta = new float[n * 6];
            for (int i = 0; i < n; i++)
            {
                int dx = rng.Next(-(int)(w / 8), (int)(w / 8) + 1), dy = rng.Next(-(int)(h / 8), (int)(h / 8) + 1);
                theta[i * 6 + 0] = 1; theta[i * 6 + 2] = -2f * dx / w;
                theta[i * 6 + 4] = 1; theta[i * 6 + 5] = -2f * dy / h;
            }
            var grid = F.affine_grid(torch.tensor(theta, new long[] { n, 2, 3 }, device: dev), [n, 3, h, w], align_corners: false);
            y = F.grid_sample(y, grid, GridSampleMode.Nearest, GridSamplePaddingMode.Zeros, align_corners: false);
        }
        if (cfg.Cutout)
        {
            var mask = new float[n * h * w];
            Array.Fill(mask, 1f);
            int ch = (int)(h / 2), cw = (int)(w / 2);
            for (int i = 0; i < n; i++)
            {
                int cy = rng.Next((int)h) - ch / 2, cx = rng.Next((int)w) - cw / 2;
                for (int r = Math.Max(0, cy); r < Math.Min((int)h, cy + ch); r++)
                    Array.Fill(mask, 0f, (int)(i * h * w + r * w + Math.Max(0, cx)), Math.Max(0, Math.Min((int)w, cx + cw) - Math.Max(0, cx)));
            }
            y = y * torch.tensor(mask, new long[] { n, 1, h, w }, device: dev);
        }
        return y.Times(255.0);
    }
}
