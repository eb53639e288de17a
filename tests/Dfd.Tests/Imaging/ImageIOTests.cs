using Dfd.Imaging;
using SkiaSharp;
using Xunit;

namespace Dfd.Tests.Imaging;

public class ImageIOTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-img-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static byte[] Encode(int w, int h, SKEncodedImageFormat fmt)
    {
        using var bmp = new SKBitmap(w, h);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) bmp.SetPixel(x, y, new SKColor((byte)(x * 7), (byte)(y * 5), 90));
        using var data = bmp.Encode(fmt, 95);
        return data.ToArray();
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void DecodesCommonFormats(SKEncodedImageFormat fmt)
    {
        var img = ImageIO.Decode(Encode(31, 17, fmt));
        Assert.Equal(31, img.Width);
        Assert.Equal(17, img.Height);
        int i = img.Index(10, 3);
        Assert.InRange(img.Data[i], 60, 80);  // x*7 = 70
        Assert.InRange(img.Data[i + 1], 5, 25); // y*5 = 15
    }

    [Fact]
    public void PngRoundTripIsExact()
    {
        var img = new RgbImage(5, 4);
        new Random(3).NextBytes(img.Data);
        var path = Path.Combine(dir, "x.png");
        ImageIO.Save(img, path);
        Assert.Equal(img.Data, ImageIO.Load(path).Data);
    }

    [Fact]
    public void BmpDecodes()
    {
        // A minimal 2×1 24-bit BMP written by hand (BGR, rows padded to 4 bytes).
        byte[] bmp =
        [
            0x42, 0x4D, 62, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0,
            8, 0, 0, 0, 0x13, 0x0B, 0, 0, 0x13, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            10, 20, 30, 40, 50, 60, 0, 0,
        ];
        var img = ImageIO.Decode(bmp, "tiny.bmp");
        Assert.Equal(new byte[] { 30, 20, 10, 60, 50, 40 }, img.Data);
    }

    [Fact]
    public void EmptyFileIsNamed()
    {
        var p = Path.Combine(dir, "empty.jpg");
        File.WriteAllBytes(p, []);
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void NonImageIsNamed()
    {
        var p = Path.Combine(dir, "notes.png");
        File.WriteAllText(p, "this is not a picture");
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.StartsWith(p, e.Message);
        Assert.Contains("not a decodable image", e.Message);
    }

    [Fact]
    public void TruncatedJpegIsRefused()
    {
        var full = Encode(200, 150, SKEncodedImageFormat.Jpeg);
        var p = Path.Combine(dir, "cut.jpg");
        File.WriteAllBytes(p, full[..(full.Length / 2)]);
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void TruncatedPngIsRefused()
    {
        var full = Encode(120, 90, SKEncodedImageFormat.Png);
        var p = Path.Combine(dir, "cut.png");
        File.WriteAllBytes(p, full[..(full.Length * 2 / 3)]);
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var p = Path.Combine(dir, "nope.jpg");
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void OverLargeImageIsRefusedBeforeDecoding()
    {
        // A PNG header claiming 10000×5000 (50 MP): refused from the header alone, no 200 MB buffer is allocated.
        using var bmp = new SKBitmap(1, 1);
        var png = bmp.Encode(SKEncodedImageFormat.Png, 100).ToArray();
        // IHDR width/height live at bytes 16..23 (big-endian); the CRC no longer matches, which Skia checks only on decode.
        BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(10000)).CopyTo(png, 16);
        BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(5000)).CopyTo(png, 20);
        var p = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(p, png);
        var e = Assert.Throws<ImageLoadException>(() => ImageIO.Load(p));
        Assert.Contains(p, e.Message);
    }
}
