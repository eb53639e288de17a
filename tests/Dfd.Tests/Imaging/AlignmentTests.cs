using System.Numerics;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Imaging;

public class AlignmentTests
{
    [Fact]
    public void RecoversAKnownSimilarity()
    {
        var truth = new Similarity(Math.Cos(0.3) * 1.7, Math.Sin(0.3) * 1.7, 12.5, -4.25);
        var src = new[] { new Vector2(10, 20), new Vector2(80, 25), new Vector2(45, 60), new Vector2(20, 90), new Vector2(75, 88) };
        var dst = src.Select(truth.Apply).ToArray();
        var fit = Similarity.Estimate(src, dst);
        Assert.Equal(truth.A, fit.A, 4);
        Assert.Equal(truth.B, fit.B, 4);
        Assert.Equal(truth.Tx, fit.Tx, 3);
        Assert.Equal(truth.Ty, fit.Ty, 3);
        Assert.Equal(0.3 * 180 / Math.PI, fit.AngleDegrees, 3);
        Assert.Equal(1.7, fit.Scale, 4);
    }

    [Fact]
    public void LeastSquaresWithNoiseStaysClose()
    {
        var rng = new Random(7);
        var truth = new Similarity(0.8, -0.2, 3, 7);
        var src = Enumerable.Range(0, 50).Select(_ => new Vector2(rng.NextSingle() * 100, rng.NextSingle() * 100)).ToArray();
        var dst = src.Select(p => truth.Apply(p) + new Vector2(rng.NextSingle() - 0.5f, rng.NextSingle() - 0.5f)).ToArray();
        var fit = Similarity.Estimate(src, dst);
        Assert.Equal(truth.A, fit.A, 2);
        Assert.Equal(truth.B, fit.B, 2);
    }

    [Fact]
    public void InverseUndoesTheTransform()
    {
        var t = new Similarity(1.2, 0.5, -3, 9);
        var p = new Vector2(13, -7);
        var back = t.Inverse().Apply(t.Apply(p));
        Assert.Equal(p.X, back.X, 4);
        Assert.Equal(p.Y, back.Y, 4);
    }

    [Fact]
    public void WarpMovesAPixelWhereTheTransformSays()
    {
        var img = new RgbImage(64, 64);
        int i = img.Index(20, 30);
        img.Data[i] = 255; img.Data[i + 1] = 255; img.Data[i + 2] = 255;
        var t = new Similarity(1, 0, 5, -10); // pure shift by (5, -10)
        var w = Warp.Affine(img, t, 64, 64);
        Assert.Equal(255, w.Data[w.Index(25, 20)]);
        Assert.Equal(0, w.Data[w.Index(20, 30)]);
    }

    [Fact]
    public void AligningPutsLandmarksOnTheTemplate()
    {
        // Landmarks drawn as bright dots in a rotated, scaled copy of the template must land on the template points.
        var tpl = AlignmentTemplate.Dlib();
        var place = new Similarity(Math.Cos(-0.4) * 1.6, Math.Sin(-0.4) * 1.6, 60, 90);
        var img = new RgbImage(400, 400);
        var lms = tpl.Points.Select(place.Apply).ToArray();
        foreach (var p in lms)
            for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++)
            {
                int k = img.Index((int)Math.Round(p.X) + dx, (int)Math.Round(p.Y) + dy);
                img.Data[k] = 255;
            }
        var crop = tpl.Align(img, lms);
        foreach (var q in tpl.Points)
            Assert.True(crop.Data[crop.Index((int)Math.Round(q.X), (int)Math.Round(q.Y))] > 100, $"no dot at {q}");
    }

    [Fact]
    public void DlibTemplateFollowsGetFaceChipDetails()
    {
        var t = AlignmentTemplate.Dlib();
        // 100·(p + 0.25) with p the mean-shape eye centres (means of points 36–41, 42–47), nose tip 30, mouth 48/54.
        Assert.Equal(100 * (0.225492 + 0.25), t.Points[0].X, 2);
        Assert.Equal(100 * (0.215990 + 0.25), t.Points[0].Y, 2);
        Assert.Equal(100 * (0.754761 + 0.25), t.Points[1].X, 2);
        Assert.Equal(100 * (0.490127 + 0.25), t.Points[2].X, 3);
        Assert.Equal(100 * (0.515625 + 0.25), t.Points[2].Y, 3);
        Assert.Equal(100 * (0.254149 + 0.25), t.Points[3].X, 3);
        Assert.Equal(100 * (0.780233 + 0.25), t.Points[4].Y, 3);
    }

    [Fact]
    public void ReflectionIsNeverFitted()
    {
        var src = new[] { new Vector2(0, 0), new Vector2(10, 0), new Vector2(0, 10) };
        var mirrored = src.Select(p => new Vector2(-p.X, p.Y)).ToArray();
        var fit = Similarity.Estimate(src, mirrored);
        // A similarity has det = a² + b² > 0: a mirror cannot come out of it.
        Assert.True(fit.A * fit.A + fit.B * fit.B > 0);
        var p = fit.Apply(new Vector2(10, 0));
        Assert.False(Math.Abs(p.X + 10) < 1e-3 && Math.Abs(p.Y) < 1e-3);
    }

    [Fact]
    public void MirrorFlipsLeftAndRight()
    {
        // Two rows of three pixels, every byte different, so a swapped channel or row shows.
        var img = new RgbImage(3, 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
        Assert.Equal(new byte[] { 7, 8, 9, 4, 5, 6, 1, 2, 3, 16, 17, 18, 13, 14, 15, 10, 11, 12 }, img.Mirror().Data);
        Assert.Equal(img.Data, img.Mirror().Mirror().Data);
    }
}
