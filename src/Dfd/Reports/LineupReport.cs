using System.Net;
using System.Text;
using System.Text.Json;
using Dfd.Decoder;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;

namespace Dfd.Reports;

/// <summary>
/// Writes a lineup test to a folder: <c>index.html</c> (the test for a rater: the lineups, a choice per lineup and the
/// answer line to score; no key), <c>sheet-1.png</c>, … (the lineups, one row each, <see cref="SheetRows"/> to a sheet),
/// <c>faces/</c> (the pictures the page shows) and <c>key.json</c> (the answers and the FR models' scores: for whoever scores, not for the rater).
/// </summary>
public static class LineupReport
{
    public sealed record Files(string Index, IReadOnlyList<string> Sheets, string Key);

    /// <summary>Lineups per sheet: a sheet stays a picture one can read at a glance.</summary>
    public const int SheetRows = 8;

    public static string Json(LineupResult r) => JsonSerializer.Serialize(r, EvaluationReport.JsonOptions);

    public static Files Write(LineupResult r, string dir)
    {
        Directory.CreateDirectory(dir);
        var faces = Path.Combine(dir, "faces");
        Directory.CreateDirectory(faces);
        for (int n = 0; n < r.Faces.Count; n++)
        {
            ImageIO.Save(r.Faces[n].Drawn, Path.Combine(faces, $"{n + 1:D2}-drawn.png"));
            for (int k = 0; k < r.Faces[n].Photos.Length; k++) ImageIO.Save(r.Faces[n].Photos[k], Path.Combine(faces, $"{n + 1:D2}-{Lineups.Letter(k)}.png"));
        }
        var sheets = new List<string>();
        for (int from = 0; from < r.Faces.Count; from += SheetRows)
        {
            sheets.Add(Path.Combine(dir, $"sheet-{sheets.Count + 1}.png"));
            ImageIO.Save(Sheet(r, from, Math.Min(SheetRows, r.Faces.Count - from)), sheets[^1]);
        }
        var key = Path.Combine(dir, "key.json");
        AtomicFile.WriteAllText(key, Json(r));
        var index = Path.Combine(dir, "index.html");
        AtomicFile.WriteAllText(index, Html(r));
        return new Files(index, sheets, key);
    }

    /// <summary>Lineups <paramref name="from"/> on, one row each: the reconstruction, then the photos A, B, …; the row's
    /// label says which decoder drew it.</summary>
    public static RgbImage Sheet(LineupResult r, int from, int count) =>
        LabelledGrid.Compose(r.Faces.Skip(from).Take(count).Select(f => (IReadOnlyList<RgbImage>)f.Photos.Prepend(f.Drawn).ToList()).ToList(),
            Enumerable.Range(from + 1, count).Select(n => $"{n}: {DecoderKind.Label(r.DecoderKind)}, then {string.Join(" ", Enumerable.Range(0, r.Choices).Select(Lineups.Letter))}").ToList(),
            labelWidth: 200);

    public static string Html(LineupResult r)
    {
        string E(string s) => WebUtility.HtmlEncode(s);
        var letters = Enumerable.Range(0, r.Choices).Select(Lineups.Letter).ToList();
        var sb = new StringBuilder();
        sb.Append($$"""
            <!doctype html><html><head><meta charset="utf-8"><title>Lineup test: {{E(DecoderKind.Label(r.DecoderKind))}}</title>
            <style>body{font-family:sans-serif;max-width:980px;margin:1em auto;color:#222}.l{display:flex;gap:8px;align-items:flex-end;margin:14px 0}
            figure{margin:0;text-align:center}figure img{width:150px;height:150px;display:block}.drawn img{outline:3px solid #c60}
            label{cursor:pointer}#answers{font-family:monospace;font-size:1.3em}code{background:#eee;padding:2px 4px}</style></head><body>
            <h1>Which photo shows the person?</h1>
            <p>Each row starts with a face drawn by the <b>{{E(DecoderKind.Label(r.DecoderKind))}}</b> from a face-recognition template
            ({{E(r.Encoder)}}) of one photo. One of the {{r.Choices}} photos beside it is another photo of the same person; the others
            show other people{{(r.Distractors == "lookalike" ? $" whom {E(r.Encoder)} finds most alike" : ", drawn at random")}}. Pick one per row:
            guessing gets {{100.0 / r.Choices:F0}}% right. {{E(DecoderKind.Label(r.DecoderKind))}}: {{(r.DecoderKind == DecoderKind.Sharp
                ? "its detail is drawn by an adversarial term, plausible rather than measured from the template"
                : "it draws the mean of the faces the template allows, so detail the template does not hold comes out blurred")}}.</p>

            """);
        for (int n = 0; n < r.Lineups.Count; n++)
        {
            sb.Append($"<div class=\"l\"><b>{n + 1}</b><figure class=\"drawn\"><img src=\"faces/{n + 1:D2}-drawn.png\" alt=\"drawn\"><figcaption>drawn</figcaption></figure>");
            foreach (var (c, k) in letters.Select((c, k) => (c, k)))
                sb.Append($"<figure><label><img src=\"faces/{n + 1:D2}-{c}.png\" alt=\"{c}\"><input type=\"radio\" name=\"q{n}\" value=\"{c}\"> {c}</label></figure>");
            sb.Append("</div>\n");
        }
        sb.Append($$"""
            <p>Your answers (<code>-</code>: not answered yet): <span id="answers"></span></p>
            <p>Score them with <code>dfd lineup score --key key.json --answers <span id="a2"></span></code>
            (key.json is in this folder: do not open it before you answer).</p>
            <p style="color:#666">Decoder {{E(r.Decoder)}}; data {{E(r.Data)}}{{(r.Split != null ? $", test people of split {E(r.Split)}" : "")}}; seed {{r.Seed}}; {{r.Lineups.Count}} lineups.</p>
            <script>
            const n = {{r.Lineups.Count}};
            function show() {
              let s = "";
              for (let i = 0; i < n; i++) { const c = document.querySelector(`input[name=q${i}]:checked`); s += c ? c.value : "-"; }
              document.getElementById("answers").textContent = s; document.getElementById("a2").textContent = s;
            }
            document.addEventListener("change", show); show();
            </script></body></html>

            """);
        return sb.ToString();
    }
}
