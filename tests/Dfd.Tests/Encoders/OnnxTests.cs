using System.Diagnostics;
using Dfd.Core;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Dfd.Tests.Encoders;

/// <summary>
/// The ONNX path: the TorchSharp interpreter against ONNX Runtime on real exported models (a seeded random-weight
/// MobileFaceNet committed as a fixture, YuNet, and — where ../shared and Debian's torch exist — MobileFaceNet with its
/// CASIA-WebFace weights, exported on the fly and deleted after), single-operator graphs for the semantics the models
/// do not reach, gradients, fixed batch sizes, and the errors for missing preprocessing and unsupported operators.
/// </summary>
public class OnnxTests(ITestOutputHelper log)
{
    const double Tolerance = 1e-4;

    static string FixtureDir => Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "onnx");
    static string RandomMobileFaceNet => Path.Combine(FixtureDir, "mobilefacenet-random.onnx");
    static string YuNetModel => Path.Combine(TestPaths.RepoRoot, "models", "yunet", "yunet_s_dynamic.onnx");
    static string ExportScript => Path.Combine(TestPaths.RepoRoot, "tools", "onnx-export", "export_mobilefacenet.py");

    static Tensor RandomImages(int n, int w, int h, int seed)
    {
        var rng = new Random(seed);
        var data = new float[n * 3 * h * w];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 255);
        return torch.tensor(data, [n, 3, h, w]);
    }

    static Tensor Randn(long[] shape, int seed)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return torch.tensor(data, shape);
    }

    static float[] Flat(Tensor t) => t.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), $"dfd-onnx-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    // ---- real models ----

    [Fact]
    public void RandomMobileFaceNet_InterpreterAgreesWithRuntime()
    {
        using var enc = OnnxEncoder.Load(RandomMobileFaceNet);
        Assert.Equal(96, enc.Spec.InputWidth);
        Assert.Equal(112, enc.Spec.InputHeight);
        Assert.Equal(128, enc.Spec.EmbeddingSize);
        Assert.Null(enc.FixedBatch);
        Assert.StartsWith("onnx:mobilefacenet-random@", enc.Spec.Name);
        using var scope = torch.NewDisposeScope();
        var x = RandomImages(4, 96, 112, seed: 1);
        var ort = Flat(enc.ForwardWithRuntime(x));
        Tensor y;
        using (torch.no_grad()) y = enc.ForwardWithInterpreter(x);
        Assert.Equal(new long[] { 4, 128 }, y.shape);
        var interp = Flat(y);
        double diff = MaxDiff(ort, interp), scale = ort.Max(v => Math.Abs(v));
        log.WriteLine($"random MobileFaceNet, 4 noise images: max |ORT − interpreter| = {diff:E2} (largest |value| {scale:F3})");
        Assert.True(scale > 0.1, "the fixture's outputs should not be near zero");
        Assert.True(diff <= Tolerance, $"max difference {diff:E2} > {Tolerance}");
    }

    [Fact]
    public void YuNet_EveryOutputAgreesWithRuntime()
    {
        using var interp = OnnxInterpreter.Load(YuNetModel);
        using var session = new InferenceSession(YuNetModel);
        using var scope = torch.NewDisposeScope();
        var x = RandomImages(1, 160, 160, seed: 2);
        var data = Flat(x);
        var names = session.OutputMetadata.Keys.ToArray();
        Assert.Equal(12, names.Length);
        using var value = OrtValue.CreateTensorValueFromMemory(data, [1, 3, 160, 160]);
        using var ro = new RunOptions();
        using var outs = session.Run(ro, [interp.Inputs[0].Name], [value], names);
        Dictionary<string, Tensor> mine;
        using (torch.no_grad()) mine = interp.Run(new Dictionary<string, Tensor> { [interp.Inputs[0].Name] = x });
        double worst = 0;
        for (int i = 0; i < names.Length; i++)
        {
            var shape = outs[i].GetTensorTypeAndShape().Shape;
            Assert.Equal(shape, mine[names[i]].shape);
            double d = MaxDiff(outs[i].GetTensorDataAsSpan<float>().ToArray(), Flat(mine[names[i]]));
            log.WriteLine($"YuNet {names[i]} [{string.Join(",", shape)}]: max diff {d:E2}");
            worst = Math.Max(worst, d);
        }
        Assert.True(worst <= Tolerance, $"max difference {worst:E2} > {Tolerance}");
    }

    [SkippableFact]
    public void CasiaMobileFaceNet_ExportedOnTheFly_InterpreterAgreesWithRuntime()
    {
        Skip.If(TestPaths.SharedDir is null, "needs ../shared (MobileFaceNet CASIA-WebFace checkpoint)");
        var ckpt = Path.Combine(TestPaths.SharedDir!, "models", "mobilefacenet-casia", "068.ckpt");
        Skip.IfNot(File.Exists(ckpt), $"{ckpt} not found");
        Skip.IfNot(File.Exists("/usr/bin/python3") && Python("-c \"import torch\"", 60).Code == 0, "needs /usr/bin/python3 with torch");

        // The weights have no licence: the export lives only in a temporary folder, removed below.
        var dir = TempDir();
        try
        {
            var onnx = Path.Combine(dir, "mobilefacenet-casia.onnx");
            var (code, output) = Python($"\"{ExportScript}\" \"{onnx}\" --ckpt \"{ckpt}\"", 300);
            Assert.True(code == 0, $"export failed ({code}): {output}");
            using var enc = OnnxEncoder.Load(onnx);
            Assert.Equal(128, enc.Spec.EmbeddingSize);
            Assert.Equal(AlignmentTemplate.SphereFace().Points, enc.Spec.Template.Points);

            using var pipeline = FacePipeline.CreateDefault();
            var names = new[] { "Bill_Clinton_0001", "Bill_Clinton_0002", "Halle_Berry_0001", "Yao_Ming_0001" };
            var crops = names.Select(n => pipeline.AlignFile(Path.Combine(TestPaths.RepoRoot, "samples", n + ".jpg"), enc.Spec.Template))
                .Select(r => { Assert.Equal(AlignStatus.Aligned, r.Status); return r.Crops[0]; }).ToList();
            var ort = enc.EncodeWithRuntime(crops);
            var mine = enc.EncodeWithInterpreter(crops);
            double diff = ort.Zip(mine, (a, b) => MaxDiff(a, b)).Max();
            log.WriteLine($"CASIA MobileFaceNet, 4 LFW sample faces: max |ORT − interpreter| = {diff:E2} (largest |value| {ort.SelectMany(v => v).Max(Math.Abs):F3})");
            Assert.True(diff <= Tolerance, $"max difference {diff:E2} > {Tolerance}");

            // The export is the trained network: the same person is closer than another.
            double Cos(float[] a, float[] b) => a.Zip(b, (p, q) => (double)p * q).Sum() / Math.Sqrt(a.Sum(v => (double)v * v) * b.Sum(v => (double)v * v));
            log.WriteLine($"cos(Clinton 1, Clinton 2) = {Cos(ort[0], ort[1]):F3}, cos(Clinton 1, Berry 1) = {Cos(ort[0], ort[2]):F3}, cos(Clinton 1, Yao 1) = {Cos(ort[0], ort[3]):F3}");
            Assert.True(Cos(ort[0], ort[1]) > Cos(ort[0], ort[2]) && Cos(ort[0], ort[1]) > Cos(ort[0], ort[3]));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    static (int Code, string Output) Python(string args, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000)) { p.Kill(entireProcessTree: true); return (-1, "timed out"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    // ---- encoder behaviour ----

    [Fact]
    public void EncodeUsesTheRuntimeAndAgreesWithTheInterpreter()
    {
        using var enc = (OnnxEncoder)Registry.Create("onnx:" + RandomMobileFaceNet);
        Assert.Same(enc.Spec, Registry.Spec(enc.Spec.Name));
        Assert.Equal(Path.GetFullPath(RandomMobileFaceNet), Registry.WeightsPath(enc.Spec.Name));
        var crops = Tensors.ToImages(RandomImages(3, 96, 112, seed: 3));
        var viaExtension = enc.Encode(crops, flipAverage: true);        // IEncoder.Encode: no_grad → ONNX Runtime
        var runtime = enc.EncodeWithRuntime(crops, flipAverage: true);
        var interp = enc.EncodeWithInterpreter(crops, flipAverage: true);
        for (int i = 0; i < crops.Count; i++)
        {
            Assert.Equal(runtime[i], viaExtension[i]);                  // bit-identical: the same engine ran
            Assert.True(MaxDiff(runtime[i], interp[i]) <= Tolerance);
        }
    }

    [Fact]
    public void GradientsReachTheInputAndMatchFiniteDifferences()
    {
        using var enc = OnnxEncoder.Load(RandomMobileFaceNet);
        using var scope = torch.NewDisposeScope();
        var x0 = RandomImages(1, 96, 112, seed: 4);
        var r = Randn([1, 128], seed: 5);
        var x = x0.clone().requires_grad_(true);
        var t = enc.Forward(x);                                         // grad enabled → interpreter
        Assert.True(t.requires_grad);
        (t * r).sum().backward();
        var g = x.grad!;
        Assert.Equal(x.shape, g.shape);
        Assert.True(g.isfinite().all().item<bool>());
        double gNorm = g.norm().item<float>();
        Assert.True(gNorm > 0);

        // Directional derivative along the gradient, by central differences through ONNX Runtime (an independent engine).
        var d = g.Over(gNorm);
        const double h = 2.0;   // pixel units (0..255)
        double L(Tensor xi) { using var _ = torch.no_grad(); return (enc.ForwardWithRuntime(xi) * r).sum().item<float>(); }
        double fd = (L(x0.Plus(d.Times(h))) - L(x0 - d.Times(h))) / (2 * h);
        log.WriteLine($"|grad| = {gNorm:E4}, finite difference along it = {fd:E4}");
        Assert.True(Math.Abs(fd - gNorm) <= 0.05 * gNorm, $"finite difference {fd:E4} vs gradient norm {gNorm:E4}");

        // The runtime path refuses to pretend it can differentiate.
        enc.Backend = OnnxBackend.Runtime;
        Assert.Throws<InvalidOperationException>(() => enc.Forward(x));
    }

    [Fact]
    public void FixedBatchModelsRunInChunks()
    {
        var dir = TempDir();
        try
        {
            var m = OnnxModel.Load(RandomMobileFaceNet);
            foreach (var v in m.Graph.Inputs.Concat(m.Graph.Outputs)) { v.Shape![0] = 2; v.DimParams[0] = null; }
            var path = Path.Combine(dir, "mfn-batch2.onnx");
            File.WriteAllBytes(path, m.ToBytes());
            File.Copy(Path.ChangeExtension(RandomMobileFaceNet, ".json"), Path.ChangeExtension(path, ".json"));

            using var fixedEnc = OnnxEncoder.Load(path);
            using var dynEnc = OnnxEncoder.Load(RandomMobileFaceNet);
            Assert.Equal(2, fixedEnc.FixedBatch);
            var crops = Tensors.ToImages(RandomImages(5, 96, 112, seed: 6));
            var reference = dynEnc.EncodeWithRuntime(crops);
            var runtime = fixedEnc.EncodeWithRuntime(crops);            // chunks of 2, the last padded
            var interp = fixedEnc.EncodeWithInterpreter(crops);
            for (int i = 0; i < crops.Count; i++)
            {
                Assert.True(MaxDiff(reference[i], runtime[i]) <= 1e-5);
                Assert.True(MaxDiff(reference[i], interp[i]) <= Tolerance);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void MissingPreprocessingNamesTheOptionAndTheSidecarField()
    {
        var dir = TempDir();
        try
        {
            var path = Path.Combine(dir, "bare.onnx");
            File.Copy(RandomMobileFaceNet, path);                       // no sidecar
            var e = Assert.Throws<EncoderNotAvailableException>(() => OnnxEncoder.Load(path));
            foreach (var s in new[] { "--mean", "\"mean\"", "--std", "\"std\"", "--channels", "\"channels\"", "--template", "\"template\"", "bare.json" })
                Assert.Contains(s, e.Message);
            Assert.DoesNotContain("--input-size", e.Message);          // the model fixes 112x96 itself

            var partial = GraphEncoderOptions.Parse(null, "127.5", "128", "rgb", null);
            e = Assert.Throws<EncoderNotAvailableException>(() => OnnxEncoder.Load(path, partial));
            Assert.Contains("--template", e.Message);
            Assert.DoesNotContain("--mean", e.Message);

            // A contradicting size and a template that cannot make the model's crop are refused too.
            var wrongSize = GraphEncoderOptions.Parse("112x112", "127.5", "128", "rgb", "arcface");
            Assert.Contains("96x112", Assert.Throws<ModelFileException>(() => OnnxEncoder.Load(path, wrongSize)).Message);
            var wrongTemplate = GraphEncoderOptions.Parse(null, "127.5", "128", "rgb", "arcface");
            Assert.Contains("square", Assert.Throws<ModelFileException>(() => OnnxEncoder.Load(path, wrongTemplate)).Message);

            // Options alone suffice; a sidecar typo is named.
            using (var ok = OnnxEncoder.Load(path, GraphEncoderOptions.Parse(null, "127.5", "128", "rgb", "sphereface"))) Assert.Equal(128, ok.Spec.EmbeddingSize);
            File.WriteAllText(Path.Combine(dir, "bare.json"), "{\"maen\": [1, 2, 3]}");
            Assert.Contains("maen", Assert.Throws<ModelFileException>(() => OnnxEncoder.Load(path)).Message);
            Assert.Throws<FormatException>(() => GraphEncoderOptions.Parse("112", null, null, null, null));
            Assert.Throws<FormatException>(() => GraphEncoderOptions.Parse(null, null, "1,0,1", null, null));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void OptionsOverrideTheSidecar()
    {
        using var rgb = OnnxEncoder.Load(RandomMobileFaceNet);
        using var bgr = OnnxEncoder.Load(RandomMobileFaceNet, GraphEncoderOptions.Parse(null, "10,20,30", null, "bgr", null));
        Assert.Equal(ChannelOrder.BGR, bgr.Spec.Channels);
        Assert.Equal(new[] { 30f, 20f, 10f }, bgr.Spec.Mean);          // kept in the model's channel order
        Assert.Equal(rgb.Spec.Std, bgr.Spec.Std);                        // from the sidecar
        Assert.NotEqual(rgb.Spec.Name, bgr.Spec.Name);                   // caches keyed by name never mix them
        using var scope = torch.NewDisposeScope();
        var x = RandomImages(1, 96, 112, seed: 7);
        var n = bgr.Spec.Normalise(x);
        Assert.Equal((x[0, 2, 0, 0].item<float>() - 30f) / 128f, n[0, 0, 0, 0].item<float>(), 5);
    }

    [Fact]
    public void UnsupportedOperatorIsNamedWithItsNode()
    {
        var m = new OnnxModel();
        m.Opsets[""] = 13;
        m.Graph.Inputs.Add(OnnxValueInfo.Tensor("x", OnnxDataType.Float, -1, 3, 4, 4));
        m.Graph.Outputs.Add(new OnnxValueInfo { Name = "y", ElemType = OnnxDataType.Float });
        var node = new OnnxNode { Name = "pool_by_einsum", OpType = "Einsum" };
        node.Inputs.Add("x"); node.Outputs.Add("y");
        node.Attributes.Add(OnnxAttribute.String("equation", "nchw->nc"));
        m.Graph.Nodes.Add(node);
        var e = Assert.Throws<ModelFileException>(() => new OnnxInterpreter(m, null, "tiny.onnx"));
        Assert.Contains("Einsum", e.Message);
        Assert.Contains("pool_by_einsum", e.Message);
        Assert.Contains("tiny.onnx", e.Message);

        // As an encoder, ONNX Runtime still encodes it; only the differentiable path refuses, with the same message.
        var dir = TempDir();
        try
        {
            var path = Path.Combine(dir, "einsum.onnx");
            File.WriteAllBytes(path, m.ToBytes());
            using var enc = OnnxEncoder.Load(path, GraphEncoderOptions.Parse("4x4", "0", "1", "rgb", "dlib"));
            Assert.Equal(3, enc.Spec.EmbeddingSize);                    // found by a dry run: the output shape is not declared
            var crops = Tensors.ToImages(RandomImages(2, 4, 4, seed: 8));
            Assert.Equal(3, enc.Encode(crops)[0].Length);
            using var scope = torch.NewDisposeScope();
            var ex = Assert.Throws<ModelFileException>(() => enc.Forward(RandomImages(1, 4, 4, 9).requires_grad_(true)));
            Assert.Contains("pool_by_einsum", ex.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ProtoRoundTripKeepsTheGraph()
    {
        var m = OnnxModel.Load(RandomMobileFaceNet);
        Assert.Equal(13, m.Opset);
        var again = OnnxModel.Parse(m.ToBytes());
        Assert.Equal(m.Graph.Nodes.Select(n => n.OpType + n.Name), again.Graph.Nodes.Select(n => n.OpType + n.Name));
        Assert.Equal(m.Graph.Initializers.Count, again.Graph.Initializers.Count);
        for (int i = 0; i < m.Graph.Initializers.Count; i++)
        {
            Assert.Equal(m.Graph.Initializers[i].Dims, again.Graph.Initializers[i].Dims);
            Assert.Equal(m.Graph.Initializers[i].Raw, again.Graph.Initializers[i].Raw);
        }
        Assert.Equal(m.Graph.Inputs[0].ToString(), again.Graph.Inputs[0].ToString());
        Assert.Throws<ModelFileException>(() => OnnxModel.Load(Path.Combine(FixtureDir, "mobilefacenet-random.json")));
    }

    // ---- single operators against ONNX Runtime ----

    static OnnxTensor W(string name, int seed, params long[] dims)
    {
        var rng = new Random(seed);
        var n = dims.Aggregate(1L, (a, b) => a * b);
        return OnnxTensor.FromFloats(name, Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), dims);
    }

    static OnnxTensor Positive(string name, int seed, params long[] dims)
    {
        var t = W(name, seed, dims);
        var f = t.ToFloats().Select(v => 0.5f + Math.Abs(v)).ToArray();
        return OnnxTensor.FromFloats(name, f, dims);
    }

    static OnnxTensor L(string name, params long[] v) => OnnxTensor.FromInt64s(name, v, v.Length);
    static OnnxTensor S(string name, float v) => OnnxTensor.FromFloats(name, [v]);

    sealed record OpCase(string Op, long Opset, long[] X, string[] NodeInputs, OnnxTensor[] Consts, OnnxAttribute[] Attrs, int Outputs = 1);

    static OpCase C(string op, long opset, long[] x, string[] ins, OnnxTensor[] consts, params OnnxAttribute[] attrs) => new(op, opset, x, ins, consts, attrs);
    static OnnxAttribute Ai(string n, params long[] v) => OnnxAttribute.IntList(n, v);
    static OnnxAttribute A1(string n, long v) => OnnxAttribute.Int(n, v);
    static OnnxAttribute Af(string n, float v) => OnnxAttribute.Float(n, v);
    static OnnxAttribute As(string n, string v) => OnnxAttribute.String(n, v);

    static readonly Dictionary<string, OpCase> Cases = new()
    {
        ["conv_asymmetric_pads"] = C("Conv", 13, [1, 3, 9, 8], ["x", "w", "b"], [W("w", 1, 4, 3, 3, 3), W("b", 2, 4)], Ai("pads", 0, 1, 2, 1), Ai("strides", 2, 1)),
        ["conv_same_upper"] = C("Conv", 13, [1, 3, 9, 9], ["x", "w"], [W("w", 3, 4, 3, 4, 4)], As("auto_pad", "SAME_UPPER"), Ai("strides", 2, 2)),
        ["conv_dilated"] = C("Conv", 13, [1, 3, 9, 9], ["x", "w"], [W("w", 3, 4, 3, 3, 3)], Ai("pads", 2, 1, 2, 1), Ai("dilations", 2, 1)),
        ["conv_same_lower"] = C("Conv", 13, [1, 2, 8, 8], ["x", "w"], [W("w", 4, 2, 2, 2, 2)], As("auto_pad", "SAME_LOWER")),
        ["conv_valid"] = C("Conv", 13, [1, 2, 8, 7], ["x", "w"], [W("w", 4, 2, 2, 3, 3)], As("auto_pad", "VALID"), Ai("strides", 2, 2)),
        ["conv1d_grouped"] = C("Conv", 13, [2, 4, 10], ["x", "w", "b"], [W("w", 5, 4, 2, 3), W("b", 6, 4)], A1("group", 2), Ai("pads", 1, 1)),
        ["conv_depthwise"] = C("Conv", 13, [1, 4, 7, 6], ["x", "w"], [W("w", 7, 4, 1, 3, 3)], A1("group", 4), Ai("pads", 1, 1, 1, 1)),
        ["batchnorm"] = C("BatchNormalization", 15, [2, 3, 5, 5], ["x", "s", "b", "m", "v"], [W("s", 8, 3), W("b", 9, 3), W("m", 10, 3), Positive("v", 11, 3)], Af("epsilon", 1e-3f)),
        ["instancenorm"] = C("InstanceNormalization", 13, [2, 3, 5, 5], ["x", "s", "b"], [W("s", 8, 3), W("b", 9, 3)]),
        ["prelu"] = C("PRelu", 13, [2, 3, 4, 4], ["x", "slope"], [W("slope", 12, 3, 1, 1)]),
        ["prelu_2d"] = C("PRelu", 13, [2, 5], ["x", "slope"], [W("slope", 12, 5)]),
        ["prelu_trailing_broadcast"] = C("PRelu", 13, [2, 3, 4, 5], ["x", "slope"], [W("slope", 12, 5)]),
        ["prelu_scalar"] = C("PRelu", 13, [2, 3, 4, 5], ["x", "slope"], [W("slope", 12, 1)]),
        ["leakyrelu"] = C("LeakyRelu", 13, [2, 3, 4], ["x"], [], Af("alpha", 0.2f)),
        ["relu"] = C("Relu", 13, [2, 3, 4], ["x"], []),
        ["sigmoid"] = C("Sigmoid", 13, [2, 3, 4], ["x"], []),
        ["hardswish"] = C("HardSwish", 14, [2, 3, 4], ["x"], []),
        ["hardsigmoid"] = C("HardSigmoid", 13, [2, 3, 4], ["x"], [], Af("alpha", 0.3f), Af("beta", 0.4f)),
        ["clip_inputs"] = C("Clip", 13, [2, 3, 4], ["x", "lo", "hi"], [S("lo", -50f), S("hi", 70f)]),
        ["clip_max_only"] = C("Clip", 13, [2, 3, 4], ["x", "", "hi"], [S("hi", 10f)]),
        ["clip_attrs_opset6"] = C("Clip", 6, [2, 3, 4], ["x"], [], Af("min", -20f), Af("max", 30f)),
        ["add_broadcast"] = C("Add", 13, [2, 3, 4], ["x", "c"], [W("c", 13, 3, 1)]),
        ["sub"] = C("Sub", 13, [2, 3, 4], ["x", "c"], [W("c", 14, 4)]),
        ["mul"] = C("Mul", 13, [2, 3, 4], ["x", "c"], [W("c", 15, 1, 3, 4)]),
        ["div"] = C("Div", 13, [2, 3, 4], ["x", "c"], [Positive("c", 16, 4)]),
        ["gemm_transB_alpha_beta"] = C("Gemm", 13, [3, 5], ["x", "b", "c"], [W("b", 17, 4, 5), W("c", 18, 4)], A1("transB", 1), Af("alpha", 0.5f), Af("beta", 2f)),
        ["gemm_transA"] = C("Gemm", 13, [5, 3], ["x", "b"], [W("b", 19, 5, 4)], A1("transA", 1)),
        ["matmul"] = C("MatMul", 13, [2, 3, 5], ["x", "b"], [W("b", 20, 5, 4)]),
        ["flatten_axis2"] = C("Flatten", 13, [2, 3, 4, 5], ["x"], [], A1("axis", 2)),
        ["reshape_zero_minus_one"] = C("Reshape", 13, [2, 3, 4], ["x", "s"], [L("s", 0, -1)]),
        ["transpose"] = C("Transpose", 13, [2, 3, 4, 5], ["x"], [], Ai("perm", 0, 2, 3, 1)),
        ["concat"] = C("Concat", 13, [2, 3, 4], ["x", "c"], [W("c", 21, 2, 2, 4)], A1("axis", -2)),
        ["global_average_pool"] = C("GlobalAveragePool", 13, [2, 3, 5, 6], ["x"], []),
        ["global_max_pool"] = C("GlobalMaxPool", 13, [2, 3, 5, 6], ["x"], []),
        ["avgpool_pads_excluded"] = C("AveragePool", 13, [1, 2, 7, 7], ["x"], [], Ai("kernel_shape", 3, 3), Ai("strides", 2, 2), Ai("pads", 1, 1, 1, 1)),
        ["avgpool_pads_included"] = C("AveragePool", 13, [1, 2, 7, 7], ["x"], [], Ai("kernel_shape", 3, 3), Ai("strides", 2, 2), Ai("pads", 1, 1, 1, 1), A1("count_include_pad", 1)),
        ["avgpool_asymmetric_pads"] = C("AveragePool", 13, [1, 2, 7, 6], ["x"], [], Ai("kernel_shape", 3, 2), Ai("pads", 0, 1, 2, 0)),
        ["avgpool_ceil"] = C("AveragePool", 13, [1, 2, 8, 8], ["x"], [], Ai("kernel_shape", 3, 3), Ai("strides", 2, 2), A1("ceil_mode", 1)),
        ["maxpool_ceil"] = C("MaxPool", 13, [1, 2, 8, 8], ["x"], [], Ai("kernel_shape", 3, 3), Ai("strides", 2, 2), A1("ceil_mode", 1)),
        ["maxpool_pads"] = C("MaxPool", 13, [1, 2, 7, 7], ["x"], [], Ai("kernel_shape", 3, 3), Ai("strides", 2, 2), Ai("pads", 1, 1, 1, 1)),
        ["maxpool_same_upper"] = C("MaxPool", 13, [1, 2, 7, 7], ["x"], [], Ai("kernel_shape", 2, 2), Ai("strides", 2, 2), As("auto_pad", "SAME_UPPER")),
        ["maxpool_asymmetric"] = C("MaxPool", 13, [1, 2, 7, 7], ["x"], [], Ai("kernel_shape", 3, 3), Ai("pads", 0, 0, 2, 1)),
        ["pad_constant"] = C("Pad", 13, [1, 2, 4, 5], ["x", "p", "v"], [L("p", 0, 0, 1, 2, 0, 0, 2, 1), S("v", 0.5f)]),
        ["pad_reflect"] = C("Pad", 13, [1, 2, 4, 5], ["x", "p"], [L("p", 0, 0, 1, 2, 0, 0, 2, 1)], As("mode", "reflect")),
        ["pad_edge"] = C("Pad", 13, [1, 2, 4, 5], ["x", "p"], [L("p", 0, 0, 1, 2, 0, 0, 2, 1)], As("mode", "edge")),
        ["pad_attrs_opset2"] = C("Pad", 2, [1, 2, 4, 5], ["x"], [], Ai("pads", 0, 0, 1, 0, 0, 0, 0, 2), Af("value", -1f)),
        ["softmax_opset11"] = C("Softmax", 11, [2, 3, 4], ["x"], [], A1("axis", 1)),
        ["softmax_opset13"] = C("Softmax", 13, [2, 3, 4], ["x"], [], A1("axis", 1)),
        ["logsoftmax"] = C("LogSoftmax", 13, [2, 3, 4], ["x"], []),
        ["reducemean"] = C("ReduceMean", 13, [2, 3, 4, 5], ["x"], [], Ai("axes", 2, 3), A1("keepdims", 0)),
        ["reducemean_opset18"] = C("ReduceMean", 18, [2, 3, 4, 5], ["x", "a"], [L("a", -1)]),
        ["reducesum"] = C("ReduceSum", 13, [2, 3, 4], ["x", "a"], [L("a", 1)]),
        ["reducel2"] = C("ReduceL2", 13, [2, 3, 4], ["x"], [], Ai("axes", 1)),
        ["lpnormalization"] = C("LpNormalization", 13, [2, 8], ["x"], []),
        ["resize_nearest_asymmetric_floor"] = C("Resize", 11, [1, 2, 3, 4], ["x", "roi", "s"], [OnnxTensor.FromFloats("roi", [], 0), OnnxTensor.FromFloats("s", [1, 1, 2, 2], 4)],
            As("mode", "nearest"), As("coordinate_transformation_mode", "asymmetric"), As("nearest_mode", "floor")),
        ["resize_nearest_half_pixel_down"] = C("Resize", 13, [1, 2, 7, 9], ["x", "", "", "z"], [L("z", 1, 2, 5, 4)]),
        ["resize_nearest_round_prefer_ceil"] = C("Resize", 13, [1, 2, 4, 5], ["x", "", "", "z"], [L("z", 1, 2, 7, 9)], As("nearest_mode", "round_prefer_ceil")),
        ["resize_linear_half_pixel"] = C("Resize", 13, [1, 2, 4, 5], ["x", "", "s"], [OnnxTensor.FromFloats("s", [1, 1, 1.5f, 2], 4)], As("mode", "linear")),
        ["resize_linear_align_corners"] = C("Resize", 13, [1, 2, 4, 5], ["x", "", "", "z"], [L("z", 1, 2, 7, 3)], As("mode", "linear"), As("coordinate_transformation_mode", "align_corners")),
        ["resize_linear_pytorch_half_pixel"] = C("Resize", 13, [1, 2, 8, 6], ["x", "", "", "z"], [L("z", 1, 2, 3, 1)], As("mode", "linear"), As("coordinate_transformation_mode", "pytorch_half_pixel")),
        ["upsample_nearest_opset9"] = C("Upsample", 9, [1, 2, 3, 4], ["x", "s"], [OnnxTensor.FromFloats("s", [1, 1, 2, 3], 4)]),
        ["slice_negative_step"] = C("Slice", 13, [2, 3, 4, 6], ["x", "st", "en", "ax", "sp"], [L("st", -1, 1), L("en", -100, 100), L("ax", 3, 1), L("sp", -2, 1)]),
        ["slice_clamped"] = C("Slice", 13, [2, 3, 4, 6], ["x", "st", "en"], [L("st", 0, 1, -3), L("en", 1, 100, -1)]),
        ["gather_negative"] = C("Gather", 13, [2, 5, 3], ["x", "i"], [L("i", 2, 0, -1)], A1("axis", 1)),
        ["split_two"] = new("Split", 13, [2, 5, 3], ["x", "sp"], [L("sp", 2, 3)], [A1("axis", 1)], Outputs: 2),
        ["unsqueeze_squeeze_opset11"] = C("Unsqueeze", 11, [2, 3], ["x"], [], Ai("axes", 0, -1)),
        ["tile"] = C("Tile", 13, [2, 3], ["x", "r"], [L("r", 2, 1)]),
        ["expand"] = C("Expand", 13, [3, 1], ["x", "s"], [L("s", 2, 3, 4)]),
        ["max_variadic"] = C("Max", 13, [2, 3], ["x", "c", "d"], [W("c", 22, 3), W("d", 23, 2, 1)]),
        ["softplus"] = C("Softplus", 13, [2, 3], ["x"], []),
        ["tanh"] = C("Tanh", 13, [2, 3], ["x"], []),
    };

    public static IEnumerable<object[]> CaseNames() => Cases.Keys.Select(k => new object[] { k });

    static OnnxModel Build(OpCase c)
    {
        var m = new OnnxModel { IrVersion = 8 };
        m.Opsets[""] = c.Opset;
        m.Graph.Inputs.Add(OnnxValueInfo.Tensor("x", OnnxDataType.Float, c.X));
        m.Graph.Initializers.AddRange(c.Consts);
        var node = new OnnxNode { Name = "op_under_test", OpType = c.Op };
        node.Inputs.AddRange(c.NodeInputs);
        node.Attributes.AddRange(c.Attrs);
        for (int i = 0; i < c.Outputs; i++)
        {
            node.Outputs.Add($"y{i}");
            m.Graph.Outputs.Add(new OnnxValueInfo { Name = $"y{i}", ElemType = OnnxDataType.Float });
        }
        m.Graph.Nodes.Add(node);
        return m;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void SingleOperatorAgreesWithRuntime(string name)
    {
        var c = Cases[name];
        var m = Build(c);
        using var scope = torch.NewDisposeScope();
        var x = Randn(c.X, seed: name.Length * 7919 + name[^1]).Times(3);
        var data = Flat(x);
        using var session = new InferenceSession(m.ToBytes());
        using var value = OrtValue.CreateTensorValueFromMemory(data, c.X);
        using var ro = new RunOptions();
        var outNames = Enumerable.Range(0, c.Outputs).Select(i => $"y{i}").ToArray();
        using var outs = session.Run(ro, ["x"], [value], outNames);
        using var interp = new OnnxInterpreter(m, null, name);
        var xg = x.clone().requires_grad_(true);
        var mine = interp.Run(new Dictionary<string, Tensor> { ["x"] = xg });
        for (int i = 0; i < c.Outputs; i++)
        {
            var shape = outs[i].GetTensorTypeAndShape().Shape;
            Assert.Equal(shape, mine[outNames[i]].shape);
            double d = MaxDiff(outs[i].GetTensorDataAsSpan<float>().ToArray(), Flat(mine[outNames[i]]));
            Assert.True(d <= Tolerance, $"{name} output {i}: max difference {d:E2}");
        }
        // Every one of these operators passes gradients to its float input.
        mine[outNames[0]].sum().backward();
        Assert.NotNull(xg.grad);
    }
}
