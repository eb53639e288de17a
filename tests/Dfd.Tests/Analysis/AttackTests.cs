using Dfd.Analysis;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Xunit;
using Xunit.Abstractions;

namespace Dfd.Tests.Analysis;

/// <summary>The committed dlib-resnet weights and the face-api fixture crops (150×150 RGB), shared by the analysis tests.</summary>
static class AnalysisFixtures
{
    static string Fixtures => Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "faceapi");
    static readonly Lazy<DlibResNet> model = new(() =>
        DlibResNet.Load(Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors")));

    public static DlibResNet Model => model.Value;

    public static RgbImage Face(string name) => new(150, 150, File.ReadAllBytes(Path.Combine(Fixtures, name)));

    public static readonly string[] Real =
        ["lfw-Aaron_Peirsol_0001.rgb", "lfw-Aaron_Peirsol_0002.rgb", "lfw-George_W_Bush_0001.rgb", "lfw-George_W_Bush_0002.rgb"];

    // Computed once: every test below reads these rather than rerunning the encoder.
    const double Eps = 4; // grey levels, i.e. 4/255 in [0,1] units
    public static readonly Lazy<List<RgbImage>> Faces = new(() => Real.Select(Face).ToList());
    public static readonly Lazy<AttackResult> FgsmDodge = new(() => Attacks.Fgsm(Model, Faces.Value, AttackGoal.Dodge, Eps));
    public static readonly Lazy<AttackResult> PgdDodge = new(() =>
        Attacks.Pgd(Model, Faces.Value, AttackGoal.Dodge, AttackOptions.Pgd(Eps, steps: 5)));
    public static double Epsilon => Eps;
}

public class AttackTests(ITestOutputHelper log)
{
    static DlibResNet Model => AnalysisFixtures.Model;

    [Fact]
    public void FgsmWithZeroEpsilonChangesNothing()
    {
        var faces = AnalysisFixtures.Faces.Value.Take(2).ToList();
        var r = Attacks.Fgsm(Model, faces, AttackGoal.Dodge, 0);
        for (int i = 0; i < faces.Count; i++) Assert.Equal(faces[i].Data, r.Images[i].Data);
        Assert.All(r.FinalSimilarity, s => Assert.Equal(1.0, s));
        Assert.Equal(2, r.Trace.Count);
    }

    [Fact]
    public void FgsmDodgingLowersSimilarityToTheCleanTemplate()
    {
        var r = AnalysisFixtures.FgsmDodge.Value;
        for (int i = 0; i < r.Images.Count; i++)
        {
            log.WriteLine($"{AnalysisFixtures.Real[i]}: FGSM ε=4 cos {r.Trace[0][i]:F5} → {r.FinalSimilarity[i]:F4}");
            Assert.True(Math.Abs(r.Trace[0][i] - 1) < 1e-5, $"start similarity {r.Trace[0][i]} is not 1");
            // Measured 0.948–0.968 per face; each must drop clearly, and the mean below 0.97.
            Assert.True(r.FinalSimilarity[i] < 0.98, $"{AnalysisFixtures.Real[i]}: FGSM left cos at {r.FinalSimilarity[i]:F4}");
            // The returned templates are those of the returned images (batch vs single: float noise only).
            Assert.Equal(Cosine.Of(Model.Encode([r.Images[i]])[0], r.References[i]), r.FinalSimilarity[i], 4);
            Assert.Equal(Cosine.Of(r.Templates[i], r.References[i]), r.FinalSimilarity[i], 12);
        }
        Assert.True(r.FinalSimilarity.Average() < 0.97, $"FGSM mean cos {r.FinalSimilarity.Average():F4}");
    }

    [Fact]
    public void PgdLowersSimilarityMoreThanFgsmAtTheSameEpsilon()
    {
        var f = AnalysisFixtures.FgsmDodge.Value;
        var p = AnalysisFixtures.PgdDodge.Value;
        Assert.Equal(6, p.Trace.Count);
        for (int i = 0; i < p.Images.Count; i++)
        {
            log.WriteLine($"{AnalysisFixtures.Real[i]}: PGD-5 trace {string.Join(" ", p.Trace.Select(t => t[i].ToString("F4")))}; FGSM {f.FinalSimilarity[i]:F4}");
            Assert.True(p.FinalSimilarity[i] < f.FinalSimilarity[i], $"{AnalysisFixtures.Real[i]}: PGD {p.FinalSimilarity[i]:F4} ≥ FGSM {f.FinalSimilarity[i]:F4}");
        }
    }

    [Fact]
    public void AdversarialPixelsStayWithinEpsilonAndRange()
    {
        var faces = AnalysisFixtures.Faces.Value;
        foreach (var r in new[] { AnalysisFixtures.FgsmDodge.Value, AnalysisFixtures.PgdDodge.Value })
            for (int i = 0; i < faces.Count; i++)
            {
                var a = r.Images[i].Data; var o = faces[i].Data;
                int worst = a.Zip(o, (x, y) => Math.Abs(x - y)).Max();
                Assert.True(worst <= AnalysisFixtures.Epsilon, $"a pixel moved by {worst} > ε");
                Assert.True(worst > 0, "the attack changed nothing");
                Assert.Equal(150, r.Images[i].Width); // bytes: 0..255 by construction
            }
    }

    [Fact]
    public void TargetedPgdRaisesSimilarityToTheTarget()
    {
        var bush = AnalysisFixtures.Face("lfw-George_W_Bush_0001.rgb");
        var target = Model.Encode([AnalysisFixtures.Face("lfw-Aaron_Peirsol_0001.rgb")])[0];
        var r = Attacks.Pgd(Model, [bush], AttackGoal.Impersonate, AttackOptions.Pgd(4, steps: 5), [target]);
        double start = Cosine.Of(Model.Encode([bush])[0], target);
        log.WriteLine($"Bush→Peirsol: cos {start:F4} → {r.FinalSimilarity[0]:F4}; trace {string.Join(" ", r.Trace.Select(t => t[0].ToString("F4")))}");
        Assert.Equal(start, r.Trace[0][0], 5);
        Assert.True(r.FinalSimilarity[0] > start + 0.02, $"impersonation moved cos only from {start:F4} to {r.FinalSimilarity[0]:F4}");
        Assert.True(r.Images[0].Data.Zip(bush.Data, (x, y) => Math.Abs(x - y)).Max() <= 4);
        Assert.Equal(target, r.References[0]);
    }

    [Fact]
    public void SeededRandomStartIsReproducibleAndStaysInTheBall()
    {
        var face = AnalysisFixtures.Faces.Value[0];
        var o = new AttackOptions(3, Steps: 1, StepSize: 1, RandomStart: true, Seed: 7);
        var a = Attacks.Pgd(Model, [face], AttackGoal.Dodge, o);
        var b = Attacks.Pgd(Model, [face], AttackGoal.Dodge, o);
        Assert.Equal(a.Images[0].Data, b.Images[0].Data);
        Assert.True(a.Images[0].Data.Zip(face.Data, (x, y) => Math.Abs(x - y)).Max() <= 3);
        Assert.True(a.Trace[0][0] < 1, "a random start should not sit on the clean image");
    }

    /// <summary>
    /// A stand-in encoder (channel means) whose first <c>poisoned</c> gradient passes return NaN input gradients, as
    /// libtorch's CPU conv backward occasionally does: sqrt(0·x) adds 0 forward and 0·∞ = NaN backward.
    /// </summary>
    sealed class FlakyEncoder(int poisoned) : IEncoder
    {
        public int GradientPasses;
        public EncoderSpec Spec => DlibResNet.Spec;
        public TorchSharp.torch.Device Device => TorchSharp.torch.CPU;
        public TorchSharp.torch.Tensor Forward(TorchSharp.torch.Tensor x)
        {
            var t = x.mean([2, 3]).Plus(1);
            if (!TorchSharp.torch.is_grad_enabled()) return t;
            return GradientPasses++ < poisoned ? t.Plus(x.Times(0).sqrt().mean([2, 3])) : t;
        }
        public void Dispose() { }
    }

    [Fact]
    public void ANonFiniteGradientIsRecomputedOnceThenRefused()
    {
        var face = AnalysisFixtures.Faces.Value[0];
        var target = new[] { new float[] { 1, -1, 0.5f } };
        var clean = Attacks.Pgd(new FlakyEncoder(0), [face], AttackGoal.Impersonate, AttackOptions.Pgd(4, 2), target);

        var once = new FlakyEncoder(1);
        var retried = Attacks.Pgd(once, [face], AttackGoal.Impersonate, AttackOptions.Pgd(4, 2), target);
        Assert.Equal(3, once.GradientPasses); // step 1 twice, step 2 once
        Assert.Equal(clean.Images[0].Data, retried.Images[0].Data);

        var e = Assert.Throws<InvalidOperationException>(() =>
            Attacks.Pgd(new FlakyEncoder(2), [face], AttackGoal.Impersonate, AttackOptions.Pgd(4, 2), target));
        Assert.Contains("non-finite", e.Message);
    }

    [Fact]
    public void ArgumentsAreChecked()
    {
        var face = AnalysisFixtures.Faces.Value[0];
        Assert.Throws<ArgumentException>(() => Attacks.Fgsm(Model, [face], AttackGoal.Impersonate, 4));
        Assert.Throws<ArgumentException>(() => Attacks.Fgsm(Model, [face], AttackGoal.Dodge, 4, [new float[128]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Attacks.Fgsm(Model, [face], AttackGoal.Dodge, -1));
        Assert.Throws<ArgumentException>(() => Attacks.Fgsm(Model, [face, face], AttackGoal.Impersonate, 4, [new float[128], new float[128], new float[128]]));
    }
}
