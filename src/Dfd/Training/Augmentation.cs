using TorchSharp;
using Dfd.Core;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Training;

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

/// <summary>
/// Augmentation of the training photos themselves (not only the discriminator's view): small random turns, shifts and
/// zooms (bilinear, border repeated, as <see cref="Analysis.Perturbations"/> warps) and brightness, contrast and
/// saturation jitter. The trainer encodes the augmented photo again, so every step sees a new, matching
/// (template, image) pair: more pairs from the same photos.
/// </summary>
/// <param name="Degrees">Largest turn either way.</param>
/// <param name="Shift">Largest shift either way, as a fraction of the side.</param>
/// <param name="Zoom">Largest zoom either way, as a fraction (0.05: ×0.95–×1.05).</param>
/// <param name="Photometric">Largest brightness change (0–1 units) and contrast and saturation factor change.</param>
public sealed record AugmentConfig(double Degrees = 5, double Shift = 0.03, double Zoom = 0.05, double Photometric = 0.1)
{
    public bool Geometric => Degrees > 0 || Shift > 0 || Zoom > 0;

    /// <summary>Images 0..255 [N,3,H,W] → augmented images, the draws from <paramref name="rng"/>. With
    /// <paramref name="wholeLevels"/> off the result is not rounded, so gradients pass (a loss's view of a reconstruction).</summary>
    public Tensor Apply(Tensor x, Random rng, bool wholeLevels = true)
    {
        long n = x.shape[0], h = x.shape[2], w = x.shape[3];
        var dev = x.device;
        var y = x;
        double U(double r) => (rng.NextDouble() * 2 - 1) * r;
        if (Geometric)
        {
            // Output pixel → input pixel, in the normalised coordinates affine_grid uses (aspect taken into account).
            var theta = new float[n * 6];
            for (int i = 0; i < n; i++)
            {
                double a = U(Degrees) * Math.PI / 180, s = 1 / (1 + U(Zoom)), dx = U(Shift) * 2, dy = U(Shift) * 2;
                double c = Math.Cos(a) * s, sn = Math.Sin(a) * s;
                theta[i * 6 + 0] = (float)c; theta[i * 6 + 1] = (float)(-sn * h / w); theta[i * 6 + 2] = (float)dx;
                theta[i * 6 + 3] = (float)(sn * w / h); theta[i * 6 + 4] = (float)c; theta[i * 6 + 5] = (float)dy;
            }
            var grid = F.affine_grid(torch.tensor(theta, new long[] { n, 2, 3 }, device: dev), [n, 3, h, w], align_corners: false);
            y = F.grid_sample(y, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
        }
        if (Photometric > 0)
        {
            Tensor PerSample(Func<double> draw) => torch.tensor(Enumerable.Range(0, (int)n).Select(_ => (float)draw()).ToArray(), device: dev).view(n, 1, 1, 1);
            y = y.Plus(PerSample(() => U(Photometric) * 255));
            var mean = y.mean([1L, 2L, 3L], keepdim: true);
            y = ((y - mean) * PerSample(() => 1 + U(Photometric))).Plus(mean);
            var grey = y.mean([1L], keepdim: true);
            y = ((y - grey) * PerSample(() => 1 + U(Photometric))).Plus(grey);
            y = y.clamp(Scalars.Of(0.0), Scalars.Of(255.0));
        }
        // Whole grey levels, as a photo has: the encoder then sees what it would see in a file.
        return wholeLevels ? y.round() : y;
    }
}
