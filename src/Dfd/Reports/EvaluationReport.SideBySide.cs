using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Dfd.Decoder;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;

namespace Dfd.Reports;

// Issue 25: colour bias and texture distance in one decoder's report, and several decoders side by side.
public static partial class EvaluationReport
{
    static string F3(double? x, string f = "F4") => x is { } v && double.IsFinite(v) ? v.ToString(f, CultureInfo.InvariantCulture) : "–";
    static string Rgb(double[]? c) => c == null ? "–" : string.Join(" / ", c.Select(v => (v >= 0 ? "+" : "−") + Math.Abs(v).ToString("F4", CultureInfo.InvariantCulture)));

    /// <summary>"regression decoder" or "sharp decoder", for captions.</summary>
    public static string KindLabel(EvaluationResult r) => DecoderKind.Label(r.DecoderKind);

    /// <summary>The colour-bias and texture section of one decoder's report (empty when neither was measured).</summary>
    public static string ColourTextureHtml(EvaluationResult r)
    {
        var c = r.ColourBias; var t = r.Texture;
        if (c == null && t == null) return "";
        var h = new StringBuilder("<h2>Colour and texture</h2><p class=\"note\">");
        if (c != null)
            h.Append("<b>Colour bias</b>: the reconstructions' mean per channel (R / G / B, 0–1) minus the originals', over all pixels of the crop and on the inner-face box. ")
             .Append("The originals' own row is 0 by definition; beside it, what two sets of real photos differ by alone (every other person's originals minus the rest's). ");
        if (t != null)
            h.Append($"<b>Texture Fréchet distance</b>: Gaussians fitted to {H(t.Model)}'s {H(t.Layer)} ({t.Dimensions} values an image, not normalised), reconstructions against originals, both moved to its crop by the same warp; {H(t.Model)} is in no training loss. ")
             .Append("Beside it the mean face for every image (a face without texture of its own) and every other person's originals against the rest's (the level of real photos).");
        h.Append("</p><table><tr><th class=\"l\">images</th><th>colour bias R / G / B</th><th>inner face R / G / B</th><th>texture Fréchet</th></tr>");
        h.Append($"<tr><td class=\"l\">reconstructions ({H(KindLabel(r))})</td><td><b>{Rgb(c?.Reconstructions)}</b></td><td>{Rgb(c?.ReconstructionsInner)}</td><td><b>{(t?.Skipped != null ? "skipped" : F3(t?.Reconstructions))}</b></td></tr>");
        h.Append($"<tr><td class=\"l\">originals (mean colour {(c != null ? string.Join(" / ", c.OriginalsMean.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))) : "–")})</td><td>0 (by definition)</td><td>0</td><td>–</td></tr>");
        h.Append($"<tr><td class=\"l\">originals, halves by person</td><td>{Rgb(c?.OriginalsHalves)}</td><td>–</td><td>{F3(t?.OriginalsHalves)}</td></tr>");
        h.Append($"<tr><td class=\"l\">mean face for every image</td><td>0 (by definition)</td><td>0</td><td>{F3(t?.MeanFace)}</td></tr></table>");
        if (t?.Skipped is { } why) h.Append($"<p class=\"note\">Texture distance skipped: {H(why)}.</p>");
        return h.ToString();
    }

    /// <summary>Several decoders' results as JSON: each full result, and the side-by-side rows.</summary>
    public static string Json(IReadOnlyList<EvaluationResult> all) =>
        all.Count == 1 ? Json(all[0]) : JsonSerializer.Serialize(new { side_by_side = SideBySide.Rows(all), decoders = all }, JsonOptions);

    public sealed record SideBySideFiles(string Index, string Grid, string Json, IReadOnlyList<Files> Decoders);

    /// <summary>
    /// Several decoders of one test set: each decoder's full report in its own folder (KIND-FILESTEM/), and at the top
    /// index.html with the side-by-side table, grid.png (originals, then one row per decoder, each labelled with the
    /// decoder that drew it) and evaluation.json (<see cref="Json(IReadOnlyList{EvaluationResult})"/>).
    /// </summary>
    public static SideBySideFiles WriteSideBySide(IReadOnlyList<EvaluationResult> all, string dir)
    {
        Directory.CreateDirectory(dir);
        var subs = new List<(string Folder, Files Files)>();
        foreach (var r in all)
        {
            var folder = Safe($"{r.DecoderKind}-{Path.GetFileNameWithoutExtension(r.Decoder.Path)}");
            while (subs.Any(s => s.Folder == folder)) folder += "_";
            subs.Add((folder, Write(r, Path.Combine(dir, folder))));
        }
        var gridPath = Path.Combine(dir, "grid.png");
        var grid = SideBySideGrid(all);
        if (grid != null) ImageIO.Save(grid, gridPath);
        var jsonPath = Path.Combine(dir, "evaluation.json");
        AtomicFile.WriteAllText(jsonPath, Json(all));
        var index = Path.Combine(dir, "index.html");
        AtomicFile.WriteAllText(index, SideBySideHtml(all, subs.Select(s => s.Folder).ToList(), grid != null ? File.ReadAllBytes(gridPath) : null));
        return new SideBySideFiles(index, gridPath, jsonPath, subs.Select(s => s.Files).ToList());
    }

    /// <summary>Up to 8 sample faces: originals, then each decoder's reconstructions, each row labelled.</summary>
    public static RgbImage? SideBySideGrid(IReadOnlyList<EvaluationResult> all, int faces = 8)
    {
        var first = all[0];
        if (first.SampleOriginals.Count == 0) return null;
        var rows = new List<IReadOnlyList<RgbImage>> { first.SampleOriginals.Take(faces).ToList() };
        foreach (var r in all) rows.Add(r.SampleReconstructions.Take(faces).ToList());
        var labels = new List<string> { "originals" };
        labels.AddRange(DecoderKind.RowLabels(all.Select(r => r.DecoderKind).ToList(), all.Select(r => r.Decoder.Path).ToList()));
        return LabelledGrid.Compose(rows, labels);
    }

    public static string SideBySideHtml(IReadOnlyList<EvaluationResult> all, IReadOnlyList<string> folders, byte[]? gridPng)
    {
        var rows = SideBySide.Rows(all);
        var r0 = all[0];
        var cross = rows[0].CrossModel;
        var h = new StringBuilder();
        h.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Dfd decoders side by side</title><style>")
         .Append("body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}")
         .Append("td,th{padding:3px 8px;font-size:13px;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}")
         .Append("img{max-width:100%}.note{color:#555;font-size:13px}</style></head><body>");
        h.Append($"<h1>Decoders side by side</h1><p>{all.Count} decoders of <b>{H(r0.Encoder)}</b> templates on the same test set: {r0.Data.EvaluatedImages:N0} images of {r0.Data.EvaluatedPeople:N0} people ({H(r0.Data.Spec)}")
         .Append(r0.Data.Split != null ? $", test people of split {H(r0.Data.Split)}" : "").Append("). Each decoder's full report: ")
         .Append(string.Join(", ", all.Select((r, i) => $"<a href=\"{Uri.EscapeDataString(folders[i])}/index.html\">{H(KindLabel(r))} ({H(Path.GetFileName(r.Decoder.Path))})</a>"))).Append(".</p>");
        h.Append("<p class=\"note\">At FMR 1e-3. <b>Own</b>: the decoder's encoder; <b>cross</b>: ").Append(H(cross ?? "no other model"))
         .Append(", which never saw the decoder. Originals' row: the genuine rate (another photo of the person) in the type-II columns, the model's own rank-1 and false matches on photos, a photo's detail (1) and spread, the SSIM of another photo of the same person, colour bias 0 by definition, and the texture distance between every other person's originals and the rest's. ")
         .Append("Detail: gradient energy over the originals'. Colour bias: mean per channel minus the originals', 0–1. Texture: Fréchet distance of pooled early mobilefacenet-casia feature maps to the originals'.</p>");
        h.Append("<table><tr><th class=\"l\">images</th><th>own type I</th><th>own type II</th><th>own false matches</th>")
         .Append($"<th>{H(cross ?? "cross")} type I</th><th>type II</th><th>rank-1</th><th>false matches</th>")
         .Append("<th>detail whole</th><th>inner</th><th>spread</th><th>SSIM</th><th>colour bias R / G / B</th><th>texture Fréchet</th></tr>");
        foreach (var x in rows)
            h.Append($"<tr><td class=\"l\">{H(x.Kind == "originals" ? "originals" : $"{DecoderKind.Label(x.Kind)} ({x.Name})")}</td>")
             .Append($"<td>{P3(x.OwnTypeI)}</td><td>{P3(x.OwnTypeII)}</td><td>{F3(x.OwnFalseMatches, "E2")}</td>")
             .Append($"<td>{P3(x.CrossTypeI)}</td><td>{P3(x.CrossTypeII)}</td><td>{P3(x.CrossRank1)}</td><td>{F3(x.CrossFalseMatches, "E2")}</td>")
             .Append($"<td>{F3(x.DetailWhole)}</td><td>{F3(x.DetailInner)}</td><td>{F3(x.Spread)}</td><td>{F3(x.Ssim)}</td>")
             .Append($"<td>{Rgb(x.ColourBias)}</td><td>{F3(x.TextureFrechet)}</td></tr>");
        h.Append("</table>");
        foreach (var r in all)
            if (r.Texture?.Skipped is { } why) { h.Append($"<p class=\"note\">Texture distance skipped: {H(why)}.</p>"); break; }
        if (gridPng != null)
            h.Append($"<h2>Sample faces</h2><p class=\"note\">Originals ({H(r0.Encoder)} crop), then one row per decoder, each labelled with the decoder that drew it: {H(string.Join(", ", r0.SampleNames.Take(8)))}.</p>")
             .Append($"<img alt=\"grid\" src=\"data:image/png;base64,{Convert.ToBase64String(gridPng)}\">");
        h.Append("</body></html>");
        return h.ToString();
    }

    static string P3(double? x) => x is { } v ? P(v) : "–";
}
