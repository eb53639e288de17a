using System.Globalization;
using Dfd.Analysis;
using Dfd.Decoder;
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
    public const string Kinds = "rotation, translation, scale, occlusion, fgsm, pgd, interpolate, compare";

    public const string Help = """
        usage: dfd analyze <kind> --encoder E [--decoder F] --input <image|dir> --report <dir> [--json]
          kinds: rotation [--min -60 --max 60 --step 10]   (degrees, in-plane)
                 translation [--min -20 --max 20 --step 5]  (pixels of the aligned crop, x and y)
                 scale [--min 0.6 --max 1.4 --step 0.1]
                 occlusion [--patch 30 --stride 10 --colour black|grey|white|R,G,B]
                 fgsm | pgd [--eps 0,1,2,4,8 --goal dodge|impersonate|both --steps 10 --step-size S]  (ε in grey levels)
                 interpolate A B [--steps 9]               (two images: decode the path between their templates)
                 compare --encoders E1,E2 [--decoders F1,F2] --perturbation <kind> [its options]
          common: --decoder F (default: the shipped models/dfd-<encoder>-lfw.safetensors, else numbers only),
                  --aligned (inputs are already aligned crops of the encoder), --show 4 (faces in the strips),
                  --no-measure (skip the face-detector geometry), --limit N, --weights W, --device cpu|cuda
        """;

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

        List<string> files;
        string perturbation = kind;
        List<string> encoders;
        List<string?> decoders;
        if (kind == "interpolate")
        {
            if (a.Positional.Count != 3) throw new UsageException("interpolate takes two images: dfd analyze interpolate A B --encoder E --report DIR");
            files = [a.Positional[1], a.Positional[2]];
            foreach (var f in files) if (!File.Exists(f)) throw new FileNotFoundException($"{f}: no such file");
        }
        else
        {
            if (a.Positional.Count > 1) throw new UsageException($"unexpected argument '{a.Positional[1]}' (inputs go in --input)");
            files = Common.InputFiles(a.Req("input"));
        }
        if (kind == "compare")
        {
            encoders = (a.Opt("encoders") ?? throw new UsageException("compare needs --encoders E1,E2")).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
            if (encoders.Count < 2) throw new UsageException("compare needs at least two encoders in --encoders");
            var decs = a.Opt("decoders")?.Split(',', StringSplitOptions.TrimEntries).Select(s => string.IsNullOrEmpty(s) || s == "-" ? null : s).ToList();
            if (decs != null && decs.Count != encoders.Count) throw new UsageException($"--decoders lists {decs.Count} files for {encoders.Count} encoders (use - for none)");
            decoders = decs ?? encoders.Select(_ => (string?)null).ToList();
            perturbation = a.Req("perturbation");
            if (perturbation is "compare" or "interpolate") throw new UsageException($"--perturbation {perturbation}: compare takes one of rotation, translation, scale, occlusion, fgsm, pgd");
        }
        else
        {
            encoders = [a.Req("encoder")];
            decoders = [a.Opt("decoder")];
        }
        var plan = Plan.Parse(perturbation, a);
        var weights = a.Opt("weights");
        a.CheckUnused();

        var results = new List<AnalysisResult>();
        var problems = new List<string>();
        var provenance = new Dictionary<string, object>
        {
            ["command"] = "dfd analyze " + string.Join(" ", argv),
            ["kind"] = kind == "compare" ? $"compare ({perturbation})" : kind,
            ["inputs"] = files.Count == 1 ? files[0] : $"{files.Count} files",
            ["date (UTC)"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
        };
        using var detector = aligned && !measure ? null : FacePipeline.CreateDefault();
        var pipe = aligned ? null : detector;
        for (int e = 0; e < encoders.Count; e++)
        {
            using var enc = Registry.Create(encoders[e], encoders.Count == 1 ? weights : null, device);
            var (dec, decPath) = LoadDecoder(decoders[e], enc, device, problems);
            using var _d = dec;
            provenance[$"encoder {enc.Spec.Name}"] = $"{enc.Spec.Description}; weights {enc.Spec.WeightsFile}; threshold {enc.Spec.Threshold1e3:F4} ({enc.Spec.ThresholdSource})";
            provenance[$"decoder for {enc.Spec.Name}"] = decPath ?? "none";
            var probe = measure ? new GeometryProbe(detector!.Detector, enc.Spec.Template) : null;
            var inputs = AnalysisInputs.Load(files, enc.Spec, pipe, limit, problems);
            if (inputs.Count == 0) throw new UsageException($"no face could be aligned from {files.Count} input file(s): " + string.Join("; ", problems.Take(3)));
            if (kind == "interpolate" && inputs.Count != 2) throw new UsageException("interpolate needs a face in both images: " + string.Join("; ", problems));
            var decName = decPath != null ? Path.GetFileName(decPath) : null;
            var result = Common.WithProgress<List<AnalysisResult>>($"{perturbation} · {enc.Spec.Name}", json, p =>
            {
                var an = new Analyzer(enc, dec, probe, p);
                return kind == "interpolate" ? [an.Interpolate(inputs[0], inputs[1], plan.Steps, decName)] : plan.Run(an, inputs, decName, show, measure);
            });
            results.AddRange(result);
        }
        if (!json) foreach (var r in results) Print(r);
        foreach (var pr in problems) results[0].Notes.Add("skipped " + pr);
        var title = kind == "compare" ? $"Dfd analysis: {perturbation}, {string.Join(" vs ", encoders)}" : $"Dfd analysis: {kind}, {encoders[0]}";
        var index = AnalysisReport.Write(results, report, title, provenance, show);

        if (json)
        {
            Console.WriteLine(Common.ToJson(new { report = Path.GetFullPath(index), problems, analysis = System.Text.Json.JsonDocument.Parse(AnalysisReport.Json(results, provenance)).RootElement }));
            return 0;
        }
        foreach (var pr in problems) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(pr)}");
        Console.WriteLine($"report: {Path.GetFullPath(index)}");
        return 0;
    }

    static void Print(AnalysisResult r)
    {
        bool attack = r.Kind is "fgsm" or "pgd";
        var t = new Table().Title($"{r.Kind} · {r.Encoder} · {r.Inputs.Length} faces · threshold {r.Threshold:F4}")
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

    static (FaceDecoder? Decoder, string? Path) LoadDecoder(string? path, IEncoder enc, TorchSharp.torch.Device device, List<string> problems)
    {
        path ??= DecoderFile.ShippedPath(enc.Spec.Name);
        if (path == null) { problems.Add($"no decoder for {enc.Spec.Name} (give --decoder): numbers only, no reconstructions"); return (null, null); }
        return (DecoderFile.Load(path, device, enc.Spec).Decoder, path);
    }

    /// <summary>A kind and its options, parsed up front so typos fail before any model loads.</summary>
    sealed record Plan(string Kind, List<Perturbation> Perturbations, int Patch, int Stride, Colour Colour,
        double[] Eps, AttackGoal[] Goals, int AttackSteps, double? StepSize, int Steps)
    {
        public static Plan Parse(string kind, Args a)
        {
            var empty = new List<Perturbation>();
            switch (kind)
            {
                case "rotation":
                {
                    var v = Range(a, -60, 60, 10, "°");
                    return Make(kind, v.Select(d => new Perturbation("rotate", d, img => Analysis.Perturbations.Rotate(img, d))));
                }
                case "translation":
                {
                    var v = Range(a, -20, 20, 5, " px");
                    return Make(kind, v.Select(d => new Perturbation("translate-x", d, img => Analysis.Perturbations.Translate(img, d, 0)))
                        .Concat(v.Select(d => new Perturbation("translate-y", d, img => Analysis.Perturbations.Translate(img, 0, d)))));
                }
                case "scale":
                {
                    var v = Range(a, 0.6, 1.4, 0.1, "");
                    if (v.Any(f => f <= 0)) throw new UsageException("scale factors must be positive");
                    return Make(kind, v.Select(f => new Perturbation("scale", f, img => Analysis.Perturbations.Scale(img, f))));
                }
                case "occlusion":
                {
                    int patch = a.Int("patch", 30), stride = a.Int("stride", 10);
                    if (patch < 1 || stride < 1) throw new UsageException("--patch and --stride must be positive");
                    return new(kind, empty, patch, stride, ParseColour(a.Opt("colour") ?? a.Opt("color") ?? "black"), [], [], 0, null, 0);
                }
                case "fgsm" or "pgd":
                {
                    var eps = (a.Opt("eps") ?? "0,1,2,4,8").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                        .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 0 && double.IsFinite(x) ? x : throw new UsageException($"--eps: '{s}' is not a non-negative number")).ToArray();
                    if (eps.Length == 0) throw new UsageException("--eps lists no values");
                    var goals = (a.Opt("goal") ?? "both") switch
                    {
                        "dodge" => new[] { AttackGoal.Dodge },
                        "impersonate" => [AttackGoal.Impersonate],
                        "both" => [AttackGoal.Dodge, AttackGoal.Impersonate],
                        var g => throw new UsageException($"--goal expects dodge, impersonate or both, got '{g}'"),
                    };
                    int steps = kind == "fgsm" ? 1 : a.Int("steps", 10);
                    if (kind == "fgsm" && a.Opt("steps") != null) throw new UsageException("fgsm is one step; use pgd for --steps");
                    double? size = a.Opt("step-size") != null ? a.Double("step-size", 0) : null;
                    if (kind == "fgsm" && size != null) throw new UsageException("fgsm's step is ε; use pgd for --step-size");
                    if (steps < 1) throw new UsageException("--steps must be at least 1");
                    return new(kind, empty, 0, 0, default, eps, goals, steps, size, 0);
                }
                case "interpolate":
                {
                    int steps = a.Int("steps", 9);
                    if (steps < 2) throw new UsageException("--steps must be at least 2");
                    return new(kind, empty, 0, 0, default, [], [], 0, null, steps);
                }
                default:
                    throw new UsageException($"unknown analysis '{kind}' (kinds: {Kinds})");
            }
        }

        static Plan Make(string kind, IEnumerable<Perturbation> p) => new(kind, p.ToList(), 0, 0, default, [], [], 0, null, 0);

        public List<AnalysisResult> Run(Analyzer an, List<AnalysisInput> inputs, string? decName, int show, bool measure)
        {
            switch (Kind)
            {
                case "occlusion":
                    return [an.Occlusion(inputs, Patch, Stride, Colour, decName)];
                case "fgsm" or "pgd":
                    return Goals.Select(g => an.Attack(Kind, inputs, g, Eps,
                        e => Kind == "fgsm" ? AttackOptions.Fgsm(e) : AttackOptions.Pgd(e, AttackSteps, StepSize), null, decName)).ToList();
                default:
                    return [an.Sweep(Kind, inputs, Perturbations, decName, keepImages: true, measure: measure)];
            }
        }
    }

    /// <summary>--min/--max/--step as exact multiples (min + k·step), so 0 and 1 land exactly.</summary>
    static double[] Range(Args a, double min, double max, double step, string unit)
    {
        double lo = a.Double("min", min), hi = a.Double("max", max), st = a.Double("step", step);
        if (!(st > 0)) throw new UsageException("--step must be positive");
        if (hi < lo) throw new UsageException($"--max ({hi}{unit}) is below --min ({lo}{unit})");
        int n = (int)Math.Floor((hi - lo) / st + 1e-9) + 1;
        if (n > 200) throw new UsageException($"{n} strengths from --min, --max, --step: at most 200");
        return Enumerable.Range(0, n).Select(k => Math.Round(lo + k * st, 9)).ToArray();
    }

    static Colour ParseColour(string s) => s switch
    {
        "black" => Colour.Black,
        "grey" or "gray" => Colour.Grey,
        "white" => Colour.White,
        _ when s.Split(',') is { Length: 3 } p && p.All(x => byte.TryParse(x, out _)) => new(byte.Parse(p[0]), byte.Parse(p[1]), byte.Parse(p[2])),
        _ => throw new UsageException($"--colour expects black, grey, white or R,G,B (0–255), got '{s}'"),
    };
}
