using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;
using ScottPlot;

namespace Dfd.Reports;

/// <summary>
/// Writes a decoder evaluation to a folder: index.html (self-contained: the figures are embedded), grid.png (sample
/// originals above their reconstructions), hist-MODEL.png per FR model (genuine, impostor, type-I and type-II score
/// distributions with the FMR thresholds) and evaluation.json (every number, as <c>dfd evaluate --json</c> prints it).
/// </summary>
public static partial class EvaluationReport
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,   // readable quotes and apostrophes; never embedded in HTML
        Converters = { new FiniteOrNull() },
    };

    /// <summary>The result as JSON; infinite and NaN numbers (PSNR of identical images, rates with nothing to count) become null.</summary>
    public static string Json(EvaluationResult r) => JsonSerializer.Serialize(r, JsonOptions);

    public sealed record Files(string Index, string Grid, string Json, IReadOnlyList<string> Histograms);

    public static Files Write(EvaluationResult r, string dir)
    {
        Directory.CreateDirectory(dir);
        var gridPath = Path.Combine(dir, "grid.png");
        var grid = Grid(r);
        if (grid != null) ImageIO.Save(grid, gridPath);
        var hists = new List<(ModelResult Model, string Path, byte[] Png)>();
        foreach (var m in r.Results)
        {
            if (m.Scores == null) continue;
            var png = HistogramPng(m);
            var p = Path.Combine(dir, $"hist-{Safe(m.Model)}.png");
            AtomicFile.Write(p, s => s.Write(png));
            hists.Add((m, p, png));
        }
        var jsonPath = Path.Combine(dir, "evaluation.json");
        AtomicFile.WriteAllText(jsonPath, Json(r));
        var indexPath = Path.Combine(dir, "index.html");
        var gridPng = grid != null ? File.ReadAllBytes(gridPath) : null;
        AtomicFile.WriteAllText(indexPath, Html(r, gridPng, hists.Select(h => (h.Model, h.Png)).ToList()));
        return new Files(indexPath, gridPath, jsonPath, hists.Select(h => h.Path).ToList());
    }

    static string Safe(string name) => new(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());

    /// <summary>Double rows of up to 8: originals (E0's aligned crop) above their reconstructions.</summary>
    public static RgbImage? Grid(EvaluationResult r, int perRow = 8)
    {
        if (r.SampleOriginals.Count == 0) return null;
        var rows = new List<IReadOnlyList<RgbImage>>();
        var labels = new List<string>();
        for (int i = 0; i < r.SampleOriginals.Count; i += perRow)
        {
            rows.Add(r.SampleOriginals.Skip(i).Take(perRow).ToList());
            rows.Add(r.SampleReconstructions.Skip(i).Take(perRow).ToList());
            labels.AddRange(["originals", KindLabel(r)]);   // issue 25: each row says which decoder drew it
        }
        return LabelledGrid.Compose(rows, labels);
    }

    /// <summary>
    /// A density histogram of weighted values over [lo, hi) in equal bins (a value at hi goes into the last bin); the
    /// weighted area is 1. Returns the bin edges and the densities.
    /// </summary>
    public static (double[] Edges, double[] Density) Histogram(IEnumerable<(double Value, double Weight)> values, double lo, double hi, int bins)
    {
        var d = new double[bins];
        double w = (hi - lo) / bins, total = 0;
        foreach (var (v, wt) in values)
        {
            int b = (int)Math.Floor((v - lo) / w);
            if (b == bins && v <= hi) b = bins - 1;
            if (b < 0 || b >= bins) continue;
            d[b] += wt;
            total += wt;
        }
        if (total > 0) for (int i = 0; i < bins; i++) d[i] /= total * w;
        return (Enumerable.Range(0, bins + 1).Select(i => lo + i * w).ToArray(), d);
    }

    /// <summary>Per-person lists weighted so that each person counts once (as the type-II and genuine rates do).</summary>
    static IEnumerable<(double, double)> PerPerson(IEnumerable<double[]> people) =>
        people.Where(p => p.Length > 0).SelectMany(p => p.Select(v => (v, 1.0 / p.Length)));

    static IEnumerable<(double, double)> Plain(IEnumerable<double> v) => v.Select(x => (x, 1.0));

    public static byte[] HistogramPng(ModelResult m, int width = 1200, int height = 560)
    {
        var s = m.Scores ?? throw new ArgumentException("model result carries no scores");
        var all = s.Impostor.Concat(s.TypeI).Concat(s.WarpedOriginals ?? []).Concat(s.TypeII.SelectMany(x => x)).Concat(s.Genuine.SelectMany(x => x)).ToList();
        double lo = Math.Max(-1, Math.Floor(all.Min() * 10) / 10), hi = 1.0;
        const int bins = 100;
        var plt = new Plot();
        void Series(IEnumerable<(double, double)> v, string label, string hex)
        {
            var list = v.ToList();
            if (list.Count == 0) return;
            var (edges, dens) = Histogram(list, lo, hi, bins);
            var ys = dens.Append(dens[^1]).ToArray();
            var sc = plt.Add.ScatterLine(edges, ys);
            sc.ConnectStyle = ConnectStyle.StepHorizontal;
            sc.LineWidth = 2;
            sc.Color = Color.FromHex(hex);
            sc.LegendText = label;
        }
        Series(Plain(s.Impostor), $"impostor: originals ({s.Impostor.Length:N0} pairs)", "#7f7f7f");
        Series(PerPerson(s.Genuine), $"genuine: originals ({s.Genuine.Sum(p => (long)p.Length):N0} pairs; per person)", "#2ca02c");
        Series(Plain(s.TypeI), $"type I: r_i vs o_i ({s.TypeI.Length:N0})", "#d62728");
        Series(PerPerson(s.TypeII), $"type II: r_i vs o_j, j≠i ({s.TypeII.Sum(p => (long)p.Length):N0} pairs; per person)", "#1f77b4");
        if (s.WarpedOriginals is { } wo) Series(Plain(wo), $"warp ceiling: warped o_i vs o_i ({wo.Length:N0})", "#ff7f0e");
        LinePattern[] patterns = [LinePattern.Dashed, LinePattern.DenselyDashed, LinePattern.Dotted];
        for (int k = 0; k < m.Rates.Count; k++)
        {
            var rate = m.Rates[k];
            if (!double.IsFinite(rate.Threshold)) continue;
            // Thresholds can lie close together, so they are told apart by pattern and legend, not by labels on the plot.
            var vl = plt.Add.VerticalLine(rate.Threshold);
            vl.LineWidth = 1.5f;
            vl.LinePattern = patterns[k % patterns.Length];
            vl.Color = Color.FromHex(k < 3 ? new[] { "#000000", "#555555", "#9467bd" }[k] : "#000000");
            vl.LegendText = $"FMR {Fmr(rate.Fmr)}: {rate.Threshold:F4} ({rate.FalseAccepts:N0} of {rate.ImpostorComparisons:N0} above)";
        }
        plt.Title($"{m.Model}: cosine similarity of templates");
        plt.XLabel("cosine similarity");
        plt.YLabel("density");
        plt.Axes.Margins(bottom: 0);
        plt.Axes.SetLimitsX(lo, hi);
        plt.ShowLegend(Edge.Right);   // beside the axes, where it hides no bars
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }

    public static string Fmr(double f) => f.ToString("0e0", CultureInfo.InvariantCulture).Replace("e-0", "e-");

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
    static string P(double x) => double.IsFinite(x) ? (100 * x).ToString("F2", CultureInfo.InvariantCulture) + "%" : "–";
    static string F(double x, string f = "F4") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : (double.IsPositiveInfinity(x) ? "+∞" : "–");

    public static string Html(EvaluationResult r, byte[]? gridPng, IReadOnlyList<(ModelResult Model, byte[] Png)> hists)
    {
        var h = new StringBuilder();
        var d = r.Decoder;
        h.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Dfd decoder evaluation</title><style>")
         .Append("body{font-family:sans-serif;margin:2em;max-width:1300px;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}")
         .Append("td,th{padding:3px 8px;font-size:13px;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}")
         .Append("img{max-width:100%}pre{background:#f7f7f7;padding:0.6em;font-size:12px;white-space:pre-wrap;word-break:break-all}.note{color:#555;font-size:13px}")
         .Append("</style></head><body>");
        h.Append($"<h1>Decoder evaluation</h1><p><b>{H(Path.GetFileName(d.Path))}</b> ({H(KindLabel(r))}) inverts <b>{H(r.Encoder)}</b> templates")
         .Append(d.EpochsDone is { } ep ? $", {ep} epoch(s){(d.Metadata.GetValueOrDefault("step_in_epoch") is { } st and not "0" ? $" and {st} step(s)" : "")} trained" : "")
         .Append(d.TrainSeconds is { } ts ? $" in {ts / 3600:F2} h" : "")
         .Append($". Test set: {r.Data.EvaluatedImages:N0} images of {r.Data.EvaluatedPeople:N0} people ({H(r.Data.Spec)}")
         .Append(r.Data.Split != null ? $", test people of split {H(r.Data.Split)}" : "")
         .Append(r.Data.LimitPeople is { } lp ? $", first {lp} people by name" : "")
         .Append($"). Evaluated {H(r.Utc)} in {r.Seconds:F0} s on {H(r.Device)}.</p>");

        h.Append("<h2>Match rates of reconstructions</h2><p class=\"note\">An FR model M accepts a pair iff the cosine similarity of its templates is at least the threshold fitted to the FMR on impostor pairs of originals (one image per test person, all pairs of different people). ")
         .Append("<b>Type I</b>: reconstruction r<sub>i</sub> of image i against the original o<sub>i</sub>. <b>Type II</b>: r<sub>i</sub> against the same person's other images o<sub>j</sub>, j≠i, averaged per person, then over people. ")
         .Append("<b>Genuine</b> (context): originals of the same person against each other, averaged the same way. Reconstructions are decoded in the decoder's encoder's crop; for another model they are moved to its crop by the fixed 5-point similarity between the two alignment templates. ")
         .Append("<b>Warp ceiling</b> (such models only): type I of the originals themselves, taken in the decoder's encoder's crop and moved by the same warp: what a perfect reconstruction would reach, since that crop lacks parts of the other model's (the warp repeats the border there).</p>");
        h.Append("<table><tr><th class=\"l\">model</th><th>FMR</th><th>threshold</th><th>false accepts / impostor pairs</th><th>type I</th><th>type II</th><th>genuine</th><th>warp ceiling</th></tr>");
        foreach (var m in r.Results)
            foreach (var x in m.Rates)
                h.Append($"<tr><td class=\"l\">{H(m.Model)}</td><td>{Fmr(x.Fmr)}</td><td>{F(x.Threshold)}</td><td>{x.FalseAccepts:N0} / {x.ImpostorComparisons:N0}</td>")
                 .Append($"<td><b>{P(x.TypeI)}</b> ({x.TypeIMatches:N0}/{x.TypeIImages:N0})</td><td><b>{P(x.TypeII)}</b></td><td>{P(x.Genuine)}</td><td>{(x.WarpedOriginals is { } wo ? P(wo) : "–")}</td></tr>");
        h.Append("</table>");

        h.Append("<h2>Mean cosine similarity</h2><table><tr><th class=\"l\">model</th><th class=\"l\">role</th><th>input</th><th>images</th><th>people</th><th>people with ≥2 images</th>")
         .Append("<th>impostor pairs</th><th>type-II pairs</th><th>genuine pairs</th><th>type I</th><th>type II (per person)</th><th>genuine (per person)</th><th>impostor</th><th>warp ceiling</th></tr>");
        foreach (var m in r.Results)
            h.Append($"<tr><td class=\"l\">{H(m.Model)}</td><td class=\"l\">{H(m.Role)}{(m.Warped ? ", reconstructions warped to its crop" : "")}</td><td>{m.InputWidth}×{m.InputHeight}</td><td>{m.Images:N0}</td><td>{m.People:N0}</td><td>{m.PeopleWithTwoOrMore:N0}</td>")
             .Append($"<td>{m.ImpostorComparisons:N0}</td><td>{m.TypeIIPairs:N0}</td><td>{m.GenuinePairs:N0}</td><td>{F(m.MeanTypeI)}</td><td>{F(m.MeanTypeII)}</td><td>{F(m.MeanGenuine)}</td><td>{F(m.MeanImpostor)}</td><td>{(m.MeanWarpedOriginals is { } mw ? F(mw) : "–")}</td></tr>");
        h.Append("</table>");

        if (r.Results.Any(m => m.Identification != null || m.Frechet != null))
        {
            h.Append("<h2>Faces a person tells apart</h2><p class=\"note\"><b>Rank-1</b>: a gallery of one original per test person (the first by file name); each reconstruction of a person's <i>other</i> photos is searched in it, and counts when the most similar gallery face is the same person's. ")
             .Append("The same search with the other original photos (what the model does on real photos) and with one mean face for every probe (chance). ")
             .Append("<b>False matches</b>: the share of comparisons of each image with every other person's gallery original that reach the FMR 1e-3 threshold (originals: about 1e-3 by construction; a face that matches everyone scores high). ")
             .Append("<b>Fréchet distance</b> between Gaussians fitted to the model's L2-normalised templates of the reconstructions and of the originals (means, covariances /(N−1), ‖μa−μb‖² + Tr(Σa+Σb−2(Σa^½ΣbΣa^½)^½)); beside it the mean face for all, and the originals of every other person against the rest.</p>")
             .Append("<table><tr><th class=\"l\">model</th><th>gallery / probes</th><th>rank-1 recon.</th><th>rank-1 originals</th><th>rank-1 mean face</th><th>threshold</th><th>false matches recon.</th><th>originals</th><th>mean face</th><th>Fréchet recon.</th><th>mean face</th><th>originals halves</th></tr>");
            foreach (var m in r.Results)
            {
                var i = m.Identification; var f = m.Frechet;
                h.Append($"<tr><td class=\"l\">{H(m.Model)}</td><td>{(i != null ? $"{i.GalleryPeople:N0} / {i.Probes:N0}" : "–")}</td><td><b>{(i != null ? P(i.Rank1) : "–")}</b></td><td>{(i != null ? P(i.Rank1Originals) : "–")}</td><td>{(i != null ? P(i.Rank1MeanFace) : "–")}</td>")
                 .Append($"<td>{(i != null ? F(i.Threshold) : "–")}</td><td><b>{(i != null ? F(i.FalseMatches, "E2") : "–")}</b></td><td>{(i != null ? F(i.FalseMatchesOriginals, "E2") : "–")}</td><td>{(i != null ? F(i.FalseMatchesMeanFace, "E2") : "–")}</td>")
                 .Append($"<td><b>{(f != null ? F(f.Reconstructions) : "–")}</b></td><td>{(f != null ? F(f.MeanFace) : "–")}</td><td>{(f != null ? F(f.OriginalsHalves) : "–")}</td></tr>");
            }
            h.Append("</table>");
        }
        var q = r.Quality;
        h.Append($"<h2>Image similarity</h2><p>Reconstructions against the {r.Encoder} crops their templates came from ({q.Images:N0} images): ")
         .Append($"<b>SSIM {F(q.SsimMean)}</b> (± {F(q.SsimStd)}), <b>PSNR {(q.PsnrMeanDb is { } pm ? F(pm, "F2") + " dB" : "+∞")}</b>")
         .Append(q.PsnrStdDb is { } psd ? $" (± {F(psd, "F2")} dB)" : "")
         .Append(q.IdenticalImages > 0 ? $"; {q.IdenticalImages} reconstruction(s) identical to the original" : "")
         .Append(q.MeanFaceSsim is { } mf ? $". The floor: the mean of these {q.Images:N0} originals, one image for every face, scores SSIM {F(mf)}, PSNR {(q.MeanFacePsnrDb is { } mp ? F(mp, "F2") + " dB" : "+∞")}" : "")
         .Append(q.SamePersonSsim is { } sp ? $". Another real photo of the same person (the originals of one person against each other, up to {ImageMeasures.SamePersonImages} images a person: {q.SamePersonPairs:N0} pairs of {q.SamePersonPeople:N0} people, averaged per person) scores SSIM {F(sp)}" : "")
         .Append(q.PixelSpread is { } ps && q.PixelSpreadOriginals is { } pso ? $". How much the faces differ from one another (each pixel's standard deviation over the images, averaged, 0–1): reconstructions {F(ps)}, originals {F(pso)} ({F(ps / pso, "P0")} of it; one face drawn for everyone would score 0)" : "")
         .Append(q.Sharpness is { } sh ? $". Detail drawn (mean squared luminance gradient over the originals'): whole crop {F(sh.Whole)}, inner face {F(sh.Inner)}; the mean face {F(sh.MeanFaceWhole)} and {F(sh.MeanFaceInner)} (1 = a photo's detail)" : "")
         .Append(q.InnerFace is { } fi ? $". On the inner-face box only (x {fi.X0}–{fi.X1}, y {fi.Y0}–{fi.Y1}, eyes to mouth): reconstructions SSIM {F(fi.Reconstructions)}" +
             (fi.MeanFace is { } im ? $", the mean face {F(im)}" : "") + (fi.SamePerson is { } isp ? $", another photo of the same person {F(isp)}" : "") : "")
         .Append(".</p>").Append(ColourTextureHtml(r)).Append("<p class=\"note\">SSIM: Wang et al. (2004), 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the valid region and the RGB channels (as scikit-image with gaussian_weights=True, use_sample_covariance=False). PSNR: 10·log10(255²/MSE) per image, then the mean.</p>");

        if (gridPng != null)
            h.Append($"<h2>Sample faces</h2><p class=\"note\">Originals ({r.Encoder} crop) above their reconstructions by the {H(KindLabel(r))}: {H(string.Join(", ", r.SampleNames))}.</p>")
             .Append($"<img alt=\"grid\" src=\"data:image/png;base64,{Convert.ToBase64String(gridPng)}\">");
        if (hists.Count > 0)
        {
            h.Append("<h2>Score distributions</h2><p class=\"note\">Densities; genuine and type II weighted so that each person counts once. Dashed and dotted lines: the thresholds at the FMRs (see each legend).</p>");
            foreach (var (m, png) in hists)
                h.Append($"<h3>{H(m.Model)}</h3><img alt=\"{H(m.Model)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">");
        }

        h.Append("<h2>Provenance</h2><table>");
        void Row(string k, string? v) => h.Append($"<tr><th class=\"l\">{H(k)}</th><td class=\"l\">{H(v)}</td></tr>");
        Row("decoder file", d.Path);
        Row("decoder sha256 (first 16)", $"{d.Sha256} ({d.Bytes:N0} bytes, {d.Format})");
        Row("encoder", $"{d.Encoder} ({d.TemplateDim}-D templates, {d.OutputSize} images)");
        Row("epochs done", d.EpochsDone?.ToString());
        Row("train seconds", d.TrainSeconds?.ToString("F1", CultureInfo.InvariantCulture));
        Row("train split", d.Split);
        Row("data", $"{r.Data.Spec} ({r.Data.Kind})");
        Row("split", r.Data.Split == null ? "none (every person)" : $"{r.Data.Split} ({r.Data.SplitFile})");
        Row("listed", $"{r.Data.ListedImages:N0} images; {r.Data.ListedPeople:N0} people before any limit");
        Row("evaluated", $"{r.Data.EvaluatedImages:N0} images of {r.Data.EvaluatedPeople:N0} people; {r.Data.SkippedImages} skipped (no face or unreadable)");
        Row("models", string.Join(", ", r.Results.Select(m => $"{m.Model} (weights {m.WeightsId})")));
        Row("FMRs", string.Join(", ", r.Fmrs.Select(Fmr)));
        Row("stage seconds", string.Join(", ", r.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:F1}")));
        h.Append("</table>");
        if (d.TrainConfig != null)
        {
            string cfg = d.TrainConfig;
            try { cfg = JsonSerializer.Serialize(JsonDocument.Parse(cfg).RootElement, new JsonSerializerOptions { WriteIndented = true }); } catch (JsonException) { }
            h.Append($"<h3>Training configuration</h3><pre>{H(cfg)}</pre>");
        }
        h.Append("<h3>Decoder metadata</h3><pre>")
         .Append(H(string.Join("\n", d.Metadata.Where(kv => kv.Key != "train_config").Select(kv => $"{kv.Key}: {kv.Value}")))).Append("</pre>");
        if (r.Data.Skipped.Count > 0)
            h.Append("<h3>Skipped images</h3><ul>").Append(string.Concat(r.Data.Skipped.Take(200).Select(s => $"<li>{H(s[0])}: {H(s[1])}</li>"))).Append("</ul>");
        h.Append("</body></html>");
        return h.ToString();
    }

    /// <summary>Writes NaN and ±∞ as null (JSON has no such numbers).</summary>
    sealed class FiniteOrNull : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type t, JsonSerializerOptions o) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter w, double v, JsonSerializerOptions o)
        {
            if (double.IsFinite(v)) w.WriteNumberValue(v);
            else w.WriteNullValue();
        }

        public override bool HandleNull => true;
    }
}
