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
    public static readonly EncoderSpec Spec = new(
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

    EncoderSpec IEncoder.Spec => Spec;
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
        return Templates(Spec.Normalise(rgb255));
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
        var x = F.relu(conv32_down.forward(Spec.Normalise(rgb255)));
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

    /// <summary>Loads weights written by <see cref="FaceApiWeights.ToSafetensors"/> (<see cref="EncoderWeights"/>); names
    /// must match exactly.</summary>
    public static DlibResNet Load(string path, Device? device = null) => EncoderWeights.Load(new DlibResNet(), path, Spec.Name, device);

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
