using System.Text.Json.Serialization;
using Dfd.Datasets;
using Dfd.Imaging;
using TorchSharp;

namespace Dfd.Evaluation;

/// <summary>
/// Similarity scores (cosine of templates) of one FR model over a test set with reconstructions, in the shapes the
/// match rates need. Person-level lists keep each person's pairs together so that rates can be averaged per person
/// first (one LFW man has 530 images; pooled, his ~280,000 pairs would outweigh everyone else).
/// </summary>
public sealed class ModelScores
{
    /// <summary>Originals of different people, one image each (each person's first): all unordered pairs.</summary>
    public required double[] Impostor { get; init; }
    /// <summary>cos(M(r_i), M(o_i)) for every image i.</summary>
    public required double[] TypeI { get; init; }
    /// <summary>Per person with ≥ 2 images: cos(M(r_i), M(o_j)) for all ordered pairs i ≠ j of that person's images.</summary>
    public required double[][] TypeII { get; init; }
    /// <summary>Per person with ≥ 2 images: cos(M(o_i), M(o_j)) for unordered pairs i &lt; j.</summary>
    public required double[][] Genuine { get; init; }
    public required int People { get; init; }
    /// <summary>
    /// For a model reached by the crop-to-crop warp: cos(M(warp(o_i in E0's crop)), M(o_i)) per image: the type-I score
    /// the warp itself leaves an exact reconstruction (the decoder's crop lacks parts of M's, which the warp fills by
    /// repeating the border). Null for E0.
    /// </summary>
    public double[]? WarpedOriginals { get; init; }
}

/// <summary>One FMR operating point of one model: the threshold and how often reconstructions (and, for context, genuine pairs) pass it.</summary>
/// <param name="TypeI">Fraction of images whose reconstruction matches its own original.</param>
/// <param name="TypeII">Fraction of (reconstruction, other image of the same person) pairs that match, averaged per person, then over persons.</param>
/// <param name="Genuine">The same for original-vs-original pairs of a person: what the model achieves on real images.</param>
/// <param name="WarpedOriginals">Type I of the originals themselves sent through the crop-to-crop warp (null for E0): the ceiling the warp allows.</param>
public sealed record RateAtFmr(double Fmr, double Threshold, int FalseAccepts, int ImpostorComparisons,
    double TypeI, int TypeIMatches, int TypeIImages, double TypeII, double Genuine, double? WarpedOriginals = null);

/// <summary>Everything measured with one FR model.</summary>
public sealed record ModelResult(
    string Model, string Role, string WeightsId, int InputWidth, int InputHeight, bool Warped,
    int Images, int People, int PeopleWithTwoOrMore, long ImpostorComparisons, long TypeIIPairs, long GenuinePairs,
    double MeanTypeI, double MeanTypeII, double MeanGenuine, double MeanImpostor, double? MeanWarpedOriginals,
    IReadOnlyList<RateAtFmr> Rates)
{
    [JsonIgnore] public ModelScores? Scores { get; init; }

    /// <summary>Rank-1 identification and false matches at FMR 1e-3 (null when the FMRs leave out 1e-3 or there is one person).</summary>
    public IdentificationResult? Identification { get; init; }

    /// <summary>Fréchet distance of this model's templates of reconstructions and originals.</summary>
    public FrechetResult? Frechet { get; init; }
}

/// <summary>
/// Detail drawn: mean <see cref="ImageQuality.GradientEnergy"/> of the reconstructions over that of the originals, on
/// the whole crop and on the inner-face box; the same ratios for the mean face (the floor; 1 would be a photo's detail).
/// </summary>
public sealed record SharpnessResult(double Whole, double Inner, double MeanFaceWhole, double MeanFaceInner, double OriginalsWhole, double OriginalsInner);

/// <summary>Reconstructions against the crops their templates came from. PSNR null = +∞ (identical images).</summary>
public sealed record QualityResult(int Images, double SsimMean, double SsimStd, double? PsnrMeanDb, double? PsnrStdDb, int IdenticalImages)
{
    /// <summary>Per-image values, in evaluation order.</summary>
    [JsonIgnore] public double[] Ssim { get; init; } = [];
    [JsonIgnore] public double[] Psnr { get; init; } = [];

    /// <summary>The floor: SSIM and PSNR of one image, the pixel mean of the originals, against each original.
    /// A decoder that ignored its input would score this; on the LFW test split it is most of the number.</summary>
    public double? MeanFaceSsim { get; init; }
    public double? MeanFacePsnrDb { get; init; }

    /// <summary>A reference from real photos: SSIM of each original against the same person's other originals (a
    /// person's first <see cref="ImageMeasures.SamePersonImages"/> images, unordered pairs), averaged per person,
    /// then over people. A reconstruction that showed the right person in another photo's pose, light and background
    /// would score about this. Null without identities or without a person of two images.</summary>
    public double? SamePersonSsim { get; init; }
    public int SamePersonPeople { get; init; }
    public long SamePersonPairs { get; init; }

    /// <summary>How much the images differ from face to face: the standard deviation of each pixel and channel over
    /// all the images, averaged, in units of the full range (0–1). The reconstructions' against the originals': a
    /// decoder that drew one average face for everyone would score 0, one as varied as the photos would score the
    /// originals' value. SSIM alone misses this, since the mean face already scores most of it.</summary>
    public double? PixelSpread { get; init; }
    public double? PixelSpreadOriginals { get; init; }

    /// <summary>The same SSIMs on the inner-face box only (eyes to mouth, as the local loss terms see it); null when not asked.</summary>
    public InnerFaceSsim? InnerFace { get; init; }

    /// <summary>How much of the originals' detail the reconstructions draw; null when no inner-face box was given.</summary>
    public SharpnessResult? Sharpness { get; init; }
}

/// <summary>SSIM of reconstructions, of the mean face and of another photo of the same person, on the inner-face box (crop pixels, end exclusive).</summary>
public sealed record InnerFaceSsim(int X0, int Y0, int X1, int Y1, double Reconstructions, double? MeanFace, double? SamePerson);

public sealed record DecoderProvenance(string Path, string Sha256, long Bytes, string Encoder, int TemplateDim, string OutputSize,
    string Format, int? EpochsDone, double? TrainSeconds, string? Split, string? TrainConfig, IReadOnlyDictionary<string, string> Metadata);

public sealed record DataProvenance(string Spec, string Kind, string? Split, string? SplitFile, int ListedImages, int ListedPeople,
    int? LimitPeople, int EvaluatedImages, int EvaluatedPeople, int SkippedImages, IReadOnlyList<string[]> Skipped, string CacheDir);

public sealed record EvaluationResult(
    DecoderProvenance Decoder, DataProvenance Data, string Encoder, IReadOnlyList<string> Models, IReadOnlyList<double> Fmrs,
    IReadOnlyList<ModelResult> Results, QualityResult Quality, string Device, IReadOnlyDictionary<string, double> StageSeconds,
    double Seconds, string Utc)
{
    /// <summary>Sample faces for the report: aligned originals (encoder E0's crop) and their reconstructions.</summary>
    [JsonIgnore] public IReadOnlyList<RgbImage> SampleOriginals { get; init; } = [];
    [JsonIgnore] public IReadOnlyList<RgbImage> SampleReconstructions { get; init; } = [];
    [JsonIgnore] public IReadOnlyList<string> SampleNames { get; init; } = [];

    // Issue 25 (ColourBias.cs, TextureDistance.cs, DecoderKind.cs): which decoder drew the faces, its colour cast, its texture.
    public string DecoderKind { get; init; } = global::Dfd.Decoder.DecoderKind.Regression;
    public ColourBiasResult? ColourBias { get; init; }
    public TextureResult? Texture { get; init; }
}

public sealed record EvaluationOptions
{
    /// <summary>A dataset spec (<see cref="FaceDatasets.Open"/>), e.g. <c>lfw:/data/lfw-deepfunneled</c>.</summary>
    public required string Data { get; init; }
    /// <summary>FR models besides the decoder's own encoder; null: <c>mobilefacenet-casia</c> where its weights are found.</summary>
    public IReadOnlyList<string>? Models { get; init; }
    /// <summary>Keep the first N people (sorted by name) of the test set.</summary>
    public int? LimitPeople { get; init; }
    /// <summary>Where aligned + encoded evaluation sets are cached; null: no cache.</summary>
    public string? CacheDir { get; init; }
    /// <summary>LFW split file; null: the committed one where found; "none": use every person.</summary>
    public string? Split { get; init; }
    public torch.Device? Device { get; init; }
    public IReadOnlyList<double> Fmrs { get; init; } = [1e-2, 1e-3, 1e-4];
    public int SampleFaces { get; init; } = 16;
    public int Batch { get; init; } = 32;
    /// <summary>Measure the texture Fréchet distance (<see cref="TextureDistance"/>) where mobilefacenet-casia's weights are found.</summary>
    public bool Texture { get; init; } = true;
}

/// <summary>Stage name, done, total: for progress bars.</summary>
public readonly record struct EvaluationProgress(string Stage, int Done, int Total);
