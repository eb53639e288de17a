using System.Text.Json.Nodes;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Encoders;

/// <summary>The TorchSharp port against face-api's own tfjs implementation (fixtures made by tools/faceapi-reference).</summary>
public class DlibResNetTests
{
    static string Fixtures => Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "faceapi");
    static string Weights => Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors");

    static readonly Lazy<DlibResNet> model = new(() => DlibResNet.Load(Weights));

    public static IEnumerable<object[]> Items() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "descriptors.json")))!["items"]!.AsArray()
            .Select(i => new object[] { i!["input"]!.GetValue<string>() });

    static (RgbImage Input, float[] Expected) Load(string name)
    {
        var item = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "descriptors.json")))!["items"]!.AsArray()
            .First(i => i!["input"]!.GetValue<string>() == name)!;
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures, name));
        return (new RgbImage(150, 150, bytes), item["descriptor"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Items))]
    public void AgreesWithFaceApiTfjs(string input)
    {
        var (img, expected) = Load(input);
        var got = model.Value.Encode([img])[0];
        Assert.Equal(128, got.Length);
        double worst = expected.Zip(got, (e, g) => Math.Abs(e - g)).Max();
        Console.WriteLine($"{input}: largest difference {worst:E2}");
        Assert.True(worst <= 1e-4, $"{input}: largest difference {worst:E2} > 1e-4");
    }

    [Fact]
    public void BatchEqualsSingle()
    {
        var names = Items().Select(o => (string)o[0]).ToList();
        var imgs = names.Select(n => Load(n).Input).ToList();
        var batch = model.Value.Encode(imgs);
        for (int i = 0; i < imgs.Count; i++)
        {
            var single = model.Value.Encode([imgs[i]])[0];
            Assert.True(batch[i].Zip(single, (a, b) => Math.Abs(a - b)).Max() < 1e-5);
        }
    }

    [Fact]
    public void GradientsReachTheInputPixels()
    {
        var (img, _) = Load("lfw-George_W_Bush_0001.rgb");
        using var x = Tensors.FromImages([img], 150, 150).requires_grad_(true);
        using var t = model.Value.forward(x);
        t.pow(Scalars.Of(2)).sum().backward();
        var g = x.grad!;
        Assert.Equal(x.shape, g.shape);
        Assert.True(g.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void FeaturesHaveFiveStages()
    {
        var (img, _) = Load("lfw-Aaron_Peirsol_0001.rgb");
        using var scope = torch.NewDisposeScope();
        var f = model.Value.Features(Tensors.FromImages([img], 150, 150));
        Assert.Equal(new long[] { 32, 64, 128, 256, 256 }, f.Select(t => t.shape[1]).ToArray());
        Assert.Equal(new long[] { 35, 17, 8, 4, 2 }, f.Select(t => t.shape[2]).ToArray());
        Assert.Equal(35, f[0].shape[2]);
    }

    [Fact]
    public void SpecRecordsFaceApiPreprocessing()
    {
        // The values face-api's FaceRecognitionNet subtracts (RGB, then /255); AgreesWithFaceApiTfjs proves that
        // forward applies them, since its inputs are raw 0..255 bytes.
        var spec = DlibResNet.Spec;
        Assert.Equal(new[] { 122.782f, 117.001f, 104.298f }, spec.Mean);
        Assert.Equal(new[] { 255f, 255f, 255f }, spec.Std);
        Assert.Equal(ChannelOrder.RGB, spec.Channels);
        Assert.Equal((150, 150, 128), (spec.InputWidth, spec.InputHeight, spec.EmbeddingSize));
    }

    [SkippableFact]
    public void ConverterReproducesTheCommittedWeights()
    {
        Skip.If(TestPaths.SharedDir is null, "needs ../shared (face-api weights)");
        var manifest = Path.Combine(TestPaths.SharedDir!, "models", "face-api", "face_recognition_model-weights_manifest.json");
        var tmp = Path.Combine(Path.GetTempPath(), $"dfd-conv-{Guid.NewGuid():N}.safetensors");
        try
        {
            FaceApiWeights.ConvertDlibResNet(manifest, tmp);
            var (fresh, meta) = Safetensors.Read(tmp);
            var (committed, _) = Safetensors.Read(Weights);
            Assert.Equal("dlib-resnet", meta["encoder"]);
            Assert.Equal(committed.Keys.OrderBy(k => k), fresh.Keys.OrderBy(k => k));
            foreach (var k in committed.Keys) Assert.Equal(committed[k].Data, fresh[k].Data);
        }
        finally { File.Delete(tmp); }
    }

    [Fact]
    public void ForeignWeightsAreRefusedWithTheirKeys()
    {
        var tmp = Path.Combine(Path.GetTempPath(), $"dfd-bad-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Write(tmp, new Dictionary<string, HostTensor> { ["fc"] = new([128, 256], new float[128 * 256]), ["stray"] = new([2], new float[2]) },
                new Dictionary<string, string> { ["encoder"] = "dlib-resnet" });
            var e = Assert.Throws<ModelFileException>(() => DlibResNet.Load(tmp));
            Assert.Contains("missing keys", e.Message);
            Assert.Contains("stray", e.Message);
            Assert.Contains(tmp, e.Message);
        }
        finally { File.Delete(tmp); }
    }
}
