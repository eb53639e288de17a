
namespace Dfd.Imaging;

public static class ImageGrid
{
    /// <summary>Rows of images side by side, with a gap; cells are as large as the largest image, a smaller one sits
    /// centred in its cell (rows of different crops line up), and missing cells stay white.</summary>
    public static RgbImage Compose(IReadOnlyList<IReadOnlyList<RgbImage>> rows, int gap = 4)
    {
        int cols = rows.Max(r => r.Count);
        int w = rows.SelectMany(r => r).Max(i => i.Width), h = rows.SelectMany(r => r).Max(i => i.Height);
        var g = new RgbImage(cols * w + (cols + 1) * gap, rows.Count * h + (rows.Count + 1) * gap);
        Array.Fill(g.Data, (byte)255);
        for (int r = 0; r < rows.Count; r++)
            for (int c = 0; c < rows[r].Count; c++)
            {
                var img = rows[r][c];
                int ox = gap + c * (w + gap) + (w - img.Width) / 2, oy = gap + r * (h + gap) + (h - img.Height) / 2;
                for (int y = 0; y < img.Height; y++)
                    Buffer.BlockCopy(img.Data, y * img.Width * 3, g.Data, ((oy + y) * g.Width + ox) * 3, img.Width * 3);
            }
        return g;
    }
}
