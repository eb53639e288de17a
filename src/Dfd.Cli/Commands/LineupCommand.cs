using System.Text.Json;
using Dfd.Evaluation;
using Dfd.Reports;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>A lineup test of a decoder for a person to take (<see cref="Lineups"/>), and its scoring.</summary>
static class LineupCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd lineup --decoder F --data <test set> --out <dir> [--count 24] [--seed 1] [--distractors lookalike|random] [--json]",
        "       dfd lineup score --key DIR/key.json --answers BADC… [--json]",
        "  does a person see the person in a reconstruction? Each lineup: a face the decoder drew from one photo's template,",
        "  beside 4 photos: the person's other photo and 3 other test people (lookalike: those the decoder's encoder finds",
        "  nearest that photo; random: any). The folder holds index.html (the test: a choice per row, and the answer line),",
        "  sheet-1.png, … (8 lineups each), faces/ and key.json (the answers, and the FR models' own answers: the decoder's encoder",
        "  and each --with-models model, default mobilefacenet-casia where found). 'score' counts right answers against",
        "  chance (1 in 4) with the binomial p. data: as evaluate (lfw:DIR: the test people of --split FILE)",
        "  --with-models m1,m2 --split FILE --cache DIR|none --device cpu|cuda[:N]"
    ]);

    public static int Run(string[] argv)
    {
        if (argv.Length > 0 && argv[0] == "score") return Score(argv[1..]);
        var a = new Args(argv, new HashSet<string> { "json" });
        var decoder = a.Req("decoder");
        var data = a.Req("data");
        var outDir = a.Req("out");
        bool json = a.Flag("json");
        int count = a.Int("count", 24);
        int seed = a.Int("seed", 1);
        var distractors = a.Opt("distractors") ?? "lookalike";
        if (distractors is not ("lookalike" or "random")) throw new UsageException($"--distractors expects lookalike or random, got '{distractors}'");
        if (count < 1) throw new UsageException($"--count expects at least 1 lineup, got {count}");
        var models = a.Opt("with-models")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        var cache = a.Opt("cache") ?? Common.CacheDir("evalsets");
        var split = a.Opt("split");
        var device = Common.Device(a);
        a.CheckUnused();

        var opt = new LineupOptions
        {
            Data = data, Split = split, Count = count, Seed = seed, Lookalike = distractors == "lookalike", Models = models,
            CacheDir = cache == "none" ? null : cache, Device = device,
        };
        LineupResult r;
        try { r = Common.WithStages(json, p => LineupTest.Run(decoder, opt, p)); }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == "count") { throw new UsageException($"--count {count}: {e.Message.Split(" (Parameter")[0]}"); }
        var files = LineupReport.Write(r, outDir);
        if (json) { Console.WriteLine(LineupReport.Json(r)); return 0; }
        Console.WriteLine($"{r.Lineups.Count} lineups of {Dfd.Decoder.DecoderKind.Label(r.DecoderKind)} {r.Decoder} ({r.Encoder}), {r.Distractors} distractors, seed {r.Seed}");
        PrintScores(r.Models.Select(m => ($"{m.Model} ({m.Role})", m.Score)).ToList());
        Console.WriteLine($"the test: {files.Index} ({string.Join(", ", files.Sheets.Select(Path.GetFileName))}); the key, not for the rater: {files.Key}");
        Console.WriteLine($"score a rater's answers: dfd lineup score --key {files.Key} --answers <one letter per lineup>");
        return 0;
    }

    static int Score(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var keyPath = a.Req("key");
        var answers = a.Req("answers");
        bool json = a.Flag("json");
        a.CheckUnused();
        var key = ReadKey(keyPath);
        LineupScore s;
        try { s = Lineups.Score(key, answers); }
        catch (FormatException e) { throw new UsageException($"--answers: {e.Message}"); }
        if (json) { Console.WriteLine(JsonSerializer.Serialize(s, EvaluationReport.JsonOptions)); return 0; }
        PrintScores([("answers", s)]);
        Console.WriteLine("wrong: " + string.Join(" ", s.Correct.Select((c, i) => c ? null : (i + 1).ToString()).Where(x => x != null)));
        return 0;
    }

    /// <summary>The lineups of a key.json: their answers and sizes are all that scoring needs.</summary>
    static List<Lineup> ReadKey(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file (the key.json that dfd lineup wrote)");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.GetProperty("lineups").EnumerateArray().Select(l =>
            {
                int n = l.GetProperty("candidates").GetArrayLength();
                int answer = l.GetProperty("answer").GetString() is [var c] ? c - 'A' : -1;
                if (n < 2 || answer < 0 || answer >= n) throw new InvalidDataException($"{path}: lineup {l.GetProperty("number")} has answer '{l.GetProperty("answer")}' among {n} photos");
                return new Lineup(l.GetProperty("person").GetString() ?? "", -1, new int[n], answer);
            }).ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a lineup key written by dfd lineup ({e.Message})");
        }
    }

    static void PrintScores(IReadOnlyList<(string Who, LineupScore Score)> rows)
    {
        var t = new Table().AddColumns("who", "right", "share", "chance", "p (guessing does as well)");
        foreach (var (who, s) in rows)
            t.AddRow(Markup.Escape(who), $"{s.Right}/{s.Asked}", Common.Pct((double)s.Right / s.Asked), Common.Pct(s.Chance), s.PValue.ToString("G3"));
        AnsiConsole.Write(t);
    }
}
