using System.Globalization;
using System.Text;
using System.Text.Json;
using Dfd.Analysis;
using Dfd.Imaging;

namespace Dfd.Reports;

public static partial class AnalysisReport
{
    /// <summary>
    /// The page of a <see cref="ComparisonResult"/>: the models, the curves of all of them in one plot, then side by
    /// side what each model's template keeps: the geometry slopes (series × model), the occlusion heat maps (a row per
    /// model), and strips with each model's reconstruction of the same input under the same perturbation; for attacks,
    /// the transfers (success on the model the attack was crafted on and on each other). Then every model's numbers.
    /// </summary>
    /// <param name="rowHeight">height of the image rows in pixels (default: the tallest crop's, no model's faces shrunk)</param>
    public static string WriteComparison(ComparisonResult c, string dir, string title, IReadOnlyDictionary<string, object>? provenance = null, int show = 4, int? rowHeight = null)
    {
        if (c.Results.Count == 0) throw new ArgumentException("the comparison has no results", nameof(c));
        Directory.CreateDirectory(dir);
        var html = Head(title, provenance);
        var first = c.ByModel.Select(m => m.Results[0]).ToList();
        int px = rowHeight ?? first.Max(r => r.Clean[0].Height);

        html.Append("<h2>Models</h2><table><tr><th class=l>model</th><th>crop (w×h)</th><th class=l>decoder</th><th>threshold (FMR 1e-3)</th><th>faces</th></tr>");
        foreach (var r in first)
            html.Append($"<tr><td class=l>{H(r.Encoder)}</td><td>{r.Clean[0].Width}×{r.Clean[0].Height}</td><td class=l>{H(r.Decoder ?? "none")}</td><td>{F(r.Threshold)}</td><td>{r.Inputs.Length}</td></tr>");
        html.Append("</table><p>Each model aligns the photos to its own crop and perturbs, encodes and decodes that crop; ")
            .Append($"images below are scaled to rows of {px} px. Rotation and zoom are about each crop's centre; shifts and patches are in each crop's own pixels.</p>");

        Curves(html, [.. c.Results, .. c.Transfers], dir);
        if (AnalysisKinds.IsAttack(c.Kind)) TransferSections(html, c, dir, px, show);
        else
        {
            GeometryTable(html, first);
            HeatMaps(html, first, dir, px, show);
            SideBySideStrips(html, first, dir, px, show);
        }

        html.Append("<h2>Each model's numbers</h2>");
        foreach (var r in c.Results.Concat(c.Transfers))
            Section(html, r, dir, "", show, images: false);
        return Finish(html, dir, ComparisonJson(c, provenance));
    }

    public static string ComparisonJson(ComparisonResult c, IReadOnlyDictionary<string, object>? provenance = null) =>
        JsonSerializer.Serialize(new { provenance, kind = c.Kind, models = c.Models, results = c.Results, transfers = c.Transfers }, JsonOptions);

    /// <summary>Series × model: the slope of the reconstruction's change on the input's (<see cref="AnalysisResult.Fits"/>).</summary>
    static void GeometryTable(StringBuilder html, List<AnalysisResult> perModel)
    {
        var series = perModel.SelectMany(r => r.Fits.Select(f => (f.Series, f.Quantity))).Distinct().ToList();
        if (series.Count == 0) return;
        html.Append("<h2>What each template keeps, side by side</h2>")
            .Append("<p>Slope of the reconstruction's change on the input's, measured by the face detector on both (1: the template carries all of the change; 0: none, the model is invariant to it). ")
            .Append("In brackets: fitted points, and reconstructions in which the detector found a face.</p>")
            .Append("<table><tr><th class=l>series</th><th class=l>quantity</th>").Append(string.Concat(perModel.Select(r => $"<th>{H(r.Encoder)}</th>"))).Append("</tr>");
        foreach (var (s, q) in series)
        {
            html.Append($"<tr><td class=l>{H(s)}</td><td class=l>{H(q)}</td>");
            foreach (var r in perModel)
                html.Append(r.Fits.FirstOrDefault(f => f.Series == s) is { } f
                    ? $"<td><b>{F(f.Slope, "F2")}</b> ({f.Points}; {f.ReconFacesFound}/{f.ReconCount})</td>" : "<td>–</td>");
            html.Append("</tr>");
        }
        html.Append("</table>");
    }

    /// <summary>A row per model: its mean heat map on its mean face, then single inputs (<see cref="HeatRow"/>).</summary>
    static void HeatMaps(StringBuilder html, List<AnalysisResult> perModel, string dir, int rowHeight, int show)
    {
        var with = perModel.Where(r => r.Occlusion != null).ToList();
        if (with.Count == 0) return;
        const string png = "occlusion-heatmaps.png";
        ImageIO.Save(Grid(with.Select(r => HeatRow(r, r.Occlusion!, show).Cast<RgbImage?>().ToList()).ToList(), rowHeight), Path.Combine(dir, png));
        var o = with[0].Occlusion!;
        html.Append("<h2>Occlusion heat maps, side by side</h2>")
            .Append($"<p>A row per model ({H(string.Join(", ", with.Select(r => r.Encoder)))}): the mean similarity drop (1 − cos) where a {o.Patch}×{o.Patch} patch (stride {o.Stride}, in the model's own crop pixels) lay, on the mean face, then the first inputs; each map from blue (no drop) to red (its own largest drop). Most damaging place: ")
            .Append(H(string.Join("; ", with.Select(r => { var (x, y, d) = r.Occlusion!.Peak; return $"{r.Encoder} ({x}, {y}) of {r.Clean[0].Width}×{r.Clean[0].Height}, drop {d:F3}"; }))))
            .Append($".</p><img src=\"{png}\" alt=\"occlusion heat maps\">");

        var named = with[0].Points.Select(p => p.Series).Distinct().ToList();
        if (named.Count == 0) return;
        html.Append("<h3>Named occluders</h3><p>Mean cosine to the clean template and match rate at each model's threshold; each occluder covers the same part of the face in every model's crop (a different share of it).</p>")
            .Append("<table><tr><th class=l>occluder</th>").Append(string.Concat(with.Select(r => $"<th>{H(r.Encoder)}</th>"))).Append("</tr>");
        foreach (var s in named)
        {
            html.Append($"<tr><td class=l>{H(s)}</td>");
            foreach (var r in with)
                html.Append(r.Points.FirstOrDefault(p => p.Series == s) is { } p ? $"<td>{p.MeanSimilarity:F3} ({P(p.MatchRate)})</td>" : "<td>–</td>");
            html.Append("</tr>");
        }
        html.Append("</table>");
    }

    /// <summary>
    /// One strip per series (named occluders: one strip, a column each): per shown input, a row of the perturbed input
    /// as the first model sees it, then a row per model of its reconstruction.
    /// </summary>
    static void SideBySideStrips(StringBuilder html, List<AnalysisResult> perModel, string dir, int rowHeight, int show)
    {
        var lead = perModel[0];
        var groups = lead.Series.Select(g => g.Key).ToList();
        bool single = lead.Series.All(g => g.Count() == 1) && groups.Count > 1;
        // A column is a series and a rank in it, not a strength: a named occluder covers a different share of each crop.
        List<(string Name, List<(string Series, int Rank)> Cols)> strips = single
            ? [("named occluders", groups.Select(g => (g, 0)).ToList())]
            : groups.Select(s => (s, Enumerable.Range(0, lead.Points.Count(p => p.Series == s)).Select(j => (s, j)).ToList())).ToList();
        var withImages = perModel.FirstOrDefault(r => r.Points.Any(p => p.Images != null));
        var decoded = perModel.Where(r => r.Points.Any(p => p.Reconstructions != null)).ToList();
        if (withImages == null && decoded.Count == 0) return;
        int n = Math.Min(show, lead.Points.Max(p => p.Similarity.Length));

        foreach (var (name, cols) in strips)
        {
            AnalysisPoint? At(AnalysisResult r, (string Series, int Rank) k) => r.Points.Where(p => p.Series == k.Series).OrderBy(p => p.Strength).ElementAtOrDefault(k.Rank);
            var rows = new List<IReadOnlyList<RgbImage?>>();
            for (int i = 0; i < n; i++)
            {
                if (withImages != null) rows.Add(cols.Select(k => At(withImages, k)?.Images?[i]).ToList());
                else if (lead.Kind == AnalysisKinds.Interpolate.Name) rows.Add(cols.Select((k, j) => j == 0 ? lead.Clean[0] : j == cols.Count - 1 ? lead.Clean[1] : null).ToList());
                foreach (var r in decoded) rows.Add(cols.Select(k => At(r, k)?.Reconstructions?[i]).ToList());
            }
            var png = $"compare-{FileSafe(name.Replace(' ', '-'))}-strip.png";
            ImageIO.Save(Grid(rows, rowHeight), Path.Combine(dir, png));
            string columns = single ? string.Join(", ", cols.Select(k => k.Series)) : string.Join(", ", cols.Select(k => StrengthLabel(k.Series, At(lead, k)!.Strength)));
            string inputRow = withImages != null
                ? $"the perturbed input as {withImages.Encoder} sees it ({Size(withImages)} crop; the other models perturb their own crops of the same photo)"
                : lead.Kind == AnalysisKinds.Interpolate.Name ? $"faces A and B at the ends ({lead.Encoder}'s {Size(lead)} crop)" : "";
            string recRows = string.Join(", ", decoded.Select(r => $"{r.Encoder} ({Size(r)})"));
            var missing = perModel.Except(decoded).Select(r => r.Encoder).ToList();
            html.Append($"<h2>{H(name)}: reconstructions side by side</h2><p>Columns, left to right: {H(columns)}. Rows per face: ")
                .Append(H(inputRow.Length > 0 ? inputRow + "; then " : "")).Append($"the reconstruction from each model's template, one row each: {H(recRows)}")
                .Append(missing.Count > 0 ? H($" (no decoder, so no row: {string.Join(", ", missing)})") : "")
                .Append($". {n} of {lead.Inputs.Length} faces shown; all scaled to {rowHeight} px rows.</p><img src=\"{png}\" alt=\"{H(name)} side by side\">");
        }
    }

    /// <summary>Per attack crafted on one model: success and similarity there and on each other model, per ε, and the strips.</summary>
    static void TransferSections(StringBuilder html, ComparisonResult c, string dir, int rowHeight, int show)
    {
        html.Append("<h2>Transfer of attacks</h2><p>Each model's attack is crafted on its own crop. To see whether it fools another model, the perturbation ")
            .Append("(adversarial minus clean image) is carried to the other model's crop of the same photo by the fixed 5-point similarity between the two alignment templates, ")
            .Append("zero where the first crop does not reach, and added to that crop (bilinear, so it stays within ±ε). Success is judged by each model at its own threshold ")
            .Append("against its own references: dodging, no longer matching the face's clean template; impersonation, matching the same target face's.</p>");
        foreach (var src in c.Results)
        {
            var ts = c.TransfersOf(src).ToList();
            var pts = src.Points.OrderBy(p => p.Strength).ToList();
            string series = pts.FirstOrDefault()?.Series ?? src.Kind;
            html.Append($"<h3>{H(series)} crafted on {H(src.Encoder)}</h3><table><tr><th>ε</th><th>success on {H(src.Encoder)}</th><th>mean cos</th>")
                .Append(string.Concat(ts.Select(t => $"<th>success on {H(t.Encoder)} (transfer)</th><th>mean cos</th>"))).Append("</tr>");
            foreach (var p in pts)
            {
                html.Append($"<tr><td>{H(StrengthLabel(p.Series, p.Strength))}</td><td>{P(Analyzer.SuccessRate(p))}</td><td>{p.MeanSimilarity:F4}</td>");
                foreach (var t in ts)
                    html.Append(t.Points.FirstOrDefault(q => q.Strength == p.Strength) is { } q ? $"<td>{P(Analyzer.SuccessRate(q))}</td><td>{q.MeanSimilarity:F4}</td>" : "<td>–</td><td>–</td>");
                html.Append("</tr>");
            }
            html.Append("</table>");

            int n = Math.Min(show, src.Inputs.Length);
            var rows = new List<IReadOnlyList<RgbImage?>>();
            for (int i = 0; i < n; i++)
                foreach (var r in ts.Prepend(src))
                {
                    var rp = pts.Select(p => r.Points.FirstOrDefault(q => q.Strength == p.Strength)).ToList();
                    rows.Add(rp.Select(q => q?.Images?[i]).ToList());
                    if (r.Points.Any(q => q.Reconstructions != null)) rows.Add(rp.Select(q => q?.Reconstructions?[i]).ToList());
                }
            var png = TransferStrip(src);
            ImageIO.Save(Grid(rows, rowHeight), Path.Combine(dir, png));
            string recs(AnalysisResult r) => r.Points.Any(q => q.Reconstructions != null) ? $", then its reconstruction by {r.Encoder}'s {r.Decoder ?? "decoder"}" : $" ({r.Encoder} has no decoder)";
            html.Append($"<p>Columns: {H(string.Join(", ", pts.Select(p => StrengthLabel(p.Series, p.Strength))))}. Rows per face: the adversarial image in {H(src.Encoder)}'s {Size(src)} crop{H(recs(src))}")
                .Append(string.Concat(ts.Select(t => H($"; the same perturbation in {t.Encoder}'s {Size(t)} crop{recs(t)}"))))
                .Append($". {n} of {src.Inputs.Length} faces shown, scaled to {rowHeight} px rows.</p><img src=\"{png}\" alt=\"transfer strip\">");
        }
    }

    /// <summary>The file name of the strip of an attack crafted on <paramref name="crafted"/>'s model and its transfers.</summary>
    public static string TransferStrip(AnalysisResult crafted) =>
        $"transfer-{FileSafe(crafted.Encoder)}-{FileSafe(crafted.Points.FirstOrDefault()?.Series ?? crafted.Kind)}-strip.png";

    static string Size(AnalysisResult r) => $"{r.Clean[0].Width}×{r.Clean[0].Height}";

    /// <summary>Rows of images of different crops, each scaled to <paramref name="rowHeight"/> (aspect kept), centred in equal cells; null cells blank.</summary>
    public static RgbImage Grid(IReadOnlyList<IReadOnlyList<RgbImage?>> rows, int rowHeight)
    {
        var blank = new RgbImage(1, 1);
        Array.Fill(blank.Data, (byte)255);
        RgbImage Fit(RgbImage? img) => img == null ? blank
            : img.Height == rowHeight ? img
            : Warp.Resize(img, Math.Max(1, (int)Math.Round(img.Width * (double)rowHeight / img.Height)), rowHeight);
        return ImageGrid.Compose(rows.Select(r => (IReadOnlyList<RgbImage>)r.Select(Fit).ToList()).ToList());
    }
}
