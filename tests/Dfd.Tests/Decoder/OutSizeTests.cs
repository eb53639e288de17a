using Dfd.Core;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Decoder;

/// <summary>
/// A decoder drawing larger than its encoder's crop (dfd train --out-size): targets aligned at the output size, the
/// loss at two sizes, the file's size checks, and the resize that feeds reconstructions back to the encoder.
/// </summary>
public class OutSizeTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-out-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static readonly DecoderConfig Tiny = new(Widths: [32, 16, 16], StartWidth: 32, RefineBlocks: 1, RefineDepth: 1);
    static string Sample(string name) => Path.Combine(TestPaths.RepoRoot, "samples", name);

    static double MeanAbs(RgbImage a, RgbImage b) => a.Data.Zip(b.Data).Average(p => Math.Abs(p.First - p.Second));

    [Fact]
    public void TargetAtTheOutputSizeShowsWhatTheEncodersCropShows()
    {
        using var pipe = FacePipeline.CreateDefault();
        var spec = DlibResNet.Spec;
        var r = FaceInput.Crop(Sample("Hugh_Grant_0001.jpg"), spec, pipe, FacePick.MostCentral, 256, 256);
        Assert.NotNull(r.Crop);
        Assert.Equal((256, 256), (r.Target!.Width, r.Target.Height));
        Assert.Equal((150, 150), (r.Crop!.Width, r.Crop.Height));
        // Shrunk to the crop's size, the target is the crop up to resampling; the crop one pixel off is much further.
        var back = Reconstruction.Resize([r.Target], 150, 150)[0];
        double same = MeanAbs(back, r.Crop);
        var shifted = Warp.Affine(r.Crop, new Similarity(1, 0, 1, 0), 150, 150);
        double off = MeanAbs(shifted, r.Crop);
        Assert.True(same < 0.5 * off, $"target resized vs crop {same:F2}, crop shifted 1 px {off:F2}");
        // The same detection: the plain crop is unchanged by asking for a target.
        var plain = FaceInput.Crop(Sample("Hugh_Grant_0001.jpg"), spec, pipe, FacePick.MostCentral);
        Assert.Equal(plain.Crop!.Data, r.Crop.Data);
    }

    [Fact]
    public void ScaledTemplateKeepsTheAspect()
    {
        var t = AlignmentTemplate.Dlib();
        var s = t.Scaled(300, 300);
        // Pixel centres at integers: the template's centre pixel stays the centre.
        Assert.Equal((t.Points[0].X + 0.5) * 2 - 0.5, s.Points[0].X, 4);
        Assert.Same(t, t.Scaled(150, 150));
        Assert.Throws<ArgumentException>(() => t.Scaled(256, 200));
        Assert.Equal((0, 0), EncodedFaces.TargetSize(DlibResNet.Spec, 150, 150));
        Assert.Equal((256, 256), EncodedFaces.TargetSize(DlibResNet.Spec, 256, 256));
    }

    [Fact]
    public void TargetsAreCachedAndKeyedByTheOutputSize()
    {
        using var enc = Registry.Create("dlib-resnet");
        using var pipe = FacePipeline.CreateDefault();
        var items = new List<FaceItem> { new(Sample("Bill_Clinton_0001.jpg"), "bc"), new(Sample("Halle_Berry_0001.jpg"), "hb") };
        var cache = Path.Combine(dir, "cache");
        using var plain = EncodedFaces.Build(items, enc, pipe, cache, "w");
        using var big = EncodedFaces.Build(items, enc, pipe, cache, "w", null, 200, 200);
        Assert.Null(plain.Targets);
        Assert.Equal((200, 200), (big.OutWidth, big.OutHeight));
        Assert.Equal(plain.Crops, big.Crops);
        Assert.Equal(plain.Templates, big.Templates);
        // Two sets in the cache, the plain one under the key it always had, the one with targets beside it; the targets
        // are read back from its shards as written (a damaged shard is found by its checksum: FaceSetTests).
        var dirs = Directory.GetDirectories(cache);
        Assert.Equal(2, dirs.Length);
        Assert.Single(dirs, d => d.EndsWith("-out200x200", StringComparison.Ordinal));
        using var again = EncodedFaces.Build(items, enc, null, cache, "w", null, 200, 200); // no detector: must come from the cache
        Assert.NotNull(again.Store);
        Assert.Equal(big.Targets!.Select(t => t.ToArray()), again.Targets!.Select(t => t.ToArray()));

        using var scope = torch.NewDisposeScope();
        var flips = new[] { true, false };
        var (x, t, y) = big.BatchWithTargets([0, 1], flips);
        Assert.Equal(new long[] { 2, 3, 150, 150 }, x.shape);
        Assert.Equal(new long[] { 2, 3, 200, 200 }, y!.shape);
        var want = Tensors.FromImages([big.TargetImage(0)], 200, 200).flip(3);
        Assert.Equal(want.data<float>().ToArray(), y[0].unsqueeze(0).data<float>().ToArray());
        Assert.Null(plain.BatchWithTargets([0], flips).Targets);
    }

    [Fact]
    public void LossComparesPixelsAtTheOutputSizeAndIdentityAtTheEncoders()
    {
        using var enc = Registry.Create("dlib-resnet");
        torch.manual_seed(5);
        using var dec = new FaceDecoder(Tiny with { OutWidth = 200, OutHeight = 200 });
        using var scope = torch.NewDisposeScope();
        var crop = torch.rand(2, 3, 150, 150).Times(255);
        var target = torch.rand(2, 3, 200, 200).Times(255);
        var t = torch.randn(2, 128);
        var recon = dec.forward(t);
        Assert.Equal(new long[] { 2, 3, 200, 200 }, recon.shape);
        var loss = new DecoderLoss(enc, LossWeights.All, Box.InnerFace(enc.Spec.Template));
        var (total, terms) = loss.Compute(recon, target, t, null, crop);
        // The identity term is the encoder's cosine of the resized reconstruction, nothing else.
        var rt = enc.Forward(Reconstruction.ToSize(recon, 150, 150));
        double want = 0.5 * (1 - torch.nn.functional.cosine_similarity(rt, t, dim: 1).mean().item<float>());
        Assert.Equal(want, terms["identity"].item<float>(), 4);
        // Pixel terms see the target: the same reconstruction against itself scores zero there.
        var (_, self) = loss.Compute(recon, recon.detach(), t, null, crop);
        Assert.Equal(0, self["pixel"].item<float>(), 6);
        Assert.Equal(0, self["pixel_local"].item<float>(), 6);
        total.backward();
        Assert.All(dec.parameters(), p => Assert.True(p.grad is null || p.grad.isfinite().all().item<bool>()));
        Assert.True(dec.parameters().Sum(p => p.grad is { } g ? g.abs().sum().item<float>() : 0) > 0);
    }

    [Fact]
    public void DecoderFileAllowsALargerOutputOfTheSameAspectOnly()
    {
        foreach (var (w, h, ok) in new[] { (256, 256, true), (256, 200, false), (100, 100, false) })
        {
            var path = Path.Combine(dir, $"d{w}x{h}.safetensors");
            using (var dec = new FaceDecoder(Tiny with { OutWidth = w, OutHeight = h }))
                DecoderFile.Save(path, dec, new Dictionary<string, string> { ["encoder"] = "dlib-resnet" });
            if (ok)
            {
                using var loaded = DecoderFile.Load(path);
                Assert.Equal("256x256", loaded.Info.Metadata["output_size"]);
                // Reconstructions come at the decoder's size; for the encoder, at its crop.
                var t = new float[128]; t[0] = 1;
                Assert.Equal(256, loaded.Decoder.Reconstruct(t).Width);
                Assert.Equal(150, loaded.Decoder.ReconstructAt([t], 150, 150)[0].Width);
            }
            else
            {
                var e = Assert.Throws<DecoderFileException>(() => DecoderFile.Load(path));
                Assert.Contains($"{w}x{h}", e.Message);
                Assert.Contains("150x150", e.Message);
            }
        }
    }

    [Fact]
    public void TrainerRefusesAnOutputSizeTheSetHasNoTargetsFor()
    {
        var set = new EncodedFaces
        {
            Items = [new("a", "a")], Crops = [new byte[150 * 150 * 3]], Templates = [new float[128]], MirrorTemplates = [new float[128]],
            Width = 150, Height = 150,
        };
        Assert.Equal((150, 150), Trainer.OutputSize(set, new TrainConfig()));
        var e = Assert.Throws<ArgumentException>(() => Trainer.OutputSize(set, new TrainConfig { OutWidth = 256, OutHeight = 256 }));
        Assert.Contains("256x256", e.Message);
        // The output size is part of what --resume must match; unset, the fingerprint is what it always was.
        Assert.DoesNotContain("\"OutWidth\":", new TrainConfig().Fingerprint()); // top level (the decoder config inside is escaped)
        Assert.NotEqual(new TrainConfig().Fingerprint(), new TrainConfig { OutWidth = 256, OutHeight = 256 }.Fingerprint());
    }
}
