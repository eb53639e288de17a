using Dfd.Analysis;
using Dfd.Core;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Analysis;

/// <summary>The library parts dfd serve added: one-resampling transform, difference image, great-circle point, fast PNG.</summary>
public class ExplorerHelpersTests
{
    static RgbImage Noise(int w = 40, int h = 30, int seed = 3)
    {
        var img = new RgbImage(w, h);
        new Random(seed).NextBytes(img.Data);
        return img;
    }

    [Fact]
    public void TransformAtRestIsAByteIdenticalCopyAndMatchesItsParts()
    {
        var img = Noise();
        Assert.Equal(img.Data, Perturbations.Transform(img, 0, 1, 0, 0).Data);
        // Whole-pixel shifts with no turn are the translation exactly; a turn alone is the rotation exactly.
        Assert.Equal(Perturbations.Translate(img, 3, -2).Data, Perturbations.Transform(img, 0, 1, 3, -2).Data);
        Assert.Equal(Perturbations.Rotate(img, 17).Data, Perturbations.Transform(img, 17, 1, 0, 0).Data);
        Assert.Equal(Perturbations.RotateScale(img, -12, 1.2).Data, Perturbations.Transform(img, -12, 1.2, 0, 0).Data);
        Assert.Throws<ArgumentOutOfRangeException>(() => Perturbations.Transform(img, 0, 0, 0, 0));
    }

    [Fact]
    public void DifferenceIsGreyWhereNothingChangedAndAmplifiesTheRest()
    {
        var a = Noise();
        var b = a.Clone();
        Assert.All(Attacks.Difference(a, b, 10).Data, v => Assert.Equal(128, v));
        b.Data[0] = (byte)Math.Min(255, a.Data[0] + 3);
        int expected = Math.Clamp(128 + 10 * (b.Data[0] - a.Data[0]), 0, 255);
        Assert.Equal(expected, Attacks.Difference(a, b, 10).Data[0]);
        Assert.Throws<ArgumentException>(() => Attacks.Difference(a, Noise(10, 10), 1));
    }

    [Fact]
    public void BetweenRunsTheGreatCircleFromAToB()
    {
        float[] a = [3, 0, 0], b = [0, 2, 0];
        Assert.Equal(1.0, Cosine.Of(Analyzer.Between(a, b, 0), a), 6);
        Assert.Equal(1.0, Cosine.Of(Analyzer.Between(a, b, 1), b), 6);
        var mid = Analyzer.Between(a, b, 0.5);
        Assert.Equal(Cosine.Of(mid, a), Cosine.Of(mid, b), 6);
        Assert.Equal(1.0, Math.Sqrt(mid.Sum(x => x * x)), 5);   // on the unit sphere
        Assert.Equal(Math.PI / 2, Analyzer.Angle(a, b), 6);
        Assert.Throws<ArgumentException>(() => Analyzer.Between(a, [1, 2], 0.5));
    }

    [Fact]
    public void PngsAtAnyLevelDecodeToTheSamePixels()
    {
        var img = Noise();
        foreach (int level in new[] { 0, 1, 9 })
            Assert.Equal(img.Data, ImageIO.Decode(ImageIO.EncodePng(img, level)).Data);
        Assert.Equal(img.Data, ImageIO.Decode(ImageIO.Encode(img)).Data);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageIO.EncodePng(img, 10));
    }
}
