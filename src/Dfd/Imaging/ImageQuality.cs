
namespace Dfd.Imaging;

/// <summary>
/// Pixel-level similarity of two 8-bit images of the same size: SSIM and PSNR, on byte arrays, no torch.
/// <para>
/// SSIM follows Wang, Bovik, Sheikh and Simoncelli (2004) exactly as scikit-image's
/// <c>structural_similarity(a, b, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False)</c> computes it: local means, variances and covariance under an 11×11 Gaussian window
/// (σ = 1.5, truncated at 3.5σ, normalised to sum 1), K1 = 0.01, K2 = 0.03, L = 255, the SSIM map averaged over the
/// 'valid' region (pixels at least 5 from every border, where the window lies inside the image), then over channels.
/// tools/ssim-reference/reference.py produced the fixtures the tests compare against.
/// </para>
/// </summary>
public static class ImageQuality
{
    public const double K1 = 0.01, K2 = 0.03, L = 255, Sigma = 1.5, Truncate = 3.5;

    /// <summary>Window radius: scipy's int(truncate·σ + 0.5) = 5, so an 11×11 window.</summary>
    public static readonly int Radius = (int)(Truncate * Sigma + 0.5);

    /// <summary>The 1-D Gaussian taps (2·Radius+1, summing to 1); the 2-D window is their outer product.</summary>
    public static double[] Window()
    {
        var w = new double[2 * Radius + 1];
        double s = 0;
        for (int i = -Radius; i <= Radius; i++) s += w[i + Radius] = Math.Exp(-0.5 * i * i / (Sigma * Sigma));
        for (int i = 0; i < w.Length; i++) w[i] /= s;
        return w;
    }

    public static double Ssim(RgbImage a, RgbImage b)
    {
        SameSize(a, b);
        return Ssim(a.Data, b.Data, a.Width, a.Height, 3);
    }

    /// <summary>Mean SSIM over the valid region and the channels of two interleaved (HWC) images.</summary>
    public static double Ssim(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int width, int height, int channels)
    {
        Check(a, b, width, height, channels);
        int k = 2 * Radius + 1;
        if (width < k || height < k)
            throw new ArgumentException($"SSIM needs images of at least {k}x{k} pixels (its Gaussian window), got {width}x{height}");
        var w = Window();
        int ow = width - 2 * Radius, oh = height - 2 * Radius;
        double c1 = (K1 * L) * (K1 * L), c2 = (K2 * L) * (K2 * L);
        // Horizontal pass of the five moments (x, y, x², y², xy) over all rows, valid columns; then the vertical pass.
        var h = new double[5][];
        for (int m = 0; m < 5; m++) h[m] = new double[height * ow];
        double total = 0;
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < height; y++)
            {
                int row = y * width;
                for (int x = 0; x < ow; x++)
                {
                    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
                    for (int t = 0; t < k; t++)
                    {
                        int i = (row + x + t) * channels + c;
                        double p = a[i], q = b[i], g = w[t];
                        sx += g * p; sy += g * q; sxx += g * p * p; syy += g * q * q; sxy += g * p * q;
                    }
                    int o = y * ow + x;
                    h[0][o] = sx; h[1][o] = sy; h[2][o] = sxx; h[3][o] = syy; h[4][o] = sxy;
                }
            }
            double sum = 0;
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                {
                    double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
                    for (int t = 0; t < k; t++)
                    {
                        int o = (y + t) * ow + x;
                        double g = w[t];
                        ux += g * h[0][o]; uy += g * h[1][o]; uxx += g * h[2][o]; uyy += g * h[3][o]; uxy += g * h[4][o];
                    }
                    // use_sample_covariance=False: the window-weighted (population) moments, no N/(N−1) factor.
                    double vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
                    sum += (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
                }
            total += sum / ((double)ow * oh);
        }
        return total / channels;
    }

    /// <summary>Mean squared error over all pixels and channels.</summary>
    public static double Mse(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"images differ in size: {a.Length} and {b.Length} bytes");
        if (a.Length == 0) throw new ArgumentException("empty images");
        long s = 0;
        for (int i = 0; i < a.Length; i++) { int d = a[i] - b[i]; s += d * d; }
        return (double)s / a.Length;
    }

    public static double Psnr(RgbImage a, RgbImage b)
    {
        SameSize(a, b);
        return Psnr(a.Data, b.Data);
    }

    /// <summary>PSNR in dB with peak L = 255: 10·log10(L² / MSE); +∞ for identical images.</summary>
    public static double Psnr(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        double mse = Mse(a, b);
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(L * L / mse);
    }

    static void SameSize(RgbImage a, RgbImage b)
    {
        if (a.Width != b.Width || a.Height != b.Height)
            throw new ArgumentException($"images differ in size: {a.Width}x{a.Height} and {b.Width}x{b.Height}");
    }

    static void Check(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int width, int height, int channels)
    {
        if (channels <= 0) throw new ArgumentException("channels must be positive");
        long n = (long)width * height * channels;
        if (a.Length != n || b.Length != n)
            throw new ArgumentException($"a {width}x{height}x{channels} image holds {n} bytes; got {a.Length} and {b.Length}");
    }

    /// <summary>
    /// Detail in an image: the mean of gx² + gy² over the region, with gx, gy forward differences of luminance
    /// (0.299 R + 0.587 G + 0.114 B, in 0–1) between neighbouring pixels inside it. A blurred face scores a fraction of a
    /// photo's; the ratio of reconstructions' to originals' says how much of a photo's detail a decoder draws.
    /// </summary>
    public static double GradientEnergy(RgbImage im, Box? region = null)
    {
        var b = region ?? new Box(0, 0, im.Width, im.Height);
        if (b.X < 0 || b.Y < 0 || b.Right > im.Width || b.Bottom > im.Height || b.Width < 2 || b.Height < 2)
            throw new ArgumentException($"region {b} does not fit a {im.Width}×{im.Height} image with room for a difference");
        double Y(int x, int y) { int k = im.Index(x, y); return (0.299 * im.Data[k] + 0.587 * im.Data[k + 1] + 0.114 * im.Data[k + 2]) / 255; }
        double sum = 0;
        long count = 0;
        for (int y = b.Y; y < b.Bottom - 1; y++)
            for (int x = b.X; x < b.Right - 1; x++)
            {
                double v = Y(x, y), gx = Y(x + 1, y) - v, gy = Y(x, y + 1) - v;
                sum += gx * gx + gy * gy;
                count++;
            }
        return sum / count;
    }
}
