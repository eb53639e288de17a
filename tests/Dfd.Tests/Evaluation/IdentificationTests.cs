using Dfd.Evaluation;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Evaluation;

/// <summary>The measures of what a person would tell apart, on hand-made templates and images.</summary>
public class IdentificationTests
{
    // Three people, two images each, along three axes (slightly apart within a person).
    static readonly string[] Ids = ["a", "a", "b", "b", "c", "c"];
    static readonly float[][] Originals = [[1, 0, 0], [1, 0.1f, 0], [0, 1, 0], [0, 1, 0.1f], [0, 0, 1], [0.1f, 0, 1]];

    [Fact]
    public void PerfectReconstructionsIdentifyEveryoneAndMatchNoOneElse()
    {
        var r = Identification.Measure(Originals, Originals, [1, 1, 1], Ids, 0.9);
        Assert.Equal((3, 3), (r.GalleryPeople, r.Probes));
        Assert.Equal(1.0, r.Rank1);
        Assert.Equal(1.0, r.Rank1Originals);
        Assert.Equal(1.0 / 3, r.Rank1MeanFace, 12);   // one face for all: right for one person of three
        Assert.Equal(6L * 2, r.FalseMatchComparisons);
        Assert.Equal(0.0, r.FalseMatches);
        Assert.Equal(0.0, r.FalseMatchesMeanFace);   // cos((1,1,1), axis) = 0.577 < 0.9
    }

    [Fact]
    public void OneFaceForEveryoneMatchesEveryoneAndIdentifiesOnePerson()
    {
        // Every reconstruction is b's face: b's probe is right, a's and c's wrong; each image matches b's gallery face,
        // which for a's and c's four images is another person's (4 of 12 comparisons).
        var all = Enumerable.Repeat(new float[] { 0, 1, 0 }, 6).ToArray();
        var r = Identification.Measure(Originals, all, [0, 1, 0], Ids, 0.9);
        Assert.Equal(1.0 / 3, r.Rank1, 12);
        Assert.Equal(4.0 / 12, r.FalseMatches, 12);
        Assert.Equal(1.0 / 3, r.FalseMatchesMeanFace, 12);
        Assert.Throws<ArgumentException>(() => Identification.Measure(Originals, all.Take(5).ToList(), [0, 1, 0], Ids, 0.9));
    }

    [Fact]
    public void FrechetDistanceByHand()
    {
        float[][] a = [[1, 0], [0, 1]], b = [[-1, 0], [0, -1]];
        Assert.Equal(0, Frechet.Distance(a, a), 9);
        // Means (.5,.5) and (−.5,−.5), equal covariances: ‖(1,1)‖² = 2.
        Assert.Equal(2, Frechet.Distance(a, b), 9);
        Assert.Equal(Frechet.Distance(a, b), Frechet.Distance(b, a), 9);
        // Scale does not matter: templates are normalised first.
        Assert.Equal(2, Frechet.Distance(a, b.Select(v => v.Select(x => 5 * x).ToArray()).ToList()), 9);
        // A point set against a spread one: ‖μa − μb‖² + Tr(Σb), Σa = 0.
        float[][] point = [[1, 0], [1, 0]];
        Assert.Equal(0.5 + 1.0, Frechet.Distance(point, a), 9);
    }

    [Fact]
    public void GradientEnergyOfStripesAndFlats()
    {
        var flat = new RgbImage(8, 6);
        Array.Fill(flat.Data, (byte)90);
        Assert.Equal(0, ImageQuality.GradientEnergy(flat));
        var stripes = new RgbImage(8, 6);
        for (int y = 0; y < 6; y++) for (int x = 0; x < 8; x += 2) { int k = stripes.Index(x, y); stripes.Data[k] = stripes.Data[k + 1] = stripes.Data[k + 2] = 255; }
        Assert.Equal(1.0, ImageQuality.GradientEnergy(stripes), 9);   // every horizontal step is 0↔1, no vertical one
        Assert.Equal(1.0, ImageQuality.GradientEnergy(stripes, new Box(2, 1, 4, 3)), 9);
        Assert.Throws<ArgumentException>(() => ImageQuality.GradientEnergy(stripes, new Box(6, 0, 4, 3)));
        var s = ImageMeasures.Sharpness([flat, flat], [stripes, stripes], flat, new Box(0, 0, 8, 6));
        Assert.Equal((0.0, 0.0, 1.0), (s.Whole, s.MeanFaceWhole, s.OriginalsWhole));
    }
}
