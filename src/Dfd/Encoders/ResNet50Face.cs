using Dfd.Core;
// Dfd's, not TorchSharp.Modules': see Layers.cs.
using BatchNorm = Dfd.Core.BatchNorm;
using Dfd.Imaging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Encoders;

/// <summary>
/// The VGGFace2 ResNet-50 (Cao, Shen, Xie, Parkhi, Zisserman: <i>VGGFace2: A dataset for recognising faces across
/// pose and age</i>, FG 2018), the variant with the 8,631-way VGGFace2 classifier. 224×224 RGB, 0..255 less the mean
/// [131.0912, 103.8827, 91.4953] (the original's BGR mean [91.4953, 103.8827, 131.0912] in RGB order), std 1 → 2048-D
/// (the global average pool; the classifier <c>fc</c> is not built and its keys in a file are ignored).
/// <code>
/// conv1 7×7/2 64, bn1, ReLU; 3×3/2 max pool                  224 → 112 → 56
/// layer1..layer4: 3, 4, 6, 3 bottlenecks (1×1 planes, 3×3 planes, 1×1 4·planes; BN after each; ReLU; identity or
///   1×1-conv+BN "downsample" shortcut), planes 64, 128, 256, 512, stride 2 in the first block of layers 2–4   → 7×7×2048
/// average over the 7×7 map                                   → 2048
/// </code>
/// Names are torchvision's (conv1, bn1, layer1.0.conv1, … layer4.2.bn3, downsample.0/.1, fc). The caffe-trained
/// original differs from torchvision's ResNet-50 in two places, both constructor options and both caffe-style by
/// default (as in the public PyTorch conversion of resnet50_ft/resnet50_scratch): the stride of a downsampling
/// bottleneck sits on its first 1×1 conv (<paramref name="strideOnConv1"/>; torchvision puts it on the 3×3), and the
/// max pool has no padding and rounds up (<paramref name="ceilMaxPool"/>; torchvision pads by 1). Batch norms use
/// eps 1e-5 in eval mode. <paramref name="widthDivisor"/> narrows every width (the tests' fixtures).
/// </summary>
public sealed class ResNet50Face : Module<Tensor, Tensor>, IFeatureEncoder
{
    public static readonly EncoderSpec Spec = new(
        Name: "resnet50-face",
        Description: "VGGFace2 ResNet-50 (Cao et al. 2018), 8631-class variant, 224x224 loose crop, 2048-D pooled",
        InputWidth: 224, InputHeight: 224,
        Channels: ChannelOrder.RGB,
        Mean: [131.0912f, 103.8827f, 91.4953f],
        Std: [1f, 1f, 1f],
        Template: AlignmentTemplate.Loose(224),
        EmbeddingSize: 2048,
        WeightsFile: "resnet50-face/resnet50_ft.safetensors",
        Source: "VGGFace2 resnet50_ft / resnet50_scratch (github.com/ox-vgg/vgg_face2), PyTorch conversion with torchvision key names; .pt/.pth or .safetensors",
        Licence: "non-commercial research (VGGFace2); not redistributed",
        PublishedLfw: "not reported (IJB-B/C in the paper)");

    public static readonly int[] Depths = [3, 4, 6, 3];

    readonly Conv2d conv1;
    readonly BatchNorm bn1;
    readonly List<Sequential> layers = [];
    readonly bool ceilMaxPool;

    EncoderSpec IEncoder.Spec => Spec;
    public Device Device => conv1.weight!.device;

    /// <summary>Width of the template: 2048 / <c>widthDivisor</c>.</summary>
    public int OutputSize { get; }

    public ResNet50Face(int widthDivisor = 1, bool strideOnConv1 = true, bool ceilMaxPool = true) : base("resnet50-face")
    {
        this.ceilMaxPool = ceilMaxPool;
        int basew = 64 / widthDivisor;
        conv1 = Conv2d(3, basew, 7, stride: 2, padding: 3, bias: false);
        bn1 = new BatchNorm(basew, eps: 1e-5);
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        int inplanes = basew;
        for (int i = 0; i < Depths.Length; i++)
        {
            int planes = basew << i;
            var blocks = new List<Module<Tensor, Tensor>>();
            for (int j = 0; j < Depths[i]; j++)
            {
                int stride = j == 0 && i > 0 ? 2 : 1;
                blocks.Add(new Bottleneck(inplanes, planes, stride, strideOnConv1));
                inplanes = planes * 4;
            }
            var layer = Sequential(blocks.ToArray());
            register_module($"layer{i + 1}", layer);
            layers.Add(layer);
        }
        OutputSize = inplanes;
    }

    public override Tensor forward(Tensor rgb255) => ForwardWithFeatures(rgb255).Template;

    Tensor IEncoder.Forward(Tensor rgb255) => forward(rgb255);

    public int FeatureMaps => layers.Count;

    /// <summary>The template and the outputs of layer1..layer4 (56, 28, 14, 7 wide).</summary>
    public (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255)
    {
        var x = F.relu(bn1.forward(conv1.forward(Spec.Normalise(rgb255))));
        x = ceilMaxPool ? F.max_pool2d(x, 3, 2, 0, ceil_mode: true) : F.max_pool2d(x, 3, 2, 1);
        var features = new List<Tensor>();
        foreach (var layer in layers)
        {
            x = layer.forward(x);
            features.Add(x);
        }
        // The original's 7×7/1 average pool, which at 224×224 input is the mean over the whole map.
        return (x.mean([2, 3]), features);
    }

    /// <summary>Loads a state dict (torch.save zip or legacy .pt/.pth, or .safetensors) with torchvision key names; fc.* is ignored.</summary>
    public static ResNet50Face Load(string path, Device? device = null, int widthDivisor = 1, bool strideOnConv1 = true, bool ceilMaxPool = true)
    {
        return EncoderWeights.Load(new ResNet50Face(widthDivisor, strideOnConv1, ceilMaxPool), path, Spec.Name, device, "fc.");
    }

    sealed class Bottleneck : Module<Tensor, Tensor>
    {
        readonly Conv2d conv1, conv2, conv3;
        readonly BatchNorm bn1, bn2, bn3;
        readonly Sequential? downsample;

        public Bottleneck(int inplanes, int planes, int stride, bool strideOnConv1) : base("bottleneck")
        {
            conv1 = Conv2d(inplanes, planes, 1, stride: strideOnConv1 ? stride : 1, bias: false);
            bn1 = new BatchNorm(planes, eps: 1e-5);
            conv2 = Conv2d(planes, planes, 3, stride: strideOnConv1 ? 1 : stride, padding: 1, bias: false);
            bn2 = new BatchNorm(planes, eps: 1e-5);
            conv3 = Conv2d(planes, planes * 4, 1, bias: false);
            bn3 = new BatchNorm(planes * 4, eps: 1e-5);
            if (stride != 1 || inplanes != planes * 4)
                downsample = Sequential(Conv2d(inplanes, planes * 4, 1, stride: stride, bias: false), new BatchNorm(planes * 4, eps: 1e-5));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = F.relu(bn1.forward(conv1.forward(x)));
            y = F.relu(bn2.forward(conv2.forward(y)));
            y = bn3.forward(conv3.forward(y));
            return F.relu(y.Plus(downsample is null ? x : downsample.forward(x)));
        }
    }
}
