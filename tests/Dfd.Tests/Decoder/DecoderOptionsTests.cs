using Dfd.Core;
using Dfd.Decoder;
using Dfd.IO;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Decoder;

/// <summary>The options that aim at sharper faces: sub-pixel upsampling, the focal frequency term, photo augmentation.</summary>
public class DecoderOptionsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-opt-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static readonly DecoderConfig Small = new(TemplateDim: 8, OutWidth: 32, OutHeight: 32, Widths: [32, 16, 16], StartWidth: 32, RefineBlocks: 1, RefineDepth: 1);

    static float[] Forward(FaceDecoder d)
    {
        torch.manual_seed(4);
        using var _ = torch.no_grad();
        d.eval();
        return d.forward(torch.randn(2, 8)).contiguous().data<float>().ToArray();
    }

    /// <summary>How far each 2×2 cell's four pixels differ, at most.</summary>
    static float CellSpread(float[] y, int w, int h)
    {
        float worst = 0;
        for (int p = 0; p < y.Length / (w * h); p++)
            for (int i = 0; i < h; i += 2)
                for (int j = 0; j < w; j += 2)
                {
                    int b = p * w * h;
                    var v = new[] { y[b + i * w + j], y[b + i * w + j + 1], y[b + (i + 1) * w + j], y[b + (i + 1) * w + j + 1] };
                    worst = Math.Max(worst, v.Max() - v.Min());
                }
        return worst;
    }

    [Fact]
    public void IcnrShuffleStartsAsUpsamplingAndTheFileKeepsIt()
    {
        torch.manual_seed(1);
        using var shuffled = new FaceDecoder(Small with { ShuffleBlocks = 1 });
        torch.manual_seed(1);
        using var nearest = new FaceDecoder(Small);
        var ys = Forward(shuffled);
        Assert.Equal(2 * 3 * 32 * 32, ys.Length);
        // ICNR: the last block's four sub-pixels start equal, and the 1×1 head keeps them so.
        Assert.True(CellSpread(ys, 32, 32) < 1e-4, $"spread {CellSpread(ys, 32, 32)}");
        Assert.True(CellSpread(Forward(nearest), 32, 32) > 1e-2, "nearest + 3×3 conv mixes neighbours; the check would not tell");
        Assert.True(shuffled.ParameterCount > nearest.ParameterCount);

        var p = Path.Combine(dir, "s.safetensors");
        DecoderFile.Save(p, shuffled, new Dictionary<string, string> { ["encoder"] = "x" });
        using var back = DecoderFile.Load(p);
        Assert.Equal(1, back.Info.Config.ShuffleBlocks);
        Assert.Equal(ys, Forward(back.Decoder));
        Assert.Throws<ArgumentException>(() => new FaceDecoder(Small with { ShuffleBlocks = 4 }));
    }

    [Fact]
    public void FocalFrequencyByHand()
    {
        using var scope = torch.NewDisposeScope();
        // 2×2 images of 0 and 1: only the DC term differs, by 4/√4 = 2 (orthonormal), so |ΔF|² = 4 with weight 1,
        // the three other frequencies 0: the mean over four is 1.
        var a = torch.zeros(1, 1, 2, 2);
        var b = torch.ones(1, 1, 2, 2);
        Assert.Equal(1.0, DecoderLoss.FocalFrequency(a, b).item<float>(), 5);
        Assert.Equal(0.0, DecoderLoss.FocalFrequency(b, b).item<float>(), 6);
        // A checkerboard against flat grey: all the difference at the highest frequency, none at DC.
        var check = torch.tensor(new float[] { 1, 0, 0, 1 }, new long[] { 1, 1, 2, 2 });
        var grey = torch.full(1, 1, 2, 2, Scalars.Of(0.5));
        Assert.Equal(1.0 / 4, DecoderLoss.FocalFrequency(check, grey).item<float>(), 5);
        var x = torch.rand(2, 3, 8, 8);
        x.requires_grad = true;
        DecoderLoss.FocalFrequency(x, torch.rand(2, 3, 8, 8)).backward();
        Assert.True(x.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void AugmentationIsSeededSmallAndInRange()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        var x = torch.rand(3, 3, 40, 30).Times(255.0).round();
        var cfg = new AugmentConfig();
        var a = cfg.Apply(x, new Random(5));
        Assert.Equal(a.data<float>().ToArray(), cfg.Apply(x, new Random(5)).data<float>().ToArray());
        Assert.NotEqual(a.data<float>().ToArray(), cfg.Apply(x, new Random(6)).data<float>().ToArray());
        Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 255);
        Assert.Equal(a.data<float>().ToArray(), a.round().data<float>().ToArray());
        // Nothing asked, nothing done.
        var none = new AugmentConfig(0, 0, 0, 0).Apply(x, new Random(5));
        Assert.Equal(x.data<float>().ToArray(), none.data<float>().ToArray());
        // A smooth image turned by at most 5° stays close to itself (a small change, not a different picture).
        var ramp = torch.linspace(0, 255, 30).view(1, 1, 1, 30).expand(1, 3, 40, 30).contiguous();
        var turned = new AugmentConfig(Photometric: 0).Apply(ramp, new Random(9));
        Assert.True((turned - ramp).abs().mean().item<float>() < 20, $"mean change {(turned - ramp).abs().mean().item<float>()}");
    }

    [Fact]
    public void FingerprintLeavesOutDefaultsSoNewSettingsKeepOldCheckpoints()
    {
        var cfg = new TrainConfig();
        Assert.DoesNotContain("Augment", cfg.Fingerprint());
        Assert.DoesNotContain("Discriminator", cfg.Fingerprint());
        Assert.DoesNotContain("ShuffleBlocks", cfg.Fingerprint());
        Assert.Contains("Augment", (cfg with { Augment = new AugmentConfig() }).Fingerprint());
        Assert.NotEqual(cfg.Fingerprint(), (cfg with { Loss = cfg.Loss with { Frequency = 1 } }).Fingerprint());
        Assert.NotEqual(cfg.Fingerprint(), (cfg with { Decoder = cfg.Decoder with { ShuffleBlocks = 2 } }).Fingerprint());
    }
}
