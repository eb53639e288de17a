using System.Text.Json.Nodes;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Encoders;

/// <summary>
/// The tfjs graph importer and the hse-faceres encoder against tfjs itself: outputs of @tensorflow/tfjs 4.22.0 (CPU
/// backend, its own graph-model loader and executor) on fixed inputs, made by tools/hse-faceres-reference. The weights
/// are read from ../shared, so these skip where it is absent.
/// </summary>
public class TfjsTests
{
    static string Fixtures => Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "hse-faceres");
    static string? ModelJson => TestPaths.SharedDir is { } s && File.Exists(Path.Combine(s, "models", "hse-faceres", "faceres.json"))
        ? Path.Combine(s, "models", "hse-faceres", "faceres.json") : null;

    static readonly Lazy<JsonObject> outputs = new(() => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "outputs.json")))!);
    static readonly Lazy<TfjsEncoder> encoder = new(() => HseFaceRes.Load(ModelJson!));

    public static IEnumerable<object[]> Items() =>
        outputs.Value["items"]!.AsArray().Select(i => new object[] { i!["input"]!.GetValue<string>() });

    static JsonNode Item(string input) => outputs.Value["items"]!.AsArray().First(i => i!["input"]!.GetValue<string>() == input)!;

    static float[] Floats(JsonNode n) => n.AsArray().Select(x => x!.GetValue<float>()).ToArray();

    static RgbImage Image(string input) => new(224, 224, File.ReadAllBytes(Path.Combine(Fixtures, input)));

    /// <summary>Largest difference relative to the largest reference magnitude.</summary>
    static double Relative(float[] expected, float[] got)
    {
        Assert.Equal(expected.Length, got.Length);
        double scale = Math.Max(1e-12, expected.Max(Math.Abs));
        return expected.Zip(got, (e, g) => Math.Abs(e - g)).Max() / scale;
    }

    [SkippableTheory]
    [MemberData(nameof(Items))]
    public void GraphOutputsAgreeWithTfjs(string input)
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var item = Item(input);
        var interp = encoder.Value.Interpreter;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        // The graph fed as the Human library feeds it: raw RGB 0..255, NHWC.
        var x = Tensors.FromImages([Image(input)], 224, 224).permute(0, 2, 3, 1);
        var got = interp.Run(new Dictionary<string, torch.Tensor> { ["input_1"] = x });
        foreach (var name in new[] { "global_pooling/Mean", "gender_pred/Sigmoid", "age_pred/Softmax" })
        {
            var expected = Floats(item["graph"]![name]!);
            var mine = got[name].contiguous().data<float>().ToArray();
            double rel = Relative(expected, mine);
            Console.WriteLine($"{input} {name}: largest difference {rel:E2} of the largest value");
            Assert.True(rel <= 1e-4, $"{input} {name}: {rel:E2} > 1e-4");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Items))]
    public void EncoderAgreesWithTfjsOnCaffePreprocessing(string input)
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var expected = Floats(Item(input)["caffe"]!);
        var got = encoder.Value.Encode([Image(input)])[0];
        double rel = Relative(expected, got);
        Console.WriteLine($"{input}: largest difference {rel:E2} of the largest value");
        Assert.True(rel <= 1e-4, $"{input}: {rel:E2} > 1e-4");
    }

    [SkippableFact]
    public void GradientsAgreeWithTfjs()
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var g = outputs.Value["grad"]!;
        using var scope = torch.NewDisposeScope();
        var x = Tensors.FromImages([Image(g["input"]!.GetValue<string>())], 224, 224).requires_grad_(true);
        encoder.Value.Forward(x).pow(Scalars.Of(2)).sum().backward();
        var grad = x.grad!.contiguous().data<float>().ToArray();   // [1,3,224,224]
        double norm = Math.Sqrt(grad.Sum(v => (double)v * v));
        double refNorm = g["l2"]!.GetValue<double>();
        Assert.True(Math.Abs(norm - refNorm) <= 1e-3 * refNorm, $"gradient norm {norm} vs tfjs {refNorm}");
        double worst = 0, scale = 0;
        foreach (var p in g["positions"]!.AsArray())
        {
            int y = p!["y"]!.GetValue<int>(), xx = p["x"]!.GetValue<int>(), c = p["c"]!.GetValue<int>();
            double expected = p["value"]!.GetValue<double>();
            worst = Math.Max(worst, Math.Abs(grad[(c * 224 + y) * 224 + xx] - expected));
            scale = Math.Max(scale, Math.Abs(expected));
        }
        Console.WriteLine($"gradient: norm {norm:G6} (tfjs {refNorm:G6}), largest difference at 64 pixels {worst / scale:E2} of the largest");
        Assert.True(scale > 0 && worst <= 1e-3 * scale, $"gradient differs by {worst / scale:E2} of its largest value");
    }

    [SkippableFact]
    public void BatchEqualsSingle()
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var imgs = Items().Take(3).Select(o => Image((string)o[0])).ToList();
        var batch = encoder.Value.Encode(imgs);
        for (int i = 0; i < imgs.Count; i++)
            Assert.True(Relative(encoder.Value.Encode([imgs[i]])[0], batch[i]) < 1e-5);
    }

    [SkippableFact]
    public void FeaturePassGivesTheSameTemplateAndFourMaps()
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var enc = encoder.Value;
        Assert.Equal(4, enc.FeatureMaps);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(5);
        var x = torch.rand(2, 3, 224, 224).Times(255f);
        var (t, f) = enc.ForwardWithFeatures(x);
        Assert.Equal(enc.Forward(x).data<float>().ToArray(), t.data<float>().ToArray());
        Assert.Equal([new long[] { 2, 128, 56, 56 }, [2, 256, 28, 28], [2, 512, 14, 14], [2, 1024, 7, 7]], f.Select(m => m.shape).ToList());
        // The template is the deepest map's spatial mean (global_pooling/Mean of conv_pw_13).
        Assert.True(f[3].mean([2, 3]).sub(t).abs().max().item<float>() < 1e-5f);
    }

    [SkippableFact]
    public void RegistryFindsTheSharedModel()
    {
        Skip.If(ModelJson is null || Environment.GetEnvironmentVariable(HseFaceRes.WeightsVariable) != null, "needs ../shared/models/hse-faceres and no $DFD_HSE_FACERES");
        Assert.Equal(Path.GetFullPath(ModelJson!), Path.GetFullPath(Registry.WeightsPath("hse-faceres")!));
        using var enc = Registry.Create("hse-faceres");
        Assert.Equal((224, 224, 1024), (enc.Spec.InputWidth, enc.Spec.InputHeight, enc.Spec.EmbeddingSize));
    }

    [SkippableFact]
    public void TfjsNameTakesPreprocessingFromOptions()
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var opts = GraphEncoderOptions.Parse(null, "123.68,116.779,103.939", "1", "bgr", "dlib") with { Output = HseFaceRes.Output };
        using var enc = Registry.Create("tfjs:" + ModelJson, onnx: opts);
        Assert.StartsWith("tfjs:faceres@", enc.Spec.Name);
        Assert.Equal(HseFaceRes.Spec.Mean, enc.Spec.Mean);   // given r,g,b; kept in the model's (BGR) order
        Assert.Equal(1024, enc.Spec.EmbeddingSize);
        // The same numbers as the registered encoder, which tfjs vouches for.
        var img = Image("lfw-George_W_Bush_0001.rgb");
        Assert.True(Relative(encoder.Value.Encode([img])[0], enc.Encode([img])[0]) < 1e-6);
        Assert.Equal(enc.Spec, Registry.Spec(enc.Spec.Name));
    }

    [SkippableFact]
    public void SeveralOutputsWithoutOneNamedIsRefused()
    {
        Skip.If(ModelJson is null, "needs ../shared/models/hse-faceres");
        var e = Assert.Throws<EncoderNotAvailableException>(() => Registry.Create("tfjs:" + ModelJson, onnx: GraphEncoderOptions.Parse(null, "0", "1", "rgb", "dlib")));
        Assert.Contains("global_pooling/Mean", e.Message);
        Assert.Contains("output", e.Message);
    }

    /// <summary>
    /// A small hand-written graph (tools/hse-faceres-reference/make-synthetic-graph.mjs, random weights, committed) with
    /// the operators and weight encodings HSE FaceRes lacks: uint8/uint16 quantisation, fused convolutions with Relu6 and
    /// LeakyRelu, SAME max pooling with the odd pixel at the end, SAME average pooling, Pad, ConcatV2, batch norm, Reshape;
    /// outputs from tfjs. (Asymmetric SAME convolution is covered by HSE FaceRes: 224 → 112 with a 3×3 kernel.)
    /// </summary>
    [Fact]
    public void SyntheticGraphAgreesWithTfjs()
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "tfjs-graph");
        var reference = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "outputs.json")))!;
        using var interp = TfjsInterpreter.Load(Path.Combine(dir, "model.json"));
        Assert.Equal(["probs", "feat"], interp.Outputs);
        using var scope = torch.NewDisposeScope();
        var shape = reference["input_shape"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
        var x = torch.tensor(Floats(reference["input"]!), shape).requires_grad_(true);
        var got = interp.Run(new Dictionary<string, torch.Tensor> { ["x"] = x });
        foreach (var name in new[] { "probs", "feat" })
        {
            var r = reference["outputs"]![name]!;
            Assert.Equal(r["shape"]!.AsArray().Select(v => v!.GetValue<long>()), got[name].shape);
            var expected = Floats(r["values"]!);
            var mine = got[name].detach().contiguous().data<float>().ToArray();
            double worst = expected.Zip(mine, (e, g) => Math.Abs(e - g)).Max();
            Console.WriteLine($"synthetic graph {name}: largest difference {worst:E2}");
            Assert.True(worst <= 1e-5, $"{name}: {worst:E2} > 1e-5");
        }
        got["probs"].select(1, 1).sum().backward();
        Assert.True(x.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void MissingShardIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("dfd-tfjs-").FullName;
        try
        {
            var json = Path.Combine(dir, "m.json");
            File.WriteAllText(json, """
                {"format":"graph-model","modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{}},{"name":"w","op":"Const","attr":{}}]},
                 "weightsManifest":[{"paths":["m.bin"],"weights":[{"name":"w","shape":[2],"dtype":"float32"}]}]}
                """);
            var e = Assert.Throws<ModelFileException>(() => TfjsModel.Load(json));
            Assert.Contains("m.bin", e.Message);
            Assert.Contains(json, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void UnsupportedOperatorIsNamedWithItsNode()
    {
        var dir = Directory.CreateTempSubdirectory("dfd-tfjs-").FullName;
        try
        {
            var json = Path.Combine(dir, "m.json");
            File.WriteAllText(json, """
                {"format":"graph-model","modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{}},{"name":"y","op":"Cumsum","input":["x"],"attr":{}}]},
                 "weightsManifest":[]}
                """);
            var e = Assert.Throws<ModelFileException>(() => TfjsInterpreter.Load(json));
            Assert.Contains("Cumsum", e.Message);
            Assert.Contains("'y'", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
