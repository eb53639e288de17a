using Dfd.Datasets;

namespace Dfd.Cli.Commands;

static class SplitCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd split --lfw <dir> --pairs <pairs.txt> [--out splits/lfw-dfd-v1.json] [--json]",
        "  the identity-disjoint split: people of View-2 folds 9 and 10 are the test set, every other person trains"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var lfw = a.Req("lfw");
        var pairs = a.Req("pairs");
        var outPath = a.Opt("out") ?? Path.Combine("splits", LfwSplit.DefaultName + ".json");
        bool json = a.Flag("json");
        a.CheckUnused();
        var s = LfwSplit.Compute(lfw, pairs);
        s.Save(outPath);
        Console.WriteLine(json ? Common.ToJson(new { output = outPath, s.TrainPeople, s.TrainImages, s.TestPeople, s.TestImages })
            : $"wrote {outPath}: train {s.TrainPeople} people / {s.TrainImages} images; test {s.TestPeople} people / {s.TestImages} images (folds {string.Join(",", s.TestFolds)} of {s.Pairs})");
        return 0;
    }
}
