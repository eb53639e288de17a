using System.Net;
using System.Text;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>
/// The main job on bundled defaults: align and encode the sample faces with dlib-resnet, compare every pair, and
/// write an HTML page. Needs nothing but the committed models and samples.
/// </summary>
static class DemoCommand
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        bool json = a.Flag("json");
        var samples = a.Opt("input") ?? FindSamples();
        var outDir = a.Opt("output") ?? Path.Combine("out", "demo");
        using var enc = Common.Encoder(new Args(["--model", a.Opt("model") ?? DlibResNet.Config.Name, "--device", a.Opt("device") ?? "cpu"], new HashSet<string>()));
        a.CheckUnused();
        var spec = enc.Spec;
        var files = Common.InputFiles(samples);
        Directory.CreateDirectory(Path.Combine(outDir, "aligned"));

        using var pipe = FacePipeline.CreateDefault();
        var names = new List<string>();
        var crops = new List<RgbImage>();
        var problems = new List<string>();
        Common.WithProgress("aligning samples", json, p =>
        {
            for (int i = 0; i < files.Count; i++)
            {
                var r = pipe.AlignFile(files[i], spec.Template, FacePick.MostCentral);
                if (r.Status == AlignStatus.Aligned)
                {
                    var name = Path.GetFileNameWithoutExtension(files[i]);
                    names.Add(name);
                    crops.Add(r.Crops[0]);
                    ImageIO.Save(r.Crops[0], Path.Combine(outDir, "aligned", name + ".png"));
                }
                else problems.Add($"{files[i]}: {r.Message}");
                p.Report((i + 1, files.Count));
            }
            return 0;
        });
        if (crops.Count < 2) throw new UsageException($"{samples}: fewer than two faces could be aligned");
        var templates = enc.Encode(crops);
        var tflat = templates.SelectMany(t => t).ToArray();
        Npy.Write(Path.Combine(outDir, "templates.npy"), tflat, [templates.Length, spec.EmbeddingSize]);

        int n = templates.Length;
        var sim = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) sim[i, j] = Verification.Cosine(templates[i], templates[j]);
        double thr = spec.Threshold1e3;
        string Person(string f) => f.Length > 5 && f[^5] == '_' ? f[..^5] : f;
        int correct = 0, total = 0;
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) { total++; if ((sim[i, j] >= thr) == (Person(names[i]) == Person(names[j]))) correct++; }

        var html = Page(names, sim, thr, spec, correct, total, problems);
        var index = Path.Combine(outDir, "index.html");
        AtomicFile.WriteAllText(index, html);

        if (json)
        {
            Console.WriteLine(Common.ToJson(new
            {
                model = spec.Name, samples, output = Path.GetFullPath(index), faces = names, threshold = thr, threshold_source = spec.ThresholdSource,
                pairs = total, correct_decisions = correct, problems,
                similarity = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => Math.Round(sim[i, j], 4)).ToArray()).ToArray(),
            }));
            return 0;
        }
        var t = new Table().AddColumns("pair", "cosine", "same person?", "model says");
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                bool same = Person(names[i]) == Person(names[j]);
                if (!same && sim[i, j] < thr - 0.05) continue; // only the informative impostor pairs
                bool says = sim[i, j] >= thr;
                t.AddRow(Markup.Escape($"{names[i]} – {names[j]}"), sim[i, j].ToString("F4"), same ? "yes" : "no",
                    says == same ? $"[green]{(says ? "match" : "no match")}[/]" : $"[red]{(says ? "match" : "no match")}[/]");
            }
        AnsiConsole.Write(t);
        Console.WriteLine($"{spec.Name}: {correct}/{total} pair decisions right at threshold {thr:F4} ({spec.ThresholdSource}).");
        foreach (var pr in problems) Console.WriteLine("skipped " + pr);
        Console.WriteLine($"report: {Path.GetFullPath(index)}");
        return 0;
    }

    static string FindSamples()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "samples", "README.md"))) return Path.Combine(d.FullName, "samples");
        throw new UsageException("bundled samples/ folder not found; give --input <dir>");
    }

    static string Page(List<string> names, double[,] sim, double thr, EncoderSpec spec, int correct, int total, List<string> problems)
    {
        var h = new StringBuilder();
        h.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Dfd demo</title><style>")
         .Append("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}td,th{padding:3px 6px;font-size:12px;text-align:center}")
         .Append("th.r{text-align:right}img{width:75px;height:75px}.m{outline:2px solid #2a2}</style></head><body>");
        h.Append($"<h1>Dfd demo</h1><p>Model <b>{spec.Name}</b> ({WebUtility.HtmlEncode(spec.Description)}). Faces detected with YuNet, aligned to the model's {spec.InputWidth}×{spec.InputHeight} template, encoded; ")
         .Append($"cosine similarity of every pair. Green cells pass the threshold {thr:F4} ({WebUtility.HtmlEncode(spec.ThresholdSource)}). Pair decisions right: {correct}/{total}.</p>");
        h.Append("<table><tr><th></th>");
        foreach (var n in names) h.Append($"<th><img src=\"aligned/{Uri.EscapeDataString(n)}.png\" alt=\"{n}\"></th>");
        h.Append("</tr>");
        for (int i = 0; i < names.Count; i++)
        {
            h.Append($"<tr><th class=\"r\">{WebUtility.HtmlEncode(names[i])} <img src=\"aligned/{Uri.EscapeDataString(names[i])}.png\" alt=\"{names[i]}\"></th>");
            for (int j = 0; j < names.Count; j++)
            {
                double s = sim[i, j];
                int g = (int)Math.Clamp((s - 0.8) / 0.2 * 255, 0, 255);
                string bg = s >= thr ? $"rgb({255 - g / 2},255,{255 - g / 2})" : $"rgb(255,{235 - g / 4},{235 - g / 4})";
                h.Append($"<td style=\"background:{bg}\">{s:F3}</td>");
            }
            h.Append("</tr>");
        }
        h.Append("</table>");
        if (problems.Count > 0) h.Append("<h2>Skipped</h2><ul>").Append(string.Concat(problems.Select(p => $"<li>{WebUtility.HtmlEncode(p)}</li>"))).Append("</ul>");
        h.Append("</body></html>");
        return h.ToString();
    }
}
