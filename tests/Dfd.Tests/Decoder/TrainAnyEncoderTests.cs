using Dfd.Core;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Decoder;

/// <summary>
/// A decoder can be trained against any encoder: short real runs on LFW photos (detected and aligned as `dfd train`
/// does) for MobileFaceNet and for an ONNX model through the interpreter, with the identity term's gradient passing
/// through the encoder. The loss must fall.
/// </summary>
public class TrainAnyEncoderTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-any-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static readonly DecoderConfig Tiny = new(Widths: [32, 16, 16], StartWidth: 32, RefineBlocks: 1, RefineDepth: 1);
    static readonly string OnnxFixture = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "onnx", "mobilefacenet-random.onnx");

    /// <summary>The twelve committed LFW sample photos, as `dfd train --data folder:samples` lists them.</summary>
    static List<FaceItem> Samples() => FaceDatasets.Open("folder:" + Path.Combine(TestPaths.RepoRoot, "samples")).Items;

    /// <summary>Per-step losses of a run (non-finite gradient steps are skipped by the trainer and counted).</summary>
    List<double> Train(IEncoder enc, List<FaceItem> items, LossWeights weights, int epochs, string name, LossOptions? options = null)
    {
        using var pipeline = FacePipeline.CreateDefault();
        var set = EncodedFaces.Build(items, enc, pipeline, null, "test");
        Assert.True(set.Count >= 8, $"only {set.Count} faces aligned ({string.Join("; ", set.Skipped)})");
        var cfg = new TrainConfig { Epochs = epochs, Batch = 4, Lr = 2e-3, Decoder = Tiny, Loss = weights, LossOptions = options ?? new() };
        var losses = new List<double>();
        var trainer = new Trainer(set, enc, cfg, Path.Combine(dir, name), new Dictionary<string, string>());
        using var dec = trainer.Run(false, s => { if (s.Event == null && s.Step > 0) losses.Add(s.Loss); });
        Assert.Equal((enc.Spec.InputWidth, enc.Spec.InputHeight), (dec.Config.OutWidth, dec.Config.OutHeight));
        Assert.Equal(enc.Spec.EmbeddingSize, dec.Config.TemplateDim);
        // The written decoder loads for this encoder.
        using (DecoderFile.Load(Path.Combine(dir, name), encoder: enc.Spec)) { }
        return losses;
    }

    static void AssertFalls(List<double> losses, string run, double factor = 0.9)
    {
        Assert.True(losses.Count >= 12, $"{run}: {losses.Count} steps");
        double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
        Assert.True(last < factor * first, $"{run}: loss {first:F4} → {last:F4} ({string.Join(", ", losses.Select(l => l.ToString("F3")))})");
    }

    [Fact]
    public void OnnxModelTrainsThroughTheInterpreter()
    {
        using var enc = Registry.Create("onnx:" + OnnxFixture);
        AssertFalls(Train(enc, Samples(), new LossWeights(), 5, "onnx.safetensors"), "onnx");
    }

    [Fact]
    public void IdentityGradientPassesThroughTheOnnxInterpreter()
    {
        // The identity term alone moves the decoder only through the encoder's backward pass.
        using var enc = Registry.Create("onnx:" + OnnxFixture);
        using var pipeline = FacePipeline.CreateDefault();
        var set = EncodedFaces.Build(Samples(), enc, pipeline, null, "test");
        var w = new LossWeights(Pixel: 0, PixelLocal: 0, Sobel: 0, SobelLocal: 0, Ssim: 0, Identity: 1);
        var loss = new DecoderLoss(enc, w, Box.InnerFace(enc.Spec.Template));
        torch.manual_seed(3);
        using var dec = new FaceDecoder(Tiny with { TemplateDim = enc.Spec.EmbeddingSize, OutWidth = enc.Spec.InputWidth, OutHeight = enc.Spec.InputHeight });
        dec.train();
        using var scope = torch.NewDisposeScope();
        var (x, t) = set.Batch([0, 1, 2, 3], new bool[set.Count]);
        var (total, _) = loss.Compute(dec.forward(t), x, t);
        total.backward();
        double g = dec.parameters().Sum(p => p.grad is { } gr ? gr.abs().sum().item<float>() : 0);
        Assert.True(g > 0 && double.IsFinite(g), $"gradient sum {g}");
    }

    [Fact]
    public void PerceptualTermsNeedFeatureMapsAndSaySo()
    {
        using var enc = Registry.Create("onnx:" + OnnxFixture);
        var box = Box.InnerFace(enc.Spec.Template);
        var e = Assert.Throws<ArgumentException>(() => new DecoderLoss(enc, new LossWeights(Perceptual: 1), box));
        Assert.Contains(enc.Spec.Name, e.Message);
        Assert.Contains("perceptual=0", e.Message);
        // Without perceptual terms nothing asks for feature maps.
        _ = new DecoderLoss(enc, new LossWeights(), box);
    }

    [SkippableFact]
    public void MobileFaceNetTrainsWithAndWithoutItsFeatureMaps()
    {
        Skip.If(TestPaths.SharedDir is null, "needs ../shared (MobileFaceNet CASIA-WebFace weights, LFW)");
        Skip.If(MobileFaceNet.FindWeights() is null, "MobileFaceNet weights not found under ../shared");
        var lfw = Path.Combine(TestPaths.SharedDir!, "data", "lfw", "lfw-deepfunneled");
        Skip.IfNot(Directory.Exists(lfw), $"{lfw} not found");
        using var enc = Registry.Create("mobilefacenet-casia");
        Assert.Equal(4, ((IFeatureEncoder)enc).FeatureMaps);
        // Four people of the training side of the split, four photos each.
        var split = LfwSplit.Load(LfwSplit.DefaultPath()!);
        var items = FaceDatasets.Open("lfw:" + lfw).Items.Where(i => !split.IsTest(i.Identity))
            .GroupBy(i => i.Identity).Where(g => g.Count() >= 4).Take(4).SelectMany(g => g.Take(4)).ToList();
        AssertFalls(Train(enc, items, new LossWeights(), 6, "mfn.safetensors"), "mobilefacenet");
        // The perceptual terms on its four feature maps (the last two) train too.
        AssertFalls(Train(enc, items, new LossWeights(Perceptual: 1, PerceptualLocal: 0.5), 4, "mfn-p.safetensors",
            new LossOptions(PerceptualStages: 2, PerceptualFrom: 3)), "mobilefacenet perceptual", 0.95);
    }

    [SkippableFact]
    public void MobileFaceNetFeaturePassGivesTheSameTemplate()
    {
        Skip.If(TestPaths.SharedDir is null || MobileFaceNet.FindWeights() is null, "needs ../shared (MobileFaceNet weights)");
        using var enc = (MobileFaceNet)Registry.Create("mobilefacenet-casia");
        enc.eval();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(5);
        var x = torch.rand(2, 3, 112, 96).Times(255f);
        var (t, f) = enc.ForwardWithFeatures(x);
        Assert.Equal(enc.forward(x).data<float>().ToArray(), t.data<float>().ToArray());
        Assert.Equal(new long[] { 2, 64, 56, 48 }, f[0].shape);
        Assert.Equal(new long[] { 2, 512, 7, 6 }, f[3].shape);
    }
}
