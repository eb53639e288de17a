using Dfd.Imaging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Encoders;

/// <summary>
/// VGG-Face (Parkhi, Vedaldi, Zisserman: <i>Deep Face Recognition</i>, BMVC 2015): VGG-16 trained on 2,622 identities.
/// 224×224 RGB, 0..255 less the per-channel mean [129.1863, 104.7624, 93.5940], std 1 (as the common public
/// conversion vgg_face_dag.pth does) → 4096-D.
/// <code>
/// conv1_1..conv1_2   3×3 conv 64, ReLU; 2×2/2 max pool        224 → 112
/// conv2_1..conv2_2   3×3 conv 128, ReLU; pool                 → 56
/// conv3_1..conv3_3   3×3 conv 256, ReLU; pool                 → 28
/// conv4_1..conv4_3   3×3 conv 512, ReLU; pool                 → 14
/// conv5_1..conv5_3   3×3 conv 512, ReLU; pool                 → 7
/// fc6                linear 25088 → 4096 (C,H,W flatten), ReLU
/// fc7                linear 4096 → 4096, ReLU                 → the template (fc7 after its ReLU)
/// fc8                linear 4096 → 2622 classifier: not built; its keys in a file are ignored
/// </code>
/// Dropout is a no-op at inference and is left out. Module names are the public conversion's, so its state dict
/// loads one to one. <paramref name="widthDivisor"/> and <paramref name="fc"/> build the same network narrower (the tests'
/// fixtures); the full model is the default.
/// </summary>
public sealed class VggFace : Module<Tensor, Tensor>, IFeatureEncoder
{
    public static readonly EncoderSpec Spec = new(
        Name: "vgg16-face",
        Description: "VGG-Face (Parkhi et al. 2015), VGG-16 on 2,622 identities, 224x224 loose crop, 4096-D fc7 (after ReLU)",
        InputWidth: 224, InputHeight: 224,
        Channels: ChannelOrder.RGB,
        Mean: [129.1863f, 104.7624f, 93.5940f],
        Std: [1f, 1f, 1f],
        Template: AlignmentTemplate.Loose(224),
        EmbeddingSize: 4096,
        WeightsFile: "vgg16-face/vgg_face_dag.safetensors",
        Source: "VGG-Face (robots.ox.ac.uk/~vgg/software/vgg_face), PyTorch conversion vgg_face_dag.pth (keys conv1_1..fc8); .pt/.pth or .safetensors",
        Licence: "non-commercial research (VGG); not redistributed",
        PublishedLfw: "98.95%");

    /// <summary>Convolutions per block.</summary>
    public static readonly int[] BlockDepths = [2, 2, 3, 3, 3];
    public static readonly int[] Widths = [64, 128, 256, 512, 512];

    readonly List<List<Conv2d>> blocks = [];
    readonly Linear fc6, fc7;

    EncoderSpec IEncoder.Spec => Spec;
    public Device Device => fc7.weight!.device;

    public VggFace(int widthDivisor = 1, int fc = 4096) : base("vgg16-face")
    {
        int cin = 3;
        for (int b = 0; b < BlockDepths.Length; b++)
        {
            var convs = new List<Conv2d>();
            int cout = Widths[b] / widthDivisor;
            for (int i = 1; i <= BlockDepths[b]; i++)
            {
                var conv = Conv2d(cin, cout, 3, padding: 1);
                register_module($"conv{b + 1}_{i}", conv);
                convs.Add(conv);
                cin = cout;
            }
            blocks.Add(convs);
        }
        fc6 = Linear(cin * 7 * 7, fc);
        fc7 = Linear(fc, fc);
        register_module("fc6", fc6);
        register_module("fc7", fc7);
    }

    public override Tensor forward(Tensor rgb255) => ForwardWithFeatures(rgb255).Template;

    Tensor IEncoder.Forward(Tensor rgb255) => forward(rgb255);

    public int FeatureMaps => blocks.Count;

    /// <summary>The template and the last ReLU output of each block (before its pool): 224, 112, 56, 28, 14 wide.</summary>
    public (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255)
    {
        var features = new List<Tensor>();
        var x = Spec.Normalise(rgb255);
        foreach (var convs in blocks)
        {
            foreach (var conv in convs) x = F.relu(conv.forward(x));
            features.Add(x);
            x = F.max_pool2d(x, 2, 2);
        }
        x = F.relu(fc6.forward(x.flatten(1)));
        return (F.relu(fc7.forward(x)), features);
    }

    /// <summary>Loads a state dict (torch.save zip or legacy .pt/.pth, or .safetensors) with the public conversion's key names; fc8.* is ignored.</summary>
    public static VggFace Load(string path, Device? device = null, int widthDivisor = 1, int fc = 4096)
    {
        return EncoderWeights.Load(new VggFace(widthDivisor, fc), path, Spec.Name, device, "fc8.");
    }
}
