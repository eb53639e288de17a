using Dfd.Core;

namespace Dfd.Evaluation;

/// <summary>
/// One lineup: a reconstruction from the person's first photo beside <see cref="Candidates"/> photos, one of them the
/// person's second photo (at <see cref="Answer"/>), the others one photo each of other people.
/// </summary>
/// <param name="Person">The identity whose reconstruction is shown.</param>
/// <param name="Source">Index of the image whose template is decoded.</param>
/// <param name="Candidates">Indices of the photos offered, in the order shown (A, B, …).</param>
/// <param name="Answer">Position of the person's own photo in <see cref="Candidates"/>.</param>
public sealed record Lineup(string Person, int Source, int[] Candidates, int Answer);

/// <summary>A rater's or a model's answers scored against the key: right of asked, chance and the one-sided binomial p.</summary>
/// <param name="PValue">P(at least <paramref name="Right"/> right of <paramref name="Asked"/> by guessing).</param>
public sealed record LineupScore(int Asked, int Right, double Chance, double PValue, IReadOnlyList<bool> Correct);

/// <summary>
/// Does a <i>person</i> see the person in a reconstruction? A lineup shows a reconstruction beside four photos, the
/// person's other photo and three of other people, and a rater picks one. With look-alike distractors (the people
/// whose photos the FR model finds nearest the decoded template) the lineup asks for who the face is, not its sex, skin
/// tone or glasses, which random distractors give away. The same lineups answered by FR models (the nearest photo by
/// cosine) put the rater's score beside a machine's.
/// </summary>
public static class Lineups
{
    public const int DefaultChoices = 4;

    /// <summary>
    /// <paramref name="count"/> lineups from people with at least two images, drawn by <paramref name="seed"/>.
    /// <paramref name="identities"/> and <paramref name="templates"/> are per image (templates of the originals under the
    /// decoder's encoder); a person's images in file order, the first decoded and the second offered.
    /// </summary>
    public static List<Lineup> Draw(IReadOnlyList<string> identities, IReadOnlyList<float[]> templates, int count, int seed,
        bool lookalike = true, int choices = DefaultChoices)
    {
        if (identities.Count != templates.Count) throw new ArgumentException($"{identities.Count} identities for {templates.Count} templates");
        if (choices < 2) throw new ArgumentOutOfRangeException(nameof(choices), choices, "a lineup needs at least two photos");
        var people = Scoring.People(identities);
        var eligible = people.Where(p => p.Length >= 2).ToList();
        if (people.Length < choices)
            throw new ArgumentException($"{people.Length} people: a lineup of {choices} photos needs at least {choices}");
        if (count < 1 || count > eligible.Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{eligible.Count} people have two photos or more");
        var unit = Cosine.Unit(templates);
        var rng = new Random(seed);
        var order = eligible.OrderBy(p => identities[p[0]], StringComparer.Ordinal).ToArray();
        rng.Shuffle(order);
        var lineups = new List<Lineup>(count);
        foreach (var p in order.Take(count))
        {
            var others = people.Where(q => q != p).ToArray();
            int[] distractors = lookalike
                ? others.OrderByDescending(q => Cosine.Dot(unit[p[0]], unit[q[0]])).ThenBy(q => q[0]).Take(choices - 1).Select(q => q[0]).ToArray()
                : Shuffled(others, rng).Take(choices - 1).Select(q => q[0]).ToArray();
            var shown = distractors.Prepend(p[1]).ToArray();
            rng.Shuffle(shown);
            lineups.Add(new Lineup(identities[p[0]], p[0], shown, Array.IndexOf(shown, p[1])));
        }
        return lineups;
    }

    static T[] Shuffled<T>(T[] items, Random rng)
    {
        var copy = (T[])items.Clone();
        rng.Shuffle(copy);
        return copy;
    }

    /// <summary>The letter of a position: A, B, …</summary>
    public static char Letter(int position) => (char)('A' + position);

    /// <summary>
    /// Scores answers given as letters, one per lineup in order ("BADC…"; case, spaces and commas ignored; '-' or '?'
    /// for a lineup left open, which counts as wrong).
    /// </summary>
    public static LineupScore Score(IReadOnlyList<Lineup> key, string answers)
    {
        var letters = answers.Where(c => !char.IsWhiteSpace(c) && c != ',').Select(char.ToUpperInvariant).ToArray();
        if (letters.Length != key.Count)
            throw new FormatException($"{letters.Length} answers for {key.Count} lineups");
        var picks = new int[key.Count];
        for (int i = 0; i < key.Count; i++)
        {
            char c = letters[i];
            int n = key[i].Candidates.Length;
            if (c is '-' or '?') { picks[i] = -1; continue; }
            if (c < 'A' || c >= 'A' + n) throw new FormatException($"answer {i + 1} is '{c}': lineup {i + 1} offers {Letter(0)}–{Letter(n - 1)}");
            picks[i] = c - 'A';
        }
        return Score(key, picks);
    }

    /// <summary>Scores picked positions (−1: no answer).</summary>
    public static LineupScore Score(IReadOnlyList<Lineup> key, IReadOnlyList<int> picks)
    {
        if (picks.Count != key.Count) throw new ArgumentException($"{picks.Count} answers for {key.Count} lineups");
        var correct = key.Select((l, i) => picks[i] == l.Answer).ToList();
        int right = correct.Count(c => c);
        // Lineups of one size in practice; chance is their mean, and the tail treats them as that size.
        double chance = key.Count == 0 ? double.NaN : key.Average(l => 1.0 / l.Candidates.Length);
        return new LineupScore(key.Count, right, chance, BinomialTail(key.Count, right, chance), correct);
    }

    /// <summary>What a face-recognition model answers: the candidate whose template is nearest the reconstruction's.</summary>
    public static int[] ModelPicks(IReadOnlyList<Lineup> key, IReadOnlyList<float[]> reconstructions, Func<int, float[]> photo)
    {
        if (reconstructions.Count != key.Count) throw new ArgumentException($"{reconstructions.Count} reconstructions for {key.Count} lineups");
        var picks = new int[key.Count];
        for (int i = 0; i < key.Count; i++)
        {
            var r = Cosine.Unit([reconstructions[i]])[0];
            var c = Cosine.Unit(key[i].Candidates.Select(photo).ToList());
            picks[i] = Enumerable.Range(0, c.Length).MaxBy(k => Cosine.Dot(r, c[k]));
        }
        return picks;
    }

    /// <summary>P(X ≥ k) for X ~ Binomial(n, p).</summary>
    public static double BinomialTail(int n, int k, double p)
    {
        if (k <= 0) return 1;
        if (k > n) return 0;
        double sum = 0;
        for (int j = k; j <= n; j++) sum += Math.Exp(LogChoose(n, j) + j * Math.Log(p) + (n - j) * Math.Log(1 - p));
        return Math.Min(1, sum);
    }

    static double LogChoose(int n, int k)
    {
        double s = 0;
        for (int i = 1; i <= k; i++) s += Math.Log(n - k + i) - Math.Log(i);
        return s;
    }
}
