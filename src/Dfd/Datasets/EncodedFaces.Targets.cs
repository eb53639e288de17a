using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using static TorchSharp.torch;

namespace Dfd.Datasets;

// Targets: each face again, aligned at a decoder's output size when that is larger than the encoder's crop
// (dfd train --out-size). The pixel terms compare a reconstruction with these, not with an upscaled encoder crop.
public sealed partial class EncodedFaces
{
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

    /// <summary>Each item's encoder crop and its target at the output size, aligned from one detection; null when the
    /// output size is the encoder's own.</summary>
    public static TargetCrops? Cropper(EncoderSpec spec, FacePipeline? pipeline, int outWidth, int outHeight)
    {
        var (tw, th) = TargetSize(spec, outWidth, outHeight);
        if (tw == 0) return null;
        return new TargetCrops(tw, th, it =>
        {
            var r = FaceInput.Crop(it.Path, spec, it.Aligned ? null : pipeline, FacePick.MostCentral, tw, th);
            return (r.Crop, r.Target, r.Problem);
        });
    }

    /// <summary>The set with targets at <paramref name="outWidth"/>×<paramref name="outHeight"/> (0: none), reporting faces done.</summary>
    public static EncodedFaces Build(IReadOnlyList<FaceItem> items, IEncoder encoder, FacePipeline? pipeline, string? cacheDir, string weightsId,
        IProgress<(int Done, int Total)>? progress, int outWidth, int outHeight) =>
        Build(items, encoder, pipeline, cacheDir, weightsId, new BuildOptions
        {
            Progress = progress == null ? null : new SyncProgress<BuildProgress>(p => progress.Report(((int)p.FacesDone, (int)p.FacesTotal))),
        }, Cropper(encoder.Spec, pipeline, outWidth, outHeight));
}
