using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd.Core;
using Dfd.Imaging;
using Dfd.IO;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Encoders;

/// <summary>Which engine computes an <see cref="OnnxEncoder"/>'s templates.</summary>
public enum OnnxBackend
{
    /// <summary>ONNX Runtime where no gradient can be wanted (<c>torch.is_grad_enabled()</c> is false, as inside
    /// <see cref="EncoderExtensions.Encode"/>), the differentiable interpreter otherwise.</summary>
    Auto,
    /// <summary>Always ONNX Runtime (CPU): fast, values only, no gradients.</summary>
    Runtime,
    /// <summary>Always <see cref="OnnxInterpreter"/> (TorchSharp, on the encoder's device): differentiable.</summary>
    Interpreter,
}

/// <summary>
/// What a graph face model (ONNX or tfjs) needs beyond its graph: crop size, pixel normalisation, channel order,
/// alignment template.
/// Comes from <c>--input-size WxH --mean r,g,b --std r,g,b --channels rgb|bgr --template arcface|sphereface|dlib</c>
/// and/or a JSON sidecar next to the model (<c>model.json</c>, or <c>model.onnx.json</c>) with the fields
/// <c>input_size</c> ("WxH" or [W, H]), <c>mean</c>, <c>std</c> ([r, g, b], 0..255 units, or one number for all three),
/// <c>channels</c>, <c>template</c>, and optionally <c>output</c> (the embedding output's name where there are several),
/// <c>name</c>, <c>description</c>, <c>source</c>, <c>licence</c>, <c>published_lfw</c>. Options override the sidecar.
/// Mean and std are always given in R, G, B order, whatever order the model takes its channels in.
/// </summary>
public sealed record GraphEncoderOptions
{
    public int? InputWidth { get; init; }
    public int? InputHeight { get; init; }
    /// <summary>R, G, B (0..255 units).</summary>
    public float[]? Mean { get; init; }
    /// <summary>R, G, B (0..255 units).</summary>
    public float[]? Std { get; init; }
    public ChannelOrder? Channels { get; init; }
    /// <summary>arcface, sphereface or dlib.</summary>
    public string? Template { get; init; }
    public string? Output { get; init; }
    public string? Name { get; init; }
    public string? Description { get; init; }
    public string? Source { get; init; }
    public string? Licence { get; init; }
    public string? PublishedLfw { get; init; }

    public static readonly string[] Templates = ["arcface", "sphereface", "dlib"];

    /// <summary>These options with every unset field taken from <paramref name="under"/>.</summary>
    public GraphEncoderOptions Over(GraphEncoderOptions? under) => under == null ? this : new()
    {
        InputWidth = InputWidth ?? under.InputWidth, InputHeight = InputHeight ?? under.InputHeight,
        Mean = Mean ?? under.Mean, Std = Std ?? under.Std, Channels = Channels ?? under.Channels, Template = Template ?? under.Template,
        Output = Output ?? under.Output, Name = Name ?? under.Name, Description = Description ?? under.Description,
        Source = Source ?? under.Source, Licence = Licence ?? under.Licence, PublishedLfw = PublishedLfw ?? under.PublishedLfw,
    };

    /// <summary>From command-line values (null: not given). Throws <see cref="FormatException"/> naming the option.</summary>
    public static GraphEncoderOptions Parse(string? inputSize, string? mean, string? std, string? channels, string? template)
    {
        (int W, int H)? size = inputSize == null ? null : ParseSize(inputSize, "--input-size");
        return new()
        {
            InputWidth = size?.W, InputHeight = size?.H,
            Mean = mean == null ? null : ParseTriple(mean, "--mean", positive: false),
            Std = std == null ? null : ParseTriple(std, "--std", positive: true),
            Channels = channels == null ? null : ParseChannels(channels, "--channels"),
            Template = template == null ? null : ParseTemplate(template, "--template"),
        };
    }

    /// <summary>Reads a sidecar; a wrong or unknown field is a <see cref="ModelFileException"/> naming it.</summary>
    public static GraphEncoderOptions FromJson(string path)
    {
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFileException(path, "sidecar must hold a JSON object"); }
        catch (JsonException e) { throw new ModelFileException(path, $"sidecar is not valid JSON: {e.Message}"); }
        var r = new GraphEncoderOptions();
        try
        {
            foreach (var (key, value) in o)
            {
                string F(string field) => $"\"{field}\" in {Path.GetFileName(path)}";
                string Text() => value is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException($"{F(key)} must be a string");
                switch (key)
                {
                    case "input_size":
                        if (value is JsonArray a && a.Count == 2) r = r with { InputWidth = (int)Num(a[0], F(key)), InputHeight = (int)Num(a[1], F(key)) };
                        else { var (w, h) = ParseSize(Text(), F(key)); r = r with { InputWidth = w, InputHeight = h }; }
                        break;
                    case "mean": r = r with { Mean = Triple(value, F(key), false) }; break;
                    case "std": r = r with { Std = Triple(value, F(key), true) }; break;
                    case "channels": r = r with { Channels = ParseChannels(Text(), F(key)) }; break;
                    case "template": r = r with { Template = ParseTemplate(Text(), F(key)) }; break;
                    case "output": r = r with { Output = Text() }; break;
                    case "name": r = r with { Name = Text() }; break;
                    case "description": r = r with { Description = Text() }; break;
                    case "source": r = r with { Source = Text() }; break;
                    case "licence" or "license": r = r with { Licence = Text() }; break;
                    case "published_lfw": r = r with { PublishedLfw = Text() }; break;
                    default:
                        throw new FormatException($"unknown field \"{key}\" (known: input_size, mean, std, channels, template, output, name, description, source, licence, published_lfw)");
                }
            }
        }
        catch (FormatException e) { throw new ModelFileException(path, e.Message); }
        return r;
    }

    static double Num(JsonNode? n, string where) =>
        n is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw new FormatException($"{where}: expected a number, got {n?.ToJsonString() ?? "null"}");

    static float[] Triple(JsonNode? n, string where, bool positive) => n switch
    {
        JsonArray a => Check(a.Select(x => (float)Num(x, where)).ToArray(), where, positive),
        JsonValue v when v.TryGetValue<string>(out var s) => ParseTriple(s, where, positive),
        _ => Check([(float)Num(n, where)], where, positive),
    };

    static (int W, int H) ParseSize(string s, string where)
    {
        var parts = s.Split('x', 'X', ',');
        if (parts.Length == 2 && int.TryParse(parts[0].Trim(), out var w) && int.TryParse(parts[1].Trim(), out var h) && w > 0 && h > 0)
            return (w, h);
        throw new FormatException($"{where} expects WIDTHxHEIGHT like 112x112 or 96x112, got '{s}'");
    }

    static float[] ParseTriple(string s, string where, bool positive)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var v = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]))
                throw new FormatException($"{where} expects r,g,b numbers (0..255 units) or one number for all, got '{s}'");
        return Check(v, where, positive);
    }

    static float[] Check(float[] v, string where, bool positive)
    {
        if (v.Length == 1) v = [v[0], v[0], v[0]];
        if (v.Length != 3) throw new FormatException($"{where} expects 3 values (r,g,b) or one, got {v.Length}");
        if (v.Any(x => !float.IsFinite(x) || positive && x <= 0))
            throw new FormatException($"{where} must be finite{(positive ? " and positive" : "")}, got {string.Join(",", v)}");
        return v;
    }

    static ChannelOrder ParseChannels(string s, string where) => s.ToLowerInvariant() switch
    {
        "rgb" => ChannelOrder.RGB,
        "bgr" => ChannelOrder.BGR,
        _ => throw new FormatException($"{where} expects rgb or bgr, got '{s}'"),
    };

    static string ParseTemplate(string s, string where) =>
        Templates.FirstOrDefault(t => t.Equals(s, StringComparison.OrdinalIgnoreCase))
        ?? throw new FormatException($"{where} expects one of {string.Join(", ", Templates)}, got '{s}'");
}

/// <summary>
/// Any single-input ONNX face model as an encoder (<c>--model onnx:PATH.onnx</c>). Two engines compute it:
/// <list type="bullet">
/// <item><b>ONNX Runtime</b> (CPU) — <see cref="ForwardWithRuntime"/>, <see cref="EncodeWithRuntime"/>: values only.</item>
/// <item><b><see cref="OnnxInterpreter"/></b> (TorchSharp, on <see cref="Device"/>) — <see cref="ForwardWithInterpreter"/>:
/// differentiable; built on first use, so models with operators it lacks still encode through ONNX Runtime.</item>
/// </list>
/// <see cref="Forward"/> picks by <see cref="Backend"/>; under the default <see cref="OnnxBackend.Auto"/> it runs ONNX
/// Runtime when gradients are disabled — which is how <see cref="EncoderExtensions.Encode"/> calls it — and the
/// interpreter when they are enabled, so reconstruction losses get gradients. The two agree to about 1e-5 (the tests
/// require ≤ 1e-4). Input is RGB 0..255 [N,3,H,W]; channel reordering and normalisation happen inside, as in every
/// encoder. A fixed batch dimension in the model is honoured by running chunks of that size (the last one padded).
/// </summary>
public sealed class OnnxEncoder : IEncoder
{
    public const string Prefix = "onnx:";

    readonly InferenceSession session;
    readonly RunOptions runOptions = new();
    readonly string inputName, outputName;
    readonly object gate = new();
    OnnxInterpreter? interpreter;
    bool disposed;

    public EncoderSpec Spec { get; }
    public Device Device { get; private set; }
    public string ModelPath { get; }
    /// <summary>The sidecar that was read, or null.</summary>
    public string? SidecarPath { get; }
    /// <summary>The model's batch size where its input fixes one; null where the batch dimension is dynamic.</summary>
    public int? FixedBatch { get; }
    public OnnxBackend Backend { get; set; } = OnnxBackend.Auto;

    public static bool IsOnnxName(string name) => name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Where a model's sidecar would be: <c>x.json</c> beside <c>x.onnx</c> if present, else <c>x.onnx.json</c> if present, else null.</summary>
    public static string? FindSidecar(string modelPath) =>
        new[] { Path.ChangeExtension(modelPath, ".json"), modelPath + ".json" }.FirstOrDefault(File.Exists);

    /// <summary>Builds an encoder from <c>onnx:PATH</c> (or a bare path) with <paramref name="options"/> over the sidecar's fields.</summary>
    public static OnnxEncoder FromName(string name, GraphEncoderOptions? options = null, Device? device = null) =>
        Load(IsOnnxName(name) ? name[Prefix.Length..] : name, options, device);

    public static OnnxEncoder Load(string path, GraphEncoderOptions? options = null, Device? device = null) => new(path, options, device);

    OnnxEncoder(string path, GraphEncoderOptions? options, Device? device)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new EncoderNotAvailableException("--model onnx:PATH needs a path to an .onnx file");
        ModelPath = Path.GetFullPath(path);
        if (!File.Exists(ModelPath)) throw new ModelFileException(path, "file not found");
        SidecarPath = FindSidecar(ModelPath);
        var opts = (options ?? new()).Over(SidecarPath == null ? null : GraphEncoderOptions.FromJson(SidecarPath));
        Device = device ?? torch.CPU;

        try { session = new InferenceSession(ModelPath); }
        catch (OnnxRuntimeException e) { throw new ModelFileException(path, $"ONNX Runtime cannot load it: {e.Message}"); }
        try
        {
            if (session.InputMetadata.Count != 1)
                throw new ModelFileException(path, $"an encoder takes one input; this model has {session.InputMetadata.Count} ({string.Join(", ", session.InputMetadata.Keys)})");
            var (iname, imeta) = session.InputMetadata.First();
            inputName = iname;
            var dims = imeta.Dimensions;
            if (imeta.ElementType != typeof(float))
                throw new ModelFileException(path, $"input '{iname}' is {imeta.ElementType.Name}; only float32 inputs are supported");
            if (dims.Length != 4 || (dims[1] > 0 && dims[1] != 3))
                throw new ModelFileException(path, $"input '{iname}' has shape [{string.Join(",", dims)}]; an encoder takes [N,3,H,W] images");
            FixedBatch = dims[0] > 0 ? dims[0] : null;

            outputName = opts.Output ?? session.OutputMetadata.Keys.First();
            if (!session.OutputMetadata.TryGetValue(outputName, out var ometa))
                throw new ModelFileException(path, $"no output named '{outputName}' (outputs: {string.Join(", ", session.OutputMetadata.Keys)})");
            if (ometa.ElementType != typeof(float))
                throw new ModelFileException(path, $"output '{outputName}' is {ometa.ElementType.Name}; only float32 outputs are supported");

            // Input size: the model's own where it is fixed; an option or sidecar value must then agree.
            int? modelW = dims[3] > 0 ? dims[3] : null, modelH = dims[2] > 0 ? dims[2] : null;
            if (opts.InputWidth != null && modelW != null && (opts.InputWidth != modelW || opts.InputHeight != modelH))
                throw new ModelFileException(path, $"the model takes {modelW}x{modelH} inputs, but {opts.InputWidth}x{opts.InputHeight} was given");
            int? w = opts.InputWidth ?? modelW, h = opts.InputHeight ?? modelH;

            var sidecarName = Path.GetFileName(Path.ChangeExtension(ModelPath, ".json"));
            var missing = new List<string>();
            if (w == null || h == null) missing.Add($"the input size (the model's is [{string.Join(",", dims)}]): --input-size WxH or \"input_size\": \"WxH\"");
            if (opts.Mean == null) missing.Add("the pixel mean: --mean r,g,b (0..255 units) or \"mean\": [r, g, b]");
            if (opts.Std == null) missing.Add("the pixel std: --std r,g,b (0..255 units) or \"std\": [r, g, b]");
            if (opts.Channels == null) missing.Add("the channel order: --channels rgb|bgr or \"channels\": \"rgb\"");
            if (opts.Template == null) missing.Add($"the alignment template: --template {string.Join("|", GraphEncoderOptions.Templates)} or \"template\": \"arcface\"");
            if (missing.Count > 0)
                throw new EncoderNotAvailableException($"{path}: cannot use this ONNX model without {string.Join("; ", missing)} " +
                    $"(options on the command line, fields in a JSON sidecar {sidecarName} next to the model{(SidecarPath != null ? $"; read {SidecarPath}" : "; none found")})");

            var template = MakeTemplate(opts.Template!, w!.Value, h!.Value, path);
            var channels = opts.Channels!.Value;
            // EncoderSpec keeps mean/std in the model's channel order.
            float[] Order(float[] rgb) => channels == ChannelOrder.BGR ? [rgb[2], rgb[1], rgb[0]] : rgb;
            int dim = EmbeddingSize(ometa.Dimensions, w.Value, h.Value);

            var stem = opts.Name ?? Path.GetFileNameWithoutExtension(ModelPath);
            var key = string.Join("|", w, h, string.Join(",", opts.Mean!.Select(F)), string.Join(",", opts.Std!.Select(F)), channels, opts.Template, outputName);
            var hash = FileId.OfText(key, 8);
            Spec = new EncoderSpec(
                Name: $"{Prefix}{stem}@{hash}",
                Description: opts.Description ?? $"ONNX model {Path.GetFileName(ModelPath)}: {w}x{h} {channels}, mean [{string.Join(", ", opts.Mean!.Select(F))}], " +
                    $"std [{string.Join(", ", opts.Std!.Select(F))}] (r,g,b), {opts.Template} template, {dim}-D",
                InputWidth: w.Value, InputHeight: h.Value,
                Channels: channels,
                Mean: Order(opts.Mean!), Std: Order(opts.Std!),
                Template: template,
                EmbeddingSize: dim,
                WeightsFile: ModelPath,
                Source: opts.Source ?? ModelPath,
                Licence: opts.Licence ?? "unknown (see the model's source)",
                PublishedLfw: opts.PublishedLfw ?? "unknown");
        }
        catch
        {
            session.Dispose();
            runOptions.Dispose();
            throw;
        }
    }

    static string F(float v) => v.ToString("G9", CultureInfo.InvariantCulture);

    /// <summary>The named template for a w×h crop; a size it cannot make is a <see cref="ModelFileException"/> on <paramref name="path"/>.</summary>
    internal static AlignmentTemplate MakeTemplate(string name, int w, int h, string path)
    {
        switch (name)
        {
            case "sphereface":
                if (w != 96 || h != 112) throw new ModelFileException(path, $"the sphereface template makes 96x112 crops; the model takes {w}x{h}");
                return AlignmentTemplate.SphereFace();
            case "arcface":
                if (w != h) throw new ModelFileException(path, $"the arcface template makes square crops; the model takes {w}x{h}");
                return AlignmentTemplate.ArcFace(w);
            case "dlib":
                if (w != h) throw new ModelFileException(path, $"the dlib template makes square crops; the model takes {w}x{h}");
                return AlignmentTemplate.Dlib(w);
            default: throw new ModelFileException(path, $"unknown template '{name}'");
        }
    }

    /// <summary>The template length: from the output shape where it is static, else from one run on a black image.</summary>
    int EmbeddingSize(int[] outDims, int w, int h)
    {
        if (outDims.Length >= 2 && outDims.Skip(1).All(d => d > 0)) return outDims.Skip(1).Aggregate(1, (a, b) => a * b);
        RunSession(new float[3 * w * h], 1, w, h, out var dim);
        return dim;
    }

    // ---- forward paths ----

    /// <summary>Templates [N,D]: ONNX Runtime or the interpreter, as <see cref="Backend"/> says (see the class summary).</summary>
    public Tensor Forward(Tensor rgb255)
    {
        bool runtime = Backend switch
        {
            OnnxBackend.Runtime => true,
            OnnxBackend.Interpreter => false,
            _ => !torch.is_grad_enabled(),
        };
        return runtime ? ForwardWithRuntime(rgb255) : ForwardWithInterpreter(rgb255);
    }

    /// <summary>The differentiable path: <see cref="OnnxInterpreter"/> on <see cref="Device"/>.</summary>
    public Tensor ForwardWithInterpreter(Tensor rgb255)
    {
        var interp = Interpreter;
        using var scope = torch.NewDisposeScope();
        var x = Spec.Normalise(rgb255.device == Device ? rgb255 : rgb255.to(Device));
        long n = x.shape[0];
        Tensor y;
        if (FixedBatch is int b && n != b)
        {
            var parts = new List<Tensor>();
            for (long i = 0; i < n; i += b)
            {
                long m = Math.Min(b, n - i);
                var chunk = x.narrow(0, i, m);
                if (m < b) chunk = torch.cat([chunk, torch.zeros([b - m, .. chunk.shape.Skip(1)], chunk.dtype, chunk.device)], 0);
                parts.Add(interp.Forward(chunk).narrow(0, 0, m));
            }
            y = torch.cat(parts, 0);
        }
        else y = interp.Forward(x);
        return y.reshape(n, -1).MoveToOuterDisposeScope();
    }

    /// <summary>The fast path: ONNX Runtime on the CPU, no gradients; the result lands on the input's device.</summary>
    public Tensor ForwardWithRuntime(Tensor rgb255)
    {
        if (torch.is_grad_enabled() && rgb255.requires_grad)
            throw new InvalidOperationException("ONNX Runtime computes no gradients; use ForwardWithInterpreter (or Backend = Auto/Interpreter) when the input requires grad");
        float[] input;
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
            input = Spec.Normalise(rgb255.detach().cpu()).contiguous().data<float>().ToArray();
        int n = (int)rgb255.shape[0];
        var output = RunSession(input, n, Spec.InputWidth, Spec.InputHeight, out int dim);
        var t = torch.tensor(output, [n, dim]);
        return rgb255.device.type == DeviceType.CPU ? t : t.to(rgb255.device);
    }

    /// <summary>Templates of aligned crops through ONNX Runtime, as <see cref="EncoderExtensions.Encode"/> (optionally mirror-averaged).</summary>
    public float[][] EncodeWithRuntime(IReadOnlyList<RgbImage> crops, bool flipAverage = false, int batch = 32) =>
        EncodeWith(ForwardWithRuntime, crops, flipAverage, batch);

    /// <summary>Templates of aligned crops through the interpreter, without gradients (for comparisons).</summary>
    public float[][] EncodeWithInterpreter(IReadOnlyList<RgbImage> crops, bool flipAverage = false, int batch = 32)
    {
        using var _ = torch.no_grad();
        return EncodeWith(ForwardWithInterpreter, crops, flipAverage, batch);
    }

    float[][] EncodeWith(Func<Tensor, Tensor> forward, IReadOnlyList<RgbImage> crops, bool flipAverage, int batch)
    {
        var result = new float[crops.Count][];
        using var _ = torch.no_grad();
        for (int i = 0; i < crops.Count; i += batch)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(batch, crops.Count - i);
            var x = Tensors.FromImages(crops.Skip(i).Take(n).ToList(), Spec.InputWidth, Spec.InputHeight);
            var t = forward(x);
            if (flipAverage) t = t.Plus(forward(x.flip(3))).Over(2);
            var flat = t.cpu().contiguous().data<float>().ToArray();
            int d = (int)t.shape[1];
            for (int k = 0; k < n; k++) result[i + k] = flat.AsSpan(k * d, d).ToArray();
        }
        return result;
    }

    /// <summary>Runs ONNX Runtime on normalised NCHW data, in chunks of the fixed batch where the model has one.</summary>
    float[] RunSession(float[] input, int n, int w, int h, out int dim)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (n == 0) { dim = Spec.EmbeddingSize; return []; }
        int plane = 3 * w * h;
        int chunk = FixedBatch ?? Math.Max(1, n);
        float[]? result = null;
        dim = 0;
        for (int i = 0; i < n; i += chunk)
        {
            int m = Math.Min(chunk, n - i);
            int rows = FixedBatch ?? m;
            var buf = new float[rows * plane];
            Array.Copy(input, (long)i * plane, buf, 0, (long)m * plane);
            using var value = OrtValue.CreateTensorValueFromMemory(buf, [rows, 3, h, w]);
            using var outs = session.Run(runOptions, [inputName], [value], [outputName]);
            var o = outs[0];
            var shape = o.GetTensorTypeAndShape().Shape;
            if (shape.Length < 1 || shape[0] != rows)
                throw new ModelFileException(ModelPath, $"output '{outputName}' has shape [{string.Join(",", shape)}] for a batch of {rows}");
            dim = (int)shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            result ??= new float[(long)n * dim];
            o.GetTensorDataAsSpan<float>()[..(m * dim)].CopyTo(result.AsSpan(i * dim));
        }
        return result!;
    }

    /// <summary>The interpreter (built on first use, on <see cref="Device"/>); refuses models with operators it lacks.</summary>
    public OnnxInterpreter Interpreter
    {
        get
        {
            lock (gate)
            {
                ObjectDisposedException.ThrowIf(disposed, this);
                return interpreter ??= new OnnxInterpreter(OnnxModel.Load(ModelPath), Device, ModelPath);
            }
        }
    }

    /// <summary>Moves the interpreter's tensors; ONNX Runtime always runs on the CPU.</summary>
    public OnnxEncoder To(Device device)
    {
        lock (gate)
        {
            interpreter?.To(device);
            Device = device;
        }
        return this;
    }


    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            interpreter?.Dispose();
            session.Dispose();
            runOptions.Dispose();
        }
    }
}
