using Dfd.Imaging;

namespace Dfd.Evaluation;

/// <summary>
/// Colour cast of a decoder: the reconstructions' mean per channel minus the originals', in 0..1 units (R, G, B).
/// The originals' own bias is 0 by definition; <see cref="OriginalsHalves"/> is the reference that says how large a
/// difference arises between two sets of real photos alone (every other person's originals against the rest's).
/// </summary>
/// <param name="Reconstructions">Reconstructions minus originals, whole crop.</param>
/// <param name="ReconstructionsInner">The same on the inner-face box (eyes to mouth); null without a box.</param>
/// <param name="OriginalsMean">The originals' mean per channel, 0..1: what the bias is relative to.</param>
/// <param name="OriginalsHalves">Originals of every other person minus those of the rest, whole crop; null with fewer than two people.</param>
public sealed record ColourBiasResult(double[] Reconstructions, double[]? ReconstructionsInner, double[] OriginalsMean, double[]? OriginalsHalves)
{
    /// <summary>The largest absolute channel bias of the reconstructions (the bar is within ±0.02 in each channel).</summary>
    public double MaxAbs => Reconstructions.Max(Math.Abs);
}

public static class ColourBias
{
    /// <summary>Mean of each channel over all pixels of all images (optionally only inside <paramref name="box"/>), 0..1.</summary>
    public static double[] MeanRgb(IReadOnlyList<RgbImage> images, Box? box = null)
    {
        if (images.Count == 0) throw new ArgumentException("no images: a mean colour needs at least one");
        var sums = new double[images.Count * 3];
        var counts = new long[images.Count];
        Parallel.For(0, images.Count, k =>
        {
            var im = images[k];
            int x0 = 0, y0 = 0, x1 = im.Width, y1 = im.Height;
            if (box is { } b) { x0 = Math.Max(0, b.X); y0 = Math.Max(0, b.Y); x1 = Math.Min(im.Width, b.Right); y1 = Math.Min(im.Height, b.Bottom); }
            double r = 0, g = 0, bl = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                {
                    int i = (y * im.Width + x) * 3;
                    r += im.Data[i]; g += im.Data[i + 1]; bl += im.Data[i + 2];
                }
            sums[k * 3] = r; sums[k * 3 + 1] = g; sums[k * 3 + 2] = bl;
            counts[k] = (long)Math.Max(0, x1 - x0) * Math.Max(0, y1 - y0);
        });
        long n = counts.Sum();
        if (n == 0) throw new ArgumentException("the box holds no pixel of the images");
        return [.. Enumerable.Range(0, 3).Select(c => Enumerable.Range(0, images.Count).Sum(k => sums[k * 3 + c]) / n / 255)];
    }

    /// <summary>Mean colour of <paramref name="a"/> minus that of <paramref name="b"/>, per channel, 0..1.</summary>
    public static double[] Of(IReadOnlyList<RgbImage> a, IReadOnlyList<RgbImage> b, Box? box = null)
    {
        var ma = MeanRgb(a, box);
        var mb = MeanRgb(b, box);
        return [ma[0] - mb[0], ma[1] - mb[1], ma[2] - mb[2]];
    }

    /// <summary>Everything of <see cref="ColourBiasResult"/>; <paramref name="identities"/> gives each original's person.</summary>
    public static ColourBiasResult Measure(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals,
        IReadOnlyList<string> identities, Box? inner = null)
    {
        if (reconstructions.Count != originals.Count) throw new ArgumentException($"{reconstructions.Count} reconstructions for {originals.Count} originals");
        var people = Scoring.People(identities);
        double[]? halves = null;
        if (people.Length >= 2)
        {
            var a = people.Where((_, p) => p % 2 == 0).SelectMany(p => p).Select(i => originals[i]).ToList();
            var b = people.Where((_, p) => p % 2 == 1).SelectMany(p => p).Select(i => originals[i]).ToList();
            halves = Of(a, b);
        }
        return new ColourBiasResult(Of(reconstructions, originals), inner is { } box ? Of(reconstructions, originals, box) : null,
            MeanRgb(originals), halves);
    }
}
