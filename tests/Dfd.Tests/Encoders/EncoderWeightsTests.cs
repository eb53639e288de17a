using Dfd.Encoders;
using Dfd.IO;
using Xunit;

namespace Dfd.Tests.Encoders;

/// <summary>The one encoder-weights loader, as every C#-built encoder reaches it.</summary>
public sealed class EncoderWeightsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-weights-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    string Foreign(string encoder)
    {
        var path = Path.Combine(dir, encoder + ".safetensors");
        Safetensors.Write(path, new Dictionary<string, HostTensor> { ["w"] = new([1], [0f]) },
            new Dictionary<string, string> { ["encoder"] = encoder });
        return path;
    }

    public static TheoryData<string> Loaders => ["dlib-resnet", "mobilefacenet-casia", "vgg16-face", "resnet50-face"];

    static void Load(string encoder, string path)
    {
        switch (encoder)
        {
            case "dlib-resnet": DlibResNet.Load(path).Dispose(); break;
            case "mobilefacenet-casia": MobileFaceNet.Load(path).Dispose(); break;
            case "vgg16-face": VggFace.Load(path, widthDivisor: 32, fc: 64).Dispose(); break;
            default: ResNet50Face.Load(path, widthDivisor: 16).Dispose(); break;
        }
    }

    [Theory, MemberData(nameof(Loaders))]
    public void AnotherEncodersWeightsAreRefusedByName(string encoder)
    {
        var other = encoder == "dlib-resnet" ? "vgg16-face" : "dlib-resnet";
        var path = Foreign(other);
        var e = Assert.Throws<ModelFileException>(() => Load(encoder, path));
        Assert.Contains($"holds weights of encoder '{other}', not '{encoder}'", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory, MemberData(nameof(Loaders))]
    public void WeightsOfTheRightEncoderThatDoNotFitNameTheKeys(string encoder)
    {
        var path = Foreign(encoder);
        var e = Assert.Throws<ModelFileException>(() => Load(encoder, path));
        Assert.Contains("weights do not fit the model", e.Message);
        Assert.Contains("unexpected keys: w", e.Message);
    }
}
