using System.Text.Json;
using Dfd.IO;

namespace Dfd.Datasets;

/// <summary>
/// Dfd's identity-disjoint LFW split: the people of View-2 folds 9 and 10 (1-based) of pairs.txt are the test set,
/// everyone else trains. The folds are identity-disjoint, so no test person is ever seen in training.
/// </summary>
public sealed record LfwSplit(string Name, string Description, string Pairs, int[] TestFolds, int TrainPeople, int TrainImages,
    int TestPeople, int TestImages, List<string> Test)
{
    public const string DefaultName = "lfw-dfd-v1";

    public static LfwSplit Compute(string lfwImages, string pairsPath)
    {
        var pairs = LfwPairs.Load(pairsPath);
        var test = pairs.PeopleInFolds([8, 9]).OrderBy(n => n, StringComparer.Ordinal).ToList();
        var testSet = test.ToHashSet(StringComparer.Ordinal);
        var people = Directory.EnumerateDirectories(lfwImages).Select(Path.GetFileName).OfType<string>().ToList();
        int Count(string p) => Directory.EnumerateFiles(Path.Combine(lfwImages, p), "*.jpg").Count();
        int testImages = test.Sum(Count);
        int allImages = people.Sum(Count);
        return new LfwSplit(DefaultName,
            "LFW people in View-2 folds 9 and 10 of pairs.txt are the test set; all other LFW people train.",
            "pairs.txt", [9, 10], people.Count - test.Count, allImages - testImages, test.Count, testImages, test);
    }

    HashSet<string>? testSet;

    public bool IsTest(string person) => (testSet ??= new HashSet<string>(Test, StringComparer.Ordinal)).Contains(person);

    public static LfwSplit Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<LfwSplit>(File.ReadAllText(path), Options)!;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a split file ({e.Message})"); }
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options));

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>
    /// The split a <c>--split</c> option names: null → the committed one where found (else none), "none" → none, a
    /// path → that file.
    /// </summary>
    /// <exception cref="FileNotFoundException">The named file does not exist.</exception>
    public static (LfwSplit? Split, string? Path) Resolve(string? option)
    {
        if (option == "none") return (null, null);
        var path = option ?? DefaultPath();
        if (path == null) return (null, null);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: split file not found");
        return (Load(path), path);
    }

    /// <summary>The committed split file, found like the models folder.</summary>
    public static string? DefaultPath() => Encoders.ModelPaths.Roots()
        .Select(r => Path.Combine(Path.GetDirectoryName(r.TrimEnd('/'))!, "splits", DefaultName + ".json"))
        .FirstOrDefault(File.Exists);
}
