using System.Globalization;
using Dfd.Analysis;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.Reports;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>
/// dfd analyze &lt;kind&gt;: perturb aligned faces, follow the template, decode it (Analysis/Analyzer.cs); HTML + PNG + JSON report.
/// </summary>
static class AnalyzeCommand
{
    /// <summary>The kinds `dfd analyze` takes: the library's table, then compare (which runs one of them on several encoders).</summary>
    public static readonly string Kinds = string.Join(", ", AnalysisKinds.All.Select(k => k.Name).Append("compare"));

    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd analyze <kind> --encoder E [--decoder F] --input <image|dir> --report <dir> [--json]",
        .. AnalysisKinds.HelpLines().Select((l, i) => (i == 0 ? "  kinds: " : "         ") + l),
        "         compare --encoders E1,E2[,…] [--decoders F1,F2] --perturbation <kind> [its options; interpolate: A B]",
        "                 (every model at once: reconstructions, geometry slopes and heat maps side by side; attacks",
        "                 crafted on each model are also measured on the others); --row-height N: image rows of N px",
        "  common: --decoder F (default: the shipped models/dfd-<encoder>-lfw.safetensors, else numbers only),",
        "          --aligned (inputs are already aligned crops of the encoder), --show 4 (faces in the strips),",
        "          --no-measure (skip the face-detector geometry), --limit N, --weights W, --device cpu|cuda",
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json", "aligned", "no-measure", "help" });
        if (a.Flag("help") || a.Positional.Count == 0)
        {
            Console.WriteLine(Help);
            return a.Positional.Count == 0 && !a.Flag("help") ? 2 : 0;
        }
        string kind = a.Positional[0];
        bool json = a.Flag("json");
        var report = a.Req("report");
        int show = a.Int("show", 4);
        bool aligned = a.Flag("aligned"), measure = !a.Flag("no-measure");
        int limit = a.Int("limit", int.MaxValue);
        var device = Common.Device(a);

        if (kind == "compare") return Compare(a, argv, json, report, show, aligned, measure, limit, device);
        var entry = AnalysisKinds.Find(kind);
        var files = Files(a, entry, kind);
        var encoder = a.Req("encoder");
        var decoderOpt = a.Opt("decoder");
        var plan = Parse(kind, a);
        var weights = a.Opt("weights");
        a.CheckUnused();

        var problems = new List<string>();
        var provenance = Provenance(argv, kind, files);
        // The pipeline measures geometry even on aligned crops; it aligns only photos.
        using var pipeline = aligned && !measure ? null : FacePipeline.CreateDefault();
        var aligner = aligned ? null : pipeline;
        using var enc = Registry.Create(encoder, weights, device);
        var (dec, decPath, decKind) = LoadDecoder(decoderOpt, enc, device, problems);
        using var _d = dec;
        provenance[$"encoder {enc.Spec.Name}"] = EncoderLine(enc.Spec);
        provenance[$"decoder for {enc.Spec.Name}"] = decPath == null ? "none" : Dfd.IO.RecordPath.Of(decPath);
        var probe = measure ? new GeometryProbe(pipeline!.Detector, enc.Spec.Template) : null;
        var inputs = AnalysisInputs.Load(files, enc.Spec, aligner, limit, problems);
        if (inputs.Count == 0) throw new UsageException($"no face could be aligned from {files.Count} input file(s): " + string.Join("; ", problems.Take(3)));
        if (plan.Kind.ImagePair && inputs.Count != 2) throw new UsageException($"{kind} needs a face in both images: " + string.Join("; ", problems));
        // The report names the file and which decoder it is (regression or sharp) beside every reconstruction.
        var decName = decPath != null ? $"{DecoderKind.Label(decKind!)} ({Path.GetFileName(decPath)})" : null;
        var results = Common.WithProgress<List<AnalysisResult>>($"{kind} · {enc.Spec.Name}", json, p => plan.Run(new Analyzer(enc, dec, probe, p), inputs, decName, measure));
        if (!json) foreach (var r in results) Print(r);
        foreach (var pr in problems) results[0].Notes.Add("skipped " + pr);
        var index = AnalysisReport.Write(results, report, $"Dfd analysis: {kind}, {enc.Spec.Name}", provenance, show);
        return Done(json, index, problems, AnalysisReport.Json(results, provenance));
    }

    /// <summary>
    /// dfd analyze compare: every encoder (with its decoder) loaded at once and one plan run on each by the library's
    /// <see cref="Comparison"/>, attacks transferred between them; the report sets the models side by side.
    /// </summary>
    static int Compare(Args a, string[] argv, bool json, string report, int show, bool aligned, bool measure, int limit, TorchSharp.torch.Device device)
    {
        var encoders = (a.Opt("encoders") ?? throw new UsageException("compare needs --encoders E1,E2")).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
        if (encoders.Count < 2) throw new UsageException("compare needs at least two encoders in --encoders");
        if (encoders.GroupBy(e => e, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new UsageException($"--encoders names {twice.Key} twice");
        var decs = a.Opt("decoders")?.Split(',', StringSplitOptions.TrimEntries).Select(s => string.IsNullOrEmpty(s) || s == "-" ? null : s).ToList();
        if (decs != null && decs.Count != encoders.Count) throw new UsageException($"--decoders lists {decs.Count} files for {encoders.Count} encoders (use - for none)");
        var decoders = decs ?? encoders.Select(_ => (string?)null).ToList();
        var perturbation = a.Req("perturbation");
        if (perturbation == "compare") throw new UsageException($"--perturbation compare: compare takes one of {string.Join(", ", AnalysisKinds.All.Select(k => k.Name))}");
        var entry = AnalysisKinds.Find(perturbation) ?? throw new UsageException($"unknown analysis '{perturbation}' (kinds: {string.Join(", ", AnalysisKinds.All.Select(k => k.Name))})");
        var files = Files(a, entry, "compare --perturbation " + perturbation);
        var plan = Parse(perturbation, a);
        int? rowHeight = a.Opt("row-height") == null ? null : a.Int("row-height", 0);
        if (rowHeight is < 16 or > 1024) throw new UsageException($"--row-height {rowHeight}: give 16 to 1024 pixels");
        if (a.Opt("weights") != null) throw new UsageException("--weights applies to one encoder; compare finds each encoder's own");
        a.CheckUnused();

        var problems = new List<string>();
        var provenance = Provenance(argv, $"compare ({perturbation})", files);
        // The pipeline measures geometry even on aligned crops; it aligns only photos.
        using var pipeline = aligned && !measure ? null : FacePipeline.CreateDefault();
        var aligner = aligned ? null : pipeline;
        var models = new List<FaceModel>();
        try
        {
            for (int e = 0; e < encoders.Count; e++)
            {
                var m = FaceModel.Open(encoders[e], decoder: decoders[e], device: device);
                models.Add(m);
                provenance[$"encoder {m.Spec.Name}"] = EncoderLine(m.Spec);
                provenance[$"decoder for {m.Spec.Name}"] = m.DecoderPath == null ? "none" : Dfd.IO.RecordPath.Of(m.DecoderPath);
                if (m.Decoder == null) problems.Add($"no decoder for {m.Spec.Name} (give one in --decoders): numbers only, no reconstructions");
            }
            var cmp = new Comparison(models.Select(ComparedModel.Of).ToList(), measure ? pipeline!.Detector : null);
            var inputs = cmp.Align(files, aligner, limit, problems);
            if (inputs[0].Count == 0) throw new UsageException($"no face could be aligned for every model from {files.Count} input file(s): " + string.Join("; ", problems.Take(3)));
            if (plan.Kind.ImagePair && inputs[0].Count != 2) throw new UsageException($"{perturbation} needs a face in both images: " + string.Join("; ", problems));
            var c = Common.WithProgress($"compare {perturbation}", json, p =>
                cmp.Run(plan, inputs, measure, (_, done, total) => p.Report((done, total))));
            if (!json) foreach (var r in c.Results.Concat(c.Transfers)) Print(r);
            foreach (var pr in problems) c.Results[0].Notes.Add("skipped " + pr);
            var index = AnalysisReport.WriteComparison(c, report, $"Dfd comparison: {perturbation}, {string.Join(" vs ", c.Models)}", provenance, show, rowHeight);
            return Done(json, index, problems, AnalysisReport.ComparisonJson(c, provenance));
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }

    static List<string> Files(Args a, AnalysisKind? entry, string usage)
    {
        if (entry is { ImagePair: true })
        {
            if (a.Positional.Count != 3) throw new UsageException($"{entry.Name} takes two images: dfd analyze {usage} A B ... --report DIR");
            var files = new List<string> { a.Positional[1], a.Positional[2] };
            foreach (var f in files) if (!File.Exists(f)) throw new FileNotFoundException($"{f}: no such file");
            return files;
        }
        if (a.Positional.Count > 1) throw new UsageException($"unexpected argument '{a.Positional[1]}' (inputs go in --input)");
        return Common.InputFiles(a.Req("input"));
    }

    static Dictionary<string, object> Provenance(string[] argv, string kind, List<string> files) => new()
    {
        ["command"] = "dfd analyze " + string.Join(" ", argv),
        ["kind"] = kind,
        ["inputs"] = files.Count == 1 ? Dfd.IO.RecordPath.Of(files[0]) : $"{files.Count} files",
        ["date (UTC)"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
    };

    static string EncoderLine(EncoderSpec s) => $"{s.Description}; weights {s.WeightsFile}; threshold {s.Threshold1e3:F4} ({s.ThresholdSource})";

    static int Done(bool json, string index, List<string> problems, string analysisJson)
    {
        if (json)
        {
            Console.WriteLine(Common.ToJson(new { report = Path.GetFullPath(index), problems, analysis = System.Text.Json.JsonDocument.Parse(analysisJson).RootElement }));
            return 0;
        }
        foreach (var pr in problems) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(pr)}");
        Console.WriteLine($"report: {Path.GetFullPath(index)}");
        return 0;
    }

    static void Print(AnalysisResult r)
    {
        bool attack = AnalysisKinds.IsAttack(r.Kind);
        var t = new Table().Title($"{r.Kind} · {AnalysisReport.Who(r)} · {r.Inputs.Length} faces · threshold {r.Threshold:F4}")
            .AddColumns("series", "strength", "mean cos", "min cos", attack ? "success" : "match rate");
        foreach (var p in r.Points)
            t.AddRow(Markup.Escape(p.Series), p.Strength.ToString("0.###", CultureInfo.InvariantCulture), p.MeanSimilarity.ToString("F4"),
                p.Similarity.Min().ToString("F4"), Common.Pct(attack ? Analyzer.SuccessRate(p) : p.MatchRate));
        AnsiConsole.Write(t);
        if (r.Occlusion is { } o) { var (x, y, d) = o.Peak; Console.WriteLine($"occlusion: most damaging place ({x},{y}), mean drop {d:F3}"); }
        foreach (var f in r.Fits)
            Console.WriteLine($"{f.Series}: reconstructed {f.Quantity} changes {f.Slope:F3}× the input's (n={f.Points}; faces found in {f.ReconFacesFound}/{f.ReconCount} reconstructions)");
        foreach (var n in r.Notes) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(n)}[/]");
    }

    static (FaceDecoder? Decoder, string? Path, string? Kind) LoadDecoder(string? path, IEncoder enc, TorchSharp.torch.Device device, List<string> problems)
    {
        path ??= DecoderFile.ShippedPath(enc.Spec.Name);
        if (path == null) { problems.Add($"no decoder for {enc.Spec.Name} (give --decoder): numbers only, no reconstructions"); return (null, null, null); }
        var loaded = DecoderFile.Load(path, device, enc.Spec);
        return (loaded.Decoder, path, loaded.Info.Kind);
    }

    /// <summary>A kind and its options, parsed up front from the library's table so typos fail before any model loads.</summary>
    static AnalysisPlan Parse(string kind, Args a)
    {
        var entry = AnalysisKinds.Find(kind) ?? throw new UsageException($"unknown analysis '{kind}' (kinds: {Kinds})");
        try { return entry.Plan(a.Opt); }
        catch (AnalysisOptionException e) { throw new UsageException(e.Message); }
    }
}
