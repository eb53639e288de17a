using System.Text.Json;
using Dfd.Analysis;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.Reports;
using Xunit;
using static TorchSharp.torch;

namespace Dfd.Tests.Analysis;

/// <summary>Several models side by side (<see cref="Comparison"/>), attack transfer and its crop-to-crop carrying.</summary>
public class ComparisonTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-compare-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>
    /// A stand-in encoder of a given crop: template = mean R, G, B of the centre half of the crop, weighted by
    /// position so that a turn changes it, and a constant.
    /// </summary>
    sealed class CentreEncoder(EncoderSpec spec) : IEncoder
    {
        public EncoderSpec Spec { get; } = spec with { EmbeddingSize = 4 };
        public Device Device => CPU;
        public Tensor Forward(Tensor x)
        {
            int w = Spec.InputWidth, h = Spec.InputHeight;
            var c = x[.., .., (h / 4)..(3 * h / 4), (w / 4)..(3 * w / 4)];
            int n = (int)c.shape[3];
            var ramp = tensor(Enumerable.Range(0, n).Select(i => (float)i / (n - 1)).ToArray()).reshape(1, 1, 1, -1);
            var m = c.mul(ramp).mean([2, 3]);
            return cat([m, full(x.shape[0], 1, Scalars.Of(60))], 1);
        }
        public void Dispose() { }
    }

    static RgbImage Noise(int seed, int w, int h, int lo = 40, int hi = 216)
    {
        var img = new RgbImage(w, h);
        var rng = new Random(seed);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)rng.Next(lo, hi);
        return img;
    }

    static readonly DecoderConfig Tiny = new(Widths: [16, 16], StartWidth: 16, RefineBlocks: 1, RefineDepth: 1);

    static FaceDecoder UntrainedDecoder(EncoderSpec spec) =>
        new(Tiny with { TemplateDim = spec.EmbeddingSize, OutWidth = spec.InputWidth, OutHeight = spec.InputHeight });

    /// <summary>The adversarial image's change, and only it, reaches the other crop.</summary>
    [Fact]
    public void TransplantCarriesThePerturbationAndNothingElse()
    {
        var clean = Noise(1, 40, 30);
        var adv = clean.Clone();
        var rng = new Random(2);
        var delta = new int[clean.Data.Length];
        for (int i = 0; i < delta.Length; i++) { delta[i] = rng.Next(-3, 4); adv.Data[i] = (byte)(clean.Data[i] + delta[i]); }
        var target = Noise(3, 40, 30);

        // Same crop: the perturbation is added as it is.
        var same = Attacks.Transplant(clean, adv, target, null);
        for (int i = 0; i < delta.Length; i++) Assert.Equal(target.Data[i] + delta[i], same.Data[i]);

        // A shift by 10 px: moved with the crop, and zero where the source crop does not reach (no repeated border).
        var moved = Attacks.Transplant(clean, adv, target, new Similarity(1, 0, 10, 0));
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 40; x++)
                for (int c = 0; c < 3; c++)
                {
                    int i = target.Index(x, y) + c;
                    int want = x >= 10 ? delta[clean.Index(x - 10, y) + c] : 0;
                    Assert.True(want == moved.Data[i] - target.Data[i], $"({x},{y},{c}): δ {moved.Data[i] - target.Data[i]}, expected {want}");
                }

        // Any similarity: bilinear weights are convex, so the carried δ stays within ±3 and the rest of the crop is untouched.
        var tilted = Attacks.Transplant(clean, adv, Noise(4, 25, 35), new Similarity(0.7 * Math.Cos(0.2), 0.7 * Math.Sin(0.2), -3, 4));
        var t4 = Noise(4, 25, 35);
        Assert.All(tilted.Data.Select((v, i) => v - t4.Data[i]), d => Assert.InRange(d, -3, 3));
        Assert.Contains(tilted.Data.Select((v, i) => v - t4.Data[i]), d => d != 0);

        Assert.Throws<ArgumentException>(() => Attacks.Transplant(clean, adv, Noise(5, 20, 20), null));
    }

    /// <summary>An attack carried to the model it was crafted on (same crop) scores exactly as the attack itself.</summary>
    [Fact]
    public void TransferToTheSameModelReproducesTheAttack()
    {
        var faces = AnalysisFixtures.Faces.Value.Take(3).Select((f, i) => new AnalysisInput($"f{i}", f)).ToList();
        var an = new Analyzer(AnalysisFixtures.Model, null, null);
        foreach (var goal in new[] { AttackGoal.Dodge, AttackGoal.Impersonate })
        {
            var crafted = an.Attack("fgsm", faces, goal, [0, 4], AttackOptions.Fgsm);
            var t = an.Transfer(crafted, faces, null);
            Assert.Equal("dlib-resnet", t.CraftedOn);
            Assert.Equal(crafted.Points.Count, t.Points.Count);
            for (int k = 0; k < t.Points.Count; k++)
            {
                Assert.Equal(crafted.Points[k].Series, t.Points[k].Series);
                for (int i = 0; i < faces.Count; i++)
                {
                    Assert.Equal(crafted.Points[k].Images![i].Data, t.Points[k].Images![i].Data);
                    Assert.Equal(crafted.Points[k].Similarity[i], t.Points[k].Similarity[i], 4);
                }
                Assert.Equal(Analyzer.SuccessRate(crafted.Points[k]), Analyzer.SuccessRate(t.Points[k]));
            }
            if (goal == AttackGoal.Dodge) Assert.All(t.Points[0].Similarity, s => Assert.Equal(1.0, s, 5));
            else Assert.Equal((string[])crafted.Options["targets"], (string[])t.Options["targets"]);
        }
        var dodge = an.Attack("fgsm", faces, AttackGoal.Dodge, [2], AttackOptions.Fgsm);
        Assert.Throws<ArgumentException>(() => an.Transfer(dodge, faces.AsEnumerable().Reverse().ToList(), null));
    }

    /// <summary>Two models of different crops: each runs on its own crops, attacks go both ways, the report sets them side by side.</summary>
    [Fact]
    public void ComparisonRunsEachModelOnItsOwnCropAndTransfersAttacks()
    {
        var a = new CentreEncoder(DlibResNet.Spec with { Name = "model-a" });
        var b = new CentreEncoder(MobileFaceNet.Spec with { Name = "model-b" });
        using var da = UntrainedDecoder(a.Spec);
        using var db = UntrainedDecoder(b.Spec);
        var cmp = new Comparison([new(a, da, "a.safetensors"), new(b, db, "b.safetensors")]);
        var names = new[] { "p1", "p2", "p3" };
        List<AnalysisInput> Crops(EncoderSpec s, int seed) => names.Select((n, i) => new AnalysisInput(n, Noise(seed + i, s.InputWidth, s.InputHeight))).ToList();
        IReadOnlyList<IReadOnlyList<AnalysisInput>> inputs = [Crops(a.Spec, 10), Crops(b.Spec, 20)];

        var rot = cmp.Run(AnalysisKinds.Rotation.Plan(("min", -20), ("max", 20), ("step", 20)), inputs);
        Assert.Equal(["model-a", "model-b"], rot.Models);
        Assert.Equal(2, rot.Results.Count);
        Assert.Empty(rot.Transfers);
        foreach (var (r, s) in rot.Results.Zip(new[] { a.Spec, b.Spec }))
        {
            Assert.All(r.Points, p => Assert.All(p.Images!, img => Assert.Equal((s.InputWidth, s.InputHeight), (img.Width, img.Height))));
            Assert.All(r.Points, p => Assert.All(p.Reconstructions!, img => Assert.Equal((s.InputWidth, s.InputHeight), (img.Width, img.Height))));
            Assert.All(r.Points.Single(p => p.Strength == 0).Similarity, x => Assert.Equal(1.0, x, 5));
        }
        var rotDir = Path.Combine(dir, "rot");
        AnalysisReport.WriteComparison(rot, rotDir, "rotation", show: 2);
        // Side by side: per shown face, the input row and one reconstruction row per model, all 150 px high (gap 4).
        var strip = ImageIO.Load(Path.Combine(rotDir, "compare-rotate-strip.png"));
        Assert.Equal(4 + 2 * 3 * (150 + 4), strip.Height);
        Assert.Equal(4 + 3 * (150 + 4), strip.Width);
        Assert.True(File.Exists(Path.Combine(rotDir, "rotate-similarity.png")));

        var fg = cmp.Run(AnalysisKinds.Fgsm.Plan(("eps", "0,8"), ("goal", "both")), inputs);
        Assert.Equal(4, fg.Results.Count);
        Assert.Equal(4, fg.Transfers.Count);
        foreach (var src in fg.Results)
        {
            var t = Assert.Single(fg.TransfersOf(src));
            Assert.Equal(src.Encoder, t.CraftedOn);
            Assert.NotEqual(src.Encoder, t.Encoder);
            var crop = t.Encoder == "model-a" ? a.Spec : b.Spec;
            Assert.All(t.Points, p => Assert.All(p.Images!, img => Assert.Equal((crop.InputWidth, crop.InputHeight), (img.Width, img.Height))));
            // ε 0 carries nothing: the other model sees its clean crop.
            var zero = t.Points.Single(p => p.Strength == 0);
            for (int i = 0; i < names.Length; i++) Assert.Equal(inputs[t.Encoder == "model-a" ? 0 : 1][i].Crop.Data, zero.Images![i].Data);
            // ε 8 reaches the other model: its template moves.
            Assert.NotEqual(zero.Similarity, t.Points.Single(p => p.Strength == 8).Similarity);
        }
        var fgDir = Path.Combine(dir, "fgsm");
        var index = AnalysisReport.WriteComparison(fg, fgDir, "fgsm", show: 1);
        foreach (var src in fg.Results) Assert.True(File.Exists(Path.Combine(fgDir, AnalysisReport.TransferStrip(src))), AnalysisReport.TransferStrip(src));
        var dodgeStrip = ImageIO.Load(Path.Combine(fgDir, AnalysisReport.TransferStrip(fg.Results[0])));
        // One face: its image and reconstruction on the source model, then on the other.
        Assert.Equal(4 + 4 * (150 + 4), dodgeStrip.Height);
        Assert.All(AnalyzerTests.ImagesOf(index), p => Assert.True(File.Exists(p), p));
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(fgDir, "analysis.json"))).RootElement;
        Assert.Equal(4, json.GetProperty("transfers").GetArrayLength());
        Assert.Equal("model-a", json.GetProperty("transfers")[0].GetProperty("crafted_on").GetString());
    }

    [Fact]
    public void ComparisonRefusesOneModelTwiceAndMismatchedInputs()
    {
        var a = new CentreEncoder(DlibResNet.Spec with { Name = "model-a" });
        var b = new CentreEncoder(MobileFaceNet.Spec with { Name = "model-b" });
        Assert.Throws<ArgumentException>(() => new Comparison([new(a), new(a)]));
        var cmp = new Comparison([new(a), new(b)]);
        var plan = AnalysisKinds.Rotation.Plan(("min", 0), ("max", 0), ("step", 1));
        Assert.Throws<ArgumentException>(() => cmp.Run(plan,
            [[new("x", Noise(1, 150, 150))], [new("y", Noise(2, 96, 112))]]));
    }

    /// <summary>Interpolation compares as an image pair: each model's path between its own crops of A and B.</summary>
    [Fact]
    public void InterpolationComparesAcrossModels()
    {
        var a = new CentreEncoder(DlibResNet.Spec with { Name = "model-a" });
        var b = new CentreEncoder(MobileFaceNet.Spec with { Name = "model-b" });
        using var da = UntrainedDecoder(a.Spec);
        var cmp = new Comparison([new(a, da), new(b)]);
        IReadOnlyList<IReadOnlyList<AnalysisInput>> inputs =
            [[new("A", Noise(1, 150, 150)), new("B", Noise(2, 150, 150, 0, 100))], [new("A", Noise(3, 96, 112)), new("B", Noise(4, 96, 112, 0, 100))]];
        var c = cmp.Run(AnalysisKinds.Interpolate.Plan(("steps", 5)), inputs);
        Assert.Equal(2, c.Results.Count);
        Assert.All(c.Results, r => Assert.Equal(5, r.Points.Count));
        Assert.All(c.Results, r => Assert.Equal(1.0, r.Points[0].Similarity[0], 5));
        Assert.All(c.Results, r => Assert.Equal(1.0, r.Points[^1].SimilarityToSelf![0], 5));
        var d = Path.Combine(dir, "ab");
        AnalysisReport.WriteComparison(c, d, "ab");
        // A and B at the ends, then model-a's reconstructions (model-b has no decoder: no row).
        var strip = ImageIO.Load(Path.Combine(d, "compare-interpolate-strip.png"));
        Assert.Equal(4 + 2 * (150 + 4), strip.Height);
        Assert.Contains("no decoder, so no row: model-b", File.ReadAllText(Path.Combine(d, "index.html")));
    }
}
