using Dfd.Core;

namespace Dfd.Evaluation;

/// <summary>
/// Does a reconstruction single out its person among everyone, and does it match people it should not?
/// Gallery: one original per person (each person's first image in evaluation order, i.e. by file name). Probes: every
/// image of a person with at least two images except that first one, so a probe is never its own gallery entry.
/// </summary>
/// <param name="Rank1">Share of reconstruction probes whose most similar gallery original is their own person's.</param>
/// <param name="Rank1Originals">The same for the original probes: what the model itself achieves on other photos.</param>
/// <param name="Rank1MeanFace">The same for one image (the mean face) standing in for every probe: chance.</param>
/// <param name="Threshold">The model's threshold at FMR 1e-3 on impostor pairs of originals (gallery against gallery).</param>
/// <param name="FalseMatches">Share of (reconstruction i, another person's gallery original) comparisons at or above
/// <paramref name="Threshold"/>, over all images: a face that "matches everyone" shows up here.</param>
/// <param name="FalseMatchesOriginals">The same for originals: near 1e-3 by construction.</param>
/// <param name="FalseMatchesMeanFace">The same for the mean face against every gallery original.</param>
public sealed record IdentificationResult(int GalleryPeople, int Probes, double Rank1, double Rank1Originals, double Rank1MeanFace,
    double Threshold, long FalseMatchComparisons, double FalseMatches, double FalseMatchesOriginals, double FalseMatchesMeanFace);

public static class Identification
{
    /// <summary>
    /// Rank-1 and false matches from the model's templates of the originals and of the reconstructions (same order,
    /// <paramref name="identities"/> each image's person, sorted so a person's images are together in file order) and of the mean face.
    /// </summary>
    public static IdentificationResult Measure(IReadOnlyList<float[]> originals, IReadOnlyList<float[]> reconstructions, float[] meanFace,
        IReadOnlyList<string> identities, double threshold)
    {
        int n = identities.Count;
        if (originals.Count != n || reconstructions.Count != n)
            throw new ArgumentException($"{originals.Count} original and {reconstructions.Count} reconstruction templates for {n} images");
        var o = Cosine.Unit(originals);
        var r = Cosine.Unit(reconstructions);
        var m = Cosine.Unit([meanFace])[0];
        var people = Scoring.People(identities);
        if (people.Length < 2) throw new ArgumentException("identification needs at least two people");
        var gallery = people.Select(p => o[p[0]]).ToArray();
        var personOf = new int[n];
        for (int p = 0; p < people.Length; p++) foreach (var i in people[p]) personOf[i] = p;
        var probes = people.Where(p => p.Length >= 2).SelectMany(p => p.Skip(1)).ToArray();

        int Nearest(double[] t)
        {
            int best = 0; double bestS = double.NegativeInfinity;
            for (int g = 0; g < gallery.Length; g++) { double s = Cosine.Dot(t, gallery[g]); if (s > bestS) { bestS = s; best = g; } }
            return best;
        }
        double Rank1(double[][] t) => probes.Length == 0 ? double.NaN : (double)probes.AsParallel().Count(i => Nearest(t[i]) == personOf[i]) / probes.Length;
        int meanNearest = Nearest(m);

        // Each image against every other person's gallery original.
        long comparisons = (long)n * (gallery.Length - 1);
        double FalseRate(double[][] t) => (double)Enumerable.Range(0, n).AsParallel()
            .Sum(i => { long c = 0; for (int g = 0; g < gallery.Length; g++) if (g != personOf[i] && Cosine.Dot(t[i], gallery[g]) >= threshold) c++; return c; }) / comparisons;
        double meanFalse = (double)gallery.Count(g => Cosine.Dot(m, g) >= threshold) / gallery.Length;

        return new IdentificationResult(gallery.Length, probes.Length, Rank1(r), Rank1(o),
            probes.Length == 0 ? double.NaN : (double)probes.Count(i => personOf[i] == meanNearest) / probes.Length,
            threshold, comparisons, FalseRate(r), FalseRate(o), meanFalse);
    }
}
