using SkiaSharp;

namespace Dfd.Imaging;

/// <summary>
/// <see cref="ImageGrid.Compose"/> with a label on the left of every row, so a grid says which decoder drew each row
/// (a picture copied out of its report keeps its caption).
/// </summary>
public static class LabelledGrid
{
    public static RgbImage Compose(IReadOnlyList<IReadOnlyList<RgbImage>> rows, IReadOnlyList<string> labels, int gap = 4, int labelWidth = 0, float fontSize = 15)
    {
        if (labels.Count != rows.Count) throw new ArgumentException($"{labels.Count} labels for {rows.Count} rows");
        var grid = ImageGrid.Compose(rows, gap);
        int cell = rows.SelectMany(r => r).Max(i => i.Height);
        // ScottPlot's font resolver: the same typeface the plots use, found without fontconfig.
        using var typeface = ScottPlot.Fonts.GetTypeface(ScottPlot.Fonts.Sans, true, false);
        using var font = new SKFont(typeface, fontSize);
        using var paint = new SKPaint { Color = new SKColor(34, 34, 34), IsAntialias = true };
        var lines = labels.Select(l => Wrap(l, font, labelWidth > 0 ? labelWidth - 2 * gap : 150)).ToList();
        if (labelWidth <= 0) labelWidth = (int)Math.Ceiling(lines.SelectMany(x => x).Select(s => font.MeasureText(s)).DefaultIfEmpty(0).Max()) + 3 * gap;

        using var bmp = new SKBitmap(new SKImageInfo(grid.Width + labelWidth, grid.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(SKColors.White);
            using var g = ImageIO.ToBitmap(grid);
            canvas.DrawBitmap(g, labelWidth, 0);
            float lineH = font.Spacing;
            for (int r = 0; r < rows.Count; r++)
            {
                float mid = gap + r * (cell + gap) + cell / 2f;
                float top = mid - lines[r].Count * lineH / 2 - font.Metrics.Ascent;
                for (int k = 0; k < lines[r].Count; k++)
                    canvas.DrawText(lines[r][k], labelWidth - gap - font.MeasureText(lines[r][k]), top + k * lineH, SKTextAlign.Left, font, paint);
            }
        }
        var img = new RgbImage(bmp.Width, bmp.Height);
        var px = bmp.GetPixelSpan();
        for (int i = 0, j = 0; j < img.Data.Length; i += 4, j += 3) { img.Data[j] = px[i]; img.Data[j + 1] = px[i + 1]; img.Data[j + 2] = px[i + 2]; }
        return img;
    }

    /// <summary>Words into lines no wider than <paramref name="width"/> (a longer word keeps a line to itself).</summary>
    static List<string> Wrap(string text, SKFont font, int width)
    {
        var lines = new List<string>();
        var cur = "";
        foreach (var w in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = cur.Length == 0 ? w : cur + " " + w;
            if (cur.Length > 0 && font.MeasureText(next) > width) { lines.Add(cur); cur = w; }
            else cur = next;
        }
        if (cur.Length > 0) lines.Add(cur);
        return lines;
    }
}
