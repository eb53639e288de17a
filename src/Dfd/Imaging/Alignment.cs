using System.Numerics;

namespace Dfd.Imaging;

/// <summary>A 2-D similarity transform x' = s·R·x + t, stored as the affine matrix [a -b tx; b a ty].</summary>
public readonly record struct Similarity(double A, double B, double Tx, double Ty)
{
    public double Scale => Math.Sqrt(A * A + B * B);
    public double AngleDegrees => Math.Atan2(B, A) * 180 / Math.PI;

    public Vector2 Apply(Vector2 p) => new((float)(A * p.X - B * p.Y + Tx), (float)(B * p.X + A * p.Y + Ty));

    public Similarity Inverse()
    {
        double d = A * A + B * B;
        double ia = A / d, ib = -B / d;
        return new(ia, ib, -(ia * Tx - ib * Ty), -(ib * Tx + ia * Ty));
    }

    /// <summary>
    /// Least-squares similarity from src to dst (Umeyama 1991, restricted to 2-D). With reflection excluded,
    /// as a face warped through a mirror would change identity for some models.
    /// </summary>
    public static Similarity Estimate(IReadOnlyList<Vector2> src, IReadOnlyList<Vector2> dst)
    {
        if (src.Count != dst.Count || src.Count < 2) throw new ArgumentException("need two or more matching points");
        int n = src.Count;
        double mx = 0, my = 0, nx = 0, ny = 0;
        for (int i = 0; i < n; i++) { mx += src[i].X; my += src[i].Y; nx += dst[i].X; ny += dst[i].Y; }
        mx /= n; my /= n; nx /= n; ny /= n;
        // For 2-D similarity the Umeyama solution reduces to: a = Σ(x·u + y·v)/Σ|x|², b = Σ(x·v − y·u)/Σ|x|².
        double sxx = 0, num_a = 0, num_b = 0;
        for (int i = 0; i < n; i++)
        {
            double x = src[i].X - mx, y = src[i].Y - my, u = dst[i].X - nx, v = dst[i].Y - ny;
            sxx += x * x + y * y;
            num_a += x * u + y * v;
            num_b += x * v - y * u;
        }
        if (sxx < 1e-12) throw new ArgumentException("source points coincide");
        double a = num_a / sxx, b = num_b / sxx;
        return new(a, b, nx - (a * mx - b * my), ny - (b * mx + a * my));
    }
}

public static class Warp
{
    /// <summary>
    /// Output pixel (x, y) samples the source at inverse(T)(x, y), bilinear, pixel centres at integers (as OpenCV's
    /// warpAffine). Outside the source the border pixel is repeated, so crops near the edge do not get black wedges
    /// that an FR model would read as features.
    /// </summary>
    public static RgbImage Affine(RgbImage src, Similarity srcToDst, int width, int height)
    {
        var inv = srcToDst.Inverse();
        var dst = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                Sample(src, inv.A * x - inv.B * y + inv.Tx, inv.B * x + inv.A * y + inv.Ty, dst.Data, (y * width + x) * 3);
        return dst;
    }

    /// <summary>Bilinear sample of src at (sx, sy), clamped to the border, written as RGB at d[o..o+2].</summary>
    static void Sample(RgbImage src, double sx, double sy, byte[] d, int o)
    {
        var s = src.Data;
        int w = src.Width, h = src.Height;
        sx = Math.Clamp(sx, 0, w - 1);
        sy = Math.Clamp(sy, 0, h - 1);
        int x0 = (int)sx, y0 = (int)sy;
        int x1 = Math.Min(x0 + 1, w - 1), y1 = Math.Min(y0 + 1, h - 1);
        double fx = sx - x0, fy = sy - y0;
        int i00 = (y0 * w + x0) * 3, i01 = (y0 * w + x1) * 3, i10 = (y1 * w + x0) * 3, i11 = (y1 * w + x1) * 3;
        for (int c = 0; c < 3; c++)
        {
            double top = s[i00 + c] + (s[i01 + c] - s[i00 + c]) * fx;
            double bot = s[i10 + c] + (s[i11 + c] - s[i10 + c]) * fx;
            d[o + c] = (byte)Math.Clamp((int)Math.Round(top + (bot - top) * fy), 0, 255);
        }
    }

    /// <summary>
    /// <see cref="Affine(RgbImage, Similarity, int, int)"/> for a signed field of RGB values (width·height·3, interleaved),
    /// such as the difference between two images. Unlike an image, a field is zero outside its source rather than
    /// repeating the border: a perturbation that covers one crop does not extend beyond it in another.
    /// </summary>
    public static float[] AffineField(float[] src, int srcWidth, int srcHeight, Similarity srcToDst, int width, int height)
    {
        if (src.Length != srcWidth * srcHeight * 3) throw new ArgumentException($"field of {src.Length} values is not {srcWidth}×{srcHeight}×3", nameof(src));
        var inv = srcToDst.Inverse();
        var dst = new float[width * height * 3];
        // Bilinear weights, each neighbour outside the source counting as zero.
        float At(int x, int y, int c) => x < 0 || y < 0 || x >= srcWidth || y >= srcHeight ? 0 : src[(y * srcWidth + x) * 3 + c];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double sx = inv.A * x - inv.B * y + inv.Tx, sy = inv.B * x + inv.A * y + inv.Ty;
                if (sx <= -1 || sy <= -1 || sx >= srcWidth || sy >= srcHeight) continue;
                int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
                double fx = sx - x0, fy = sy - y0;
                for (int c = 0; c < 3; c++)
                {
                    double top = At(x0, y0, c) * (1 - fx) + At(x0 + 1, y0, c) * fx;
                    double bot = At(x0, y0 + 1, c) * (1 - fx) + At(x0 + 1, y0 + 1, c) * fx;
                    dst[(y * width + x) * 3 + c] = (float)(top * (1 - fy) + bot * fy);
                }
            }
        return dst;
    }

    /// <summary>Bilinear resize (pixel-centre aligned, as OpenCV INTER_LINEAR for upscaling).</summary>
    public static RgbImage Resize(RgbImage src, int width, int height)
    {
        double sx = (double)src.Width / width, sy = (double)src.Height / height;
        var dst = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                Sample(src, (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, dst.Data, (y * width + x) * 3);
        return dst;
    }

    /// <summary>Centre crop of a square of side <paramref name="side"/>, resized to size×size: the no-detection baseline.</summary>
    public static RgbImage CentreCrop(RgbImage src, int side, int width, int height)
    {
        side = Math.Min(side, Math.Min(src.Width, src.Height));
        double s = (double)width / side;
        double ox = (src.Width - side) / 2.0, oy = (src.Height - side) / 2.0;
        var t = new Similarity(s, 0, -ox * s + (s - 1) / 2, -oy * s + (s - 1) / 2);
        return Affine(src, t, width, height);
    }
}

/// <summary>Where the 5 landmarks (YuNet order) go in an encoder's input crop.</summary>
public sealed record AlignmentTemplate(int Width, int Height, Vector2[] Points)
{
    /// <summary>The fixed 5-point similarity from encoder <paramref name="from"/>'s crop to <paramref name="to"/>'s; null when they coincide.</summary>
    public static Similarity? CropToCrop(AlignmentTemplate from, AlignmentTemplate to)
    {
        if (from.Width == to.Width && from.Height == to.Height && from.Points.SequenceEqual(to.Points)) return null;
        return Similarity.Estimate(from.Points, to.Points);
    }

    /// <summary>
    /// dlib's 150×150 face chip (get_face_chip_details, padding 0.25): mean-shape point p lands at 100·(p + 0.25).
    /// Eye centres are the means of mean-shape points 36–41 and 42–47, the nose tip is point 30, the mouth corners
    /// are points 48 and 54.
    /// </summary>
    public static AlignmentTemplate Dlib(int size = 150, double padding = 0.25)
    {
        // dlib mean face shape (points 17..67 of the 68-point model), unit frame.
        double[] mx = DlibMeanX, my = DlibMeanY;
        Vector2 P(int i) => new((float)mx[i - 17], (float)my[i - 17]);
        Vector2 Mean(int a, int b) { var s = Vector2.Zero; for (int i = a; i <= b; i++) s += P(i); return s / (b - a + 1); }
        var unit = new[] { Mean(36, 41), Mean(42, 47), P(30), P(48), P(54) };
        float k = (float)(size / (1 + 2 * padding));
        var pts = unit.Select(p => (p + new Vector2((float)padding)) * k).ToArray();
        return new(size, size, pts);
    }

    /// <summary>The 112×96 SphereFace/MobileFaceNet template (Liu et al. 2017; width 96).</summary>
    public static AlignmentTemplate SphereFace() => new(96, 112,
    [
        new(30.2946f, 51.6963f), new(65.5318f, 51.5014f), new(48.0252f, 71.7366f),
        new(33.5493f, 92.3655f), new(62.7299f, 92.2041f),
    ]);

    /// <summary>The ArcFace 112×112 template (insightface), scaled to size.</summary>
    public static AlignmentTemplate ArcFace(int size = 112)
    {
        Vector2[] p =
        [
            new(38.2946f, 51.6963f), new(73.5318f, 51.5014f), new(56.0252f, 71.7366f),
            new(41.5493f, 92.3655f), new(70.7299f, 92.2041f),
        ];
        float k = size / 112f;
        return new(size, size, p.Select(v => v * k).ToArray());
    }

    /// <summary>
    /// A loose size×size crop for encoders trained on detector boxes with margin rather than on 5-point alignment
    /// (VGG-Face, VGGFace2: box enlarged, resized, centre-cropped to 224): the ArcFace template scaled to size and then
    /// shrunk about the crop centre by <paramref name="faceScale"/>, so the face fills about that fraction of the crop.
    /// 0.7 approximates VGGFace2's preprocessing (box × 1.3, shorter side 256, centre 224: 224/256/1.3 ≈ 0.67).
    /// </summary>
    public static AlignmentTemplate Loose(int size = 224, float faceScale = 0.7f)
    {
        var c = new Vector2(size / 2f);
        return new(size, size, ArcFace(size).Points.Select(p => c + (p - c) * faceScale).ToArray());
    }

    public Similarity FitFrom(IReadOnlyList<Vector2> landmarks) => Similarity.Estimate(landmarks, Points);

    /// <summary>
    /// The same alignment drawn at another size of the same aspect (a decoder's output larger than its encoder's crop):
    /// the points scale with the sides about pixel edges (pixel centres at integers: p' = (p + ½)·s − ½, as a resize
    /// maps them), so a crop at the new size, resized back, shows exactly what the original crop shows.
    /// </summary>
    /// <exception cref="ArgumentException">The size's aspect differs from this template's by more than a pixel.</exception>
    public AlignmentTemplate Scaled(int width, int height)
    {
        if (width == Width && height == Height) return this;
        if (width <= 0 || height <= 0 || Math.Abs((double)width * Height / Width - height) > 1)
            throw new ArgumentException($"{width}x{height} is not the aspect of the {Width}x{Height} alignment template");
        float sx = (float)width / Width, sy = (float)height / Height;
        return new(width, height, Points.Select(p => new Vector2((p.X + 0.5f) * sx - 0.5f, (p.Y + 0.5f) * sy - 0.5f)).ToArray());
    }

    public RgbImage Align(RgbImage image, IReadOnlyList<Vector2> landmarks) =>
        Warp.Affine(image, FitFrom(landmarks), Width, Height);

    static readonly double[] DlibMeanX =
    [
        0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
        0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
        0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
        0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
        0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
        0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
        0.553364, 0.490127, 0.42689,
    ];
    static readonly double[] DlibMeanY =
    [
        0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
        0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
        0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
        0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
        0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
        0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
        0.784792, 0.824182, 0.831803, 0.824182,
    ];
}
