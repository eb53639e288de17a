using Dfd.Core;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Encoders;

/// <summary>
/// dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1: 29 conv layers, 150×150 → 128-D), as
/// ported to tfjs by face-api. Each conv has a bias followed by dlib's affine "scale" layer (the folded batch norm).
/// Layer names follow face-api so that weights map one to one.
/// </summary>
public sealed class DlibResNet : Module<Tensor, Tensor>, IFeatureEncoder
{
    public static readonly EncoderSpec Config = new(
        Name: "dlib-resnet",
        Description: "dlib face-recognition ResNet-29 (face-api port), 150x150 dlib chip, 128-D",
        InputWidth: 150, InputHeight: 150,
        Channels: ChannelOrder.RGB,
        Mean: [122.782f, 117.001f, 104.298f],
        Std: [255f, 255f, 255f],
        Template: AlignmentTemplate.Dlib(150, 0.25),
        EmbeddingSize: 128,
        WeightsFile: "dlib-resnet/dlib-resnet.safetensors",
        Source: "dlib dlib_face_recognition_resnet_model_v1 via @vladmandic/face-api 1.7.15 (tfjs weights, uint8-quantised)",
        Licence: "CC0 (dlib weights) / MIT (face-api)",
        PublishedLfw: "99.38%",
        Threshold1e3: 0.9201,
        ThresholdSource: "FMR 1e-3 on LFW pairs.txt (3,000 impostor pairs), YuNet alignment, dfd verify");

    /// <summary>Block names in forward order; "_down" blocks halve the resolution.</summary>
    public static readonly string[] Blocks =
    [
        "conv32_1", "conv32_2", "conv32_3",
        "conv64_down", "conv64_1", "conv64_2", "conv64_3",
        "conv128_down", "conv128_1", "conv128_2",
        "conv256_down", "conv256_1", "conv256_2", "conv256_down_out",
    ];

    readonly ConvScale conv32_down;
    readonly ModuleList<Residual> blocks;
    readonly Parameter fc;      // [128, 256], no bias

    public EncoderSpec Spec => Config;
    public Device Device => fc.device;

    public DlibResNet() : base("dlib-resnet")
    {
        conv32_down = new ConvScale(3, 32, 7, stride: 2);
        var list = new List<Residual>();
        int cin = 32;
        foreach (var name in Blocks)
        {
            int cout = int.Parse(name[4..].Split('_')[0]);
            list.Add(new Residual(name, cin, cout, name.Contains("_down")));
            cin = cout;
        }
        blocks = new ModuleList<Residual>(list.ToArray());
        fc = new Parameter(torch.zeros(128, 256));
        RegisterComponents();
    }

    public override Tensor forward(Tensor rgb255)
    {
        // Callers scope whole steps (see EncoderExtensions.Encode, Trainer).
        return Templates(Config.Normalise(rgb255));
    }

    Tensor Templates(Tensor x)
    {
        x = F.relu(conv32_down.forward(x));
        x = F.max_pool2d(x, 3, 2);
        foreach (var b in blocks) x = b.forward(x);
        x = x.mean([2L, 3L]);
        return x.matmul(fc.t());
    }

    /// <summary>Feature maps at the end of each resolution (35², 17², 8², 4², 2²; 32, 64, 128, 256, 256 channels), for perceptual losses.</summary>
    public List<Tensor> Features(Tensor rgb255) => ForwardWithFeatures(rgb255).Features;

    public int FeatureMaps => Blocks.Count(b => b.Contains("_down")) + 1;

    public (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255)
    {
        var x = F.relu(conv32_down.forward(Config.Normalise(rgb255)));
        x = F.max_pool2d(x, 3, 2);
        var outs = new List<Tensor>();
        for (int i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].forward(x);
            if (i + 1 == blocks.Count || Blocks[i + 1].Contains("_down")) outs.Add(x);
        }
        return (x.mean([2L, 3L]).matmul(fc.t()), outs);
    }

    Tensor IEncoder.Forward(Tensor rgb255) => forward(rgb255);

    /// <summary>Loads weights written by <see cref="FaceApiWeights.ToSafetensors"/>; names must match exactly.</summary>
    public static DlibResNet Load(string path, Device? device = null)
    {
        var (tensors, meta) = Safetensors.Read(path);
        if (meta.TryGetValue("encoder", out var enc) && enc != Config.Name)
            throw new ModelFileException(path, $"holds weights of encoder '{enc}', not '{Config.Name}'");
        var model = new DlibResNet();
        StateDict.Assign(model, tensors, path);
        model.eval();
        if (device != null) model.to(device);
        return model;
    }

    sealed class ConvScale : Module<Tensor, Tensor>
    {
        readonly Parameter weight, bias, scale, shift;
        readonly long stride, padding;

        public ConvScale(int cin, int cout, int k, int stride) : base("conv")
        {
            weight = new Parameter(torch.zeros(cout, cin, k, k));
            bias = new Parameter(torch.zeros(cout));
            scale = new Parameter(torch.ones(cout));
            shift = new Parameter(torch.zeros(cout));
            this.stride = stride;
            // tfjs 'valid' for the strided convs, 'same' (pad 1 for 3×3) otherwise.
            padding = stride == 1 ? k / 2 : 0;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = F.conv2d(x, weight, bias, strides: [stride, stride], padding: [padding, padding]);
            return (y * scale.view(1, -1, 1, 1)).Plus(shift.view(1, -1, 1, 1));
        }
    }

    sealed class Residual : Module<Tensor, Tensor>
    {
        readonly ConvScale conv1, conv2;
        readonly bool down;
        readonly int cout;

        public Residual(string name, int cin, int cout, bool down) : base(name)
        {
            conv1 = new ConvScale(cin, cout, 3, down ? 2 : 1);
            conv2 = new ConvScale(cout, cout, 3, 1);
            this.down = down;
            this.cout = cout;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = conv2.forward(F.relu(conv1.forward(x)));
            if (!down) return F.relu(y.Plus(x));
            // dlib's downsampling shortcut: 2×2 average pool, zero channels appended; when the strided 'valid'
            // conv comes out one pixel smaller than the pool, face-api pads the conv output with zeros at the end.
            var pooled = F.avg_pool2d(x, 2, 2);
            if (pooled.shape[1] != cout)
                pooled = F.pad(pooled, [0, 0, 0, 0, 0, cout - pooled.shape[1]]);
            if (pooled.shape[2] != y.shape[2] || pooled.shape[3] != y.shape[3])
                y = F.pad(y, [0, pooled.shape[3] - y.shape[3], 0, pooled.shape[2] - y.shape[2]]);
            return F.relu(y.Plus(pooled));
        }
    }
}

/// <summary>Copies named host tensors into a module's parameters and buffers, naming every mismatch.</summary>
public static class StateDict
{
    public static void Assign(nn.Module module, IReadOnlyDictionary<string, HostTensor> tensors, string source)
    {
        var own = module.state_dict();
        var missing = own.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var unexpected = tensors.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var wrongShape = own.Keys.Where(tensors.ContainsKey)
            .Where(k => !own[k].shape.SequenceEqual(tensors[k].Shape))
            .Select(k => $"{k}: file [{string.Join(",", tensors[k].Shape)}], model [{string.Join(",", own[k].shape)}]").ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys: {string.Join(", ", missing.Take(12))}{(missing.Count > 12 ? $" (+{missing.Count - 12} more)" : "")}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys: {string.Join(", ", unexpected.Take(12))}{(unexpected.Count > 12 ? $" (+{unexpected.Count - 12} more)" : "")}");
            if (wrongShape.Count > 0) parts.Add($"shape mismatches: {string.Join("; ", wrongShape.Take(12))}");
            throw new ModelFileException(source, "weights do not fit the model: " + string.Join("; ", parts));
        }
        using var _ = torch.no_grad();
        foreach (var (k, t) in own)
        {
            var src = torch.tensor(tensors[k].Data, tensors[k].Shape).to(t.dtype);
            t.copy_(src);
        }
    }

    public static Dictionary<string, HostTensor> ToHost(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key,
            kv => new HostTensor(kv.Value.shape, kv.Value.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray()));
}

/// <summary>Loading a published backbone's state dict whose classifier head Dfd does not use.</summary>
public static class BackboneWeights
{
    /// <summary>
    /// Reads <paramref name="path"/> (zip or legacy torch.save, or safetensors), drops the classifier head's keys
    /// (<paramref name="headPrefix"/>), accepts a one-element tensor for a 0-d one (num_batches_tracked as some
    /// converters write it), and assigns the rest by exact name; mismatches name the keys and shapes.
    /// </summary>
    public static void Load(nn.Module model, string path, string encoderName, string headPrefix)
    {
        var (tensors, meta) = StateDictFile.Read(path);
        if (meta.TryGetValue("encoder", out var enc) && enc != encoderName)
            throw new ModelFileException(path, $"holds weights of encoder '{enc}', not '{encoderName}'");
        foreach (var k in tensors.Keys.Where(k => k.StartsWith(headPrefix, StringComparison.Ordinal)).ToList()) tensors.Remove(k);
        foreach (var (k, own) in model.state_dict())
            if (own.dim() == 0 && tensors.TryGetValue(k, out var t) && t.Shape.Length > 0 && t.Count == 1)
                tensors[k] = t with { Shape = [] };
        StateDict.Assign(model, tensors, path);
    }
}
