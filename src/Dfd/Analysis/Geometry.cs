using System.Numerics;
using Dfd.Detection;
using Dfd.Imaging;

namespace Dfd.Analysis;

/// <summary>
/// Where the detector sees a face in a crop: roll of the eye line (degrees, positive = turned counter-clockwise as
/// displayed, the sense of <see cref="Perturbations.Rotate"/>), centre of the five landmarks and inter-ocular distance,
/// all in crop pixels.
/// </summary>
public sealed record FaceGeometry(double Roll, double CentreX, double CentreY, double InterOcular, double Score)
{
    public static FaceGeometry From(Face f, float dx = 0, float dy = 0)
    {
        Vector2 e0 = f.Landmarks[0], e1 = f.Landmarks[1];
        // y grows downwards, so a counter-clockwise turn lifts the right eye: negate to make that positive.
        double roll = -Math.Atan2(e1.Y - e0.Y, e1.X - e0.X) * 180 / Math.PI;
        double cx = f.Landmarks.Average(p => p.X) - dx, cy = f.Landmarks.Average(p => p.Y) - dy;
        return new(roll, cx, cy, Vector2.Distance(e0, e1), f.Score);
    }
}

/// <summary>
/// Measures <see cref="FaceGeometry"/> of aligned crops and reconstructions with YuNet. Two things stand between the
/// detector and an honest number. An aligned crop is nearly all face, which a detector trained on scenes misses: the
/// crop is set in a mid-grey canvas twice its size. And YuNet's landmarks lean towards the pose it saw most: on
/// aligned LFW crops a 20° turn reads as 11–14°, a 1.25× zoom as 1.16×, and a shift moves the anchors that vote on
/// the landmarks, which costs 2–3 px. So the probe measures by levelling: it warps the crop with the similarity
/// that brings the detected landmarks to a reference pose (eye line level, eye distance and landmark centre of the
/// alignment template), detects again, and repeats until the correction vanishes. At that point the detector reads
/// a face in the pose where it is accurate and consistent, and the crop's geometry is the inverse of the warp.
/// </summary>
public sealed class GeometryProbe
{
    public const byte Background = 128;
    public int MaxIterations { get; init; } = 10;
    readonly YuNet detector;
    readonly double? interOcular;
    readonly Vector2? centre;

    /// <summary>A probe for crops of <paramref name="template"/>: the reference pose is the template's own.</summary>
    public GeometryProbe(YuNet detector, AlignmentTemplate template)
        : this(detector, Vector2.Distance(template.Points[0], template.Points[1]),
               new Vector2(template.Points.Average(p => p.X), template.Points.Average(p => p.Y))) { }

    /// <summary>Reference eye distance and landmark centre; by default 0.3 of the width and the middle of the crop.</summary>
    public GeometryProbe(YuNet detector, double? interOcular = null, Vector2? centre = null)
    {
        this.detector = detector;
        this.interOcular = interOcular;
        this.centre = centre;
    }

    /// <summary>The face nearest the crop centre, or null when the detector finds none.</summary>
    public FaceGeometry? Measure(RgbImage crop)
    {
        double d0 = interOcular ?? 0.3 * crop.Width;
        var c0 = centre ?? new Vector2(crop.Width / 2f, crop.Height / 2f);
        var e = new Similarity(1, 0, 0, 0);  // crop → level frame
        FaceGeometry? g = null;
        var ge = e;
        for (int k = 0; k < MaxIterations; k++)
        {
            var m = Detect(k == 0 ? crop : Warp.Affine(crop, e, crop.Width, crop.Height));
            if (m == null) { if (g == null) return null; break; }
            (g, ge) = (m, e);
            double k1 = d0 / m.InterOcular, psi = m.Roll * Math.PI / 180;
            // Correction in the level frame: turn the eye line level and bring eye distance and centre to the reference.
            double a = k1 * Math.Cos(psi), b = k1 * Math.Sin(psi);
            var fix = new Similarity(a, b, c0.X - (a * m.CentreX - b * m.CentreY), c0.Y - (b * m.CentreX + a * m.CentreY));
            e = Compose(fix, e);
            if (Math.Abs(m.Roll) < 0.2 && Math.Abs(k1 - 1) < 0.005 && Math.Abs(m.CentreX - c0.X) < 0.2 && Math.Abs(m.CentreY - c0.Y) < 0.2) break;
        }
        var inv = ge.Inverse();
        var pc = inv.Apply(new Vector2((float)g!.CentreX, (float)g.CentreY));
        // A similarity turns direction angles by its AngleDegrees (y down), so roll (the negated eye-line angle) changes by −angle.
        return g with { Roll = g.Roll + ge.AngleDegrees, CentreX = pc.X, CentreY = pc.Y, InterOcular = g.InterOcular / ge.Scale };
    }

    /// <summary>(f ∘ g)(p) = f(g(p)): similarities compose like complex affine maps z → a·z + t.</summary>
    public static Similarity Compose(Similarity f, Similarity g) => new(
        f.A * g.A - f.B * g.B, f.A * g.B + f.B * g.A,
        f.A * g.Tx - f.B * g.Ty + f.Tx, f.B * g.Tx + f.A * g.Ty + f.Ty);

    /// <summary>One detector pass on the padded crop, the answer in crop coordinates.</summary>
    public FaceGeometry? Detect(RgbImage crop)
    {
        int pw = crop.Width / 2, ph = crop.Height / 2;
        var canvas = new RgbImage(crop.Width + 2 * pw, crop.Height + 2 * ph);
        Array.Fill(canvas.Data, Background);
        for (int y = 0; y < crop.Height; y++)
            Buffer.BlockCopy(crop.Data, y * crop.Width * 3, canvas.Data, ((y + ph) * canvas.Width + pw) * 3, crop.Width * 3);
        var faces = detector.Detect(canvas);
        if (faces.Count == 0) return null;
        var f = FacePipeline.MostCentral(faces, canvas.Width, canvas.Height);
        return FaceGeometry.From(f, pw, ph);
    }

    /// <summary>Least-squares slope and intercept of y on x; NaN when fewer than two distinct x.</summary>
    public static (double Slope, double Intercept, int N) Fit(IReadOnlyList<(double X, double Y)> points)
    {
        int n = points.Count;
        if (n < 2) return (double.NaN, double.NaN, n);
        double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        double sxx = points.Sum(p => (p.X - mx) * (p.X - mx)), sxy = points.Sum(p => (p.X - mx) * (p.Y - my));
        if (sxx < 1e-12) return (double.NaN, double.NaN, n);
        double b = sxy / sxx;
        return (b, my - b * mx, n);
    }
}
