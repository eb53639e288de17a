using Dfd.Core;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Decoder;

public class ImpostorsTests
{
    static float[][] Rows(int n, int d, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    /// <summary>The k-th largest cosine of a template against another person's centre, k = ⌈rate × count⌉, in double.</summary>
    static double BruteThreshold(float[][] centres, int[] personOf, float[][] templates, double fmr)
    {
        var sims = new List<double>();
        for (int i = 0; i < templates.Length; i++)
            for (int p = 0; p < centres.Length; p++)
                if (p != personOf[i]) sims.Add(Cosine.Of(templates[i], centres[p]));
        sims.Sort((a, b) => b.CompareTo(a));
        return sims[(int)Math.Ceiling(fmr * sims.Count) - 1];
    }

    [Theory]
    [InlineData(5, 7, 0.1)]      // 28 impostor cosines, the 3rd largest
    [InlineData(5, 7, 1e-3)]     // the largest
    [InlineData(30, 600, 0.01)]  // more templates than one chunk: 17,400 cosines, the 174th largest across chunks
    public void ThresholdIsWherePhotosMatchOtherPeople(int people, int n, double fmr)
    {
        using var scope = torch.NewDisposeScope();
        var centres = Rows(people, 6, 1);
        var templates = Rows(n, 6, 2);
        var personOf = Enumerable.Range(0, n).Select(i => i * 7 % people).ToArray();
        using var imp = new Impostors(centres, personOf, templates, fmr);
        Assert.Equal(people, imp.People);
        Assert.Equal(n, imp.Photos);
        Assert.Equal(BruteThreshold(centres, personOf, templates, fmr), imp.Threshold, 5);
    }

    [Fact]
    public void ALargeSetSetsTheThresholdFromEvenlySpacedPhotos()
    {
        using var scope = torch.NewDisposeScope();
        var centres = Rows(9, 6, 8);
        var templates = Rows(50, 6, 9);
        var personOf = Enumerable.Range(0, 50).Select(i => i % 9).ToArray();
        using var imp = new Impostors(centres, personOf, templates, 0.05, maxPhotos: 20);
        Assert.Equal(20, imp.Photos);
        // Items 0, 2, 5, 7, … (i · 50 / 20).
        var chosen = Enumerable.Range(0, 20).Select(i => i * 50 / 20).ToArray();
        double want = BruteThreshold(centres, chosen.Select(i => personOf[i]).ToArray(), chosen.Select(i => templates[i]).ToArray(), 0.05);
        Assert.Equal(want, imp.Threshold, 5);
        Assert.NotEqual(BruteThreshold(centres, personOf, templates, 0.05), imp.Threshold, 5);
    }

    [Fact]
    public void ExcessSumsHowFarATemplateMatchesOtherPeople()
    {
        using var scope = torch.NewDisposeScope();
        var centres = Rows(6, 5, 3);
        var photos = Rows(40, 5, 4);
        var personOf = Enumerable.Range(0, 40).Select(i => i % 6).ToArray();
        using var imp = new Impostors(centres, personOf, photos, 0.05);
        // Templates scaled (the term is a cosine's), one equal to its own person's centre (cosine 1, which must not count).
        var rows = Rows(3, 5, 5);
        rows[2] = centres[4].Select(v => v * 3).ToArray();
        int[] persons = [0, 5, 4];
        var t = torch.tensor(rows.SelectMany(v => v).ToArray(), new long[] { 3, 5 }).requires_grad_(true);
        var excess = imp.Excess(t, persons);
        for (int b = 0; b < 3; b++)
        {
            double want = Enumerable.Range(0, 6).Where(p => p != persons[b]).Sum(p => Math.Max(0, Cosine.Of(rows[b], centres[p]) - imp.Threshold));
            Assert.Equal(want, excess[b].item<float>(), 5);
        }
        Assert.True(excess.sum().item<float>() > 0, "no template above the threshold: the case tests nothing");
        // Gradients reach the templates that match another person, and only those.
        excess.sum().backward();
        var g = t.grad!;
        for (int b = 0; b < 3; b++)
            Assert.Equal(excess[b].item<float>() > 0, g[b].abs().sum().item<float>() > 0);
    }

    [Fact]
    public void BadInputIsRefused()
    {
        var c = Rows(3, 4, 6);
        var t = Rows(4, 4, 7);
        Assert.Throws<ArgumentException>(() => new Impostors(c.Take(1).ToList(), [0, 0, 0, 0], t));
        Assert.Throws<ArgumentException>(() => new Impostors(c, [0, 1, 2], t));
        Assert.Throws<ArgumentException>(() => new Impostors(c, [0, 1, 2, 3], t));
        Assert.Throws<ArgumentException>(() => new Impostors(c, [0, 1, 2, 0], t, 0));
        using var imp = new Impostors(c, [0, 1, 2, 0], t);
        Assert.Throws<ArgumentException>(() => imp.Excess(torch.zeros(2, 4), [0]));
    }
}
