using System.Text.Json;
using System.Text.RegularExpressions;
using Dfd.Analysis;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.Reports;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Dfd.Tests.Analysis;

public class AnalyzerTests(ITestOutputHelper log) : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-analysis-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>
    /// A stand-in encoder that looks only at one box: template = (mean R, G, B inside the box, 255). Occluding anything
    /// outside the box leaves the template as it is, so the heat map must be zero there and positive inside.
    /// </summary>
    sealed class BoxEncoder(int x0, int y0, int x1, int y1) : IEncoder
    {
        public EncoderSpec Spec => DlibResNet.Spec with { Name = "box", EmbeddingSize = 4 };
        public Device Device => CPU;
        public Tensor Forward(Tensor x)
        {
            var m = x[.., .., y0..y1, x0..x1].mean([2, 3]);
            return cat([m, full(x.shape[0], 1, Scalars.Of(255))], 1);
        }
        public void Dispose() { }
    }

    static RgbImage Noise(int seed, int w = 150, int h = 150)
    {
        var img = new RgbImage(w, h);
        var rng = new Random(seed);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (byte)rng.Next(40, 256);
        return img;
    }

    [Fact]
    public void OcclusionHeatLiesExactlyWhereTheEncoderLooks()
    {
        var enc = new BoxEncoder(60, 60, 90, 90);
        var an = new Analyzer(enc, null, null);
        var r = an.Occlusion([new("a", Noise(1)), new("b", Noise(2))], patch: 10, stride: 10, Colour.Black);
        var m = r.Occlusion!;
        for (int y = 0; y < 150; y++)
            for (int x = 0; x < 150; x++)
            {
                bool inside = x >= 60 && x < 90 && y >= 60 && y < 90;
                double v = m.Mean[y * 150 + x];
                if (inside) Assert.True(v > 1e-4, $"no heat at ({x},{y}) inside the box");
                else Assert.True(v < 1e-6, $"heat {v} at ({x},{y}) outside the box");
            }
        var (px, py, _) = m.Peak;
        Assert.InRange(px, 60, 89);
        Assert.InRange(py, 60, 89);
        // The report's JSON carries the peak and the colour as values (a tuple or a record's ToString would not).
        var json = System.Text.Json.JsonDocument.Parse(Dfd.Reports.AnalysisReport.Json([r])).RootElement.GetProperty("results")[0];
        var peak = json.GetProperty("occlusion").GetProperty("peak");
        Assert.Equal(px, peak.GetProperty("x").GetInt32());
        Assert.Equal(py, peak.GetProperty("y").GetInt32());
        Assert.Equal(m.Peak.Drop, peak.GetProperty("drop").GetDouble(), 9);
        Assert.Equal("0,0,0", json.GetProperty("options").GetProperty("colour").GetString());
        // The named occluders: those that miss the box change nothing.
        foreach (var p in r.Points)
        {
            var box = Occluders.Named(enc.Spec.Template).Single(o => "occlude:" + o.Name == p.Series).Box;
            bool overlaps = box.X < 90 && box.Right > 60 && box.Y < 90 && box.Bottom > 60;
            if (!overlaps) Assert.All(p.Similarity, s => Assert.Equal(1.0, s, 6));
            else Assert.True(p.Similarity.Min() < 1 - 1e-6, $"{p.Series} covers the box but changed nothing");
        }
    }

    [Fact]
    public void ImpersonationTargetsTheNextFaceTheModelDoesNotAlreadyMatch()
    {
        static RgbImage Flat(byte r, byte g, byte b)
        {
            var img = new RgbImage(150, 150);
            for (int i = 0; i < img.Data.Length; i += 3) { img.Data[i] = r; img.Data[i + 1] = g; img.Data[i + 2] = b; }
            return img;
        }
        // a and b look alike to the box encoder (cos ≈ 1), c does not (cos ≈ 0.65 < 0.92).
        var faces = new List<AnalysisInput> { new("a", Flat(200, 10, 10)), new("b", Flat(190, 20, 10)), new("c", Flat(10, 10, 200)) };
        var r = new Analyzer(new BoxEncoder(0, 0, 150, 150), null, null).Attack("fgsm", faces, AttackGoal.Impersonate, [0], AttackOptions.Fgsm);
        Assert.Equal(["c", "c", "a"], (string[])r.Options["targets"]);
        Assert.All(r.Points[0].Similarity, s => Assert.True(s < 0.9));
    }

    [Fact]
    public void SweepAtStrengthZeroScoresOneAndMatches()
    {
        var faces = AnalysisFixtures.Faces.Value.Take(2).Select((f, i) => new AnalysisInput($"f{i}", f)).ToList();
        var an = new Analyzer(AnalysisFixtures.Model, null, null);
        var r = an.Sweep("rotation", faces, [new Perturbation("rotate", 0, img => Perturbations.Rotate(img, 0)),
                                             new Perturbation("rotate", 30, img => Perturbations.Rotate(img, 30))]);
        Assert.All(r.Points[0].Similarity, s => Assert.Equal(1.0, s, 6));
        Assert.All(r.Points[0].Match, Assert.True);
        Assert.All(r.Points[1].Similarity, s => Assert.True(s < 0.99, $"a 30° turn left the template unchanged ({s})"));
    }

    [Fact]
    public void DetectorMeasuresTheAppliedRotationAndShift()
    {
        using var pipeline = FacePipeline.CreateDefault();
        var probe = new GeometryProbe(pipeline.Detector, DlibResNet.Spec.Template);
        var samples = new[] { "Bill_Clinton_0001", "Halle_Berry_0002", "Yao_Ming_0001", "Naomi_Watts_0001" };
        foreach (var name in samples)
        {
            var face = pipeline.AlignFile(Path.Combine(TestPaths.RepoRoot, "samples", name + ".jpg"), DlibResNet.Spec.Template).Crops[0];
            var clean = probe.Measure(face) ?? throw new Xunit.Sdk.XunitException("no face in an aligned crop");
            foreach (var deg in new[] { -20.0, 15.0 })
            {
                var g = probe.Measure(Perturbations.Rotate(face, deg))!;
                log.WriteLine($"{name} rotate {deg}: measured {g.Roll - clean.Roll:F2}");
                Assert.InRange(g.Roll - clean.Roll, deg - 3, deg + 3);
            }
            var s = probe.Measure(Perturbations.Translate(face, 8, -6))!;
            Assert.InRange(s.CentreX - clean.CentreX, 8 - 2, 8 + 2);
            Assert.InRange(s.CentreY - clean.CentreY, -6 - 2, -6 + 2);
            var z = probe.Measure(Perturbations.Scale(face, 1.25))!;
            Assert.InRange(z.InterOcular / clean.InterOcular, 1.25 * 0.93, 1.25 * 1.07);
        }
        // And a crop with no face says so rather than inventing one.
        var grey = new RgbImage(150, 150);
        Array.Fill(grey.Data, (byte)90);
        Assert.Null(probe.Measure(grey));
    }

    [Fact]
    public void GeometryFitRecoversAKnownSlope()
    {
        var pts = Enumerable.Range(-5, 11).Select(i => ((double)i, 0.25 * i + 3)).ToList();
        var (slope, icpt, n) = GeometryProbe.Fit(pts);
        Assert.Equal(0.25, slope, 10);
        Assert.Equal(3, icpt, 10);
        Assert.Equal(11, n);
        Assert.True(double.IsNaN(GeometryProbe.Fit([(1.0, 2.0)]).Slope));
    }

    [Fact]
    public void InterpolationRunsFromAToB()
    {
        var f = AnalysisFixtures.Faces.Value;
        var r = new Analyzer(AnalysisFixtures.Model, null, null).Interpolate(new("a", f[0]), new("b", f[2]), 5);
        Assert.Equal(5, r.Points.Count);
        Assert.Equal(1.0, r.Points[0].Similarity[0], 5);
        Assert.Equal(1.0, r.Points[^1].SimilarityToSelf![0], 5);
        for (int k = 1; k < 5; k++)
        {
            Assert.True(r.Points[k].Similarity[0] < r.Points[k - 1].Similarity[0]);
            Assert.True(r.Points[k].SimilarityToSelf![0] > r.Points[k - 1].SimilarityToSelf![0]);
        }
    }

    [Fact]
    public void BadInputsAreReportedPerFileAndTheRestGoOn()
    {
        var good = Path.Combine(TestPaths.RepoRoot, "samples", "Hugh_Grant_0001.jpg");
        var corrupt = Path.Combine(dir, "corrupt.jpg");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(good).Take(300).ToArray());
        var blank = Path.Combine(dir, "blank.png");
        var grey = new RgbImage(200, 200);
        Array.Fill(grey.Data, (byte)128);
        ImageIO.Save(grey, blank);
        var problems = new List<string>();
        using var pipeline = FacePipeline.CreateDefault();
        var inputs = AnalysisInputs.Load([corrupt, good, blank], DlibResNet.Spec, pipeline, int.MaxValue, problems);
        Assert.Single(inputs);
        Assert.Equal("Hugh_Grant_0001", inputs[0].Name);
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith(corrupt));
        Assert.Contains(problems, p => p.StartsWith(blank) && p.Contains("no face"));
        // --aligned: a crop of the wrong size is refused by name.
        var aligned = AnalysisInputs.Load([good], DlibResNet.Spec, null, int.MaxValue, problems);
        Assert.Empty(aligned);
        Assert.Contains(problems, p => p.StartsWith(good) && p.Contains("not an aligned 150×150"));
    }

    [Fact]
    public void ReportReferencesOnlyImagesThatExistAndDecode()
    {
        var faces = AnalysisFixtures.Faces.Value.Take(2).Select((f, i) => new AnalysisInput($"f{i}", f)).ToList();
        using var dec = new FaceDecoder(new DecoderConfig(Widths: [32, 16, 16, 16, 16], StartWidth: 32));
        var an = new Analyzer(AnalysisFixtures.Model, dec, null);
        var rot = an.Sweep("rotation", faces, AnalysisKinds.Rotation.Sweep(-10, 10, 10), "tiny");
        var fg = an.Attack("fgsm", faces, AttackGoal.Impersonate, [0, 2], AttackOptions.Fgsm);
        var index = AnalysisReport.Write([rot, fg], dir, "test", new Dictionary<string, object> { ["k"] = "v" });
        var images = ImagesOf(index);
        Assert.Contains(images, p => p.EndsWith("rotate-strip.png"));
        Assert.Contains(images, p => p.EndsWith("rotate-similarity.png"));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "analysis.json")));
        var results = json.RootElement.GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());
        Assert.Equal(3, results[0].GetProperty("points").GetArrayLength());
        Assert.Equal(["f1", "f0"], results[1].GetProperty("options").GetProperty("targets").EnumerateArray().Select(e => e.GetString()));
    }

    /// <summary>Every image an HTML page (and the pages it links) references: checked to exist and decode.</summary>
    public static List<string> ImagesOf(string html, HashSet<string>? seen = null)
    {
        seen ??= [];
        var found = new List<string>();
        if (!seen.Add(Path.GetFullPath(html))) return found;
        var text = File.ReadAllText(html);
        var baseDir = Path.GetDirectoryName(html)!;
        foreach (Match m in Regex.Matches(text, "<img[^>]*\\ssrc=\"([^\"]+)\""))
        {
            var path = Path.Combine(baseDir, Uri.UnescapeDataString(m.Groups[1].Value));
            Assert.True(File.Exists(path), $"{html} references {m.Groups[1].Value}, which is missing");
            var img = ImageIO.Load(path);
            Assert.True(img.Width > 0 && img.Height > 0);
            found.Add(path);
        }
        foreach (Match m in Regex.Matches(text, "href=\"([^\"]+)\""))
        {
            var path = Path.Combine(baseDir, Uri.UnescapeDataString(m.Groups[1].Value));
            Assert.True(File.Exists(path), $"{html} links {m.Groups[1].Value}, which is missing");
            if (path.EndsWith(".html")) found.AddRange(ImagesOf(path, seen));
        }
        return found;
    }
}
