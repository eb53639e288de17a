using Dfd.Core;

namespace Dfd.Evaluation;

/// <summary>
/// The arithmetic of the match rates (pure, tested on hand-made lists): one FR model's similarity scores of
/// reconstructions and originals, and the type-I / type-II rates at thresholds set by the impostor scores.
/// </summary>
public static class Scoring
{
    /// <summary>
    /// Scores of one model. <paramref name="identities"/> gives each image's person; a person's first image (in the
    /// given order) stands for them among the impostors.
    /// </summary>
    public static ModelScores Scores(IReadOnlyList<float[]> originals, IReadOnlyList<float[]> reconstructions, IReadOnlyList<string> identities)
    {
        int n = identities.Count;
        if (originals.Count != n || reconstructions.Count != n)
            throw new ArgumentException($"{originals.Count} original and {reconstructions.Count} reconstruction templates for {n} images");
        var o = Cosine.Unit(originals);
        var r = Cosine.Unit(reconstructions);
        var people = People(identities);
        var first = people.Select(p => p[0]).ToArray();
        var impostor = new double[(long)first.Length * (first.Length - 1) / 2];
        long k = 0;
        for (int a = 0; a < first.Length; a++)
            for (int b = a + 1; b < first.Length; b++)
                impostor[k++] = Cosine.Dot(o[first[a]], o[first[b]]);
        var typeI = new double[n];
        for (int i = 0; i < n; i++) typeI[i] = Cosine.Dot(r[i], o[i]);
        var typeII = new List<double[]>();
        var genuine = new List<double[]>();
        foreach (var idx in people)
        {
            if (idx.Length < 2) continue;
            var t2 = new double[idx.Length * (idx.Length - 1)];
            var g = new double[idx.Length * (idx.Length - 1) / 2];
            int u = 0, v = 0;
            for (int a = 0; a < idx.Length; a++)
                for (int b = 0; b < idx.Length; b++)
                {
                    if (a == b) continue;
                    t2[u++] = Cosine.Dot(r[idx[a]], o[idx[b]]);
                    if (a < b) g[v++] = Cosine.Dot(o[idx[a]], o[idx[b]]);
                }
            typeII.Add(t2);
            genuine.Add(g);
        }
        return new ModelScores { Impostor = impostor, TypeI = typeI, TypeII = typeII.ToArray(), Genuine = genuine.ToArray(), People = people.Length };
    }

    /// <summary>Each person's image indices, people in order of first appearance, images in the given order.</summary>
    public static int[][] People(IReadOnlyList<string> identities) =>
        Enumerable.Range(0, identities.Count).GroupBy(i => identities[i], StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();

    /// <summary>Fraction of scores ≥ threshold.</summary>
    public static double Rate(IReadOnlyList<double> scores, double threshold)
    {
        if (scores.Count == 0) return double.NaN;
        return (double)Count(scores, threshold) / scores.Count;
    }

    static int Count(IReadOnlyList<double> scores, double threshold)
    {
        int c = 0;
        foreach (var s in scores) if (s >= threshold) c++;
        return c;
    }

    /// <summary>Each person's fraction of scores ≥ threshold, then their mean over persons (persons without scores skipped); NaN if none.</summary>
    public static double PerPersonRate(IReadOnlyList<IReadOnlyList<double>> perPerson, double threshold)
    {
        var r = perPerson.Where(p => p.Count > 0).Select(p => Rate(p, threshold)).ToList();
        return r.Count == 0 ? double.NaN : r.Average();
    }

    /// <summary>Each person's mean score, then their mean; NaN if none.</summary>
    public static double PerPersonMean(IReadOnlyList<IReadOnlyList<double>> perPerson)
    {
        var r = perPerson.Where(p => p.Count > 0).Select(p => p.Average()).ToList();
        return r.Count == 0 ? double.NaN : r.Average();
    }

    /// <summary>Thresholds at each FMR from the impostor scores, and the type-I / type-II / genuine rates at them.</summary>
    public static ModelResult Summarise(ModelScores s, IReadOnlyList<double> fmrs, string model = "", string role = "", string weightsId = "",
        int inputWidth = 0, int inputHeight = 0, bool warped = false)
    {
        if (s.Impostor.Length == 0) throw new ArgumentException("thresholds need impostor comparisons: the test set must hold at least two people");
        var rates = new List<RateAtFmr>();
        foreach (var fmr in fmrs)
        {
            var t = Verification.ThresholdAtFmr(s.Impostor, fmr);
            int m = Count(s.TypeI, t.Threshold);
            rates.Add(new RateAtFmr(fmr, t.Threshold, t.FalseAccepts, t.ImpostorCount, (double)m / s.TypeI.Length, m, s.TypeI.Length,
                PerPersonRate(s.TypeII, t.Threshold), PerPersonRate(s.Genuine, t.Threshold),
                s.WarpedOriginals is { } w ? Rate(w, t.Threshold) : null));
        }
        return new ModelResult(model, role, weightsId, inputWidth, inputHeight, warped,
            s.TypeI.Length, s.People, s.TypeII.Length, s.Impostor.Length, s.TypeII.Sum(p => (long)p.Length), s.Genuine.Sum(p => (long)p.Length),
            s.TypeI.Average(), PerPersonMean(s.TypeII), PerPersonMean(s.Genuine), s.Impostor.Average(),
            s.WarpedOriginals is { Length: > 0 } wo ? wo.Average() : null, rates) { Scores = s };
    }
}
