using Dfd.Evaluation;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Evaluation;

public class ImageQualityTests
{
    /// <summary>As lcg_bytes in tools/ssim-reference/reference.py.</summary>
    static byte[] Lcg(long seed, int n)
    {
        var r = new byte[n];
        long s = seed;
        for (int i = 0; i < n; i++)
        {
            s = (s * 1103515245 + 12345) % (1L << 31);
            r[i] = (byte)((s >> 16) & 255);
        }
        return r;
    }

    /// <summary>As noisy() in the script: base + (lcg byte mod (2a+1)) − a, clipped.</summary>
    static byte[] Noisy(byte[] b, long seed, int a)
    {
        var n = Lcg(seed, b.Length);
        return b.Select((v, i) => (byte)Math.Clamp(v + n[i] % (2 * a + 1) - a, 0, 255)).ToArray();
    }

    static byte[] Gradient()
    {
        var g = new byte[30 * 40 * 3];
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 40; x++)
            {
                int o = (y * 40 + x) * 3;
                g[o] = (byte)(x * 6 % 256); g[o + 1] = (byte)(y * 8 % 256); g[o + 2] = (byte)((x + y) * 3 % 256);
            }
        return g;
    }

    static byte[] Face(string name) => File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "faceapi", $"lfw-{name}.rgb"));

    // scikit-image 0.19.3, numpy 1.24.2 (Debian 12): printed by tools/ssim-reference/reference.py as (SSIM, PSNR dB).
    static readonly Dictionary<string, (double Ssim, double Psnr)> Reference = new()
    {
        ["NoiseVsNoise"] = (-0.014879814788855182, 7.9199544719720745),
        ["GradientVsNoisyGradient"] = (0.6142706871051319, 26.673531985060798),
        ["GreyOddSize"] = (0.9160391836282793, 17.55565712207765),
        ["FaceVsFace"] = (0.4318325985386759, 10.88261599047624),
        ["FaceVsNoisyFace"] = (0.41227280419016576, 23.12622006598414),
    };

    public static TheoryData<string> Cases => new(Reference.Keys);

    static (byte[] A, byte[] B, int W, int H, int C) Case(string name) => name switch
    {
        "NoiseVsNoise" => (Lcg(1, 32 * 24 * 3), Lcg(2, 32 * 24 * 3), 32, 24, 3),
        "GradientVsNoisyGradient" => (Gradient(), Noisy(Gradient(), 7, 20), 40, 30, 3),
        "GreyOddSize" => (Lcg(3, 17 * 13), Noisy(Lcg(3, 17 * 13), 9, 60), 17, 13, 1),
        "FaceVsFace" => (Face("Aaron_Peirsol_0001"), Face("George_W_Bush_0001"), 150, 150, 3),
        "FaceVsNoisyFace" => (Face("Aaron_Peirsol_0001"), Noisy(Face("Aaron_Peirsol_0001"), 11, 30), 150, 150, 3),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesScikitImage(string name)
    {
        var (a, b, w, h, c) = Case(name);
        var (ssim, psnr) = Reference[name];
        Assert.Equal(ssim, ImageQuality.Ssim(a, b, w, h, c), 9);
        Assert.Equal(psnr, ImageQuality.Psnr(a, b), 9);
        Assert.Equal(ImageQuality.Ssim(a, b, w, h, c), ImageQuality.Ssim(b, a, w, h, c), 12);   // symmetric
    }

    [Fact]
    public void IdenticalImagesGiveOneAndInfinity()
    {
        var a = new RgbImage(20, 16, Lcg(5, 20 * 16 * 3));
        Assert.Equal(1.0, ImageQuality.Ssim(a, a.Clone()), 12);
        Assert.Equal(double.PositiveInfinity, ImageQuality.Psnr(a, a.Clone()));
        Assert.Equal(0.0, ImageQuality.Mse(a.Data, a.Data));
    }

    [Fact]
    public void ConstantShiftHasTheClosedForm()
    {
        // Constant images: zero variances and covariance, so the contrast-structure term is C2/C2 = 1 and SSIM is the
        // luminance term (2·μx·μy + C1)/(μx² + μy² + C1), with C1 = (0.01·255)² = 6.5025. Every pixel differs by 20: MSE 400.
        var a = new RgbImage(16, 16); Array.Fill(a.Data, (byte)100);
        var b = new RgbImage(16, 16); Array.Fill(b.Data, (byte)120);
        double c1 = 6.5025;
        double expected = (2 * 100 * 120 + c1) / (100 * 100 + 120 * 120 + c1);   // 24006.5025 / 24406.5025 = 0.98361092
        Assert.Equal(expected, ImageQuality.Ssim(a, b), 12);
        Assert.Equal(0.9836109, ImageQuality.Ssim(a, b), 7);
        Assert.Equal(10 * Math.Log10(255.0 * 255 / 400), ImageQuality.Psnr(a, b), 12);   // 22.1102 dB
        Assert.Equal(22.1102, ImageQuality.Psnr(a, b), 4);
    }

    [Fact]
    public void WindowIsElevenGaussianTapsSummingToOne()
    {
        var w = ImageQuality.Window();
        Assert.Equal(11, w.Length);
        Assert.Equal(1.0, w.Sum(), 12);
        Assert.Equal(w[0], w[10], 15);
        Assert.Equal(Math.Exp(-0.5 / 2.25), w[6] / w[5], 12);
    }

    [Fact]
    public void RejectsMismatchedAndTinyImages()
    {
        Assert.Throws<ArgumentException>(() => ImageQuality.Ssim(new RgbImage(16, 16), new RgbImage(16, 17)));
        Assert.Throws<ArgumentException>(() => ImageQuality.Ssim(new RgbImage(10, 30), new RgbImage(10, 30)));
        Assert.Throws<ArgumentException>(() => ImageQuality.Psnr(new byte[3], new byte[6]));
    }
}
