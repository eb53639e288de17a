namespace Dfd.Imaging;

/// <summary>An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Data { get; }

    public RgbImage(int width, int height, byte[]? data = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size {width}x{height} is not positive");
        Width = width;
        Height = height;
        Data = data ?? new byte[width * height * 3];
        if (Data.Length != width * height * 3)
            throw new ArgumentException($"pixel buffer holds {Data.Length} bytes, {width}x{height} RGB needs {width * height * 3}");
    }

    public int Index(int x, int y) => (y * Width + x) * 3;

    public RgbImage Clone() => new(Width, Height, (byte[])Data.Clone());

    /// <summary>Left-right mirror, used for flip-averaged templates.</summary>
    public RgbImage Mirror()
    {
        var m = new RgbImage(Width, Height);
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int s = Index(x, y), d = m.Index(Width - 1 - x, y);
                m.Data[d] = Data[s]; m.Data[d + 1] = Data[s + 1]; m.Data[d + 2] = Data[s + 2];
            }
        return m;
    }
}
