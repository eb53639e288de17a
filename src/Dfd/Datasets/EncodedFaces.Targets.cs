using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using static TorchSharp.torch;

namespace Dfd.Datasets;

// Targets: each face again, aligned at a decoder's output size when that is larger than the encoder's crop
// (dfd train --out-size). The pixel terms compare a reconstruction with these, not with an upscaled encoder crop.
public sealed partial class EncodedFaces
{
    /// <summary>HWC RGB crops at <see cref="TargetWidth"/>×<see cref="TargetHeight"/>, in the encoder's alignment scaled
    /// to that size; null when the set holds only the encoder's crops.</summary>
    public byte[][]? Targets { get; init; }
    public int TargetWidth { get; init; }
    public int TargetHeight { get; init; }

    /// <summary>The size a decoder trained on this set draws at: the targets' where present, else the crops'.</summary>
    public int OutWidth => Targets != null ? TargetWidth : Width;
    public int OutHeight => Targets != null ? TargetHeight : Height;

    /// <summary>Face i at the output size: its target, else its crop.</summary>
    public RgbImage TargetImage(int i) => Targets != null ? new(TargetWidth, TargetHeight, Targets[i]) : Image(i);

    /// <summary><see cref="Batch"/> and the targets of the same faces, flipped alike ([N,3,TH,TW] 0..255; null without targets).</summary>
    public (Tensor Images, Tensor Templates, Tensor? Targets) BatchWithTargets(int[] idx, bool[] flips)
    {
        var (x, t) = Batch(idx, flips);
        return (x, t, Targets == null ? null : Gather(Targets, TargetWidth, TargetHeight, idx, flips));
    }

    /// <summary>(0, 0) when the output size is the encoder's own or unset; else the size, checked against the template's aspect.</summary>
    /// <exception cref="ArgumentException">A size of another aspect than the encoder's crop.</exception>
    public static (int Width, int Height) TargetSize(EncoderSpec spec, int width, int height)
    {
        if (width <= 0 && height <= 0 || width == spec.InputWidth && height == spec.InputHeight) return (0, 0);
        _ = spec.Template.Scaled(width, height); // throws on another aspect
        return (width, height);
    }

    // Sets without targets keep the key they always had, so existing caches still load.
    static string KeySuffix(int tw, int th) => tw > 0 ? $"-out{tw}x{th}" : "";

    void SaveTargets(string basePath)
    {
        if (Targets == null) return;
        AtomicFile.Write(basePath + ".targets.bin", s => { foreach (var c in Targets) s.Write(c, 0, c.Length); });
    }

    static byte[][]? LoadTargets(string basePath, int n, int width, int height)
    {
        if (width <= 0) return null;
        var path = basePath + ".targets.bin";
        if (!File.Exists(path)) return null;
        int size = width * height * 3;
        var raw = File.ReadAllBytes(path);
        if (raw.Length != (long)n * size) return null;
        return Enumerable.Range(0, n).Select(i => raw.AsSpan(i * size, size).ToArray()).ToArray();
    }
}
