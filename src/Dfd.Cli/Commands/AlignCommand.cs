using System.Text;
using Dfd.Core;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class AlignCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd align --input <image|dir> --output <dir> --model <encoder> [--pick central] [--score 0.6] [--json]",
        "  YuNet finds the faces (detector confidence at least the score) and the one picked is warped to the model's crop",
        "  by its 5-point template (NAME.png); alignment.csv and alignment.json list every file",
        Common.PickHelp + ",",
        "             or all (every face: NAME_faceK.png where a photo has several, K = 0 the most confident)"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var input = a.Req("input");
        var output = a.Req("output");
        var spec = Registry.Spec(a.Req("model"));
        var pick = Common.Pick(a.Opt("pick"));
        bool json = a.Flag("json");
        float score = (float)a.Double("score", 0.6);
        if (!(score >= 0 && score <= 1)) throw new UsageException($"--score is a detector confidence in [0, 1], got {a.Opt("score")}");
        a.CheckUnused();

        var files = Common.InputFiles(input);
        Directory.CreateDirectory(output);
        using var pipeline = FacePipeline.CreateDefault(score);
        var rows = Common.WithProgress("aligning", json, p =>
        {
            var list = new List<Row>();
            for (int i = 0; i < files.Count; i++)
            {
                var r = pipeline.AlignFile(files[i], spec.Template, pick);
                var outs = new List<string>();
                for (int k = 0; k < r.Crops.Count; k++)
                {
                    var name = OutName(input, files[i], Common.FaceSuffix(pick == FacePick.All ? k : -1, r.Crops.Count));
                    var path = Path.Combine(output, name);
                    ImageIO.Save(r.Crops[k], path);
                    outs.Add(name);
                }
                list.Add(new Row(files[i], r.Status.ToString().ToLowerInvariant(), r.Faces.Count, r.Message, outs,
                    r.Faces.Select(f => f.Score).ToList()));
                p.Report((i + 1, files.Count));
            }
            return list;
        });

        var summary = new
        {
            model = spec.Name, template = $"{spec.InputWidth}x{spec.InputHeight}", pick = Common.PickName(pick), input, output,
            files = rows.Count, aligned = rows.Count(r => r.status == "aligned"), no_face = rows.Count(r => r.status == "noface"),
            unreadable = rows.Count(r => r.status == "unreadable"), results = rows,
        };
        AtomicFile.WriteAllText(Path.Combine(output, "alignment.json"), Common.ToJson(summary));
        var csv = new StringBuilder("file,status,faces,outputs,message\n");
        foreach (var r in rows) csv.AppendLine($"{Csv(r.file)},{r.status},{r.faces},{Csv(string.Join(";", r.outputs))},{Csv(r.message ?? "")}");
        AtomicFile.WriteAllText(Path.Combine(output, "alignment.csv"), csv.ToString());

        if (json) Console.WriteLine(Common.ToJson(summary));
        else
        {
            var t = new Table().AddColumns("file", "outcome", "faces", "written");
            foreach (var r in rows.Take(40))
                t.AddRow(Markup.Escape(Path.GetFileName(r.file)), r.status == "aligned" ? "[green]aligned[/]" : $"[yellow]{Markup.Escape(r.message ?? r.status)}[/]",
                    r.faces.ToString(), Markup.Escape(string.Join(", ", r.outputs)));
            if (rows.Count > 40) t.AddRow($"… {rows.Count - 40} more in alignment.csv", "", "", "");
            AnsiConsole.Write(t);
            Console.WriteLine($"{summary.aligned} aligned, {summary.no_face} without a face, {summary.unreadable} unreadable → {output} (alignment.csv, alignment.json)");
        }
        // A batch with some failures is a result (alignment.csv says which); a run that aligned nothing is an error.
        if (summary.aligned == 0)
        {
            var first = rows.First(r => r.status != "aligned");
            throw new DfdException($"{first.file}: {first.message ?? first.status}" +
                (rows.Count > 1 ? $" (no face aligned in any of {rows.Count} files; see {Path.Combine(output, "alignment.csv")})" : ""));
        }
        return 0;
    }

    record Row(string file, string status, int faces, string? message, List<string> outputs, List<float> scores);

    /// <summary>Keeps the input's sub-folders (people folders stay people folders), always as PNG to lose nothing.</summary>
    static string OutName(string root, string file, string suffix)
    {
        var rel = File.Exists(root) ? Path.GetFileName(file) : Path.GetRelativePath(root, file);
        return Path.ChangeExtension(rel, null) + suffix + ".png";
    }

    static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
