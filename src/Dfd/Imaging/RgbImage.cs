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
        Mirror(Data, m.Data, Width, Height);
        return m;
    }

    /// <summary>Writes the left-right mirror of packed RGB rows <paramref name="src"/> into <paramref name="dst"/> (no allocation).</summary>
    public static void Mirror(ReadOnlySpan<byte> src, Span<byte> dst, int width, int height)
    {
        int row = width * 3;
        for (int y = 0; y < height; y++)
            for (int x = 0, s = y * row, d = y * row + row - 3; x < width; x++, s += 3, d -= 3)
            {
                dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2];
            }
    }
}
