using Dfd.Analysis;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.Reports;
using Xunit;
using static TorchSharp.torch;

namespace Dfd.Tests.Analysis;

/// <summary>The table of analysis kinds: one range function, the parser, report labels and the demo's plans.</summary>
public class AnalysisKindsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-kinds-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>Bit patterns, so 0.0 and −0.0 (equal as doubles) and 1.4 vs 1.4000000000000001 all count.</summary>
    static long[] Bits(IEnumerable<double> v) => v.Select(BitConverter.DoubleToInt64Bits).ToArray();

    static void SameBits(double[] expected, IEnumerable<double> actual) => Assert.Equal(Bits(expected), Bits(actual));

    // The values below were printed (round-trip format) from the code before the table existed: AnalyzeCommand's
    // Range (Math.Round(min + k·step, 9), n = ⌊(max − min)/step + 1e-9⌋ + 1), the library's integer loops
    // (Scales: tenths / 10) and Demo's Enumerable.Range(-3, 7).Select(k => 15.0 * k).
    public static TheoryData<double, double, double, double[]> OldSequences => new()
    {
        { -60, 60, 10, [-60, -50, -40, -30, -20, -10, 0, 10, 20, 30, 40, 50, 60] },
        { -20, 20, 5, [-20, -15, -10, -5, 0, 5, 10, 15, 20] },
        { 0.6, 1.4, 0.1, [0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4] },
        { 0.8, 1.2, 0.1, [0.8, 0.9, 1, 1.1, 1.2] },
        { -20, 20, 7.5, [-20, -12.5, -5, 2.5, 10, 17.5] },
        { 0, 1, 0.1, [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] },
        { -1, 1, 0.2, [-1, -0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1] },
        { 0.1, 0.3, 0.1, [0.1, 0.2, 0.3] },
        { 5, 5, 1, [5] },
        { 0, 1, 0.3, [0, 0.3, 0.6, 0.9] },
        { 0, 0.6, 0.2, [0, 0.2, 0.4, 0.6] },
        { -45, 45, 15, [-45, -30, -15, 0, 15, 30, 45] },
    };

    [Theory]
    [MemberData(nameof(OldSequences))]
    public void RangeGivesTheOldSequencesBitForBit(double min, double max, double step, double[] expected) =>
        SameBits(expected, Strengths.Range(min, max, step));

    [Fact]
    public void DefaultSweepsAreTheOldCliAndLibrarySequences()
    {
        SameBits([-60, -50, -40, -30, -20, -10, 0, 10, 20, 30, 40, 50, 60], AnalysisKinds.Rotation.Range!.Values());
        SameBits([-20, -15, -10, -5, 0, 5, 10, 15, 20], AnalysisKinds.Translation.Range!.Values());
        SameBits([0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.4], AnalysisKinds.Scale.Range!.Values());
        // A kind's sweep goes through the same function, series by series.
        SameBits([0.1, 0.2, 0.3, 0.4, 0.5], AnalysisKinds.Scale.Sweep(0.1, 0.5, 0.1).Select(p => p.Strength));
        SameBits([-10, 0, 10], AnalysisKinds.Rotation.Sweep(-10, 10, 10).Select(p => p.Strength));
        SameBits([-3, -1, 1, 3, -3, -1, 1, 3], AnalysisKinds.Translation.Sweep(-3, 3, 2).Select(p => p.Strength));
        Assert.Equal(["translate-x", "translate-y"], AnalysisKinds.Translation.Sweep(-3, 3, 2).Select(p => p.Kind).Distinct());
    }

    [Fact]
    public void RangeEdgeCases()
    {
        // Exactly 13 values with an exact 0 and both ends, where adding 10 repeatedly would have been fine but adding
        // 0.1 repeatedly is not: 0.6 + 0.1 + … drifts to 1.3999999999999999 and loses the last point.
        var r = Strengths.Range(-60, 60, 10);
        Assert.Equal(13, r.Length);
        Assert.Contains(0.0, r);
        double acc = 0.6; int naive = 0;
        for (; acc <= 1.4; acc += 0.1) naive++;
        Assert.Equal(8, naive);
        var s = Strengths.Range(0.6, 1.4, 0.1);
        Assert.Equal(9, s.Length);
        Assert.Equal(BitConverter.DoubleToInt64Bits(1.4), BitConverter.DoubleToInt64Bits(s[^1]));
        Assert.Equal(BitConverter.DoubleToInt64Bits(1.0), BitConverter.DoubleToInt64Bits(s[4]));

        SameBits([5], Strengths.Range(5, 5, 1));                  // min == max: one value
        SameBits([0], Strengths.Range(0, 0.5, 1));               // step beyond the range: just min
        SameBits([0, 0.3, 0.6, 0.9], Strengths.Range(0, 1, 0.3)); // max off the grid is not added
        // Rounding min + k·step can land on −0.0 (−0.45 + 3·0.15); it must come back as 0 so labels read "0°".
        Assert.True(double.IsNegative(Math.Round(-0.45 + 3 * 0.15, 9)), "the case no longer produces −0.0; pick another");
        var z = Strengths.Range(-0.45, 0.45, 0.15);
        Assert.False(double.IsNegative(z[3]));
        Assert.Equal("0°", AnalysisKinds.StrengthLabel("rotate", z[3]));

        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(0, 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(0, 1, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(0, 1, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(1, 0, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(double.NegativeInfinity, 0, 1));
        // A count past any array saturates instead of wrapping negative, and Range refuses it up front.
        Assert.Equal(long.MaxValue, Strengths.Count(-1e308, 1e308, 1e-308));
        Assert.Throws<ArgumentOutOfRangeException>(() => Strengths.Range(-1e308, 1e308, 1e-308));
    }

    [Fact]
    public void DemoPlansAreWhatTheDemoRanBefore()
    {
        // Before the table: Sweep("rotation", Enumerable.Range(-3, 7).Select(k => 15.0 * k) as "rotate"),
        // Occlusion(inputs, 40, 20, Colour.Black), Attack("fgsm", [first], Dodge, [0, 2, 4, 8], AttackOptions.Fgsm).
        Assert.Same(AnalysisKinds.Rotation, Demo.Rotation.Kind);
        SameBits([-45, -30, -15, 0, 15, 30, 45], Demo.Rotation.Perturbations.Select(p => p.Strength));
        Assert.All(Demo.Rotation.Perturbations, p => Assert.Equal("rotate", p.Kind));

        Assert.Same(AnalysisKinds.Occlusion, Demo.Occlusion.Kind);
        Assert.Equal((40, 20, Colour.Black), (Demo.Occlusion.Patch, Demo.Occlusion.Stride, Demo.Occlusion.Colour));

        Assert.Same(AnalysisKinds.Fgsm, Demo.Fgsm.Kind);
        SameBits([0, 2, 4, 8], Demo.Fgsm.Epsilons);
        Assert.Equal([AttackGoal.Dodge], Demo.Fgsm.Goals);
        Assert.Equal((1, (double?)null), (Demo.Fgsm.AttackSteps, Demo.Fgsm.StepSize));
    }

    /// <summary>Template = mean colour of the crop plus 1: differentiable, so attacks run, and cheap.</summary>
    sealed class MeanEncoder : IEncoder
    {
        public EncoderSpec Spec => DlibResNet.Spec with { Name = "mean", EmbeddingSize = 3 };
        public Device Device => CPU;
        public Tensor Forward(Tensor x) => x.mean([2, 3]).Plus(1);
        public void Dispose() { }
    }

    static RgbImage Noise(int seed)
    {
        var img = new RgbImage(150, 150);
        var rng = new Random(seed);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)rng.Next(40, 256);
        return img;
    }

    public static TheoryData<string> KindNames => new(AnalysisKinds.All.Select(k => k.Name));

    [Theory]
    [MemberData(nameof(KindNames))]
    public void EveryKindParsesItsDefaultsRunsAndHasReportLabels(string name)
    {
        var kind = AnalysisKinds.Find(name)!;
        // The CLI hands its Args.Opt here; nothing given = every default.
        var plan = kind.Plan(_ => null);
        Assert.Same(kind, plan.Kind);
        Assert.False(string.IsNullOrWhiteSpace(kind.Description));
        Assert.NotEmpty(kind.Series);
        Assert.All(kind.Options, o => Assert.DoesNotContain(o.Name, kind.Options.Where(p => p != o).Select(p => p.Name)));
        if (kind.Range != null) Assert.Equal(kind.Range.Values().Length * kind.Series.Count, plan.Perturbations.Count);

        using var enc = new MeanEncoder();
        var results = plan.Run(new Analyzer(enc, null, null), [new("a", Noise(1)), new("b", Noise(2))]);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            Assert.Equal(name, r.Kind);
            Assert.NotEmpty(r.Points);
            foreach (var p in r.Points)
            {
                var series = AnalysisKinds.SeriesOf(p.Series);
                Assert.True(series != null && kind.Series.Contains(series), $"{name} drew series {p.Series}, which its entry does not list");
                Assert.NotEqual("strength", AnalysisReport.Unit(p.Series));
                Assert.NotEqual(p.Strength.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture), AnalysisKinds.StrengthLabel(p.Series, p.Strength));
            }
        }
        // The report reads the same entries (and must not throw on any kind).
        var index = AnalysisReport.Write(results, Path.Combine(dir, name), name, show: 1);
        var html = File.ReadAllText(index);
        foreach (var s in kind.Series.Where(s => s.Name != "interpolate" && results.Any(r => r.Series.Any(g => s.Matches(g.Key) && g.Count() > 1))))
            Assert.Contains(System.Net.WebUtility.HtmlEncode(s.AxisLabel), html);
    }

    [Fact]
    public void NamesAreUniqueAndSeriesBelongToOneKind()
    {
        Assert.Equal(["rotation", "translation", "scale", "occlusion", "fgsm", "pgd", "interpolate"], AnalysisKinds.All.Select(k => k.Name));
        var series = AnalysisKinds.All.SelectMany(k => k.Series).ToList();
        foreach (var s in series) Assert.Single(series, t => t.Matches(s.Name));
        Assert.Null(AnalysisKinds.Find("compare"));
    }

    [Fact]
    public void ReportLabelsAreTheOldOnes()
    {
        // As AnalysisReport.Unit and StrengthLabel printed them before the table.
        Assert.Equal("rotation (degrees)", AnalysisReport.Unit("rotate"));
        Assert.Equal("shift (pixels of the aligned crop)", AnalysisReport.Unit("translate-x"));
        Assert.Equal("shift (pixels of the aligned crop)", AnalysisReport.Unit("translate-y"));
        Assert.Equal("scale factor", AnalysisReport.Unit("scale"));
        Assert.Equal("ε (grey levels of 255)", AnalysisReport.Unit("fgsm:dodge"));
        Assert.Equal("ε (grey levels of 255)", AnalysisReport.Unit("pgd:impersonate"));
        Assert.Equal("fraction of the crop covered", AnalysisReport.Unit("occlude:sweep@10,20"));
        Assert.Equal("strength", AnalysisReport.Unit("something-else"));

        Assert.Equal("-15°", AnalysisKinds.StrengthLabel("rotate", -15));
        Assert.Equal("12.5°", AnalysisKinds.StrengthLabel("rotate", 12.5));
        Assert.Equal("-2.5 px", AnalysisKinds.StrengthLabel("translate-y", -2.5));
        Assert.Equal("×1.25", AnalysisKinds.StrengthLabel("scale", 1.25));
        Assert.Equal("×0.7", AnalysisKinds.StrengthLabel("scale", 0.7));
        Assert.Equal("ε 4", AnalysisKinds.StrengthLabel("fgsm:dodge", 4));
        Assert.Equal("12.3% covered", AnalysisKinds.StrengthLabel("occlude:eyes", 0.123));
        Assert.Equal("0.25 of the way to B", AnalysisKinds.StrengthLabel("interpolate", 0.25));
        Assert.Equal("0.123", AnalysisKinds.StrengthLabel("something-else", 0.12345));

        Assert.True(AnalysisKinds.IsAttack("fgsm") && AnalysisKinds.IsAttack("pgd"));
        Assert.False(AnalysisKinds.IsAttack("rotation") || AnalysisKinds.IsAttack("occlusion") || AnalysisKinds.IsAttack("nope"));
    }

    [Fact]
    public void GeometryQuantitiesAreTheOldOnes()
    {
        Assert.Equal("roll (degrees)", Analyzer.Quantity("rotate")!.Value.Quantity);
        Assert.Equal("landmark centre x (px)", Analyzer.Quantity("translate-x")!.Value.Quantity);
        Assert.Equal("landmark centre y (px)", Analyzer.Quantity("translate-y")!.Value.Quantity);
        Assert.Equal("log inter-ocular distance", Analyzer.Quantity("scale")!.Value.Quantity);
        Assert.Null(Analyzer.Quantity("fgsm:dodge"));
        Assert.Null(Analyzer.Quantity("occlude:eyes"));
        Assert.Null(Analyzer.Quantity("interpolate"));

        var clean = new FaceGeometry(170, 70, 80, 40, 1);
        var moved = new FaceGeometry(-175, 73, 78, 50, 1);
        Assert.Equal(15, Analyzer.Quantity("rotate")!.Value.Delta(moved, clean), 9);  // wraps across ±180°
        Assert.Equal(3, Analyzer.Quantity("translate-x")!.Value.Delta(moved, clean), 9);
        Assert.Equal(-2, Analyzer.Quantity("translate-y")!.Value.Delta(moved, clean), 9);
        Assert.Equal(Math.Log(1.25), Analyzer.Quantity("scale")!.Value.Delta(moved, clean), 12);
        Assert.Equal(Math.Log(1.25), Analyzer.Quantity("scale")!.Value.OfStrength(1.25), 12);
        Assert.Equal(7, Analyzer.Quantity("rotate")!.Value.OfStrength(7));
    }

    [Fact]
    public void HelpLinesAreTheOldHelp()
    {
        // The kinds block of `dfd analyze --help` before the table (less its indentation and the compare line).
        Assert.Equal(
        [
            "rotation [--min -60 --max 60 --step 10]   (degrees, in-plane)",
            "translation [--min -20 --max 20 --step 5]  (pixels of the aligned crop, x and y)",
            "scale [--min 0.6 --max 1.4 --step 0.1]",
            "occlusion [--patch 30 --stride 10 --colour black|grey|white|R,G,B]",
            "fgsm | pgd [--eps 0,1,2,4,8 --goal dodge|impersonate|both --steps 10 --step-size S]  (ε in grey levels)",
            "interpolate A B [--steps 9]               (two images: decode the path between their templates)",
        ], AnalysisKinds.HelpLines());
    }

    static AnalysisPlan Parse(string kind, params (string, string)[] given)
    {
        var d = given.ToDictionary(g => g.Item1, g => g.Item2);
        return AnalysisKinds.Find(kind)!.Plan(n => d.GetValueOrDefault(n));
    }

    public static TheoryData<string, string[], string> BadOptions => new()
    {
        // Messages as `dfd analyze` printed them before the table (captured from the old build).
        { "rotation", ["step", "0"], "--step must be positive" },
        { "rotation", ["min", "5", "max", "1"], "--max (1°) is below --min (5°)" },
        { "rotation", ["step", "0.1"], "1201 strengths from --min, --max, --step: at most 200" },
        { "rotation", ["min", "abc"], "--min expects a number, got 'abc'" },
        { "scale", ["min", "-1"], "scale factors must be positive" },
        { "fgsm", ["steps", "3"], "fgsm is one step; use pgd for --steps" },
        { "fgsm", ["step-size", "3"], "fgsm's step is ε; use pgd for --step-size" },
        { "pgd", ["goal", "x"], "--goal expects dodge, impersonate or both, got 'x'" },
        { "pgd", ["eps", "1,-2"], "--eps: '-2' is not a non-negative number" },
        { "occlusion", ["patch", "0"], "--patch and --stride must be positive" },
        { "occlusion", ["colour", "pink"], "--colour expects black, grey, white or R,G,B (0–255), got 'pink'" },
        { "occlusion", ["patch", "2.5"], "--patch expects an integer, got '2.5'" },
        { "interpolate", ["steps", "1"], "--steps must be at least 2" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptionsFailWithTheOldMessages(string kind, string[] given, string message)
    {
        var pairs = given.Chunk(2).Select(c => (c[0], c[1])).ToArray();
        Assert.Equal(message, Assert.Throws<AnalysisOptionException>(() => Parse(kind, pairs)).Message);
    }

    [Fact]
    public void GivenOptionsReachThePlan()
    {
        var rot = Parse("rotation", ("min", "-20"), ("max", "20"), ("step", "7.5"));
        SameBits([-20, -12.5, -5, 2.5, 10, 17.5], rot.Perturbations.Select(p => p.Strength));
        Assert.Equal((-20.0, 20.0, 7.5), (rot.Range!.Min, rot.Range.Max, rot.Range.Step));
        var tr = Parse("translation", ("min", "-2"), ("max", "2"), ("step", "2"));
        Assert.Equal(["translate-x:-2", "translate-x:0", "translate-x:2", "translate-y:-2", "translate-y:0", "translate-y:2"],
            tr.Perturbations.Select(p => $"{p.Kind}:{p.Strength}"));
        var occ = Parse("occlusion", ("patch", "50"), ("stride", "25"), ("color", "1,2,3"));   // the US spelling is accepted too
        Assert.Equal((50, 25, new Colour(1, 2, 3)), (occ.Patch, occ.Stride, occ.Colour));
        var pgd = Parse("pgd", ("eps", "4"), ("steps", "2"), ("goal", "dodge"), ("step-size", "0.5"));
        Assert.Equal([4.0], pgd.Epsilons);
        Assert.Equal((2, (double?)0.5), (pgd.AttackSteps, pgd.StepSize));
        Assert.Equal([AttackGoal.Dodge, AttackGoal.Impersonate], Parse("pgd").Goals);
        Assert.Equal(3, Parse("interpolate", ("steps", "3")).Steps);
        // An option another kind owns is not read (the CLI then reports it as unknown), and one nobody declares is a bug.
        var read = new List<string>();
        AnalysisKinds.Rotation.Plan(n => { read.Add(n); return null; });
        Assert.Equal(["min", "max", "step"], read);
        Assert.Throws<ArgumentException>(() => new KindOptions(AnalysisKinds.Rotation, _ => null).Get("patch"));
    }
}
