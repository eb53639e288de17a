using Dfd.Core;
// Dfd's, not TorchSharp.Modules': see Layers.cs.
using BatchNorm = Dfd.Core.BatchNorm;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Dfd.Encoders;

/// <summary>
/// MobileFaceNet (Chen, Liu, Gao, Han: <i>MobileFaceNets: Efficient CNNs for Accurate Real-Time Face Verification on
/// Mobile Devices</i>, 2018) as implemented and trained on CASIA-WebFace by the GitHub project Xiaoccer/MobileFaceNet_Pytorch
/// (checkpoint <c>068.ckpt</c>). 112×96 SphereFace crops, RGB, (x − 127.5)/128 → 128-D.
/// <code>
/// conv1     3×3/2 conv 3→64, BN, PReLU                          112×96 → 56×48
/// dw_conv1  3×3 depthwise 64, BN, PReLU
/// blocks    15 inverted-residual bottlenecks (1×1 expand, BN, PReLU; 3×3 depthwise, BN, PReLU; 1×1 project, BN;
///           identity shortcut where stride 1 and channels unchanged), [t,c,n,s] = [2,64,5,2] [4,128,1,2] [2,128,6,1]
///           [4,128,1,2] [2,128,2,1]                               → 7×6×128
/// conv2     1×1 conv 128→512, BN, PReLU
/// linear7   7×6 depthwise conv 512 ("global depthwise"), BN, no activation        → 1×1×512
/// linear1   1×1 conv 512→128, BN, no activation                                   → 128
/// </code>
/// Module names follow the original so its state dict loads one to one (batch norms in eval mode, eps 1e-5).
/// </summary>
public sealed class MobileFaceNet : Module<Tensor, Tensor>, IFeatureEncoder
{
    public static readonly EncoderSpec Spec = new(
        Name: "mobilefacenet-casia",
        Description: "MobileFaceNet (Chen et al. 2018) trained on CASIA-WebFace, 112x96 SphereFace crop, 128-D",
        InputWidth: 96, InputHeight: 112,
        // The original's data loaders read images with scipy.misc.imread (RGB) and feed them unchanged.
        Channels: ChannelOrder.RGB,
        Mean: [127.5f, 127.5f, 127.5f],
        Std: [128f, 128f, 128f],
        Template: AlignmentTemplate.SphereFace(),
        EmbeddingSize: 128,
        WeightsFile: "mobilefacenet-casia/068.safetensors",
        Source: "github.com/Xiaoccer/MobileFaceNet_Pytorch model/best/068.ckpt (CASIA-WebFace, ArcFace loss)",
        Licence: "unknown (not redistributed)",
        PublishedLfw: "99.30%",
        Threshold1e3: 0.3690,
        ThresholdSource: "FMR 1e-3 on LFW pairs.txt (3,000 impostor pairs), YuNet alignment, dfd verify");

    /// <summary>The environment variable that may name the weights file (.safetensors or the original .ckpt).</summary>
    public const string WeightsVariable = "DFD_MOBILEFACENET";

    /// <summary>Where <see cref="FindWeights"/> looks (and, for a variable naming a missing file, that it does), for messages.</summary>
    public static string WhereLooked() => ModelPaths.WhereLooked(WeightsVariable, Spec.WeightsFile);

    /// <summary>
    /// The weights, whose licence keeps them out of the repository: the file $DFD_MOBILEFACENET names (if it names
    /// one that does not exist: null, so that the mistake is reported rather than passed over), else the models
    /// folders, else <c>../shared/models/mobilefacenet-casia/068.safetensors</c> beside the directory holding Dfd.slnx
    /// (found by walking up from the program, then from the working directory).
    /// </summary>
    public static string? FindWeights() => ModelPaths.FindUnshipped(WeightsVariable, Spec.WeightsFile);

    /// <summary>[expansion t, output channels c, repeats n, stride of the first s].</summary>
    public static readonly int[][] Setting = [[2, 64, 5, 2], [4, 128, 1, 2], [2, 128, 6, 1], [4, 128, 1, 2], [2, 128, 2, 1]];

    readonly ConvBlock conv1, dw_conv1, conv2, linear7, linear1;
    readonly Sequential blocks;

    EncoderSpec IEncoder.Spec => Spec;
    public Device Device => conv1.Device;

    public MobileFaceNet() : base("mobilefacenet")
    {
        conv1 = new ConvBlock(3, 64, (3, 3), 2, 1, depthwise: false, linear: false);
        dw_conv1 = new ConvBlock(64, 64, (3, 3), 1, 1, depthwise: true, linear: false);
        var list = new List<Module<Tensor, Tensor>>();
        int cin = 64;
        foreach (var s in Setting)
        {
            for (int i = 0; i < s[2]; i++)
            {
                list.Add(new Bottleneck(cin, s[1], i == 0 ? s[3] : 1, s[0]));
                cin = s[1];
            }
        }
        blocks = Sequential(list.ToArray());
        conv2 = new ConvBlock(128, 512, (1, 1), 1, 0, depthwise: false, linear: false);
        linear7 = new ConvBlock(512, 512, (7, 6), 1, 0, depthwise: true, linear: true);
        linear1 = new ConvBlock(512, 128, (1, 1), 1, 0, depthwise: false, linear: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor rgb255)
    {
        using var scope = torch.NewDisposeScope();
        var x = Spec.Normalise(rgb255);
        x = blocks.forward(dw_conv1.forward(conv1.forward(x)));
        x = linear1.forward(linear7.forward(conv2.forward(x)));
        return x.flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>Feature maps at the end of each resolution (56×48×64, 28×24×64, 14×12×128, 7×6×512), for perceptual losses.</summary>
    public List<Tensor> Features(Tensor rgb255) => ForwardWithFeatures(rgb255).Features;

    public int FeatureMaps => 4;

    /// <summary>The template and the four feature maps of one pass (the same layers, in the same order, as <see cref="forward"/>).</summary>
    public (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255)
    {
        var outs = new List<Tensor>();
        var x = dw_conv1.forward(conv1.forward(Spec.Normalise(rgb255)));
        outs.Add(x);
        var bottlenecks = blocks.children().Cast<Module<Tensor, Tensor>>().ToList();
        int i = 0;
        foreach (var s in Setting)
        {
            for (int r = 0; r < s[2]; r++, i++)
            {
                if (i > 0 && r == 0 && s[3] == 2) outs.Add(x);   // the last map before each further stride-2 stage
                x = bottlenecks[i].forward(x);
            }
        }
        x = conv2.forward(x);
        outs.Add(x);
        return (linear1.forward(linear7.forward(x)).flatten(1), outs);
    }

    Tensor IEncoder.Forward(Tensor rgb255) => forward(rgb255);

    /// <summary>
    /// Loads the weights from a .safetensors file or from the original legacy PyTorch checkpoint (.ckpt/.pt/.pth,
    /// its <c>net_state_dict</c>) (<see cref="EncoderWeights"/>); names must match exactly.
    /// </summary>
    public static MobileFaceNet Load(string path, Device? device = null) => EncoderWeights.Load(new MobileFaceNet(), path, Spec.Name, device);

    /// <summary>Conv (no bias) → BatchNorm → PReLU unless linear; depthwise when groups = channels.</summary>
    sealed class ConvBlock : Module<Tensor, Tensor>
    {
        readonly Conv2d conv;
        readonly BatchNorm bn;
        readonly PRelu? prelu;

        public ConvBlock(int cin, int cout, (long, long) k, long stride, long padding, bool depthwise, bool linear) : base("conv_block")
        {
            conv = Conv2d(cin, cout, k, stride: (stride, stride), padding: (padding, padding), groups: depthwise ? cin : 1, bias: false);
            bn = new BatchNorm(cout, eps: 1e-5);
            if (!linear) prelu = new PRelu(cout);
            RegisterComponents();
        }

        public Device Device => conv.weight!.device;

        public override Tensor forward(Tensor x)
        {
            var y = bn.forward(conv.forward(x));
            return prelu is null ? y : prelu.forward(y);
        }
    }

    /// <summary>MobileNetV2 inverted residual: 1×1 expand, 3×3 depthwise, 1×1 linear projection; shortcut when shapes allow.</summary>
    sealed class Bottleneck : Module<Tensor, Tensor>
    {
        readonly Sequential conv;
        readonly bool connect;

        public Bottleneck(int cin, int cout, int stride, int expansion) : base("bottleneck")
        {
            int hidden = cin * expansion;
            connect = stride == 1 && cin == cout;
            conv = Sequential(
                Conv2d(cin, hidden, 1, bias: false),
                new BatchNorm(hidden, eps: 1e-5),
                new PRelu(hidden),
                Conv2d(hidden, hidden, 3, stride: stride, padding: 1, groups: hidden, bias: false),
                new BatchNorm(hidden, eps: 1e-5),
                new PRelu(hidden),
                Conv2d(hidden, cout, 1, bias: false),
                new BatchNorm(cout, eps: 1e-5));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => connect ? x.Plus(conv.forward(x)) : conv.forward(x);
    }
}
