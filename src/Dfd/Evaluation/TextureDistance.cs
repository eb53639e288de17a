using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Evaluation;

/// <summary>
/// Texture Fréchet distance: Gaussians fitted to globally average-pooled early feature maps of an FR model that no
/// loss uses (mobilefacenet-casia), reconstructions against originals, as FID does with Inception features but at a
/// stage that sees edges and skin texture rather than identity. Vectors are not normalised (their size is the signal).
/// </summary>
/// <param name="Model">The feature model.</param>
/// <param name="Layer">Which feature map, in words.</param>
/// <param name="Dimensions">Channels of that map: the length of each pooled vector.</param>
/// <param name="Images">Images per set.</param>
/// <param name="Reconstructions">Reconstructions against the originals; null when skipped.</param>
/// <param name="MeanFace">One image, the originals' pixel mean, for every face against the originals: what a face with no texture of its own scores.</param>
/// <param name="OriginalsHalves">Originals of every other person against those of the rest: the level two sets of real photos reach.</param>
/// <param name="Skipped">Why the measure was not taken (no weights); null when it was.</param>
public sealed record TextureResult(string Model, string Layer, int Dimensions, int Images, double? Reconstructions, double? MeanFace,
    double? OriginalsHalves, string? Skipped = null);

public static class TextureDistance
{
    public const string Model = DecoderEvaluation.DefaultExtraModel;

    /// <summary>Which of MobileFaceNet's four feature maps (56×48×64, 28×24×64, 14×12×128, 7×6×512) is pooled: the second.</summary>
    public const int Stage = 1;

    public const string LayerText = "feature map 2 of 4 (28×24×64: conv1, dw_conv1 and the first 5 bottlenecks), global average pool";

    /// <summary>Pooled stage-<see cref="Stage"/> features of aligned crops (the model's own crop size), one vector per image.</summary>
    public static float[][] Features(IFeatureEncoder enc, IReadOnlyList<RgbImage> crops, int batch = 32, IProgress<(int, int)>? progress = null)
    {
        var spec = enc.Spec;
        var result = new float[crops.Count][];
        using var _ = torch.no_grad();
        for (int i = 0; i < crops.Count; i += batch)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(batch, crops.Count - i);
            var x = Tensors.FromImages(crops.Skip(i).Take(n).ToList(), spec.InputWidth, spec.InputHeight).to(enc.Device);
            var f = enc.ForwardWithFeatures(x).Features[Stage].mean([2L, 3L]).cpu().contiguous();
            int c = (int)f.shape[1];
            var flat = f.data<float>().ToArray();
            for (int j = 0; j < n; j++) result[i + j] = flat.AsSpan(j * c, c).ToArray();
            progress?.Report((i + n, crops.Count));
        }
        return result;
    }

    /// <summary>Fréchet distance of the pooled features of two sets of crops.</summary>
    public static double Distance(IFeatureEncoder enc, IReadOnlyList<RgbImage> a, IReadOnlyList<RgbImage> b, int batch = 32) =>
        Frechet.Distance(Features(enc, a, batch), Features(enc, b, batch), unit: false);

    /// <summary>
    /// The whole measure. Reconstructions and originals are in the decoder's crop (<paramref name="from"/>); both go
    /// to the feature model's crop by the same fixed warp, so the border it repeats is the same on both sides.
    /// Without the model's weights: a result that says it was skipped and why.
    /// </summary>
    public static TextureResult Measure(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals, RgbImage meanFace,
        IReadOnlyList<string> identities, AlignmentTemplate from, Device? device = null, int batch = 32, IProgress<(int, int)>? progress = null)
    {
        var spec = Registry.Spec(Model);
        string layer = LayerText;
        string? path = null;
        try { path = Registry.WeightsPath(Model); }
        catch (EncoderNotAvailableException) { }
        if (path == null || !File.Exists(path))
            return new TextureResult(Model, layer, 0, originals.Count, null, null, null,
                $"{Model} weights not found ({MobileFaceNet.WhereLooked()}): texture distance not measured");
        if (reconstructions.Count != originals.Count) throw new ArgumentException($"{reconstructions.Count} reconstructions for {originals.Count} originals");
        using var enc = Registry.Create(Model, null, device);
        var fe = enc as IFeatureEncoder ?? throw new InvalidOperationException($"{Model} gives no feature maps");
        var warp = AlignmentTemplate.CropToCrop(from, spec.Template);
        RgbImage To(RgbImage im) => warp is { } w ? Warp.Affine(im, w, spec.InputWidth, spec.InputHeight) : im;
        var total = reconstructions.Count * 2;
        var o = Features(fe, originals.Select(To).ToList(), batch, progress == null ? null : new Offset(progress, 0, total));
        var r = Features(fe, reconstructions.Select(To).ToList(), batch, progress == null ? null : new Offset(progress, originals.Count, total));
        var m = Features(fe, [To(meanFace)], 1)[0];
        var people = Scoring.People(identities);
        double? halves = null;
        if (people.Length >= 4)
            halves = Frechet.Distance(people.Where((_, p) => p % 2 == 0).SelectMany(p => p).Select(i => o[i]).ToList(),
                people.Where((_, p) => p % 2 == 1).SelectMany(p => p).Select(i => o[i]).ToList(), unit: false);
        return new TextureResult(Model, layer, o[0].Length, o.Length, Frechet.Distance(r, o, unit: false),
            Frechet.Distance(Enumerable.Repeat(m, Math.Max(2, o.Length)).ToList(), o, unit: false), halves);
    }

    sealed class Offset(IProgress<(int, int)> inner, int start, int total) : IProgress<(int, int)>
    {
        public void Report((int, int) v) => inner.Report((start + v.Item1, total));
    }
}
