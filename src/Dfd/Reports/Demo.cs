using System.Net;
using System.Text;
using Dfd.Analysis;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;

namespace Dfd.Reports;

/// <summary>What the demo made: the page, the faces, the pair decisions and the analyses' headline numbers.</summary>
public sealed record DemoResult(
    string Index, string Encoder, string? Decoder, string[] Faces, double Threshold, string ThresholdSource,
    int Pairs, int CorrectDecisions, double[][] Similarity, double[]? ReconstructionSimilarity,
    Dictionary<string, object> Analyses, List<string> Problems)
{
    /// <summary>Which decoder drew <see cref="ReconstructionSimilarity"/>'s faces: "regression" or "sharp".</summary>
    public string? DecoderKind { get; init; }
    /// <summary>The sharp decoder shown beside it, and its reconstructions' cosine to their sources; null when none.</summary>
    public string? SharpDecoder { get; init; }
    public double[]? SharpReconstructionSimilarity { get; init; }
    /// <summary>Why no sharp decoder is shown; null when one is.</summary>
    public string? SharpNote { get; init; }
}

/// <summary>
/// The sharp decoder shown beside the regression one (issue 25): its file, or none, with <paramref name="Note"/> saying
/// why (no sharp decoder is shipped for this encoder, or it was turned off).
/// </summary>
public sealed record DemoSharp(FaceDecoder? Decoder, string? Path, string? Note = null);

/// <summary>Other FR models the demo compares its own with (each with a decoder), and a line per model left out saying why.</summary>
public sealed record DemoPartners(IReadOnlyList<ComparedModel> Models, IReadOnlyList<string> Missing);

/// <summary>
/// The main job on bundled defaults: align and encode the sample faces, compare every pair, reconstruct each face
/// from its template, then a short rotation sweep, an occlusion map and one FGSM attack seen through the decoder.
/// Writes <c>index.html</c> (linking one report per analysis) into the output folder.
/// </summary>
public static class Demo
{
    /// <summary>The bundled samples/ folder (the one holding samples/README.md) above the program or the working directory, or null.</summary>
    public static string? FindSamples()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "samples", "README.md"))) return Path.Combine(d.FullName, "samples");
        return null;
    }

    /// <summary>A short rotation sweep: what the decoder makes of a turned face.</summary>
    public static AnalysisPlan Rotation { get; } = AnalysisKinds.Rotation.Plan(("min", -45), ("max", 45), ("step", 15));

    /// <summary>A coarse occlusion map (fewer patches than `dfd analyze occlusion`'s default, for a laptop).</summary>
    public static AnalysisPlan Occlusion { get; } = AnalysisKinds.Occlusion.Plan(("patch", 40), ("stride", 20), ("colour", "black"));

    /// <summary>One FGSM example on the first face, dodging, a few ε.</summary>
    public static AnalysisPlan Fgsm { get; } = AnalysisKinds.Fgsm.Plan(("eps", "0,2,4,8"), ("goal", "dodge"));

    /// <summary>How many faces the comparison takes (the first two people of the samples): every model runs every sweep point.</summary>
    public const int CompareFaces = 4;

    /// <summary>
    /// The models to compare with <paramref name="main"/>: the <paramref name="given"/> (encoder, decoder file) pairs;
    /// else every other registry model whose weights and shipped decoder (<see cref="DecoderFile.ShippedPath"/>) are
    /// found here, the rest named in <paramref name="missing"/>. The caller disposes the models.
    /// </summary>
    /// <exception cref="DfdException">A given encoder or decoder cannot be opened.</exception>
    public static List<FaceModel> OpenPartners(string main, IReadOnlyList<(string Encoder, string Decoder)>? given, TorchSharp.torch.Device? device, List<string> missing)
    {
        var open = new List<FaceModel>();
        try
        {
            if (given != null)
                foreach (var (e, d) in given) open.Add(FaceModel.Open(e, decoder: d, device: device));
            else
                foreach (var spec in Registry.All.Where(x => !string.Equals(x.Name, main, StringComparison.OrdinalIgnoreCase)))
                {
                    if (Registry.WeightsPath(spec.Name) is not { } w || !File.Exists(w)) missing.Add($"{spec.Name}: weights not found, not compared");
                    else if (DecoderFile.ShippedPath(spec.Name) == null) missing.Add($"{spec.Name}: no decoder (models/dfd-{spec.Name}-lfw.safetensors), not compared");
                    else open.Add(FaceModel.Open(spec.Name, device: device));
                }
            return open;
        }
        catch
        {
            foreach (var m in open) m.Dispose();
            throw;
        }
    }

    /// <param name="progress">Called with a stage name and (done, total) within it.</param>
    /// <param name="compare">Models to set beside <paramref name="enc"/> (rotation and an FGSM transfer on <see cref="CompareFaces"/> faces); null: no comparison.</param>
    /// <param name="decoderKind">Which decoder <paramref name="decoder"/> is ("regression" or "sharp"), for the captions.</param>
    /// <param name="sharp">A sharp decoder to show beside it (rows: originals / regression / sharp); null or without a
    /// decoder: only <paramref name="decoder"/>'s row, and the page says why (its note).</param>
    public static DemoResult Run(string samples, string outDir, IEncoder enc, FaceDecoder? decoder, string? decoderPath,
        Action<string, int, int>? progress = null, DemoPartners? compare = null, string decoderKind = Decoder.DecoderKind.Regression, DemoSharp? sharp = null)
    {
        var spec = enc.Spec;
        var files = ImageIO.ListImages(samples);
        if (files.Count == 0) throw new FileNotFoundException($"{samples}: no images in this folder");
        Directory.CreateDirectory(Path.Combine(outDir, "aligned"));
        using var pipeline = FacePipeline.CreateDefault();
        var names = new List<string>();
        var crops = new List<RgbImage>();
        var problems = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            var r = pipeline.AlignFile(files[i], spec.Template, FacePick.MostCentral);
            if (r.Status == AlignStatus.Aligned)
            {
                var name = Path.GetFileNameWithoutExtension(files[i]);
                names.Add(name);
                crops.Add(r.Crops[0]);
                ImageIO.Save(r.Crops[0], Path.Combine(outDir, "aligned", name + ".png"));
            }
            else problems.Add($"{files[i]}: {r.Message}");
            progress?.Invoke("align", i + 1, files.Count);
        }
        if (crops.Count < 2) throw new InvalidDataException($"{samples}: fewer than two faces could be aligned ({string.Join("; ", problems)})");
        var templates = enc.Encode(crops);
        Npy.Write(Path.Combine(outDir, "templates.npy"), templates.SelectMany(t => t).ToArray(), [templates.Length, spec.EmbeddingSize]);
        AtomicFile.WriteAllText(Path.Combine(outDir, "templates.json"), System.Text.Json.JsonSerializer.Serialize(new
        {
            model = spec.Name, dim = spec.EmbeddingSize, rows = templates.Length, dtype = "float32", l2_normalised = false,
            files = names.Select(n => $"aligned/{n}.png").ToArray(),
        }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

        int n = templates.Length;
        var sim = new double[n][];
        for (int i = 0; i < n; i++) sim[i] = Enumerable.Range(0, n).Select(j => Cosine.Of(templates[i], templates[j])).ToArray();
        double thr = spec.Threshold1e3;
        int correct = 0, total = 0;
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) { total++; if ((sim[i][j] >= thr) == (Person(names[i]) == Person(names[j]))) correct++; }

        var inputs = names.Select((nm, i) => new AnalysisInput(nm, crops[i])).ToList();
        var probe = new GeometryProbe(pipeline.Detector, spec.Template);
        var analyses = new Dictionary<string, object>();
        var provenance = new Dictionary<string, object>
        {
            ["encoder"] = $"{spec.Name}: {spec.Description}",
            ["decoder"] = decoderPath == null ? "none" : RecordPath.Of(decoderPath),
            ["inputs"] = $"{RecordPath.Of(samples)} ({n} faces)",
        };
        double[]? reconSim = null, sharpSim = null;
        string mainLabel = Decoder.DecoderKind.Label(decoderKind);
        string decName = decoderPath == null ? "" : $"{mainLabel} ({Path.GetFileName(decoderPath)})";
        // The sharp decoder is shown only beside a regression one: a sharp --decoder is the picture itself.
        var sharpDec = decoderKind == Decoder.DecoderKind.Regression ? sharp?.Decoder : null;
        var sections = new List<(string Title, string Dir, string Picture, string Text)>();
        if (decoder != null)
        {
            var an0 = new Analyzer(enc, decoder, null);
            var recon = an0.Decode(templates);
            Directory.CreateDirectory(Path.Combine(outDir, "reconstructed"));
            for (int i = 0; i < n; i++) ImageIO.Save(recon[i], Path.Combine(outDir, "reconstructed", names[i] + ".png"));
            var rt = enc.Encode(recon);
            reconSim = rt.Select((t, i) => Cosine.Of(t, templates[i])).ToArray();
            var rows = new List<IReadOnlyList<RgbImage>> { crops, recon };
            var labels = new List<string> { "originals", mainLabel };
            if (sharpDec != null)
            {
                // Issue 25: the same templates through the sharp decoder, a third row under the regression one.
                var sharpRecon = new Analyzer(enc, sharpDec, null).Decode(templates);
                Directory.CreateDirectory(Path.Combine(outDir, "reconstructed-sharp"));
                for (int i = 0; i < n; i++) ImageIO.Save(sharpRecon[i], Path.Combine(outDir, "reconstructed-sharp", names[i] + ".png"));
                sharpSim = enc.Encode(sharpRecon).Select((t, i) => Cosine.Of(t, templates[i])).ToArray();
                rows.Add(sharpRecon);
                labels.Add(Decoder.DecoderKind.Label(Decoder.DecoderKind.Sharp));
            }
            ImageIO.Save(LabelledGrid.Compose(rows, labels), Path.Combine(outDir, "reconstructions.png"));
            progress?.Invoke("reconstruct", n, n);

            var rot = Rotation.Run(new Analyzer(enc, decoder, probe, Stage(progress, Rotation.Kind.Name)), inputs, decName).Single();
            AnalysisReport.Write([rot], Path.Combine(outDir, Rotation.Kind.Name), "Dfd demo: rotation", provenance, show: 3);
            var fit = rot.Fits.FirstOrDefault();
            analyses[Rotation.Kind.Name] = new
            {
                degrees = rot.Points.Select(p => p.Strength).ToArray(),
                mean_similarity = rot.Points.Select(p => Math.Round(p.MeanSimilarity, 4)).ToArray(),
                match_rate = rot.Points.Select(p => Math.Round(p.MatchRate, 4)).ToArray(),
                reconstructed_roll_slope = fit?.Slope,
            };
            sections.Add(("Rotation", Rotation.Kind.Name, $"{Rotation.Kind.Name}/rotate-strip.png",
                $"Each face turned {Signed(Rotation.Range!.Min)}°…{Signed(Rotation.Range.Max)}° in {Rotation.Range.Step:0.##}° steps (columns), the turned input above its reconstruction. Mean cosine to the upright template: " +
                string.Join(", ", rot.Points.Select(p => $"{p.Strength:0}°: {p.MeanSimilarity:F3}")) +
                (fit != null && double.IsFinite(fit.Slope) ? $". The reconstructions turn {fit.Slope:F2}× as much as the inputs (face detector on both): {(Math.Abs(fit.Slope) < 0.3 ? "the template keeps little of the roll" : "the template keeps much of the roll")}." : ".")));

            // Occlusion: which parts of the face the template depends on.
            var occ = Occlusion.Run(new Analyzer(enc, decoder, null, Stage(progress, Occlusion.Kind.Name)), inputs, decName).Single();
            AnalysisReport.Write([occ], Path.Combine(outDir, Occlusion.Kind.Name), "Dfd demo: occlusion", provenance);
            var (px, py, pd) = occ.Occlusion!.Peak;
            analyses[Occlusion.Kind.Name] = new
            {
                patch = Occlusion.Patch, stride = Occlusion.Stride, peak_x = px, peak_y = py, peak_drop = Math.Round(pd, 4),
                named = occ.Points.ToDictionary(p => p.Series, p => Math.Round(p.MeanSimilarity, 4)),
            };
            sections.Add(("Occlusion", Occlusion.Kind.Name, $"{Occlusion.Kind.Name}/occlusion-heatmap.png",
                $"A {ColourName(Occlusion.Colour)} {Occlusion.Patch}×{Occlusion.Patch} patch swept over the crop; colour = mean similarity drop where it lay (red: largest, at ({px},{py}), drop {pd:F3}). Named occluders, mean cosine: " +
                string.Join(", ", occ.Points.Select(p => $"{p.Series["occlude:".Length..]} {p.MeanSimilarity:F3}")) + "."));

            var fg = Fgsm.Run(new Analyzer(enc, decoder, null, Stage(progress, Fgsm.Kind.Name)), [inputs[0]], decName).Single();
            AnalysisReport.Write([fg], Path.Combine(outDir, Fgsm.Kind.Name), "Dfd demo: FGSM", provenance, show: 1);
            analyses[Fgsm.Kind.Name] = new
            {
                face = inputs[0].Name, epsilons = fg.Points.Select(p => p.Strength).ToArray(),
                similarity = fg.Points.Select(p => Math.Round(p.Similarity[0], 4)).ToArray(),
                still_matches = fg.Points.Select(p => p.Match[0]).ToArray(),
            };
            sections.Add(("FGSM", Fgsm.Kind.Name, $"{Fgsm.Kind.Name}/fgsm-dodge-strip.png",
                $"{inputs[0].Name} attacked with FGSM (dodging) at ε = {string.Join(", ", Fgsm.Epsilons.Select(e => e.ToString("0.##")))} grey levels, each image above the reconstruction of its template. Cosine to the clean template: " +
                string.Join(", ", fg.Points.Select(p => $"ε {p.Strength:0}: {p.Similarity[0]:F3}{(p.Match[0] ? "" : " (no match)")}")) + "."));
        }
        else problems.Add($"no decoder for {spec.Name}: the demo shows templates and pair decisions only");

        if (compare != null)
        {
            problems.AddRange(compare.Missing);
            if (decoder == null) { }
            else if (compare.Models.Count == 0) problems.Add($"no other model with a decoder: no comparison with {spec.Name}");
            else Compare(files, outDir, new ComparedModel(enc, decoder, decName), compare.Models, pipeline, provenance, analyses, sections, problems, progress);
        }

        var index = Path.Combine(outDir, "index.html");
        string? sharpNote = decoder == null || sharpDec != null ? null
            : decoderKind != Decoder.DecoderKind.Regression ? "the decoder shown is itself the sharp decoder"
            : sharp?.Note ?? $"no sharp decoder is shipped for {spec.Name} (models/dfd-{spec.Name}-lfw-sharp.safetensors): the regression decoder only";
        var sharpInfo = new SharpSection(sharpDec != null ? sharp!.Path : null, sharpSim, sharpNote);
        AtomicFile.WriteAllText(index, Page(names, sim, thr, spec, correct, total, problems, decoderPath, reconSim, sections, mainLabel, sharpInfo));
        return new DemoResult(Path.GetFullPath(index), spec.Name, decoderPath, names.ToArray(), thr, spec.ThresholdSource, total, correct, sim, reconSim, analyses, problems)
        {
            DecoderKind = decoder == null ? null : decoderKind, SharpDecoder = sharpInfo.Path, SharpReconstructionSimilarity = sharpSim, SharpNote = sharpNote,
        };
    }

    /// <summary>
    /// The demo's rotation and FGSM (dodging) with every model side by side, on the first <see cref="CompareFaces"/>
    /// faces: what each template keeps of a turn, and whether an attack on one model fools the others.
    /// </summary>
    static void Compare(IReadOnlyList<string> files, string outDir, ComparedModel main, IReadOnlyList<ComparedModel> others, FacePipeline pipeline,
        Dictionary<string, object> provenance, Dictionary<string, object> analyses, List<(string Title, string Dir, string Picture, string Text)> sections,
        List<string> problems, Action<string, int, int>? progress)
    {
        var models = others.Prepend(main).ToList();
        var prov = new Dictionary<string, object>(provenance)
        {
            ["compared with"] = string.Join(", ", others.Select(m => $"{m.Spec.Name} (decoder {m.DecoderName ?? "none"})")),
        };
        var cmp = new Comparison(models, pipeline.Detector);
        void Report(string _, int done, int total) => progress?.Invoke("compare", done, total);
        var inputs = cmp.Align(files, pipeline, CompareFaces, problems);
        if (inputs[0].Count < 2) { problems.Add("fewer than two faces aligned for every model: no comparison"); return; }
        var names = string.Join(" vs ", models.Select(m => m.Spec.Name));

        var rot = cmp.Run(Rotation, inputs, progress: Report);
        AnalysisReport.WriteComparison(rot, Path.Combine(outDir, "compare-rotation"), $"Dfd demo: rotation, {names}", prov, show: 2);
        var slopes = rot.Results.ToDictionary(r => r.Encoder, r => r.Fits.FirstOrDefault()?.Slope);
        var fg = cmp.Run(Fgsm, inputs, measure: false, Report);
        AnalysisReport.WriteComparison(fg, Path.Combine(outDir, "compare-fgsm"), $"Dfd demo: FGSM transfer, {names}", prov, show: 2);
        analyses["compare"] = new
        {
            models = models.Select(m => m.Spec.Name).ToArray(), faces = inputs[0].Select(i => i.Name).ToArray(),
            rotation_roll_slope = slopes,
            rotation_mean_similarity = rot.Results.ToDictionary(r => r.Encoder, r => r.Points.Select(p => Math.Round(p.MeanSimilarity, 4)).ToArray()),
            fgsm_epsilons = Fgsm.Epsilons,
            fgsm_success = fg.Results.Concat(fg.Transfers).Select(r => new
            {
                crafted_on = r.CraftedOn ?? r.Encoder, measured_on = r.Encoder,
                success = r.Points.Select(p => Math.Round(Analyzer.SuccessRate(p), 4)).ToArray(),
            }).ToArray(),
        };
        static string Slope(double? s) => s is { } v && double.IsFinite(v) ? (Math.Round(v, 2) + 0.0).ToString("0.00") : "– (no faces found in the reconstructions)";
        sections.Add(($"Compared: rotation ({names})", "compare-rotation", "compare-rotation/compare-rotate-strip.png",
            $"The same turns for {inputs[0].Count} faces, each model on its own crop: per face, the turned input ({main.Spec.Name}'s crop) above one reconstruction per model. " +
            "How much of the turn each template keeps (slope of the reconstruction's roll on the input's; 1: all, 0: none): " +
            string.Join(", ", slopes.Select(kv => $"{kv.Key} {Slope(kv.Value)}")) + "."));
        var top = fg.Results[0];
        sections.Add(("Compared: FGSM transfer", "compare-fgsm", "compare-fgsm/" + AnalysisReport.TransferStrip(top),
            $"FGSM dodging crafted on each model and carried to the others' crops. Success (no longer matches itself) at ε = {string.Join(", ", Fgsm.Epsilons.Select(e => e.ToString("0.##")))}: " +
            string.Join("; ", fg.Results.Concat(fg.Transfers).Select(r => $"crafted on {r.CraftedOn ?? r.Encoder}, on {r.Encoder}: {string.Join(", ", r.Points.Select(p => $"{100 * Analyzer.SuccessRate(p):0}%"))}")) + "."));
    }

    /// <summary>Negative numbers with a true minus sign, as typeset text.</summary>
    static string Signed(double x) => x < 0 ? $"−{-x:0.##}" : $"{x:0.##}";

    static string ColourName(Colour c) => c == Colour.Black ? "black" : c == Colour.Grey ? "grey" : c == Colour.White ? "white" : $"rgb({c.R},{c.G},{c.B})";

    /// <summary>LFW file names: Person_Name_0001 → Person_Name.</summary>
    public static string Person(string f) => f.Length > 5 && f[^5] == '_' ? f[..^5] : f;

    static IProgress<(int Done, int Total)>? Stage(Action<string, int, int>? progress, string name) =>
        progress == null ? null : new Sync(x => progress(name, x.Done, x.Total));

    sealed class Sync(Action<(int Done, int Total)> a) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => a(value);
    }

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");

    sealed record SharpSection(string? Path, double[]? Similarity, string? Note);

    static string Page(List<string> names, double[][] sim, double thr, EncoderSpec spec, int correct, int total, List<string> problems,
        string? decoderPath, double[]? reconSim, List<(string Title, string Dir, string Picture, string Text)> sections, string mainLabel, SharpSection sharp)
    {
        var h = new StringBuilder();
        h.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Dfd demo</title><style>")
         .Append("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}td,th{padding:3px 6px;font-size:12px;text-align:center}")
         .Append("th.r{text-align:right}table img{width:75px;height:75px}img.wide{max-width:100%}</style></head><body>");
        h.Append($"<h1>Dfd demo</h1><p>Model <b>{H(spec.Name)}</b> ({H(spec.Description)}). Faces detected with YuNet, aligned to the model's {spec.InputWidth}×{spec.InputHeight} template, encoded ")
         .Append($"(<a href=\"templates.npy\">templates.npy</a> + <a href=\"templates.json\">templates.json</a>).</p>");
        if (decoderPath != null && reconSim != null)
        {
            int pass = reconSim.Count(s => s >= thr);
            h.Append($"<h2>Reconstructions</h2><p>Each aligned face (top) and the face the {H(mainLabel)} <code>{H(Path.GetFileName(decoderPath))}</code> draws from its {spec.EmbeddingSize}-number template alone (below it). ")
             .Append($"{pass} of {reconSim.Length} of the {H(mainLabel)}'s reconstructions pass as their source at the FMR 1e-3 threshold (type-I match); mean cosine {reconSim.Average():F3}.");
            if (sharp.Path != null && sharp.Similarity != null)
                h.Append($" Bottom row: the sharp decoder <code>{H(Path.GetFileName(sharp.Path))}</code> from the same templates; {sharp.Similarity.Count(s => s >= thr)} of {sharp.Similarity.Length} pass, mean cosine {sharp.Similarity.Average():F3}. ")
                 .Append("The regression decoder draws what the template determines, about the mean of the photos that could have given it; the sharp decoder's detail comes from an adversarial term: plausible, not measured from the person.");
            else if (sharp.Note != null) h.Append($" ({H(sharp.Note)}.)");
            h.Append("</p><img class=wide src=\"reconstructions.png\" alt=\"originals above reconstructions, each row labelled with the decoder that drew it\">");
        }
        foreach (var (title, dir, pic, text) in sections)
            h.Append($"<h2>{H(title)}</h2><p>{H(text)} <a href=\"{dir}/index.html\">Full report</a>.</p><img class=wide src=\"{pic}\" alt=\"{H(title)}\">");

        h.Append($"<h2>Who matches whom</h2><p>Cosine similarity of every pair. Green cells pass the threshold {thr:F4} ({H(spec.ThresholdSource)}). Pair decisions right: {correct}/{total}.</p>");
        h.Append("<table><tr><th></th>");
        foreach (var n in names) h.Append($"<th><img src=\"aligned/{Uri.EscapeDataString(n)}.png\" alt=\"{H(n)}\"></th>");
        h.Append("</tr>");
        for (int i = 0; i < names.Count; i++)
        {
            h.Append($"<tr><th class=\"r\">{H(names[i])} <img src=\"aligned/{Uri.EscapeDataString(names[i])}.png\" alt=\"{H(names[i])}\"></th>");
            for (int j = 0; j < names.Count; j++)
            {
                double s = sim[i][j];
                int g = (int)Math.Clamp((s - 0.8) / 0.2 * 255, 0, 255);
                string bg = s >= thr ? $"rgb({255 - g / 2},255,{255 - g / 2})" : $"rgb(255,{235 - g / 4},{235 - g / 4})";
                h.Append($"<td style=\"background:{bg}\">{s:F3}</td>");
            }
            h.Append("</tr>");
        }
        h.Append("</table>");
        if (problems.Count > 0) h.Append("<h2>Notes</h2><ul>").Append(string.Concat(problems.Select(p => $"<li>{H(p)}</li>"))).Append("</ul>");
        h.Append("</body></html>");
        return h.ToString();
    }
}
