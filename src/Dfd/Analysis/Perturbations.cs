using System.Numerics;
using Dfd.Imaging;

namespace Dfd.Analysis;

/// <summary>One named, parameterised change to an aligned crop: what it is, how strong, and the function that does it.</summary>
/// <param name="Kind">"rotate", "translate-x", "translate-y", "scale", "occlude:eyes", "occlude:sweep@x,y", …</param>
/// <param name="Strength">Degrees, crop pixels, scale factor, or (for occlusions) the fraction of the crop covered.</param>
public sealed record Perturbation(string Kind, double Strength, Func<RgbImage, RgbImage> Apply);

public readonly record struct Colour(byte R, byte G, byte B)
{
    public static Colour Black => new(0, 0, 0);
    public static Colour Grey => new(128, 128, 128);
    public static Colour White => new(255, 255, 255);
}

/// <summary>
/// Geometric and occlusion perturbations of aligned crops (same size in and out). Geometry goes through
/// <see cref="Warp.Affine"/> (bilinear, pixel centres at integers, border replicated), so no black wedges appear that
/// an FR model would read as features. Strength 0 (0°, 0 px, factor 1) returns a byte-identical copy.
/// </summary>
public static class Perturbations
{
    /// <summary>The crop centre in pixel-centre coordinates: ((W−1)/2, (H−1)/2).</summary>
    public static Vector2 Centre(RgbImage img) => new((img.Width - 1) / 2f, (img.Height - 1) / 2f);

    /// <summary>
    /// In-plane rotation about the crop centre. Positive degrees turn the content counter-clockwise as displayed (y
    /// down), as OpenCV's getRotationMatrix2D: a point p goes to c + [cos θ, sin θ; −sin θ, cos θ](p − c).
    /// </summary>
    public static RgbImage Rotate(RgbImage img, double degrees) => About(img, degrees, 1.0);

    /// <summary>Scale about the crop centre: a point p goes to c + factor·(p − c). factor &gt; 1 zooms in.</summary>
    public static RgbImage Scale(RgbImage img, double factor)
    {
        if (!(factor > 0) || double.IsInfinity(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "scale factor must be positive and finite");
        return About(img, 0, factor);
    }

    /// <summary>Shift by (dx, dy) crop pixels: content at p moves to p + (dx, dy); the uncovered edge repeats the border.</summary>
    public static RgbImage Translate(RgbImage img, double dx, double dy) =>
        Warp.Affine(img, new Similarity(1, 0, dx, dy), img.Width, img.Height);

    /// <summary>Rotation and scale about the crop centre in one resampling: p goes to c + factor·R(θ)(p − c).</summary>
    public static RgbImage RotateScale(RgbImage img, double degrees, double factor) => About(img, degrees, factor);

    /// <summary>
    /// Rotation and scale about the crop centre, then a shift by (dx, dy) crop pixels, in one resampling:
    /// p goes to c + factor·R(θ)(p − c) + (dx, dy). All at rest (0°, ×1, 0 px) returns a byte-identical copy.
    /// </summary>
    public static RgbImage Transform(RgbImage img, double degrees, double factor, double dx, double dy)
    {
        if (!(factor > 0) || double.IsInfinity(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "scale factor must be positive and finite");
        return About(img, degrees, factor, dx, dy);
    }

    static RgbImage About(RgbImage img, double degrees, double factor, double dx = 0, double dy = 0)
    {
        double th = degrees * Math.PI / 180;
        // Exact values at the multiples of 90° keep 0° (and 90°, 180°) free of rounding noise.
        double cos = degrees % 90 == 0 ? Math.Round(Math.Cos(th)) : Math.Cos(th);
        double sin = degrees % 90 == 0 ? Math.Round(Math.Sin(th)) : Math.Sin(th);
        double a = factor * cos, b = -factor * sin;   // Similarity's [a −b; b a] = s·[cos sin; −sin cos]
        var c = Centre(img);
        var t = new Similarity(a, b, c.X - (a * c.X - b * c.Y) + dx, c.Y - (b * c.X + a * c.Y) + dy);
        return Warp.Affine(img, t, img.Width, img.Height);
    }

    /// <summary>A copy with <paramref name="box"/> (clipped to the image) filled with <paramref name="colour"/>.</summary>
    public static RgbImage Occlude(RgbImage img, Box box, Colour colour)
    {
        var o = img.Clone();
        var b = box.Clip(img.Width, img.Height);
        for (int y = b.Y; y < b.Bottom; y++)
            for (int x = b.X; x < b.Right; x++)
            {
                int i = o.Index(x, y);
                o.Data[i] = colour.R; o.Data[i + 1] = colour.G; o.Data[i + 2] = colour.B;
            }
        return o;
    }

    /// <summary>The named occluders of a template, strength = the fraction of the crop each covers.</summary>
    public static IEnumerable<Perturbation> NamedOcclusions(AlignmentTemplate template, Colour colour) =>
        Occluders.Named(template).Select(o => new Perturbation($"occlude:{o.Name}",
            (double)o.Box.Area / (template.Width * template.Height), img => Occlude(img, o.Box, colour)));

    /// <summary>An occlusion sweep over a width×height crop (see <see cref="Occluders.Sweep"/>).</summary>
    public static IEnumerable<Perturbation> OcclusionSweep(int width, int height, int patch, int stride, Colour colour) =>
        Occluders.Sweep(width, height, patch, stride).Select(b => new Perturbation($"occlude:sweep@{b.X},{b.Y}",
            (double)b.Area / (width * height), img => Occlude(img, b, colour)));
}

/// <summary>Occluder boxes for a crop, derived from its alignment template or laid on a grid.</summary>
public static class Occluders
{
    /// <summary>
    /// Face-part boxes from the template's 5 points (eye, eye, nose tip, mouth corner, mouth corner), sized by the
    /// inter-ocular distance d, clipped to the crop:
    /// eyes: a band from 0.5·d outside each eye and ±0.3·d about the eye line;
    /// nose: 0.6·d wide about the nose tip, from halfway between the eye line and the tip to 0.25·d below it;
    /// mouth: 0.25·d outside each corner and ±0.3·d about the mouth line;
    /// upper-half / lower-half: the crop above / from the row of the nose tip.
    /// </summary>
    public static IReadOnlyList<(string Name, Box Box)> Named(AlignmentTemplate template)
    {
        var p = template.Points;
        if (p.Length != 5) throw new ArgumentException($"template has {p.Length} points, need 5");
        int w = template.Width, h = template.Height;
        Vector2 e0 = p[0], e1 = p[1], nose = p[2], m0 = p[3], m1 = p[4];
        double d = Vector2.Distance(e0, e1);
        double eyeY = (e0.Y + e1.Y) / 2, mouthY = (m0.Y + m1.Y) / 2;
        Box Clip(Box b) => b.Clip(w, h);
        var eyes = Clip(Box.Enclosing(Math.Min(e0.X, e1.X) - 0.5 * d, Math.Min(e0.Y, e1.Y) - 0.3 * d,
                                      Math.Max(e0.X, e1.X) + 0.5 * d, Math.Max(e0.Y, e1.Y) + 0.3 * d));
        var noseBox = Clip(Box.Enclosing(nose.X - 0.3 * d, (eyeY + nose.Y) / 2, nose.X + 0.3 * d, nose.Y + 0.25 * d));
        var mouth = Clip(Box.Enclosing(Math.Min(m0.X, m1.X) - 0.25 * d, mouthY - 0.3 * d,
                                       Math.Max(m0.X, m1.X) + 0.25 * d, mouthY + 0.3 * d));
        int split = Math.Clamp((int)Math.Round(nose.Y), 1, h - 1);
        return
        [
            ("eyes", eyes),
            ("nose", noseBox),
            ("mouth", mouth),
            ("upper-half", new Box(0, 0, w, split)),
            ("lower-half", new Box(0, split, w, h - split)),
        ];
    }

    /// <summary>
    /// patch×patch boxes at stride steps, row by row, covering the whole crop: the last row and column are moved in
    /// to end at the crop edge if the stride does not land there.
    /// </summary>
    public static IEnumerable<Box> Sweep(int width, int height, int patch, int stride)
    {
        if (patch <= 0 || patch > Math.Min(width, height)) throw new ArgumentOutOfRangeException(nameof(patch), patch, $"patch must lie in 1..{Math.Min(width, height)}");
        if (stride <= 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "stride must be positive");
        var xs = Starts(width, patch, stride);
        var ys = Starts(height, patch, stride);
        foreach (int y in ys)
            foreach (int x in xs)
                yield return new Box(x, y, patch, patch);
    }

    static List<int> Starts(int size, int patch, int stride)
    {
        var s = new List<int>();
        for (int v = 0; v <= size - patch; v += stride) s.Add(v);
        if (s[^1] != size - patch) s.Add(size - patch);
        return s;
    }
}
