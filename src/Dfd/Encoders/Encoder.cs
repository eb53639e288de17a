using Dfd.Core;
using Dfd.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Encoders;

public enum ChannelOrder { RGB, BGR }

/// <summary>
/// What an FR model expects and promises, kept next to its definition (as timm's pretrained configs): the crop it
/// was trained on, its pixel normalisation, its template size and where its weights come from.
/// </summary>
public sealed record EncoderSpec(
    string Name,
    string Description,
    int InputWidth,
    int InputHeight,
    ChannelOrder Channels,
    float[] Mean,            // subtracted from 0..255 pixel values, in the model's channel order
    float[] Std,             // divides after the mean
    AlignmentTemplate Template,
    int EmbeddingSize,
    string WeightsFile,      // relative to a models directory
    string Source,
    string Licence,
    string PublishedLfw,
    double Threshold1e3 = double.NaN,   // cosine threshold at FMR 1e-3, measured by dfd verify (see ThresholdSource)
    string ThresholdSource = "not measured")
{
    /// <summary>
    /// RGB 0..255 crops [N,3,H,W] → what the network takes: the shape checked, channels in the model's order, then
    /// (x − mean) · (1/std) per channel. The one normalisation every encoder uses, so a spec means the same everywhere.
    /// </summary>
    /// <exception cref="ArgumentException">The input is not [N,3,InputHeight,InputWidth].</exception>
    public Tensor Normalise(Tensor rgb255)
    {
        if (rgb255.dim() != 4 || rgb255.shape[1] != 3 || rgb255.shape[2] != InputHeight || rgb255.shape[3] != InputWidth)
            throw new ArgumentException($"{Name} takes [N,3,{InputHeight},{InputWidth}] RGB crops, got [{string.Join(",", rgb255.shape)}]");
        using var scope = torch.NewDisposeScope();
        // Floating inputs keep their type (a double-precision model takes double crops); others become float32.
        var x = torch.is_floating_point(rgb255) ? rgb255 : rgb255.to_type(ScalarType.Float32);
        if (Channels == ChannelOrder.BGR) x = x.flip(1);
        // Built per call on the input's device: as module buffers they would show up in the state dicts that weight
        // files are checked against.
        var mean = torch.tensor(Mean, device: x.device).view(1, 3, 1, 1).to_type(x.dtype);
        var invStd = torch.tensor(Std.Select(s => 1f / s).ToArray(), device: x.device).view(1, 3, 1, 1).to_type(x.dtype);
        return ((x - mean) * invStd).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// An FR model: aligned RGB crops (0..255, [N,3,H,W] float) → templates [N,D]. Normalisation happens inside
/// <see cref="Forward"/>, so gradients flow from the template back to the raw pixels.
/// </summary>
public interface IEncoder : IDisposable
{
    EncoderSpec Spec { get; }
    Device Device { get; }
    Tensor Forward(Tensor rgb255);
}

/// <summary>An encoder whose intermediate feature maps serve as a perceptual loss (available offline, unlike VGG-ImageNet).</summary>
public interface IFeatureEncoder : IEncoder
{
    /// <summary>The template and the feature maps of the same forward pass, so a loss needs one pass, not two.</summary>
    (Tensor Template, List<Tensor> Features) ForwardWithFeatures(Tensor rgb255);

    /// <summary>How many feature maps <see cref="ForwardWithFeatures"/> returns.</summary>
    int FeatureMaps { get; }
}

public static class EncoderExtensions
{
    /// <summary>Templates of aligned crops, in batches, without gradients. Optionally averaged with the mirror image's.</summary>
    public static float[][] Encode(this IEncoder enc, IReadOnlyList<RgbImage> crops, bool flipAverage = false, int batch = 32)
    {
        var result = new float[crops.Count][];
        using var _ = torch.no_grad();
        for (int i = 0; i < crops.Count; i += batch)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(batch, crops.Count - i);
            var x = Tensors.FromImages(crops.Skip(i).Take(n).ToList(), enc.Spec.InputWidth, enc.Spec.InputHeight).to(enc.Device);
            var t = enc.Forward(x);
            if (flipAverage) t = t.Plus(enc.Forward(x.flip(3))).Over(2);
            var flat = t.cpu().contiguous().data<float>().ToArray();
            int d = (int)t.shape[1];
            for (int k = 0; k < n; k++) result[i + k] = flat.AsSpan(k * d, d).ToArray();
        }
        return result;
    }
}

public static class Tensors
{
    /// <summary>[N,3,H,W] float32 RGB in 0..255.</summary>
    public static Tensor FromImages(IReadOnlyList<RgbImage> images, int width, int height)
    {
        var buf = new float[images.Count * 3 * height * width];
        int plane = height * width;
        for (int n = 0; n < images.Count; n++)
        {
            var img = images[n];
            if (img.Width != width || img.Height != height)
                throw new ArgumentException($"image {n} is {img.Width}x{img.Height}, the model takes {width}x{height} aligned crops");
            var d = img.Data;
            int baseN = n * 3 * plane;
            for (int p = 0, j = 0; p < plane; p++, j += 3)
            {
                buf[baseN + p] = d[j];
                buf[baseN + plane + p] = d[j + 1];
                buf[baseN + 2 * plane + p] = d[j + 2];
            }
        }
        return torch.tensor(buf, new long[] { images.Count, 3, height, width });
    }

    /// <summary>Back to images: [N,3,H,W] in 0..255 (clamped, rounded).</summary>
    public static List<RgbImage> ToImages(Tensor t)
    {
        var x = t.detach().cpu().clamp(Scalars.Of(0), Scalars.Of(255)).round().to_type(ScalarType.Float32).contiguous();
        int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3], plane = h * w;
        var f = x.data<float>().ToArray();
        var list = new List<RgbImage>(n);
        for (int k = 0; k < n; k++)
        {
            var img = new RgbImage(w, h);
            int b = k * 3 * plane;
            for (int p = 0, j = 0; p < plane; p++, j += 3)
            {
                img.Data[j] = (byte)f[b + p];
                img.Data[j + 1] = (byte)f[b + plane + p];
                img.Data[j + 2] = (byte)f[b + 2 * plane + p];
            }
            list.Add(img);
        }
        return list;
    }
}

/// <summary>Finds model files: an explicit path, $DFD_MODELS, or a models/ folder above the program or the working directory.</summary>
public static class ModelPaths
{
    public static IEnumerable<string> Roots()
    {
        var env = Environment.GetEnvironmentVariable("DFD_MODELS");
        if (!string.IsNullOrEmpty(env)) yield return env;
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var m = Path.Combine(d.FullName, "models");
                if (Directory.Exists(m)) yield return m;
            }
        }
    }

    public static string? Find(string relative) =>
        Roots().Select(r => Path.Combine(r, relative)).FirstOrDefault(File.Exists);

    /// <summary>
    /// <c>../shared/models/RELATIVE</c> beside the checkout (the directory holding Dfd.slnx, found by walking up from the
    /// program, then from the working directory), where it exists: models whose licence keeps them out of the repository.
    /// </summary>
    /// <summary>
    /// Weights a licence keeps out of the repository: the file <paramref name="variable"/> names (null if it names a
    /// missing one, so the mistake is reported rather than passed over), else the models folders, else ../shared.
    /// </summary>
    public static string? FindUnshipped(string variable, string relative)
    {
        var env = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        return Find(relative) ?? FindShared(relative);
    }

    /// <summary>Where <see cref="FindUnshipped"/> looks, for messages.</summary>
    public static string WhereLooked(string variable, string relative)
    {
        var env = Environment.GetEnvironmentVariable(variable);
        return !string.IsNullOrEmpty(env)
            ? $"${variable} = {env}, which does not exist"
            : $"${variable} (unset), {relative} under $DFD_MODELS and models/ folders, ../shared/models/{relative} beside the checkout";
    }

    public static string? FindShared(string relative) =>
        new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() }.Select(s => BesideCheckout(s, relative)).FirstOrDefault(p => p != null);

    static string? BesideCheckout(string start, string relative)
    {
        for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
        {
            if (!File.Exists(Path.Combine(d.FullName, "Dfd.slnx"))) continue;
            var shared = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "models", relative));
            return File.Exists(shared) ? shared : null;
        }
        return null;
    }
}
