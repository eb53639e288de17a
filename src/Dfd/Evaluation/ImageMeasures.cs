using Dfd.Imaging;

namespace Dfd.Evaluation;

/// <summary>How the reconstructions compare with the originals as pictures: SSIM, PSNR, their floors and references, detail drawn, spread.</summary>
public static class ImageMeasures
{
    /// <summary>How many of a person's images (the first, in evaluation order) the same-person SSIM reference pairs up;
    /// LFW's largest test person has 530, whose 140,000 pairs would cost more than the rest of the evaluation.</summary>
    public const int SamePersonImages = 10;

    /// <summary>Per-image SSIM and PSNR of reconstructions against the crops they came from, and their means; with
    /// <paramref name="identities"/> (each image's person) also the same-person reference; with <paramref name="inner"/>
    /// the SSIMs again on that box.</summary>
    public static QualityResult Quality(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals,
        IReadOnlyList<string>? identities = null, Box? inner = null)
    {
        int n = reconstructions.Count;
        if (originals.Count != n) throw new ArgumentException($"{n} reconstructions, {originals.Count} originals");
        var ssim = new double[n];
        var psnr = new double[n];
        Parallel.For(0, n, i =>
        {
            ssim[i] = ImageQuality.Ssim(reconstructions[i], originals[i]);
            psnr[i] = ImageQuality.Psnr(reconstructions[i], originals[i]);
        });
        if (n == 0) return new QualityResult(0, double.NaN, double.NaN, double.NaN, double.NaN, 0);
        int identical = psnr.Count(double.IsPositiveInfinity);
        double Std(double[] x) { double m = x.Average(); return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / x.Length); }
        double? pm = identical > 0 ? null : psnr.Average();
        double? ps = identical > 0 ? null : Std(psnr);
        var originalSums = PixelSums.Of(originals);
        var mean = originalSums.Mean();
        var floorSsim = new double[n];
        var floorPsnr = new double[n];
        Parallel.For(0, n, i =>
        {
            floorSsim[i] = ImageQuality.Ssim(mean, originals[i]);
            floorPsnr[i] = ImageQuality.Psnr(mean, originals[i]);
        });
        var same = identities is null ? null : SamePersonSsims(originals, identities);
        InnerFaceSsim? innerSsim = null;
        if (inner is { } b)
        {
            var q = Quality(reconstructions.Select(b.Crop).ToList(), originals.Select(b.Crop).ToList(), identities);
            innerSsim = new(b.X, b.Y, b.Right, b.Bottom, q.SsimMean, q.MeanFaceSsim, q.SamePersonSsim);
        }
        return new QualityResult(n, ssim.Average(), Std(ssim), pm, ps, identical)
        {
            InnerFace = innerSsim,
            Sharpness = inner is { } box ? Sharpness(reconstructions, originals, mean, box) : null,
            Ssim = ssim, Psnr = psnr, MeanFaceSsim = floorSsim.Average(),
            MeanFacePsnrDb = floorPsnr.All(double.IsFinite) ? floorPsnr.Average() : null,
            SamePersonSsim = same is { Length: > 0 } ? same.Average(p => p.Average()) : null,
            SamePersonPeople = same?.Length ?? 0, SamePersonPairs = same?.Sum(p => (long)p.Length) ?? 0,
            PixelSpread = PixelSpreadOf(reconstructions), PixelSpreadOriginals = originalSums.Spread(),
        };
    }

    /// <summary>Mean gradient energies of reconstructions and of the mean face over the originals', whole and in <paramref name="inner"/>.</summary>
    public static SharpnessResult Sharpness(IReadOnlyList<RgbImage> reconstructions, IReadOnlyList<RgbImage> originals, RgbImage meanFace, Box inner)
    {
        double Mean(IReadOnlyList<RgbImage> ims, Box? b)
        {
            var e = new double[ims.Count];
            Parallel.For(0, ims.Count, i => e[i] = ImageQuality.GradientEnergy(ims[i], b));
            return e.Average();
        }
        double ow = Mean(originals, null), oi = Mean(originals, inner);
        return new SharpnessResult(Mean(reconstructions, null) / ow, Mean(reconstructions, inner) / oi,
            ImageQuality.GradientEnergy(meanFace) / ow, ImageQuality.GradientEnergy(meanFace, inner) / oi, ow, oi);
    }

    /// <summary>Per person with ≥ 2 images: SSIM of every unordered pair among their first <see cref="SamePersonImages"/> images.</summary>
    public static double[][] SamePersonSsims(IReadOnlyList<RgbImage> originals, IReadOnlyList<string> identities)
    {
        if (identities.Count != originals.Count) throw new ArgumentException($"{identities.Count} identities for {originals.Count} images");
        var people = Scoring.People(identities).Select(g => g.Take(SamePersonImages).ToArray()).Where(g => g.Length >= 2).ToArray();
        // One flat list of (person, image, image) so that Parallel.For spreads the pairs, not the people, over the cores.
        var pairs = people.SelectMany((g, p) => g.SelectMany((a, i) => g.Skip(i + 1).Select(b => (p, a, b)))).ToArray();
        var v = new double[pairs.Length];
        Parallel.For(0, pairs.Length, k => v[k] = ImageQuality.Ssim(originals[pairs[k].a], originals[pairs[k].b]));
        return Enumerable.Range(0, pairs.Length).GroupBy(k => pairs[k].p, k => v[k]).Select(g => g.ToArray()).ToArray();
    }

    /// <summary>Per-pixel-and-channel sum and sum of squares of same-sized images: one pass gives both the mean face and the spread.</summary>
    sealed record PixelSums(int Width, int Height, int Count, double[] Sum, double[] Squares)
    {
        public static PixelSums Of(IReadOnlyList<RgbImage> images)
        {
            var first = images[0];
            var sum = new double[first.Data.Length];
            var sq = new double[first.Data.Length];
            foreach (var im in images)
            {
                if (im.Width != first.Width || im.Height != first.Height) throw new ArgumentException($"images of {first.Width}×{first.Height} and {im.Width}×{im.Height}");
                for (int i = 0; i < sum.Length; i++) { double v = im.Data[i]; sum[i] += v; sq[i] += v * v; }
            }
            return new(first.Width, first.Height, images.Count, sum, sq);
        }

        public RgbImage Mean()
        {
            var m = new RgbImage(Width, Height);
            for (int i = 0; i < Sum.Length; i++) m.Data[i] = (byte)Math.Round(Sum[i] / Count);
            return m;
        }

        public double Spread()
        {
            double total = 0;
            for (int i = 0; i < Sum.Length; i++)
            {
                double m = Sum[i] / Count;
                total += Math.Sqrt(Math.Max(0, Squares[i] / Count - m * m));
            }
            return total / Sum.Length / 255;
        }
    }

    /// <summary>Population standard deviation of every pixel and channel over the images, averaged, in 0–1 units.</summary>
    public static double PixelSpreadOf(IReadOnlyList<RgbImage> images) => PixelSums.Of(images).Spread();

    /// <summary>Per-pixel mean of same-sized images, rounded.</summary>
    public static RgbImage MeanImage(IReadOnlyList<RgbImage> images) => PixelSums.Of(images).Mean();
}
