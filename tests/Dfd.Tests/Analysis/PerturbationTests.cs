using System.Numerics;
using Dfd.Analysis;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Analysis;

public class PerturbationTests
{
    const int Size = 150;

    /// <summary>A black crop with a Gaussian dot (σ = 1.5 px) centred at (x, y).</summary>
    static RgbImage Dot(double x, double y)
    {
        var img = new RgbImage(Size, Size);
        for (int j = 0; j < Size; j++)
            for (int i = 0; i < Size; i++)
            {
                double r2 = (i - x) * (i - x) + (j - y) * (j - y);
                byte v = (byte)Math.Round(255 * Math.Exp(-r2 / (2 * 1.5 * 1.5)));
                int k = img.Index(i, j);
                img.Data[k] = img.Data[k + 1] = img.Data[k + 2] = v;
            }
        return img;
    }

    /// <summary>Intensity-weighted centroid of the red channel.</summary>
    static Vector2 Centroid(RgbImage img)
    {
        double s = 0, sx = 0, sy = 0;
        for (int j = 0; j < img.Height; j++)
            for (int i = 0; i < img.Width; i++)
            {
                double v = img.Data[img.Index(i, j)];
                s += v; sx += v * i; sy += v * j;
            }
        Assert.True(s > 0, "the dot left the image");
        return new((float)(sx / s), (float)(sy / s));
    }

    static void Near(Vector2 expected, Vector2 got, float tol = 1f) =>
        Assert.True(Vector2.Distance(expected, got) <= tol, $"expected the dot at {expected}, found it at {got}");

    static readonly Vector2 C = new((Size - 1) / 2f);

    [Theory]
    [InlineData(10)]
    [InlineData(-30)]
    [InlineData(45)]
    [InlineData(60)]
    [InlineData(90)]
    [InlineData(-60)]
    public void RotationTurnsADotAboutTheCentre(double degrees)
    {
        var p = new Vector2(110, 60);
        double th = degrees * Math.PI / 180, c = Math.Cos(th), s = Math.Sin(th);
        var d = p - C;
        // Counter-clockwise as displayed (y down): OpenCV's getRotationMatrix2D convention.
        var expected = C + new Vector2((float)(c * d.X + s * d.Y), (float)(-s * d.X + c * d.Y));
        Near(expected, Centroid(Perturbations.Rotate(Dot(p.X, p.Y), degrees)));
    }

    [Fact]
    public void PositiveRotationIsCounterClockwiseOnScreen()
    {
        // A dot right of centre goes up (smaller y) under +90°.
        var got = Centroid(Perturbations.Rotate(Dot(C.X + 40, C.Y), 90));
        Near(new Vector2(C.X, C.Y - 40), got);
    }

    [Theory]
    [InlineData(7, -12)]
    [InlineData(-20, 0)]
    [InlineData(0, 20)]
    [InlineData(2.5, -3.5)]
    public void TranslationMovesADot(double dx, double dy)
    {
        var p = new Vector2(70, 80);
        Near(p + new Vector2((float)dx, (float)dy), Centroid(Perturbations.Translate(Dot(p.X, p.Y), dx, dy)));
    }

    [Theory]
    [InlineData(0.6)]
    [InlineData(0.8)]
    [InlineData(1.3)]
    [InlineData(1.4)]
    public void ScaleMovesADotAwayFromTheCentreByTheFactor(double f)
    {
        var p = new Vector2(100, 50);
        Near(C + (p - C) * (float)f, Centroid(Perturbations.Scale(Dot(p.X, p.Y), f)));
    }

    /// <summary>A kind's default sweep, as `dfd analyze` runs it without options.</summary>
    static List<Perturbation> Default(AnalysisKind k) => k.Sweep(k.Range!.Values());

    /// <summary>Every default geometric sweep of the table.</summary>
    static IEnumerable<Perturbation> DefaultGeometric() => AnalysisKinds.All.Where(k => k.Range != null).SelectMany(Default);

    [Fact]
    public void StrengthZeroIsByteIdenticalAndScoresExactlyOne()
    {
        var face = AnalysisFixtures.Face("lfw-George_W_Bush_0001.rgb");
        var same = new[]
        {
            Perturbations.Rotate(face, 0), Perturbations.Translate(face, 0, 0), Perturbations.Scale(face, 1.0),
            Default(AnalysisKinds.Rotation).Single(p => p.Strength == 0).Apply(face),
            Default(AnalysisKinds.Translation).Single(p => p.Kind == "translate-x" && p.Strength == 0).Apply(face),
            Default(AnalysisKinds.Translation).Single(p => p.Kind == "translate-y" && p.Strength == 0).Apply(face),
            Default(AnalysisKinds.Scale).Single(p => p.Strength == 1.0).Apply(face),
        };
        foreach (var img in same) Assert.Equal(face.Data, img.Data);

        var t = AnalysisFixtures.Model.Encode([face, same[0], same[6]]);
        Assert.Equal(1.0, Cosine.Of(t[0], t[1]));
        Assert.Equal(1.0, Cosine.Of(t[0], t[2]));
    }

    [Fact]
    public void DefaultRangesAreAsSpecified()
    {
        Assert.Equal(Enumerable.Range(-6, 13).Select(k => 10.0 * k), Default(AnalysisKinds.Rotation).Select(p => p.Strength));
        Assert.Equal(Enumerable.Range(-4, 9).Select(k => 5.0 * k), Default(AnalysisKinds.Translation).Where(p => p.Kind == "translate-x").Select(p => p.Strength));
        Assert.Equal(Enumerable.Range(-4, 9).Select(k => 5.0 * k), Default(AnalysisKinds.Translation).Where(p => p.Kind == "translate-y").Select(p => p.Strength));
        var scales = Default(AnalysisKinds.Scale).Select(p => p.Strength).ToArray();
        Assert.Equal(9, scales.Length);
        Assert.Equal(0.6, scales[0], 12);
        Assert.Equal(1.4, scales[^1], 12);
        Assert.Contains(1.0, scales);
        Assert.Equal(13 + 9 + 9 + 9, DefaultGeometric().Count());
        Assert.All(DefaultGeometric(), p => Assert.Contains(p.Kind, new[] { "rotate", "translate-x", "translate-y", "scale" }));
    }

    [Fact]
    public void GeometryReplicatesTheBorder()
    {
        // A constant crop stays constant: no black wedges at the edges after any default perturbation.
        var flat = new RgbImage(Size, Size);
        Array.Fill(flat.Data, (byte)200);
        foreach (var p in DefaultGeometric())
            Assert.True(p.Apply(flat).Data.All(v => v == 200), $"{p.Kind} {p.Strength} changed a constant image");
    }

    [Fact]
    public void OccluderCoversExactlyItsBox()
    {
        var face = AnalysisFixtures.Face("lfw-Aaron_Peirsol_0001.rgb");
        var box = new Box(30, 40, 50, 20);
        var colour = new Colour(1, 2, 3);
        var o = Perturbations.Occlude(face, box, colour);
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                int i = o.Index(x, y);
                if (box.Contains(x, y))
                    Assert.Equal(new byte[] { 1, 2, 3 }, o.Data[i..(i + 3)]);
                else
                    Assert.Equal(face.Data[i..(i + 3)], o.Data[i..(i + 3)]);
            }
        // The input is untouched, and a box past the edge is clipped rather than refused.
        Assert.Equal(face.Data, AnalysisFixtures.Face("lfw-Aaron_Peirsol_0001.rgb").Data);
        var edge = Perturbations.Occlude(face, new Box(140, -5, 30, 10), Colour.Black);
        Assert.Equal(0, edge.Data[edge.Index(149, 4)]);
        Assert.Equal(face.Data[face.Index(149, 5)], edge.Data[edge.Index(149, 5)]);
    }

    public static IEnumerable<object[]> Templates() =>
    [
        ["dlib", AlignmentTemplate.Dlib()],
        ["arcface", AlignmentTemplate.ArcFace()],
        ["sphereface", AlignmentTemplate.SphereFace()],
        ["loose", AlignmentTemplate.Loose()],
    ];

    [Theory]
    [MemberData(nameof(Templates))]
    public void NamedOccludersLieInsideTheCropAndCoverTheirParts(string name, AlignmentTemplate t)
    {
        var named = Occluders.Named(t).ToDictionary(o => o.Name, o => o.Box);
        Assert.Equal(new[] { "eyes", "nose", "mouth", "upper-half", "lower-half" }, named.Keys);
        foreach (var (n, b) in named)
        {
            Assert.True(b.Width > 0 && b.Height > 0, $"{name} {n}: empty box {b}");
            Assert.True(b.X >= 0 && b.Y >= 0 && b.Right <= t.Width && b.Bottom <= t.Height, $"{name} {n}: {b} leaves the {t.Width}x{t.Height} crop");
        }
        Assert.True(named["eyes"].Contains(t.Points[0]) && named["eyes"].Contains(t.Points[1]), $"{name}: eyes band {named["eyes"]} misses an eye");
        Assert.True(named["nose"].Contains(t.Points[2]), $"{name}: nose box misses the nose tip");
        Assert.True(named["mouth"].Contains(t.Points[3]) && named["mouth"].Contains(t.Points[4]), $"{name}: mouth box misses a corner");
        Assert.Equal(t.Width * t.Height, named["upper-half"].Area + named["lower-half"].Area);
        Assert.Equal(named["upper-half"].Bottom, named["lower-half"].Y);
        // The occlusion perturbations use these boxes, strength = covered fraction.
        var occ = Perturbations.NamedOcclusions(t, Colour.Grey).ToList();
        Assert.Equal(5, occ.Count);
        Assert.Equal((double)named["eyes"].Area / (t.Width * t.Height), occ[0].Strength, 12);
    }

    [Fact]
    public void SweepCoversTheCropWithPatchesInside()
    {
        var boxes = Occluders.Sweep(Size, Size, 32, 16).ToList();
        Assert.Equal(9 * 9, boxes.Count); // starts 0,16,…,112 and the edge-flush 118
        var hit = new bool[Size, Size];
        foreach (var b in boxes)
        {
            Assert.Equal(32, b.Width);
            Assert.True(b.X >= 0 && b.Y >= 0 && b.Right <= Size && b.Bottom <= Size);
            for (int y = b.Y; y < b.Bottom; y++)
                for (int x = b.X; x < b.Right; x++) hit[y, x] = true;
        }
        Assert.True(hit.Cast<bool>().All(h => h));
        Assert.Equal(25, Occluders.Sweep(100, 100, 20, 20).Count()); // exact tiling, no extra edge row
        Assert.Equal(boxes.Count, Perturbations.OcclusionSweep(Size, Size, 32, 16, Colour.Grey).Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => Occluders.Sweep(Size, Size, 200, 16).ToList());
    }
}
