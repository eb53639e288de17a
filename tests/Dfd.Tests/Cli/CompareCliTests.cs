using System.Text.Json;
using Dfd.Decoder;
using Dfd.Encoders;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>
/// `dfd analyze compare` end to end on two models of different crops without ../shared: the shipped dlib-resnet
/// (150×150 chip) and the committed random MobileFaceNet ONNX fixture (112×96 SphereFace crop) with an untrained
/// decoder made here.
/// </summary>
public sealed class CompareCliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-cmp-cli-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    static string Onnx => "onnx:" + Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "onnx", "mobilefacenet-random.onnx");
    /// <summary>The fixture's encoder name: onnx:&lt;sidecar name&gt;@&lt;file hash&gt;.</summary>
    static string OnnxName => Registry.Spec(Onnx).Name;
    static string Shipped => Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
    static string Sample(string name) => Path.Combine(TestPaths.RepoRoot, "samples", name + ".jpg");

    /// <summary>An untrained decoder for <paramref name="encoder"/>, saved in the test folder.</summary>
    internal static string UntrainedDecoder(string encoder, string path)
    {
        var spec = Registry.Spec(encoder);
        using var dec = new FaceDecoder(new DecoderConfig(TemplateDim: spec.EmbeddingSize, OutWidth: spec.InputWidth, OutHeight: spec.InputHeight,
            Widths: [16, 16], StartWidth: 16, RefineBlocks: 1, RefineDepth: 1));
        DecoderFile.Save(path, dec, new Dictionary<string, string> { ["encoder"] = spec.Name });
        return path;
    }

    string Photos(params string[] names)
    {
        var d = Path.Combine(dir, "photos");
        Directory.CreateDirectory(d);
        foreach (var n in names) File.Copy(Sample(n), Path.Combine(d, n + ".jpg"), true);
        return d;
    }

    [Fact]
    public void AttackCraftedOnEachModelIsMeasuredOnTheOther()
    {
        var dec = UntrainedDecoder(Onnx, Path.Combine(dir, "onnx-dec.safetensors"));
        var report = Path.Combine(dir, "fgsm");
        var r = Run("analyze", "compare", "--encoders", "dlib-resnet," + Onnx, "--decoders", Shipped + "," + dec,
            "--perturbation", "fgsm", "--eps", "0,8", "--goal", "dodge", "--input", Photos("Bill_Clinton_0001", "Halle_Berry_0001"),
            "--report", report, "--json");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var j = JsonDocument.Parse(r.Out).RootElement;
        var a = j.GetProperty("analysis");
        Assert.Equal(2, a.GetProperty("models").GetArrayLength());
        Assert.Equal(2, a.GetProperty("results").GetArrayLength());
        var transfers = a.GetProperty("transfers").EnumerateArray().ToList();
        Assert.Equal(2, transfers.Count);
        Assert.Equal(new[] { "dlib-resnet", OnnxName }.Order(), transfers.Select(t => t.GetProperty("crafted_on").GetString()!).Order());
        foreach (var t in transfers)
        {
            var pts = t.GetProperty("points").EnumerateArray().ToList();
            Assert.Equal([0.0, 8.0], pts.Select(p => p.GetProperty("strength").GetDouble()));
            // ε 0 carries nothing, so each model still sees its clean crop.
            Assert.All(pts[0].GetProperty("similarity").EnumerateArray(), s => Assert.Equal(1.0, s.GetDouble(), 4));
        }
        var index = Path.Combine(report, "index.html");
        var html = File.ReadAllText(index);
        Assert.Contains($"success on {OnnxName} (transfer)", html);
        Assert.Contains("success on dlib-resnet (transfer)", html);
        var images = Dfd.Tests.Analysis.AnalyzerTests.ImagesOf(index);
        Assert.Contains(images, p => p.EndsWith("transfer-dlib-resnet-fgsm-dodge-strip.png"));
        Assert.Contains(images, p => p.EndsWith($"transfer-{OnnxName.Replace(':', '-').Replace('@', '_')}-fgsm-dodge-strip.png"));
        Assert.All(images, p => Assert.True(File.Exists(p), p));
    }

    [Fact]
    public void InterpolationComparesTwoModelsOnAnImagePair()
    {
        var report = Path.Combine(dir, "ab");
        var r = Run("analyze", "compare", Sample("Bill_Clinton_0001"), Sample("Halle_Berry_0001"),
            "--encoders", "dlib-resnet," + Onnx, "--decoders", Shipped + ",-", "--perturbation", "interpolate", "--steps", "3",
            "--no-measure", "--report", report, "--json");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var a = JsonDocument.Parse(r.Out).RootElement.GetProperty("analysis");
        Assert.All(a.GetProperty("results").EnumerateArray(), res => Assert.Equal(3, res.GetProperty("points").GetArrayLength()));
        Assert.Contains(JsonDocument.Parse(r.Out).RootElement.GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains($"no decoder for {OnnxName}"));
        Assert.True(File.Exists(Path.Combine(report, "compare-interpolate-strip.png")));
    }

    [Fact]
    public void CompareUsageErrorsAreOneLine()
    {
        var photos = Photos("Bill_Clinton_0001");
        AssertOneLineError(Run("analyze", "compare", "--encoders", "dlib-resnet,dlib-resnet", "--perturbation", "rotation", "--input", photos, "--report", Path.Combine(dir, "x")),
            2, "analyze", "twice");
        AssertOneLineError(Run("analyze", "compare", "--encoders", "dlib-resnet," + Onnx, "--perturbation", "interpolate", "--input", photos, "--report", Path.Combine(dir, "x")),
            2, "analyze", "two images");
        AssertOneLineError(Run("analyze", "compare", "--encoders", "dlib-resnet," + Onnx, "--perturbation", "nonsense", "--input", photos, "--report", Path.Combine(dir, "x")),
            2, "analyze", "nonsense");
        Assert.False(Directory.Exists(Path.Combine(dir, "x")));
    }

    /// <summary>The paper's pair, where ../shared has MobileFaceNet's weights: a sweep with both decoders, geometry measured.</summary>
    [SkippableFact]
    public void RotationComparesDlibResNetAndMobileFaceNet()
    {
        Skip.If(TestPaths.SharedDir is null || MobileFaceNet.FindWeights() is null, "needs ../shared (MobileFaceNet weights)");
        var dec = UntrainedDecoder("mobilefacenet-casia", Path.Combine(dir, "mfn.safetensors"));
        var report = Path.Combine(dir, "rot");
        var r = Run("analyze", "compare", "--encoders", "dlib-resnet,mobilefacenet-casia", "--decoders", Shipped + "," + dec,
            "--perturbation", "rotation", "--min", "-20", "--max", "20", "--step", "20", "--input", Photos("Bill_Clinton_0001", "Yao_Ming_0001"),
            "--report", report, "--json");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var html = File.ReadAllText(Path.Combine(report, "index.html"));
        Assert.Contains("What each template keeps, side by side", html);
        Assert.Contains("<th>mobilefacenet-casia</th>", html);
        Assert.True(File.Exists(Path.Combine(report, "compare-rotate-strip.png")));
        var fits = JsonDocument.Parse(r.Out).RootElement.GetProperty("analysis").GetProperty("results").EnumerateArray()
            .Select(x => x.GetProperty("fits").GetArrayLength()).ToList();
        Assert.Equal([1, 1], fits);
    }
}
