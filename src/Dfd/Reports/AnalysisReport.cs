using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Dfd.Analysis;
using Dfd.Imaging;
using Dfd.IO;
using ScottPlot;

namespace Dfd.Reports;

/// <summary>
/// HTML + PNG report of one or more <see cref="AnalysisResult"/>s: strips of inputs over reconstructions per strength,
/// similarity and match-rate curves with a band over the inputs, occlusion heat maps, geometry fits, and analysis.json
/// with every number. A <see cref="ComparisonResult"/> (`dfd analyze compare`) has its own page, <see cref="WriteComparison"/>.
/// </summary>
public static partial class AnalysisReport
{
    /// <summary>The evaluation report's JSON settings: snake_case, NaN and ±∞ (a fit with too few points) as null.</summary>
    public static JsonSerializerOptions JsonOptions => EvaluationReport.JsonOptions;

    static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>Writes index.html, analysis.json and the PNGs into <paramref name="dir"/>; returns the index path.</summary>
    public static string Write(IReadOnlyList<AnalysisResult> results, string dir, string title, IReadOnlyDictionary<string, object>? provenance = null, int show = 4)
    {
        Directory.CreateDirectory(dir);
        var html = Head(title, provenance);
        Curves(html, results, dir);
        foreach (var r in results) Section(html, r, dir, results.Count > 1 ? FileSafe(r.Encoder) + "-" : "", show, images: true);
        return Finish(html, dir, Json(results, provenance));
    }

    static StringBuilder Head(string title, IReadOnlyDictionary<string, object>? provenance)
    {
        var html = new StringBuilder();
        html.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>").Append(H(title)).Append("</title><style>")
            .Append("body{font-family:sans-serif;margin:2em;max-width:1500px}table{border-collapse:collapse;margin:.5em 0}")
            .Append("td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:right}th{background:#f4f4f4}")
            .Append("td.l,th.l{text-align:left}img{max-width:100%}.note{color:#a60}</style></head><body>");
        html.Append("<h1>").Append(H(title)).Append("</h1>");
        if (provenance != null)
        {
            html.Append("<table>");
            foreach (var (k, v) in provenance) html.Append($"<tr><th class=l>{H(k)}</th><td class=l>{H(Convert.ToString(v, CultureInfo.InvariantCulture))}</td></tr>");
            html.Append("</table>");
        }
        return html;
    }

    static string Finish(StringBuilder html, string dir, string json)
    {
        html.Append("<p>Every number is in <a href=\"analysis.json\">analysis.json</a>.</p></body></html>");
        AtomicFile.WriteAllText(Path.Combine(dir, "analysis.json"), json);
        var index = Path.Combine(dir, "index.html");
        AtomicFile.WriteAllText(index, html.ToString());
        return index;
    }

    /// <summary>Curves: every series of every result in one plot per axis (several results: each labelled by <see cref="Who"/>).</summary>
    static void Curves(StringBuilder html, IReadOnlyList<AnalysisResult> results, string dir)
    {
        var curveSeries = results.SelectMany(r => r.Series.Where(g => g.Count() > 1 && g.Key != AnalysisKinds.Interpolate.Series[0].Name)
            .Select(g => (Result: r, Series: g.Key, Points: g.OrderBy(p => p.Strength).ToList()))).ToList();
        bool byModel = results.Select(Who).Distinct().Count() > 1;
        foreach (var group in curveSeries.GroupBy(c => Unit(c.Series)))
        {
            var list = group.ToList();
            string stem = Safe(string.Join("-", list.Select(c => c.Series).Distinct())).Replace(':', '-');
            File.WriteAllBytes(Path.Combine(dir, $"{stem}-similarity.png"), SimilarityPng(list, byModel));
            File.WriteAllBytes(Path.Combine(dir, $"{stem}-match.png"), MatchPng(list, byModel));
            html.Append($"<h2>{H(string.Join(", ", list.Select(c => c.Series).Distinct()))}: similarity and match rate vs {H(group.Key)}</h2>")
                .Append($"<img src=\"{stem}-similarity.png\" alt=\"similarity\" width=\"700\"> <img src=\"{stem}-match.png\" alt=\"match rate\" width=\"700\">");
        }
    }

    /// <summary>A result's curve label: its encoder, or "A → B" for an attack crafted on A and measured on B.</summary>
    public static string Who(AnalysisResult r) => r.CraftedOn is { } s ? $"{s} → {r.Encoder}" : r.Encoder;

    /// <summary>One result: what ran, notes, (with <paramref name="images"/>) heat map and strips, the numbers and the geometry fits.</summary>
    static void Section(StringBuilder html, AnalysisResult r, string dir, string tag, int show, bool images)
    {
        html.Append($"<h2>{H(r.Kind)} — encoder {H(r.Encoder)}{(r.CraftedOn != null ? $", perturbations crafted on {H(r.CraftedOn)}" : "")}</h2><p>Decoder: {H(r.Decoder ?? "none (no reconstructions)")}. ")
            .Append($"Threshold {F(r.Threshold)} (FMR 1e-3; {H(r.ThresholdSource)}). Inputs: {r.Inputs.Length} ({H(string.Join(", ", r.Inputs.Take(12)))}{(r.Inputs.Length > 12 ? ", …" : "")}).</p>");
        if (r.Options.Count > 0)
            html.Append("<p>Options: ").Append(H(string.Join("; ", r.Options.Select(kv => $"{kv.Key} = {Show(kv.Value)}")))).Append("</p>");
        foreach (var n in r.Notes) html.Append($"<p class=note>{H(n)}</p>");

        if (images && r.Occlusion is { } occ)
        {
            var heatPng = $"{tag}occlusion-heatmap.png";
            ImageIO.Save(HeatStrip(r, occ, show), Path.Combine(dir, heatPng));
            var (px, py, pd) = occ.Peak;
            html.Append($"<h3>Occlusion heat map</h3><p>{occ.Patch}×{occ.Patch} patch, stride {occ.Stride}: the colour is the mean similarity drop (1 − cos) of the patches covering a pixel, ")
                .Append($"from blue (none) to red (the largest drop in the picture). First: the mean over all {r.Inputs.Length} inputs, drawn on the mean face; then single inputs. ")
                .Append($"Most damaging place: ({px}, {py}), mean drop {pd:F3}.</p><img src=\"{heatPng}\" alt=\"occlusion heat map\">");
        }

        var strips = images ? r.Series.Where(g => g.Any(p => p.Images != null || p.Reconstructions != null)).ToList() : [];
        foreach (var g in strips)
        {
            var pts = g.OrderBy(p => p.Strength).ToList();
            var png = $"{tag}{Safe(g.Key).Replace(':', '-')}-strip.png";
            ImageIO.Save(Strip(r, pts, show), Path.Combine(dir, png));
            html.Append($"<h3>{H(g.Key)}</h3><p>Columns, left to right: {H(string.Join(", ", pts.Select(p => StrengthLabel(g.Key, p.Strength))))}. ")
                .Append(RowsCaption(r, pts, show)).Append($"</p><img src=\"{png}\" alt=\"{H(g.Key)} strip\">");
        }

        html.Append("<h3>Numbers</h3><table><tr><th class=l>series</th><th>strength</th><th>mean cos</th><th>std</th><th>min</th><th>max</th><th>match rate</th>")
            .Append(AnalysisKinds.IsAttack(r.Kind) ? "<th>attack success</th>" : "").Append(r.Points.Any(p => p.SimilarityToSelf != null) ? "<th>mean cos to self / B</th>" : "").Append("</tr>");
        foreach (var p in r.Points)
        {
            html.Append($"<tr><td class=l>{H(p.Series)}</td><td>{H(StrengthLabel(p.Series, p.Strength))}</td><td>{p.MeanSimilarity:F4}</td><td>{Std(p.Similarity):F4}</td>")
                .Append($"<td>{p.Similarity.Min():F4}</td><td>{p.Similarity.Max():F4}</td><td>{P(p.MatchRate)}</td>");
            if (AnalysisKinds.IsAttack(r.Kind)) html.Append($"<td>{P(Analyzer.SuccessRate(p))}</td>");
            if (r.Points.Any(q => q.SimilarityToSelf != null)) html.Append($"<td>{(p.SimilarityToSelf != null ? p.SimilarityToSelf.Average().ToString("F4", CultureInfo.InvariantCulture) : "")}</td>");
            html.Append("</tr>");
        }
        html.Append("</table>");

        if (r.Fits.Count > 0)
        {
            html.Append("<h3>What the template keeps (face detector on inputs and reconstructions)</h3>")
                .Append("<p>For each perturbed input and its reconstruction, YuNet measures the quantity below; both are taken as changes from the clean input and from the clean input's reconstruction. ")
                .Append("The slope of reconstruction change on input change says how much of the change the template carries: 1 = all of it, 0 = none (the model is invariant to it). ")
                .Append("The last column checks the measurement: the input's change per unit of applied strength (1 for rotation and shifts, 1 for log scale).</p>")
                .Append("<table><tr><th class=l>series</th><th class=l>quantity</th><th>slope (recon on input)</th><th>intercept</th><th>points</th><th>faces found in reconstructions</th><th>faces found in inputs</th><th>input slope vs applied</th></tr>");
            foreach (var f in r.Fits)
                html.Append($"<tr><td class=l>{H(f.Series)}</td><td class=l>{H(f.Quantity)}</td><td>{F(f.Slope, "F3")}</td><td>{F(f.Intercept, "F3")}</td><td>{f.Points}</td>")
                    .Append($"<td>{f.ReconFacesFound}/{f.ReconCount}</td><td>{f.InputFacesFound}/{f.InputCount}</td><td>{F(f.InputSlopeVsStrength, "F3")}</td></tr>");
            html.Append("</table>");
        }
    }

    public static string Json(IReadOnlyList<AnalysisResult> results, IReadOnlyDictionary<string, object>? provenance = null) =>
        JsonSerializer.Serialize(new { provenance, results }, JsonOptions);

    static string RowsCaption(AnalysisResult r, List<AnalysisPoint> pts, int show)
    {
        bool imgs = pts.Any(p => p.Images != null), recs = pts.Any(p => p.Reconstructions != null);
        int n = Math.Min(show, pts.Max(p => Math.Max(p.Images?.Length ?? 0, p.Reconstructions?.Length ?? 0)));
        // Which decoder drew the reconstructions (r.Decoder: "regression decoder (file)" or "sharp decoder (file)").
        string by = r.Decoder != null ? $" by the {r.Decoder}" : "";
        string rows = imgs && recs ? $"two rows per face: the perturbed input above its reconstruction{by}" : imgs ? "one row per face: the perturbed input" : $"the reconstructions{by}";
        return $"Rows: {rows}; {n} of {r.Inputs.Length} inputs shown.";
    }

    /// <summary>Per shown input: a row of perturbed images, then a row of their reconstructions.</summary>
    public static RgbImage Strip(AnalysisResult r, List<AnalysisPoint> pts, int show)
    {
        var rows = new List<IReadOnlyList<RgbImage>>();
        int n = Math.Min(show, pts.Max(p => Math.Max(p.Images?.Length ?? 0, p.Reconstructions?.Length ?? 0)));
        for (int i = 0; i < n; i++)
        {
            if (pts.Any(p => p.Images != null)) rows.Add(pts.Select(p => p.Images?[i] ?? Blank(r)).ToList());
            if (pts.Any(p => p.Reconstructions != null)) rows.Add(pts.Select(p => p.Reconstructions?[i] ?? Blank(r)).ToList());
        }
        return ImageGrid.Compose(rows);
    }

    static RgbImage Blank(AnalysisResult r)
    {
        var b = new RgbImage(r.Clean[0].Width, r.Clean[0].Height);
        Array.Fill(b.Data, (byte)255);
        return b;
    }

    /// <summary>Mean heat map on the mean face, then the first inputs' maps on their own faces.</summary>
    public static RgbImage HeatStrip(AnalysisResult r, OcclusionMap m, int show) => ImageGrid.Compose([HeatRow(r, m, show)]);

    /// <summary>The images of <see cref="HeatStrip"/>.</summary>
    public static List<RgbImage> HeatRow(AnalysisResult r, OcclusionMap m, int show)
    {
        var meanFace = new RgbImage(m.Width, m.Height);
        for (int q = 0; q < meanFace.Data.Length; q++) meanFace.Data[q] = (byte)Math.Round(r.Clean.Average(c => (double)c.Data[q]));
        double max = Math.Max(1e-9, m.Mean.Max());
        var row = new List<RgbImage> { Overlay(meanFace, m.Mean, max) };
        for (int i = 0; i < Math.Min(show, m.PerInput.Length); i++) row.Add(Overlay(r.Clean[i], m.PerInput[i], Math.Max(1e-9, m.PerInput[i].Max())));
        return row;
    }

    /// <summary>Half face (grey), half colour of the heat (blue → cyan → yellow → red).</summary>
    public static RgbImage Overlay(RgbImage face, double[] heat, double max)
    {
        var o = new RgbImage(face.Width, face.Height);
        for (int y = 0; y < face.Height; y++)
            for (int x = 0; x < face.Width; x++)
            {
                int i = face.Index(x, y);
                double grey = 0.299 * face.Data[i] + 0.587 * face.Data[i + 1] + 0.114 * face.Data[i + 2];
                var (cr, cg, cb) = Jet(Math.Clamp(heat[y * face.Width + x] / max, 0, 1));
                o.Data[i] = (byte)Math.Round(0.45 * grey + 0.55 * cr);
                o.Data[i + 1] = (byte)Math.Round(0.45 * grey + 0.55 * cg);
                o.Data[i + 2] = (byte)Math.Round(0.45 * grey + 0.55 * cb);
            }
        return o;
    }

    public static (double R, double G, double B) Jet(double v)
    {
        double r = Math.Clamp(1.5 - Math.Abs(4 * v - 3), 0, 1), g = Math.Clamp(1.5 - Math.Abs(4 * v - 2), 0, 1), b = Math.Clamp(1.5 - Math.Abs(4 * v - 1), 0, 1);
        return (255 * r, 255 * g, 255 * b);
    }

    static byte[] SimilarityPng(List<(AnalysisResult Result, string Series, List<AnalysisPoint> Points)> list, bool byEncoder)
    {
        var plt = new Plot();
        int k = 0;
        var thresholds = new HashSet<double>();
        foreach (var (r, s, pts) in list)
        {
            var xs = pts.Select(p => p.Strength).ToArray();
            var mean = pts.Select(p => p.MeanSimilarity).ToArray();
            var color = Color.FromHex(Palette[k++ % Palette.Length]);
            var band = plt.Add.FillY(xs, pts.Select(p => p.Similarity.Min()).ToArray(), pts.Select(p => p.Similarity.Max()).ToArray());
            band.FillColor = color.WithAlpha(0.18);
            band.LineWidth = 0;
            var line = plt.Add.ScatterLine(xs, mean);
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = (byEncoder ? Who(r) + ": " : "") + s + " (mean; band: min–max over inputs)";
            if (double.IsFinite(r.Threshold) && thresholds.Add(r.Threshold))
            {
                var h = plt.Add.HorizontalLine(r.Threshold);
                h.LinePattern = LinePattern.Dashed;
                h.Color = byEncoder ? color : Colors.Black;
                h.LegendText = $"{r.Encoder} FMR 1e-3 threshold {r.Threshold:F4}";
            }
        }
        plt.Title("cosine similarity to the reference template");
        plt.XLabel(Unit(list[0].Series));
        plt.YLabel("cosine similarity");
        plt.ShowLegend(Alignment.LowerLeft);
        return plt.GetImageBytes(900, 560, ImageFormat.Png);
    }

    static byte[] MatchPng(List<(AnalysisResult Result, string Series, List<AnalysisPoint> Points)> list, bool byEncoder)
    {
        var plt = new Plot();
        int k = 0;
        bool attack = list.Any(c => AnalysisKinds.IsAttack(c.Result.Kind));
        foreach (var (r, s, pts) in list)
        {
            var line = plt.Add.ScatterLine(pts.Select(p => p.Strength).ToArray(),
                pts.Select(p => 100 * (attack ? Analyzer.SuccessRate(p) : p.MatchRate)).ToArray());
            line.Color = Color.FromHex(Palette[k++ % Palette.Length]);
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = (byEncoder ? Who(r) + ": " : "") + s;
        }
        plt.Title(attack ? "attack success rate (dodge: no longer matches; impersonate: matches the target)" : "inputs still matching their clean template at FMR 1e-3");
        plt.XLabel(Unit(list[0].Series));
        plt.YLabel(attack ? "success (%)" : "match rate (%)");
        plt.Axes.SetLimitsY(-3, 103);
        plt.ShowLegend(Alignment.LowerLeft);
        return plt.GetImageBytes(900, 560, ImageFormat.Png);
    }

    /// <summary>The axis label of a series, from its kind's entry in <see cref="AnalysisKinds"/>; curves sharing it share a plot.</summary>
    public static string Unit(string series) => AnalysisKinds.AxisLabel(series);

    static string StrengthLabel(string series, double s) => AnalysisKinds.StrengthLabel(series, s);

    static string Show(object v) => v switch
    {
        double[] d => string.Join(", ", d.Select(x => x.ToString("0.##", CultureInfo.InvariantCulture))),
        string[] s => string.Join(", ", s),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static double Std(double[] v) { double m = v.Average(); return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length); }
    static string Safe(string name) => new(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' or ':' ? c : '_').ToArray());
    /// <summary>A name as part of a file name and a relative link: no ':' (onnx:… encoders), which a browser would read as a URL scheme.</summary>
    static string FileSafe(string name) => Safe(name).Replace(':', '-');
    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
    static string P(double x) => (100 * x).ToString("F1", CultureInfo.InvariantCulture) + "%";
    static string F(double x, string f = "F4") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : "–";
}
