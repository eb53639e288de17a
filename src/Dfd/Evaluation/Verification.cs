namespace Dfd.Evaluation;

/// <summary>
/// Cross-validated accuracy: for each held-out fold, the threshold fitted on the other folds and the accuracy it
/// gets on the held-out fold. Lists run in ascending order of fold id.
/// </summary>
/// <param name="Std">Population standard deviation over folds (divide by the fold count), as LFW results are
/// customarily reported (numpy's default, used by the common LFW evaluation scripts).</param>
public sealed record FoldedAccuracy(
    IReadOnlyList<int> Folds,
    IReadOnlyList<double> Accuracies,
    IReadOnlyList<double> Thresholds,
    double Mean,
    double Std);

/// <summary>
/// A threshold for accepting a pair iff score &gt;= <see cref="Threshold"/>, and the impostor scores it accepts.
/// <see cref="FalseAccepts"/> is how many impostor scores the achieved FMR rests on: at 0 or a handful, the
/// operating point is statistically thin.
/// </summary>
public sealed record FmrThreshold(double Threshold, int FalseAccepts, int ImpostorCount)
{
    public double Fmr => (double)FalseAccepts / ImpostorCount;
}

/// <summary>True accept rate of genuine scores at an FMR threshold (accept iff score &gt;= threshold).</summary>
public sealed record OperatingPoint(double Tar, int TrueAccepts, int GenuineCount, FmrThreshold At);

/// <summary>
/// Verification metrics over similarity scores where higher means more alike (e.g. cosine similarity).
/// Throughout, a pair is accepted as "same" iff score &gt;= threshold. Scores must be finite.
/// </summary>
public static class Verification
{
    /// <summary>Cosine similarity, accumulated in double.</summary>
    /// <exception cref="ArgumentException">Lengths differ, or a vector has zero norm (its direction is undefined, and a
    /// silent 0 or NaN would corrupt every metric downstream).</exception>


    /// <summary>
    /// The LFW View 2 protocol: for each fold k, the threshold that maximises accuracy on all other folds is applied
    /// to fold k. Candidate thresholds are the midpoints between consecutive distinct training scores, plus -infinity
    /// (accept all) and +infinity (reject all); among equally accurate candidates the lowest wins. Fold ids may be any
    /// integers; there must be at least two distinct ones.
    /// </summary>
    public static FoldedAccuracy TenFoldAccuracy(IReadOnlyList<(double score, bool same, int fold)> scores)
    {
        int n = scores.Count;
        var folds = scores.Select(s => s.fold).Distinct().Order().ToArray();
        if (folds.Length < 2)
            throw new ArgumentException($"need at least two folds, got {folds.Length}", nameof(scores));

        // Sort once; each fold then sweeps the shared order, skipping its own items, in O(n).
        var keys = new double[n];
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            keys[i] = Finite(scores[i].score, nameof(scores));
            order[i] = i;
        }
        Array.Sort(keys, order);
        var foldOf = new int[n]; // dense fold index, by sorted position
        var same = new bool[n];
        var sameInFold = new int[folds.Length];
        var sizeOfFold = new int[folds.Length];
        for (int i = 0; i < n; i++)
        {
            var s = scores[order[i]];
            foldOf[i] = Array.BinarySearch(folds, s.fold);
            same[i] = s.same;
            sizeOfFold[foldOf[i]]++;
            if (s.same)
                sameInFold[foldOf[i]]++;
        }
        int sameTotal = sameInFold.Sum();

        var accuracies = new double[folds.Length];
        var thresholds = new double[folds.Length];
        for (int f = 0; f < folds.Length; f++)
        {
            // Raising the threshold past a group of equal scores turns its same pairs wrong and its different pairs right.
            int correct = sameTotal - sameInFold[f];
            int best = correct;
            double bestT = double.NegativeInfinity;
            int i = NextOutside(foldOf, f, 0);
            while (i < n)
            {
                double u = keys[i];
                int j = i;
                for (; j < n && keys[j] == u; j++)
                    if (foldOf[j] != f)
                        correct += same[j] ? -1 : 1;
                int next = NextOutside(foldOf, f, j);
                double t = next < n ? Between(u, keys[next]) : double.PositiveInfinity;
                if (correct > best)
                {
                    best = correct;
                    bestT = t;
                }
                i = next;
            }

            int right = 0;
            for (int k = 0; k < n; k++)
                if (foldOf[k] == f && (keys[k] >= bestT) == same[k])
                    right++;
            thresholds[f] = bestT;
            accuracies[f] = (double)right / sizeOfFold[f];
        }

        double mean = accuracies.Average();
        double std = Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / accuracies.Length);
        return new FoldedAccuracy(folds, accuracies, thresholds, mean, std);
    }

    /// <summary>
    /// Exact ROC AUC: the probability that a random genuine score beats a random impostor score, ties counting one
    /// half. This is the Mann-Whitney U with mid-ranks for ties, divided by (genuine count x impostor count); it is
    /// computed by merging the two sorted lists rather than by ranking the union, which gives the same number.
    /// </summary>
    public static double Auc(IReadOnlyList<double> genuine, IReadOnlyList<double> impostor)
    {
        var g = SortedFinite(genuine, nameof(genuine));
        var m = SortedFinite(impostor, nameof(impostor));
        long twiceWins = 0;
        int below = 0, notAbove = 0; // impostors < and <= the current genuine score
        foreach (double s in g)
        {
            while (below < m.Length && m[below] < s)
                below++;
            while (notAbove < m.Length && m[notAbove] <= s)
                notAbove++;
            twiceWins += 2L * below + (notAbove - below);
        }
        return twiceWins / (2.0 * g.Length * m.Length);
    }

    /// <summary>
    /// The smallest threshold t (a double) such that the fraction of impostor scores &gt;= t is at most
    /// <paramref name="fmr"/>, with acceptance iff score &gt;= t. With m = floor(fmr * n) impostors allowed through,
    /// t is the next double above the (m+1)-th highest impostor score, so that score and everything tied with it are
    /// rejected; ties there can leave fewer than m false accepts. fmr * n is floored with a relative slack of 1e-12
    /// so that, e.g., 0.29 * 100 counts as 29. When every impostor may pass, t is -infinity.
    /// </summary>
    public static FmrThreshold ThresholdAtFmr(IReadOnlyList<double> impostor, double fmr)
    {
        if (!(fmr >= 0 && fmr <= 1))
            throw new ArgumentOutOfRangeException(nameof(fmr), fmr, "FMR must lie in [0, 1]");
        var s = SortedFinite(impostor, nameof(impostor));
        int n = s.Length;
        long allowed = (long)Math.Floor(fmr * n * (1 + 1e-12));
        if (allowed >= n)
            return new FmrThreshold(double.NegativeInfinity, n, n);

        int pivot = n - 1 - (int)allowed;
        double rejected = s[pivot];
        int firstAbove = pivot;
        while (firstAbove < n && s[firstAbove] <= rejected)
            firstAbove++;
        return new FmrThreshold(Math.BitIncrement(rejected), n - firstAbove, n);
    }

    /// <summary>Fraction of genuine scores &gt;= <see cref="ThresholdAtFmr"/> of the impostor scores.</summary>
    public static OperatingPoint TarAtFmr(IReadOnlyList<double> genuine, IReadOnlyList<double> impostor, double fmr)
    {
        if (genuine.Count == 0)
            throw new ArgumentException("no genuine scores", nameof(genuine));
        var at = ThresholdAtFmr(impostor, fmr);
        int accepted = 0;
        foreach (double s in genuine)
            if (Finite(s, nameof(genuine)) >= at.Threshold)
                accepted++;
        return new OperatingPoint((double)accepted / genuine.Count, accepted, genuine.Count, at);
    }

    private static int NextOutside(int[] foldOf, int fold, int from)
    {
        while (from < foldOf.Length && foldOf[from] == fold)
            from++;
        return from;
    }

    // A threshold strictly above u and at most v, so that u is rejected and v accepted.
    private static double Between(double u, double v)
    {
        double mid = u / 2 + v / 2; // halves first: u + v can overflow
        return mid > u && mid <= v ? mid : v;
    }

    private static double[] SortedFinite(IReadOnlyList<double> scores, string name)
    {
        if (scores.Count == 0)
            throw new ArgumentException("no scores", name);
        var a = new double[scores.Count];
        for (int i = 0; i < a.Length; i++)
            a[i] = Finite(scores[i], name);
        Array.Sort(a);
        return a;
    }

    private static double Finite(double score, string name) =>
        double.IsFinite(score) ? score : throw new ArgumentException($"score {score} is not finite", name);
}
