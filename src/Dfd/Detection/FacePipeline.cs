using Dfd.Encoders;
using Dfd.Imaging;

namespace Dfd.Detection;

public enum AlignStatus { Aligned, NoFace, Unreadable }

/// <summary>One file's outcome: a failure is a result, not an exception, so a batch goes on.</summary>
public sealed record AlignResult(string File, AlignStatus Status, string? Message, IReadOnlyList<Face> Faces, IReadOnlyList<RgbImage> Crops);

/// <summary>
/// How to choose among several detected faces. <see cref="MostCentral"/> is the one default everywhere (library, CLI,
/// training, evaluation, analysis, serve): portrait datasets such as LFW name the person in the middle of the picture,
/// and in 256 of LFW's 13,233 photos the most confident face is someone else.
/// </summary>
public enum FacePick { MostCentral, MostConfident, All }

/// <summary>detect → align, as two calls (an encoder then embeds the crops).</summary>
public sealed class FacePipeline(YuNet detector) : IDisposable
{
    public YuNet Detector { get; } = detector;

    public static FacePipeline CreateDefault(float scoreThreshold = 0.6f) => new(new YuNet(YuNet.DefaultModelPath, scoreThreshold));

    public IReadOnlyList<Face> Detect(RgbImage image) => Detector.Detect(image);

    public static RgbImage Align(RgbImage image, Face face, AlignmentTemplate template) => template.Align(image, face.Landmarks);

    /// <summary>Loads, detects and aligns one file; a broken file or a missed face comes back as a status.</summary>
    public AlignResult AlignFile(string path, AlignmentTemplate template, FacePick pick = FacePick.MostCentral)
    {
        RgbImage img;
        try { img = ImageIO.Load(path); }
        catch (ImageLoadException e) { return new(path, AlignStatus.Unreadable, e.Problem, [], []); }
        return AlignImage(path, img, template, pick);
    }

    public AlignResult AlignImage(string name, RgbImage img, AlignmentTemplate template, FacePick pick = FacePick.MostCentral)
    {
        var faces = Detect(img);
        if (faces.Count == 0) return new(name, AlignStatus.NoFace, "no face found", faces, []);
        var chosen = pick switch
        {
            FacePick.All => faces.ToList(),
            FacePick.MostCentral => [MostCentral(faces, img.Width, img.Height)],
            _ => [faces[0]],
        };
        var msg = faces.Count > 1 && pick != FacePick.All ? $"{faces.Count} faces found, {(pick == FacePick.MostCentral ? "most central" : "most confident")} taken" : null;
        return new(name, AlignStatus.Aligned, msg, chosen, chosen.Select(f => Align(img, f, template)).ToList());
    }

    /// <summary>LFW's convention: the person named is the one in the middle of the picture.</summary>
    public static Face MostCentral(IReadOnlyList<Face> faces, int width, int height) =>
        faces.OrderBy(f =>
        {
            float dx = f.X + f.Width / 2 - width / 2f, dy = f.Y + f.Height / 2 - height / 2f;
            return dx * dx + dy * dy;
        }).First();

    public void Dispose() => Detector.Dispose();
}

/// <summary>One file made into an encoder's input crop, or why not.</summary>
/// <param name="Note">Set when it worked with a remark (e.g. several faces found, one taken).</param>
public readonly record struct CropResult(RgbImage? Crop, string? Problem, string? Note = null)
{
    /// <summary>The same face aligned at a larger output size (<see cref="FaceInput.Crop(string, EncoderSpec, FacePipeline?, FacePick, int, int)"/>), else null.</summary>
    public RgbImage? Target { get; init; }
}

/// <summary>
/// The one way a file becomes an encoder's crop, for every command that takes faces: with a detector, detect and
/// align it to the encoder's template; without one, the file must already be an aligned crop of the encoder's size.
/// </summary>
public static class FaceInput
{
    public static CropResult Crop(string path, EncoderSpec spec, FacePipeline? pipeline, FacePick pick = FacePick.MostCentral)
    {
        if (pipeline != null)
        {
            if (pick == FacePick.All)
                throw new ArgumentException("one crop cannot hold every face: FacePipeline.AlignFile with FacePick.All gives them all", nameof(pick));
            var r = pipeline.AlignFile(path, spec.Template, pick);
            return r.Status == AlignStatus.Aligned ? new(r.Crops[0], null, r.Message) : new(null, r.Message ?? r.Status.ToString());
        }
        RgbImage img;
        try { img = ImageIO.Load(path); }
        catch (ImageLoadException e) { return new(null, e.Problem); }
        return img.Width == spec.InputWidth && img.Height == spec.InputHeight
            ? new(img, null)
            : new(null, $"{img.Width}×{img.Height}, not an aligned {spec.InputWidth}×{spec.InputHeight} {spec.Name} crop (without --aligned the detector aligns it)");
    }

    /// <summary>
    /// The encoder's crop and, from the same detection, a target crop of the same alignment at
    /// <paramref name="targetWidth"/>×<paramref name="targetHeight"/> (<see cref="CropResult.Target"/>): what a decoder
    /// drawing at that size is trained and measured against. Without a detector the file must be an aligned crop at
    /// the target size; the encoder's crop is then that file resized (bilinear).
    /// </summary>
    public static CropResult Crop(string path, EncoderSpec spec, FacePipeline? detector, FacePick pick, int targetWidth, int targetHeight)
    {
        if (targetWidth == spec.InputWidth && targetHeight == spec.InputHeight) return Crop(path, spec, detector, pick);
        var big = spec.Template.Scaled(targetWidth, targetHeight);
        RgbImage img;
        try { img = ImageIO.Load(path); }
        catch (ImageLoadException e) { return new(null, e.Problem); }
        if (detector == null)
            return img.Width == targetWidth && img.Height == targetHeight
                ? new(Warp.Resize(img, spec.InputWidth, spec.InputHeight), null) { Target = img }
                : new(null, $"{img.Width}×{img.Height}, not an aligned {targetWidth}×{targetHeight} crop in {spec.Name}'s alignment (a decoder drawing at {targetWidth}×{targetHeight} needs crops of that size, or photos for the detector)");
        var r = detector.AlignImage(path, img, spec.Template, pick == FacePick.All ? FacePick.MostConfident : pick);
        if (r.Status != AlignStatus.Aligned) return new(null, r.Message ?? r.Status.ToString());
        return new(r.Crops[0], null, r.Message) { Target = FacePipeline.Align(img, r.Faces[0], big) };
    }
}
