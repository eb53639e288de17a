using Dfd.Core;
using Dfd.Evaluation;
using Xunit;

namespace Dfd.Tests.Evaluation;

public sealed class VerificationTests
{
    [Fact]
    public void Cosine_KnownValues()
    {
        Assert.Equal(32 / Math.Sqrt(14 * 77), Cosine.Of([1f, 2f, 3f], [4f, 5f, 6f]), 12);
        Assert.Equal(1, Cosine.Of([1f, 2f, 3f], [2f, 4f, 6f]), 12);
        Assert.Equal(-1, Cosine.Of([1f, -2f], [-3f, 6f]), 12);
        Assert.Equal(0, Cosine.Of([1f, 0f], [0f, 5f]), 12);
        Assert.Throws<ArgumentException>(() => Cosine.Of([1f, 2f], [1f, 2f, 3f]));
        Assert.Throws<ArgumentException>(() => Cosine.Of([0f, 0f], [1f, 2f]));
    }

    [Fact]
    public void SeparableScores_GiveAccuracyAndAucOne()
    {
        var scores = new List<(double, bool, int)>();
        for (int fold = 0; fold < 10; fold++)
            for (int k = 0; k < 5; k++)
            {
                scores.Add((0.6 + 0.05 * k + 0.001 * fold, true, fold));
                scores.Add((0.1 + 0.05 * k + 0.001 * fold, false, fold));
            }

        var r = Verification.TenFoldAccuracy(scores);

        Assert.All(r.Accuracies, a => Assert.Equal(1.0, a));
        Assert.Equal(1.0, r.Mean);
        Assert.Equal(0.0, r.Std);
        Assert.All(r.Thresholds, t => Assert.InRange(t, 0.3091, 0.6));
        Assert.Equal(1.0, Verification.Auc(
            scores.Where(s => s.Item2).Select(s => s.Item1).ToList(),
            scores.Where(s => !s.Item2).Select(s => s.Item1).ToList()));
    }

    [Fact]
    public void TenFold_OneImpostorAboveTheGap_CostsOnlyItsOwnFold()
    {
        // Every fold: same at 0.6, 0.8, 0.9 and different at 0.1, 0.2, 0.4, except that fold 0's 0.4 becomes 0.7.
        // Training on any nine folds, 0.5 (midpoint of 0.4 and 0.6) errs at most once; anything above 0.7 rejects the
        // 0.6 same pair of each training fold. So every threshold is 0.5; fold 0 scores 5/6 and the others 1.
        var scores = new List<(double, bool, int)>();
        for (int fold = 0; fold < 10; fold++)
        {
            foreach (double s in new[] { 0.6, 0.8, 0.9 })
                scores.Add((s, true, fold));
            foreach (double s in new[] { 0.1, 0.2, fold == 0 ? 0.7 : 0.4 })
                scores.Add((s, false, fold));
        }

        var r = Verification.TenFoldAccuracy(scores);

        Assert.Equal(Enumerable.Range(0, 10), r.Folds);
        Assert.All(r.Thresholds, t => Assert.Equal(0.5, t, 12));
        Assert.Equal(5.0 / 6, r.Accuracies[0], 12);
        Assert.All(r.Accuracies.Skip(1), a => Assert.Equal(1.0, a));
        Assert.Equal(59.0 / 60, r.Mean, 12);
        Assert.Equal(0.05, r.Std, 12); // population std: sqrt((0.15^2 + 9 * (1/60)^2) / 10)
    }

    [Fact]
    public void TenFold_MatchesBruteForceThresholdSearch()
    {
        var rng = new Random(7);
        var scores = new List<(double score, bool same, int fold)>();
        for (int i = 0; i < 600; i++)
        {
            bool same = rng.Next(2) == 0;
            // Rounded to 0.01 so that scores tie, within and across folds and classes.
            double s = Math.Round(Math.Clamp(rng.NextDouble() * 0.6 + (same ? 0.3 : 0.0), 0, 1), 2);
            scores.Add((s, same, 1 + rng.Next(10))); // 1-based fold ids: any ids must work
        }

        var r = Verification.TenFoldAccuracy(scores);

        Assert.Equal(Enumerable.Range(1, 10), r.Folds);
        for (int f = 0; f < 10; f++)
        {
            int id = r.Folds[f];
            var train = scores.Where(s => s.fold != id).ToList();
            var test = scores.Where(s => s.fold == id).ToList();
            var unique = train.Select(s => s.score).Distinct().Order().ToList();
            var candidates = new List<double> { double.NegativeInfinity };
            for (int k = 0; k + 1 < unique.Count; k++)
                candidates.Add((unique[k] + unique[k + 1]) / 2);
            candidates.Add(double.PositiveInfinity);
            double expected = candidates.MaxBy(t => Correct(train, t)); // MaxBy keeps the first, i.e. lowest, best

            Assert.Equal(expected, r.Thresholds[f], 12);
            Assert.Equal((double)Correct(test, expected) / test.Count, r.Accuracies[f], 12);
        }
        Assert.Equal(r.Accuracies.Average(), r.Mean, 12);
        Assert.InRange(r.Mean, 0.7, 0.95); // overlapping classes: neither trivial nor perfect

        static int Correct(List<(double score, bool same, int fold)> xs, double t) =>
            xs.Count(s => (s.score >= t) == s.same);
    }

    [Fact]
    public void TenFold_NeedsTwoFolds()
    {
        Assert.Throws<ArgumentException>(() => Verification.TenFoldAccuracy([(0.9, true, 3), (0.1, false, 3)]));
    }

    [Theory]
    [InlineData(new[] { 0.5 }, new[] { 0.5, 0.1 }, 0.75)] // one tie (1/2) and one win (1), over 2 pairs
    [InlineData(new[] { 0.5, 0.8 }, new[] { 0.2, 0.5 }, 0.875)] // 1 + 1/2 + 1 + 1 over 4 pairs
    [InlineData(new[] { 0.4, 0.6, 0.6 }, new[] { 0.2, 0.6 }, 4.0 / 6)] // (1 + 0) + 2 * (1 + 1/2) over 6 pairs
    [InlineData(new[] { 0.3, 0.3 }, new[] { 0.3, 0.3, 0.3 }, 0.5)] // all tied
    [InlineData(new[] { 0.1, 0.2 }, new[] { 0.3, 0.4 }, 0.0)] // all wrong
    public void Auc_HandComputed(double[] genuine, double[] impostor, double expected)
    {
        Assert.Equal(expected, Verification.Auc(genuine, impostor), 12);
    }

    [Fact]
    public void Auc_MatchesPairwiseCount()
    {
        var rng = new Random(11);
        var genuine = Enumerable.Range(0, 300).Select(_ => Math.Round(0.2 + rng.NextDouble() * 0.8, 2)).ToArray();
        var impostor = Enumerable.Range(0, 500).Select(_ => Math.Round(rng.NextDouble() * 0.8, 2)).ToArray();

        double wins = 0;
        foreach (double g in genuine)
            foreach (double m in impostor)
                wins += g > m ? 1 : g == m ? 0.5 : 0;

        Assert.Equal(wins / (genuine.Length * impostor.Length), Verification.Auc(genuine, impostor), 12);
    }

    [Fact]
    public void ThresholdAtFmr_ThousandEvenImpostors()
    {
        var impostor = Enumerable.Range(0, 1000).Select(i => i / 1000.0).ToArray();

        var at = Verification.ThresholdAtFmr(impostor, 0.01);

        // Ten impostors (0.990 .. 0.999) may pass; the eleventh highest, 0.989, must not, so t sits just above it.
        Assert.Equal(Math.BitIncrement(0.989), at.Threshold);
        Assert.Equal(10, at.FalseAccepts);
        Assert.Equal(1000, at.ImpostorCount);
        Assert.Equal(0.01, at.Fmr);

        var op = Verification.TarAtFmr([0.5, 0.989, 0.99, 0.995, 1.0], impostor, 0.01);
        Assert.Equal(0.6, op.Tar, 12);
        Assert.Equal(3, op.TrueAccepts);
        Assert.Equal(5, op.GenuineCount);
        Assert.Equal(at, op.At);
    }

    [Fact]
    public void ThresholdAtFmr_TiesAtTheBoundary_AreAllRejected()
    {
        // fmr 0.3 of 10 lets three through, but the three highest impostors tie with a fourth at 0.9: no threshold
        // accepts three of the four without the fourth, so all four are rejected and the FMR rests on one score.
        var impostor = new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.9, 0.9, 0.9, 0.95 };

        var at = Verification.ThresholdAtFmr(impostor, 0.3);

        Assert.Equal(Math.BitIncrement(0.9), at.Threshold);
        Assert.Equal(1, at.FalseAccepts);
        Assert.Equal(0.1, at.Fmr);
    }

    [Fact]
    public void ThresholdAtFmr_Extremes()
    {
        var impostor = new[] { 0.3, 0.1, 0.2 };

        var none = Verification.ThresholdAtFmr(impostor, 0);
        Assert.Equal(Math.BitIncrement(0.3), none.Threshold);
        Assert.Equal(0, none.FalseAccepts);

        var all = Verification.ThresholdAtFmr(impostor, 1);
        Assert.Equal(double.NegativeInfinity, all.Threshold);
        Assert.Equal(3, all.FalseAccepts);

        // 0.29 * 100 is 28.999999999999996 in doubles; 29 impostors may still pass.
        var hundred = Enumerable.Range(0, 100).Select(i => (double)i).ToArray();
        Assert.Equal(29, Verification.ThresholdAtFmr(hundred, 0.29).FalseAccepts);

        Assert.Throws<ArgumentOutOfRangeException>(() => Verification.ThresholdAtFmr(impostor, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Verification.ThresholdAtFmr(impostor, double.NaN));
        Assert.Throws<ArgumentException>(() => Verification.ThresholdAtFmr([], 0.1));
        Assert.Throws<ArgumentException>(() => Verification.ThresholdAtFmr([0.1, double.NaN], 0.1));
    }
}
