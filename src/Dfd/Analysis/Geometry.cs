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
/// Measures <see cref="FaceGeometry"/> of aligned crops and reconstructions with YuNet. An aligned crop is nearly all
/// face, which the detector (trained on scenes) misses; the crop is therefore set in the middle of a mid-grey canvas
/// twice its size before detection, and the answer is moved back to crop coordinates.
/// </summary>
public sealed class GeometryProbe(YuNet detector)
{
    public const byte Background = 128;

    /// <summary>The most confident face nearest the crop centre, or null when the detector finds none.</summary>
    public FaceGeometry? Measure(RgbImage crop)
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
