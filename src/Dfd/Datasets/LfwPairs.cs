using System.Globalization;

namespace Dfd.Datasets;

/// <summary>
/// One LFW verification pair. <see cref="Fold"/> is 0-based: View 2 fold 1 is <c>Fold == 0</c>; a View 1 file
/// (pairsDevTrain.txt, pairsDevTest.txt) is a single fold 0. Image indices are LFW's own, which start at 1.
/// </summary>
public sealed record LfwPair(string Name1, int Index1, string Name2, int Index2, bool Same, int Fold)
{
    /// <summary>First image, relative to an LFW image root such as lfw-deepfunneled.</summary>
    public string Path1 => ImagePath(Name1, Index1);

    /// <summary>Second image, relative to an LFW image root such as lfw-deepfunneled.</summary>
    public string Path2 => ImagePath(Name2, Index2);

    /// <summary>Relative path of image <paramref name="index"/> (1-based) of a person: <c>Name/Name_0001.jpg</c>.</summary>
    public static string ImagePath(string name, int index) => $"{name}/{name}_{index:D4}.jpg";
}

/// <summary>
/// An LFW pair list. View 2 (pairs.txt) starts with "folds n" and holds, per fold in order, n matched lines
/// "name i j" then n mismatched lines "name1 i name2 j". View 1 starts with "n" and holds n matched then n mismatched
/// lines, read as one fold. Fields may be separated by tabs or spaces.
/// </summary>
public sealed class LfwPairs
{
    private LfwPairs(LfwPair[] pairs, int foldCount, int matchedPerFold)
    {
        Pairs = pairs;
        FoldCount = foldCount;
        MatchedPerFold = matchedPerFold;
    }

    /// <summary>All pairs in file order: fold by fold, matched before mismatched within a fold.</summary>
    public IReadOnlyList<LfwPair> Pairs { get; }

    public int FoldCount { get; }

    /// <summary>Matched pairs per fold; each fold holds as many mismatched pairs.</summary>
    public int MatchedPerFold { get; }

    /// <summary>
    /// Reads a pair file. A missing file throws <see cref="FileNotFoundException"/> (naming the file); any content
    /// error throws <see cref="InvalidDataException"/> whose message names the file and the 1-based line.
    /// </summary>
    public static LfwPairs Load(string path) => Parse(File.ReadAllLines(path), path);

    /// <summary>Parses the lines of a pair file; <paramref name="source"/> names it in error messages.</summary>
    public static LfwPairs Parse(IReadOnlyList<string> lines, string source)
    {
        // Only trailing blank lines are dropped: a blank line inside the list would shift every later pair into the
        // wrong fold or kind, so it is reported instead.
        int end = lines.Count;
        while (end > 0 && string.IsNullOrWhiteSpace(lines[end - 1]))
            end--;
        if (end == 0)
            throw Error(source, 1, "empty file; expected a header 'n' (View 1) or 'folds n' (View 2)");

        var header = Fields(lines[0]);
        int folds = 1, n = 0;
        bool ok = header.Length switch
        {
            1 => TryCount(header[0], out n),
            2 => TryCount(header[0], out folds) && TryCount(header[1], out n),
            _ => false,
        };
        if (!ok)
            throw Error(source, 1, $"expected a header 'n' (View 1) or 'folds n' (View 2), got '{lines[0].Trim()}'");

        long expected = 2L * folds * n;
        var pairs = new List<LfwPair>((int)Math.Min(expected, end));
        int at = 1; // index into lines of the next pair line
        for (int fold = 0; fold < folds; fold++)
        {
            for (int kind = 0; kind < 2; kind++)
            {
                bool same = kind == 0;
                for (int k = 0; k < n; k++, at++)
                {
                    if (at >= end)
                        throw Error(source, at + 1,
                            $"file ends after {pairs.Count} pairs but the header '{lines[0].Trim()}' promises {expected}");
                    pairs.Add(ParsePair(lines[at], same, fold, source, at + 1));
                }
            }
        }
        if (at < end)
            throw Error(source, at + 1, $"more pairs than the {expected} the header '{lines[0].Trim()}' promises");

        return new LfwPairs(pairs.ToArray(), folds, n);
    }

    /// <summary>
    /// Everyone named in the given 0-based folds, on either side of a pair. Training only on people outside this set
    /// keeps a train/test split identity-disjoint.
    /// </summary>
    public IReadOnlySet<string> PeopleInFolds(IEnumerable<int> folds)
    {
        var wanted = new HashSet<int>();
        foreach (int f in folds)
        {
            if (f < 0 || f >= FoldCount)
                throw new ArgumentOutOfRangeException(nameof(folds), f, $"folds are 0-based and below {FoldCount}");
            wanted.Add(f);
        }
        var people = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in Pairs)
        {
            if (wanted.Contains(p.Fold))
            {
                people.Add(p.Name1);
                people.Add(p.Name2);
            }
        }
        return people;
    }

    private static LfwPair ParsePair(string line, bool same, int fold, string source, int lineNo)
    {
        var f = Fields(line);
        if (same)
        {
            if (f.Length != 3)
                throw Error(source, lineNo, $"expected a matched pair 'name i j', got '{line.Trim()}'");
            return new LfwPair(f[0], Index(f[1]), f[0], Index(f[2]), true, fold);
        }
        if (f.Length != 4)
            throw Error(source, lineNo, $"expected a mismatched pair 'name1 i name2 j', got '{line.Trim()}'");
        if (f[0] == f[2])
            throw Error(source, lineNo, $"mismatched pair names the same person twice: '{line.Trim()}'");
        return new LfwPair(f[0], Index(f[1]), f[2], Index(f[3]), false, fold);

        int Index(string s) => TryCount(s, out int i)
            ? i
            : throw Error(source, lineNo, $"image index '{s}' is not a whole number from 1");
    }

    // Splitting on any whitespace run takes tabs, spaces and a stray '\r' alike; LFW names contain no whitespace.
    private static string[] Fields(string line) => line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    private static bool TryCount(string s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= 1;

    private static InvalidDataException Error(string source, int line, string what) =>
        new($"{source}, line {line}: {what}");
}
