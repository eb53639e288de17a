using Dfd.Analysis;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Reports;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>The main job on bundled defaults (Dfd/Demo.cs): needs nothing but the committed models and samples.</summary>
static class DemoCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd demo [--input <dir>] [--output out/demo] [--model dlib-resnet] [--decoder F] [--sharp F|none] [--weights W] [--json]",
        "  aligns, encodes and compares the sample faces (default the bundled samples/), reconstructs them, runs a short",
        "  rotation sweep, an occlusion map and an FGSM attack through the decoder (default the shipped one for --model)",
        "  --compare ENCODER=DECODER[,…] (the models to compare with; default every model whose weights and shipped decoder",
        "  are found) or none; --sharp: the sharp decoder shown beside the regression one (default the shipped",
        "  models/dfd-<model>-lfw-sharp.safetensors where found; none: the regression decoder only); --device cpu|cuda[:N]"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        bool json = a.Flag("json");
        var samples = a.Opt("input") ?? FindSamples();
        var outDir = a.Opt("output") ?? Path.Combine("out", "demo");
        var model = a.Opt("model") ?? DlibResNet.Spec.Name;
        var decPath = a.Opt("decoder");
        var sharpOpt = a.Opt("sharp");
        var device = Common.Device(a);
        var given = ComparePairs(a.Opt("compare"));
        using var enc = Common.Encoder(new Args(["--model", model, .. a.Opt("weights") is { } w ? new[] { "--weights", w } : []], new HashSet<string>()));
        a.CheckUnused();
        decPath ??= DecoderFile.ShippedPath(enc.Spec.Name);
        using var loaded = decPath != null ? DecoderFile.Load(decPath, device, enc.Spec) : null;
        var dec = loaded?.Decoder;
        // Issue 25: the sharp decoder beside the regression one, when one is shipped (or given).
        var sharpPath = sharpOpt == "none" ? null : sharpOpt ?? DecoderFile.ShippedSharpPath(enc.Spec.Name);
        using var sharpLoaded = sharpPath != null ? DecoderFile.Load(sharpPath, device, enc.Spec) : null;
        var sharp = new DemoSharp(sharpLoaded?.Decoder, sharpPath,
            sharpOpt == "none" ? "--sharp none: the regression decoder only"
            : sharpPath == null ? $"no sharp decoder is shipped for {enc.Spec.Name} (models/dfd-{enc.Spec.Name}-lfw-sharp.safetensors): the regression decoder only" : null);
        var missing = new List<string>();
        var partners = given is { Count: 0 } ? [] : Demo.OpenPartners(enc.Spec.Name, given, device, missing);
        try
        {
            var compare = given is { Count: 0 } ? null : new DemoPartners(partners.Select(ComparedModel.Of).ToList(), missing);
            var stages = new[] { "align", "reconstruct", "rotation", "occlusion", "fgsm", "compare" };
            var r = Common.WithProgress("demo", json, p =>
                Demo.Run(samples, outDir, enc, dec, decPath, (stage, done, total) =>
                {
                    // One bar over the stages, each stage an equal share.
                    int k = Array.IndexOf(stages, stage);
                    p.Report((k * 1000 + (int)(1000.0 * done / Math.Max(1, total)), stages.Length * 1000));
                }, compare, loaded?.Info.Kind ?? DecoderKind.Regression, sharp));
            return Report(r, json, samples);
        }
        finally
        {
            foreach (var m in partners) m.Dispose();
        }
    }

    /// <summary>
    /// --compare E=DECODER[,E2=DECODER2]: the models to set beside the demo's, with their decoder files; "none": no
    /// comparison; absent (null): every other model whose weights and shipped decoder are found.
    /// </summary>
    static List<(string Encoder, string Decoder)>? ComparePairs(string? opt)
    {
        if (opt == null) return null;
        if (opt == "none") return [];
        return opt.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(x =>
        {
            int eq = x.IndexOf('=');
            if (eq <= 0 || eq == x.Length - 1) throw new UsageException($"--compare expects ENCODER=DECODER[,…] or none, got '{x}'");
            return (x[..eq], x[(eq + 1)..]);
        }).ToList();
    }

    static int Report(DemoResult r, bool json, string samples)
    {

        if (json)
        {
            Console.WriteLine(Common.ToJson(new
            {
                model = r.Encoder, decoder = r.Decoder, decoder_kind = r.DecoderKind, sharp_decoder = r.SharpDecoder, sharp_note = r.SharpNote, samples, output = r.Index, faces = r.Faces, threshold = r.Threshold,
                threshold_source = r.ThresholdSource, pairs = r.Pairs, correct_decisions = r.CorrectDecisions,
                similarity = r.Similarity.Select(row => row.Select(s => Math.Round(s, 4)).ToArray()).ToArray(),
                reconstruction_similarity = r.ReconstructionSimilarity?.Select(s => Math.Round(s, 4)).ToArray(),
                sharp_reconstruction_similarity = r.SharpReconstructionSimilarity?.Select(s => Math.Round(s, 4)).ToArray(),
                analyses = r.Analyses, problems = r.Problems,
            }));
            return 0;
        }
        string label = DecoderKind.Label(r.DecoderKind ?? DecoderKind.Regression);
        var t = new Table().AddColumns("face", $"{label}: cos to source", "passes as source?");
        if (r.SharpReconstructionSimilarity != null) t.AddColumns("sharp decoder: cos to source", "passes?");
        string Pass(double? s) => s == null ? "–" : s >= r.Threshold ? "[green]yes[/]" : "[red]no[/]";
        for (int i = 0; i < r.Faces.Length; i++)
        {
            var s = r.ReconstructionSimilarity?[i];
            var cells = new List<string> { Markup.Escape(r.Faces[i]), s?.ToString("F4") ?? "–", Pass(s) };
            if (r.SharpReconstructionSimilarity is { } ss) cells.AddRange([ss[i].ToString("F4"), Pass(ss[i])]);
            t.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(t);
        if (r.SharpNote != null) AnsiConsole.MarkupLine($"[yellow]note[/] {Markup.Escape(r.SharpNote)}");
        Console.WriteLine($"{r.Encoder}: {r.CorrectDecisions}/{r.Pairs} pair decisions right at threshold {r.Threshold:F4} ({r.ThresholdSource}).");
        foreach (var pr in r.Problems) AnsiConsole.MarkupLine($"[yellow]note[/] {Markup.Escape(pr)}");
        Console.WriteLine($"report: {r.Index}");
        return 0;
    }

    static string FindSamples() => Demo.FindSamples() ?? throw new UsageException("bundled samples/ folder not found; give --input <dir>");
}
