using System.Collections.Concurrent;
using Dfd.Core;
using Dfd.IO;
using TorchSharp;

namespace Dfd.Encoders;

public sealed class EncoderNotAvailableException(string message) : DfdException(message);

/// <summary>
/// Every encoder Dfd knows, by name, with its pretrained config; <see cref="Create"/> loads the weights. Besides the
/// built-in names, <c>onnx:PATH.onnx</c> makes an <see cref="OnnxEncoder"/> and <c>tfjs:PATH.json</c> a <see cref="TfjsEncoder"/>;
/// the spec of each one created is remembered under its <see cref="EncoderSpec.Name"/> (<c>onnx:STEM@HASH</c>,
/// <c>tfjs:STEM@HASH</c>), so <see cref="Spec"/> and <see cref="WeightsPath"/> answer for it.
/// </summary>
public static class Registry
{
    /// <param name="Find">Where the weights are when no path is given (default: <see cref="ModelPaths.Find"/> of the spec's file).</param>
    /// <param name="Looked">Where <paramref name="Find"/> looks, for the not-found message.</param>
    sealed record Entry(EncoderSpec Spec, Func<string, torch.Device?, IEncoder> Load, Func<string?>? Find = null, Func<string>? Looked = null);

    static readonly Dictionary<string, Entry> entries = new(StringComparer.OrdinalIgnoreCase)
    {
        [DlibResNet.Spec.Name] = new(DlibResNet.Spec, (p, d) => DlibResNet.Load(p, d)),
        [MobileFaceNet.Spec.Name] = new(MobileFaceNet.Spec, (p, d) => MobileFaceNet.Load(p, d), MobileFaceNet.FindWeights, MobileFaceNet.WhereLooked),
        [HseFaceRes.Spec.Name] = new(HseFaceRes.Spec, (p, d) => HseFaceRes.Load(p, d), HseFaceRes.FindWeights, HseFaceRes.WhereLooked),
        // The paper's two backbones: their public weights are not on this machine; --weights PATH or models/ supplies them.
        [VggFace.Spec.Name] = new(VggFace.Spec, (p, d) => VggFace.Load(p, d)),
        [ResNet50Face.Spec.Name] = new(ResNet50Face.Spec, (p, d) => ResNet50Face.Load(p, d)),
    };

    public static IReadOnlyList<EncoderSpec> All => entries.Values.Select(e => e.Spec).ToList();

    static readonly ConcurrentDictionary<string, EncoderSpec> onnxSpecs = new(StringComparer.OrdinalIgnoreCase);

    public static EncoderSpec Spec(string name)
    {
        if (entries.TryGetValue(name, out var e)) return e.Spec;
        if (onnxSpecs.TryGetValue(name, out var s)) return s;
        if (OnnxEncoder.IsOnnxName(name))
        {
            // onnx:PATH not created yet: its spec from the model and its sidecar (a session is opened and closed).
            using var enc = OnnxEncoder.FromName(name);
            return onnxSpecs[enc.Spec.Name] = enc.Spec;
        }
        if (TfjsEncoder.IsTfjsName(name))
        {
            using var enc = TfjsEncoder.FromName(name);
            return onnxSpecs[enc.Spec.Name] = enc.Spec;
        }
        throw new EncoderNotAvailableException($"unknown encoder '{name}'; known: {string.Join(", ", entries.Keys)}, or onnx:PATH.onnx, or tfjs:PATH.json");
    }

    /// <summary>Where the weights are, or null: the explicit path, else the entry's own finder or the models folder.</summary>
    public static string? WeightsPath(string name, string? weights = null)
    {
        var spec = Spec(name);
        if (!entries.TryGetValue(name, out var e)) return weights ?? spec.WeightsFile;   // onnx:/tfjs: the model file itself
        return weights ?? (e.Find != null ? e.Find() : ModelPaths.Find(spec.WeightsFile));
    }

    /// <summary>
    /// The content id of an encoder's weights, which keys every cache of its templates: the weights file's
    /// <see cref="IO.FileId"/>, and for a tfjs graph model its JSON together with every weight shard it names.
    /// </summary>
    public static string WeightsId(string name, string? weights = null) => WeightsFileId(WeightsPath(name, weights));

    /// <summary><see cref="WeightsId"/> of a weights file: a tfjs model JSON counts with its shards.</summary>
    public static string WeightsFileId(string? path)
    {
        if (path == null || !File.Exists(path)) return "";
        if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return IO.FileId.Of(path);
        var shards = TfjsModel.Shards(path);
        return shards.Count == 0 ? IO.FileId.Of(path)
            : IO.FileId.OfText(string.Join("|", shards.Prepend(path).Select(IO.FileId.Of)));
    }

    /// <summary>How a user supplies missing weights, naming every place Dfd looks.</summary>
    public static string HowToSupply(string name)
    {
        var spec = Spec(name);
        var looked = entries.TryGetValue(name, out var e) && e.Looked != null ? e.Looked() : $"{spec.WeightsFile} under $DFD_MODELS or a models/ folder";
        return $"--weights PATH (looked for {looked})";
    }

    /// <summary>
    /// Loads an encoder. For <c>onnx:PATH</c> and <c>tfjs:PATH</c>, <paramref name="onnx"/> supplies preprocessing over the
    /// model's sidecar (see <see cref="GraphEncoderOptions"/>) and <paramref name="weights"/> must be null (the model names its weights).
    /// </summary>
    public static IEncoder Create(string name, string? weights = null, torch.Device? device = null, GraphEncoderOptions? onnx = null)
    {
        if (OnnxEncoder.IsOnnxName(name))
        {
            if (weights != null) throw new EncoderNotAvailableException($"--weights does not apply to {name}: an ONNX model holds its weights");
            var enc = OnnxEncoder.FromName(name, onnx, device);
            onnxSpecs[enc.Spec.Name] = enc.Spec;
            return enc;
        }
        if (TfjsEncoder.IsTfjsName(name))
        {
            if (weights != null) throw new EncoderNotAvailableException($"--weights does not apply to {name}: a tfjs model names its weight shards");
            var enc = TfjsEncoder.FromName(name, onnx, device);
            onnxSpecs[enc.Spec.Name] = enc.Spec;
            return enc;
        }
        if (onnx != null) throw new EncoderNotAvailableException($"preprocessing options apply only to onnx:PATH and tfjs:PATH models, not to '{name}'");
        var spec = Spec(name);
        var path = WeightsPath(name, weights)
            ?? throw new EncoderNotAvailableException($"weights of '{name}' not found (looked for {entries[name].Looked?.Invoke() ?? $"{spec.WeightsFile} under $DFD_MODELS and models/ folders"}); supply them with --weights PATH");
        if (!File.Exists(path)) throw new ModelFileException(path, "file not found");
        return entries[name].Load(path, device);
    }
}
