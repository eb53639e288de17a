using SkiaSharp;
using Dfd.Core;

namespace Dfd.Imaging;

/// <summary>A file that cannot be used as an image; the message names the file and the problem.</summary>
public sealed class ImageLoadException(string path, string problem) : DfdException($"{path}: {problem}")
{
    public string Path { get; } = path;
    public string Problem { get; } = problem;
}

/// <summary>JPEG/PNG/BMP/WebP decoding and PNG/JPEG encoding through SkiaSharp.</summary>
public static class ImageIO
{
    /// <summary>Decoding more than this many pixels would take gigabytes; such a file is refused.</summary>
    public const long MaxPixels = 40_000_000;

    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp"];

    public static bool IsImagePath(string path) =>
        Extensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    public static RgbImage Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ImageLoadException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new ImageLoadException(path, "file not found"); }
        catch (IOException e) { throw new ImageLoadException(path, $"cannot read file ({e.Message})"); }
        catch (UnauthorizedAccessException) { throw new ImageLoadException(path, "permission denied"); }
        return Decode(bytes, path);
    }

    public static RgbImage Decode(byte[] bytes, string name = "<memory>")
    {
        if (bytes.Length == 0) throw new ImageLoadException(name, "file is empty (0 bytes)");
        using var stream = new MemoryStream(bytes, writable: false);
        using var codec = SKCodec.Create(stream, out var result);
        if (codec == null)
            throw new ImageLoadException(name, result == SKCodecResult.IncompleteInput
                ? "truncated image file" : "not a decodable image (JPEG, PNG, BMP or WebP expected)");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0) throw new ImageLoadException(name, "image has no pixels");
        if ((long)info.Width * info.Height > MaxPixels)
            throw new ImageLoadException(name,
                $"image is {info.Width}x{info.Height} = {(long)info.Width * info.Height / 1e6:F1} megapixels, more than the {MaxPixels / 1_000_000} megapixel limit");

        var want = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(want);
        var status = codec.GetPixels(want, bitmap.GetPixels());
        // Skia fills the missing rows of a cut-off JPEG with grey and says IncompleteInput; a face template
        // computed from half a photo is silently wrong, so refuse it.
        if (status == SKCodecResult.IncompleteInput) throw new ImageLoadException(name, "truncated image file (image data ends early)");
        if (status != SKCodecResult.Success) throw new ImageLoadException(name, $"cannot decode image ({status})");

        var rgba = bitmap.Bytes;
        var img = new RgbImage(info.Width, info.Height);
        var dst = img.Data;
        for (int i = 0, j = 0; i < rgba.Length; i += 4, j += 3)
        {
            dst[j] = rgba[i]; dst[j + 1] = rgba[i + 1]; dst[j + 2] = rgba[i + 2];
        }
        return img;
    }

    public static void Save(RgbImage img, string path, int jpegQuality = 92)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (!Writable.Contains(ext)) throw new ArgumentException($"{path}: cannot write images of type '{ext}' (use .png, .jpg or .webp)");
        var bytes = Encode(img, ext, jpegQuality);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, true);
    }

    static readonly string[] Writable = [".png", ".jpg", ".jpeg", ".webp"];

    /// <summary>
    /// PNG bytes with a chosen zlib level (0–9) and the Sub filter only: level 1 encodes a 150×150 crop several times
    /// faster than the default (6, every filter), for a somewhat larger file; the pixels are the same either way.
    /// </summary>
    public static byte[] EncodePng(RgbImage img, int zlibLevel)
    {
        if (zlibLevel is < 0 or > 9) throw new ArgumentOutOfRangeException(nameof(zlibLevel), zlibLevel, "zlib level must lie in 0..9");
        using var bitmap = ToBitmap(img);
        using var pixmap = bitmap.PeekPixels() ?? throw new InvalidOperationException("bitmap has no pixels");
        using var data = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub, zlibLevel))
            ?? throw new InvalidOperationException("PNG encoding failed");
        return data.ToArray();
    }

    /// <summary>The image as file bytes, in memory: <paramref name="format"/> ".png" (default), ".jpg"/".jpeg" or ".webp".</summary>
    public static byte[] Encode(RgbImage img, string format = ".png", int jpegQuality = 92)
    {
        var f = format.ToLowerInvariant() switch
        {
            ".png" => SKEncodedImageFormat.Png,
            ".jpg" or ".jpeg" => SKEncodedImageFormat.Jpeg,
            ".webp" => SKEncodedImageFormat.Webp,
            _ => throw new ArgumentException($"cannot encode images as '{format}' (use .png, .jpg or .webp)", nameof(format)),
        };
        using var bitmap = ToBitmap(img);
        using var data = bitmap.Encode(f, jpegQuality);
        return data.ToArray();
    }

    public static SKBitmap ToBitmap(RgbImage img)
    {
        var bitmap = new SKBitmap(new SKImageInfo(img.Width, img.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = new byte[img.Width * img.Height * 4];
        var src = img.Data;
        for (int i = 0, j = 0; j < src.Length; i += 4, j += 3)
        {
            rgba[i] = src[j]; rgba[i + 1] = src[j + 1]; rgba[i + 2] = src[j + 2]; rgba[i + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        return bitmap;
    }

    /// <summary>Files of a known image type under a directory, sorted ordinally so runs are repeatable.</summary>
    public static List<string> ListImages(string dir, bool recursive = true) =>
        Directory.EnumerateFiles(dir, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(IsImagePath).OrderBy(p => p, StringComparer.Ordinal).ToList();
}
