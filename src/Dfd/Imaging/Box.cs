using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Imaging;

/// <summary>A pixel rectangle, half-open: columns X..Right-1, rows Y..Bottom-1. The one box type: occluders, the
/// inner-face region of the local loss terms and of the evaluation, crops of images and tensors.</summary>
public readonly record struct Box(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
    public int Area => Math.Max(0, Width) * Math.Max(0, Height);
    public bool Contains(int x, int y) => x >= X && x < Right && y >= Y && y < Bottom;
    public bool Contains(Vector2 p) => p.X >= X && p.X < Right && p.Y >= Y && p.Y < Bottom;

    /// <summary>The box from its corners: columns x0..x1-1, rows y0..y1-1.</summary>
    public static Box FromCorners(int x0, int y0, int x1, int y1) => new(x0, y0, x1 - x0, y1 - y0);

    /// <summary>The part of this box inside a width×height image (possibly empty).</summary>
    public Box Clip(int width, int height)
    {
        int x0 = Math.Clamp(X, 0, width), y0 = Math.Clamp(Y, 0, height);
        int x1 = Math.Clamp(Right, 0, width), y1 = Math.Clamp(Bottom, 0, height);
        return new(x0, y0, Math.Max(0, x1 - x0), Math.Max(0, y1 - y0));
    }

    /// <summary>The smallest box holding the real rectangle [x0,x1]×[y0,y1] (pixel centres at integers).</summary>
    public static Box Enclosing(double x0, double y0, double x1, double y1)
    {
        int l = (int)Math.Floor(x0), t = (int)Math.Floor(y0);
        int r = (int)Math.Ceiling(x1) + 1, b = (int)Math.Ceiling(y1) + 1;
        return new(l, t, r - l, b - t);
    }

    /// <summary>Inner face in crop pixels: eyes to mouth with a margin, from the alignment template's five points.</summary>
    public static Box InnerFace(AlignmentTemplate t, float margin = 0.3f)
    {
        float x0 = t.Points.Min(p => p.X), x1 = t.Points.Max(p => p.X);
        float y0 = t.Points.Min(p => p.Y), y1 = t.Points.Max(p => p.Y);
        float mx = (x1 - x0) * margin, my = (y1 - y0) * margin;
        return FromCorners(Math.Max(0, (int)(x0 - mx)), Math.Max(0, (int)(y0 - my)),
                           Math.Min(t.Width, (int)Math.Ceiling(x1 + mx)), Math.Min(t.Height, (int)Math.Ceiling(y1 + my)));
    }

    /// <summary>This box of an image batch [N,C,H,W].</summary>
    public Tensor Crop(Tensor x) => x[.., .., Y..Bottom, X..Right];

    /// <exception cref="ArgumentException">The box reaches outside the image.</exception>
    public RgbImage Crop(RgbImage im)
    {
        if (X < 0 || Y < 0 || Right > im.Width || Bottom > im.Height) throw new ArgumentException($"box {X},{Y}–{Right},{Bottom} lies outside a {im.Width}×{im.Height} image");
        var r = new RgbImage(Width, Height);
        for (int y = Y; y < Bottom; y++)
            im.Data.AsSpan(im.Index(X, y), r.Width * 3).CopyTo(r.Data.AsSpan(r.Index(0, y - Y)));
        return r;
    }

    /// <summary>The same box on a feature map of another size (rounded outward, at least one cell).</summary>
    public Tensor CropScaled(Tensor f, int width, int height)
    {
        long h = f.shape[2], w = f.shape[3];
        int y0 = (int)Math.Floor((double)Y * h / height), y1 = Math.Max(y0 + 1, (int)Math.Ceiling((double)Bottom * h / height));
        int x0 = (int)Math.Floor((double)X * w / width), x1 = Math.Max(x0 + 1, (int)Math.Ceiling((double)Right * w / width));
        return f[.., .., y0..(int)Math.Min(y1, h), x0..(int)Math.Min(x1, w)];
    }
}
