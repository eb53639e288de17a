using System.Numerics;
using System.Text.Json;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.Reports;
using Xunit;

namespace Dfd.Tests.Evaluation;

public class DecoderEvaluationTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-eval-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static readonly double[] Fmrs = [1e-2, 1e-3, 1e-4];

    /// <summary>1,000 impostor scores 0.000, 0.001, …, 0.999: at FMR 1e-2 ten pass (threshold just above 0.989), at 1e-3 one, at 1e-4 none.</summary>
    static double[] Impostors() => Enumerable.Range(0, 1000).Select(i => i / 1000.0).ToArray();

    [Fact]
    public void QualityReportsTheMeanFaceFloor()
    {
        // Two flat faces, 0 and 200: their mean is 100 everywhere, 100 grey levels from each → PSNR 20·log10(255/100).
        var dark = new RgbImage(20, 20); var light = new RgbImage(20, 20);
        Array.Fill(light.Data, (byte)200);
        var q = ImageMeasures.Quality([dark, light], [dark, light]);
        Assert.Equal(2, q.IdenticalImages);
        Assert.Equal(1.0, q.SsimMean, 9);
        Assert.Equal(20 * Math.Log10(255.0 / 100), q.MeanFacePsnrDb!.Value, 9);
        Assert.InRange(q.MeanFaceSsim!.Value, 0, 0.99);
        Assert.Equal(100, ImageMeasures.MeanImage([dark, light]).Data[123]);
        // A decoder that outputs the mean face scores exactly the floor.
        var mean = ImageMeasures.MeanImage([dark, light]);
        var flat = ImageMeasures.Quality([mean, mean], [dark, light]);
        Assert.Equal(flat.SsimMean, q.MeanFaceSsim!.Value, 12);
        Assert.Equal(flat.PsnrMeanDb!.Value, q.MeanFacePsnrDb!.Value, 12);
        // Spread: 0 and 200 at every pixel → population std 100 grey levels; the mean face drawn twice → 0.
        Assert.Equal(100 / 255.0, q.PixelSpread!.Value, 12);
        Assert.Equal(100 / 255.0, q.PixelSpreadOriginals!.Value, 12);
        Assert.Equal(0, flat.PixelSpread!.Value, 12);
        Assert.Equal(100 / 255.0, flat.PixelSpreadOriginals!.Value, 12);
        // Per-element spread, then the mean: two 2×1 images equal but for one channel of one pixel, 0 vs 255 → std
        // 127.5 there, 0 in the other 5 values → (127.5/255)/6.
        var a = new RgbImage(2, 1); var b = new RgbImage(2, 1);
        b.Data[0] = 255;
        Assert.Equal(0.5 / 6, ImageMeasures.PixelSpreadOf([a, b]), 12);
    }

    [Fact]
    public void QualityReportsTheSamePersonReference()
    {
        // Person a: three images, two identical and one different; person b: one image (no pair); person c: two identical.
        var rng = new Random(3);
        RgbImage Noise() { var im = new RgbImage(24, 24); rng.NextBytes(im.Data); return im; }
        var a1 = Noise(); var a3 = Noise(); var b = Noise(); var c = Noise();
        var images = new[] { a1, b, a1, c, a3, c };
        var ids = new[] { "a", "b", "a", "c", "a", "c" };
        var q = ImageMeasures.Quality(images, images, ids);
        double cross = ImageQuality.Ssim(a1, a3);
        Assert.InRange(cross, -0.2, 0.2); // independent noise: nearly uncorrelated
        // a: pairs (a1,a1)=1, (a1,a3), (a1,a3) → mean (1 + 2·cross)/3; c: 1. Per person first, then over people.
        Assert.Equal(((1 + 2 * cross) / 3 + 1) / 2, q.SamePersonSsim!.Value, 12);
        Assert.Equal(2, q.SamePersonPeople);
        Assert.Equal(4, q.SamePersonPairs);
        Assert.Null(ImageMeasures.Quality(images, images).SamePersonSsim);
        // Only a person's first SamePersonImages images are paired.
        var many = Enumerable.Range(0, ImageMeasures.SamePersonImages + 5).Select(_ => Noise()).ToArray();
        var per = ImageMeasures.SamePersonSsims(many, many.Select(_ => "p").ToArray());
        int k = ImageMeasures.SamePersonImages;
        Assert.Equal(k * (k - 1) / 2, Assert.Single(per).Length);

        // Inner face: reconstructions and a person's second photo equal to the original inside the box and noise
        // outside score exactly 1 there, and less than 1 on the whole image.
        var box = Box.FromCorners(3, 5, 20, 19);
        RgbImage SameInside(RgbImage src)
        {
            var im = Noise();
            for (int y = box.Y; y < box.Bottom; y++)
                for (int x = box.X; x < box.Right; x++)
                    for (int ch = 0; ch < 3; ch++) im.Data[im.Index(x, y) + ch] = src.Data[src.Index(x, y) + ch];
            return im;
        }
        var p1 = Noise(); var q1 = Noise();
        var originals = new[] { p1, SameInside(p1), q1, SameInside(q1) };
        var people = new[] { "p", "p", "q", "q" };
        var recon = originals.Select(SameInside).ToArray();
        var whole = ImageMeasures.Quality(recon, originals, people, box);
        var fi = whole.InnerFace!;
        Assert.Equal((3, 5, 20, 19), (fi.X0, fi.Y0, fi.X1, fi.Y1));
        Assert.Equal(1.0, fi.Reconstructions, 12);
        Assert.Equal(1.0, fi.SamePerson!.Value, 12);
        Assert.InRange(whole.SsimMean, -1, 0.9);
        Assert.InRange(whole.SamePersonSsim!.Value, -1, 0.9);
        // The inner-face floor: the originals' mean image, boxed, against each boxed original.
        var meanBox = box.Crop(ImageMeasures.MeanImage(originals));
        Assert.Equal(originals.Average(o => ImageQuality.Ssim(meanBox, box.Crop(o))), fi.MeanFace!.Value, 12);
        Assert.Null(ImageMeasures.Quality(recon, originals, people).InnerFace);
    }

    [Fact]
    public void BoxCropsTheRightPixels()
    {
        var im = new RgbImage(4, 3);
        for (int i = 0; i < im.Data.Length; i++) im.Data[i] = (byte)i;
        var c = Box.FromCorners(1, 1, 3, 3).Crop(im);
        Assert.Equal((2, 2), (c.Width, c.Height));
        // Row 1, x 1..2 starts at (1·4 + 1)·3 = 15; row 2 at (2·4 + 1)·3 = 27.
        Assert.Equal(new byte[] { 15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32 }, c.Data);
        Assert.Throws<ArgumentException>(() => Box.FromCorners(0, 0, 5, 3).Crop(im));
    }

    [Fact]
    public void ThresholdsAndTypeOneRates()
    {
        var s = new ModelScores
        {
            Impostor = Impostors(),
            TypeI = [0.9995, 0.995, 0.5, 0.9985],
            TypeII = [], Genuine = [], People = 4,
        };
        var r = Scoring.Summarise(s, Fmrs);
        Assert.Equal(3, r.Rates.Count);
        Assert.Equal(Math.BitIncrement(0.989), r.Rates[0].Threshold);
        Assert.Equal((10, 1000), (r.Rates[0].FalseAccepts, r.Rates[0].ImpostorComparisons));
        Assert.Equal(Math.BitIncrement(0.998), r.Rates[1].Threshold);
        Assert.Equal(1, r.Rates[1].FalseAccepts);
        Assert.Equal(Math.BitIncrement(0.999), r.Rates[2].Threshold);
        Assert.Equal(0, r.Rates[2].FalseAccepts);
        Assert.Equal([0.75, 0.5, 0.25], r.Rates.Select(x => x.TypeI));
        Assert.Equal([3, 2, 1], r.Rates.Select(x => x.TypeIMatches));
        Assert.All(r.Rates, x => Assert.Equal(4, x.TypeIImages));
        Assert.All(r.Rates, x => Assert.True(double.IsNaN(x.TypeII)));   // nobody with two images
        Assert.All(r.Rates, x => Assert.Null(x.WarpedOriginals));
        Assert.Null(r.MeanWarpedOriginals);
        Assert.Equal((0.9995 + 0.995 + 0.5 + 0.9985) / 4, r.MeanTypeI, 12);
        Assert.Equal(0.4995, r.MeanImpostor, 12);
    }

    [Fact]
    public void TypeTwoIsAveragedPerPersonFirst()
    {
        // Person A has 5 images (20 ordered pairs), all far above every threshold; B has 2 images, one pair passing
        // only at 1e-2; C's 2 pairs never pass. Per person: 1, 1/2, 0 at 1e-2 → 0.5 (pooled it would be 21/24 = 0.875).
        double[] a = Enumerable.Repeat(0.9999, 20).ToArray();
        var s = new ModelScores
        {
            Impostor = Impostors(),
            TypeI = [1, 1, 1, 1, 1, 1, 1, 1, 1],
            TypeII = [a, [0.995, 0.1], [0.5, 0.5]],
            Genuine = [Enumerable.Repeat(0.9999, 10).ToArray(), [0.995], [0.2]],
            People = 3,
        };
        var r = Scoring.Summarise(s, Fmrs);
        Assert.Equal(0.5, r.Rates[0].TypeII, 12);
        Assert.Equal(1 / 3.0, r.Rates[1].TypeII, 12);
        Assert.Equal(1 / 3.0, r.Rates[2].TypeII, 12);
        Assert.Equal(2 / 3.0, r.Rates[0].Genuine, 12);
        Assert.Equal(1 / 3.0, r.Rates[1].Genuine, 12);
        Assert.Equal((0.9999 + (0.995 + 0.1) / 2 + 0.5) / 3, r.MeanTypeII, 12);
        Assert.Equal((0.9999 + 0.995 + 0.2) / 3, r.MeanGenuine, 12);
        Assert.Equal(24, r.TypeIIPairs);
        Assert.Equal(12, r.GenuinePairs);
        Assert.Equal(3, r.PeopleWithTwoOrMore);
        // Pooled for contrast: what the per-person averaging prevents.
        Assert.Equal(21 / 24.0, Scoring.Rate(s.TypeII.SelectMany(x => x).ToList(), r.Rates[0].Threshold), 12);
    }

    [Fact]
    public void WarpCeilingRates()
    {
        var s = new ModelScores
        {
            Impostor = Impostors(), TypeI = [0.5, 0.5], TypeII = [], Genuine = [], People = 2,
            WarpedOriginals = [0.9995, 0.995],
        };
        var r = Scoring.Summarise(s, Fmrs);
        Assert.Equal([1.0, 0.5, 0.5], r.Rates.Select(x => x.WarpedOriginals!.Value));
        Assert.Equal((0.9995 + 0.995) / 2, r.MeanWarpedOriginals!.Value, 12);
    }

    static float[] At(double degrees, float length = 1) =>
        [(float)(length * Math.Cos(degrees * Math.PI / 180)), (float)(length * Math.Sin(degrees * Math.PI / 180))];

    static double Cos(double degrees) => Math.Cos(degrees * Math.PI / 180);

    [Fact]
    public void ScoresFromTemplates()
    {
        // Unit directions (with arbitrary lengths: cosine ignores them). A: 0°, 10°, 20°; B: 90°; C: 180°.
        // Reconstructions are the originals turned by 5°.
        string[] ids = ["A", "A", "A", "B", "C"];
        double[] deg = [0, 10, 20, 90, 180];
        var o = deg.Select((d, i) => At(d, 1 + i)).ToList();
        var r = deg.Select((d, i) => At(d + 5, 3 + i)).ToList();
        var s = Scoring.Scores(o, r, ids);
        Assert.Equal(3, s.People);
        // Impostors: first image of each person: A(0°), B(90°), C(180°) → cos 90°, cos 180°, cos 90°.
        Assert.Equal(3, s.Impostor.Length);
        Assert.Equal(Cos(90), s.Impostor[0], 6);
        Assert.Equal(-1, s.Impostor[1], 6);
        Assert.Equal(Cos(90), s.Impostor[2], 6);
        Assert.All(s.TypeI, v => Assert.Equal(Cos(5), v, 6));
        Assert.Single(s.TypeII);            // only A has two or more images
        Assert.Equal(6, s.TypeII[0].Length);
        // Ordered pairs (i, j≠i): r_i at θi+5 against o_j at θj.
        double[] expected = [Cos(5 - 10), Cos(5 - 20), Cos(15 - 0), Cos(15 - 20), Cos(25 - 0), Cos(25 - 10)];
        for (int k = 0; k < 6; k++) Assert.Equal(expected[k], s.TypeII[0][k], 6);
        Assert.Equal([Cos(10), Cos(20), Cos(10)], s.Genuine[0].Select(v => Math.Round(v, 6)), new RoundedComparer());
        Assert.Throws<ArgumentException>(() => Scoring.Scores([[0f, 0f]], [[1f, 0f]], ["A"]));
    }

    sealed class RoundedComparer : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-6;
        public int GetHashCode(double d) => 0;
    }

    [Fact]
    public void SampleIndicesSpreadOverPeople()
    {
        var ids = Enumerable.Range(0, 40).SelectMany(p => Enumerable.Repeat($"p{p:D2}", p % 3 + 1)).ToList();
        var idx = DecoderEvaluation.SampleIndices(ids, 16);
        Assert.Equal(16, idx.Count);
        Assert.Equal(16, idx.Select(i => ids[i]).Distinct().Count());
        Assert.All(idx, i => Assert.True(i == 0 || ids[i - 1] != ids[i]));   // each a person's first image
        Assert.Equal([0, 1, 2, 3], DecoderEvaluation.SampleIndices(["a", "a", "b", "b"], 16));
    }

    [Fact]
    public void CropToCropWarpMapsTemplatePoints()
    {
        var dlib = AlignmentTemplate.Dlib();
        Assert.Null(AlignmentTemplate.CropToCrop(dlib, AlignmentTemplate.Dlib()));
        var sphere = AlignmentTemplate.SphereFace();
        var w = AlignmentTemplate.CropToCrop(dlib, sphere)!.Value;
        for (int i = 0; i < 5; i++) Assert.True(Vector2.Distance(w.Apply(dlib.Points[i]), sphere.Points[i]) < 3f);
    }

    [Fact]
    public void HistogramIsADensity()
    {
        var (edges, d) = EvaluationReport.Histogram([(0.1, 1), (0.1, 1), (0.9, 2), (1.0, 1), (5, 1)], 0, 1, 10);
        Assert.Equal(11, edges.Length);
        Assert.Equal(1.0, d.Sum() * 0.1, 12);      // the value outside [0, 1] is dropped
        Assert.Equal(2 / 5.0 / 0.1, d[1], 12);
        Assert.Equal(3 / 5.0 / 0.1, d[9], 12);     // 0.9 (weight 2) and 1.0 (the closed right end)
    }

    [Fact]
    public void JsonWritesNonFiniteNumbersAsNull()
    {
        var rate = new RateAtFmr(1e-3, double.PositiveInfinity, 0, 15, 0.5, 1, 2, double.NaN, 1);
        var doc = JsonDocument.Parse(JsonSerializer.Serialize(rate, EvaluationReport.JsonOptions)).RootElement;
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("threshold").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("type_ii").ValueKind);
        Assert.Equal(0.5, doc.GetProperty("type_i").GetDouble());
        Assert.Equal(15, doc.GetProperty("impostor_comparisons").GetInt32());
    }

    static readonly DecoderConfig Tiny = new(Widths: [32, 16, 16], StartWidth: 32, RefineDepth: 1);

    string SaveDecoder(string name, DecoderConfig cfg, string encoder)
    {
        var path = Path.Combine(dir, name);
        using var dec = new FaceDecoder(cfg);
        DecoderFile.Save(path, dec, new Dictionary<string, string> { ["encoder"] = encoder });
        return path;
    }

    [Fact]
    public void RefusesDecodersOfUnknownOrMismatchedEncoders()
    {
        var unknown = SaveDecoder("unknown.safetensors", Tiny, "no-such-encoder");
        var e1 = Assert.Throws<DecoderFileException>(() => DecoderFile.Load(unknown).RequireEncoder());
        Assert.Contains(unknown, e1.Message);
        Assert.Contains("no-such-encoder", e1.Message);

        var wrongDim = SaveDecoder("dim.safetensors", Tiny with { TemplateDim = 64 }, "dlib-resnet");
        var e2 = Assert.Throws<DecoderFileException>(() => DecoderFile.Load(wrongDim));
        Assert.Contains(wrongDim, e2.Message);
        Assert.Contains("64", e2.Message);

        var wrongSize = SaveDecoder("size.safetensors", Tiny with { OutWidth = 112, OutHeight = 112 }, "dlib-resnet");
        var e3 = Assert.Throws<DecoderFileException>(() => DecoderFile.Load(wrongSize));
        Assert.Contains(wrongSize, e3.Message);
    }

    [Fact]
    public void EndToEndOnTheSamples()
    {
        // The twelve sample photos (six test people of split lfw-dfd-v1, two each) in LFW's layout.
        var lfw = TestPaths.SamplesAsLfw(dir);
        var decPath = SaveDecoder("tiny.safetensors", Tiny, "dlib-resnet");
        bool mfn = Registry.WeightsPath(DecoderEvaluation.DefaultExtraModel) != null;
        var stages = new HashSet<string>();
        var r = DecoderEvaluation.Run(decPath, new EvaluationOptions
        {
            Data = "lfw:" + lfw,
            Models = mfn ? [DecoderEvaluation.DefaultExtraModel] : [],
            CacheDir = Path.Combine(dir, "cache"),
        }, new SyncProgress(p => stages.Add(p.Stage)));

        Assert.Equal("lfw-dfd-v1", r.Data.Split);
        Assert.Equal((12, 6, 0), (r.Data.EvaluatedImages, r.Data.EvaluatedPeople, r.Data.SkippedImages));
        Assert.Equal(mfn ? ["dlib-resnet", "mobilefacenet-casia"] : ["dlib-resnet"], r.Results.Select(m => m.Model));
        foreach (var m in r.Results)
        {
            Assert.Equal((12, 6, 6), (m.Images, m.People, m.PeopleWithTwoOrMore));
            Assert.Equal((15L, 12L, 6L), (m.ImpostorComparisons, m.TypeIIPairs, m.GenuinePairs));
            Assert.Equal(3, m.Rates.Count);
            Assert.All(m.Rates, x => Assert.Equal((0, 15, 12), (x.FalseAccepts, x.ImpostorComparisons, x.TypeIImages)));
            Assert.All(m.Rates, x => Assert.InRange(x.TypeI, 0, 1));
            Assert.InRange(m.MeanTypeI, -1, 1);
            Assert.Equal(m.Model != "dlib-resnet", m.Warped);
            // The warp ceiling exists only for warped models; a faithful warp keeps originals well above chance.
            Assert.Equal(m.Warped, m.MeanWarpedOriginals != null);
            Assert.All(m.Rates, x => Assert.Equal(m.Warped, x.WarpedOriginals != null));
            if (m.Warped) Assert.True(m.MeanWarpedOriginals > 0.5, $"warped originals score {m.MeanWarpedOriginals} against {m.Model}'s own alignment");
        }
        Assert.Equal(12, r.Quality.Images);
        Assert.InRange(r.Quality.SsimMean, -1, 1);
        Assert.NotNull(r.Quality.PsnrMeanDb);
        Assert.Equal(12, r.SampleOriginals.Count);
        Assert.All(r.SampleReconstructions, x => Assert.Equal((150, 150), (x.Width, x.Height)));
        Assert.Contains("decoding", stages);
        Assert.Equal("dlib-resnet", r.Decoder.Encoder);

        var files = EvaluationReport.Write(r, Path.Combine(dir, "report"));
        var html = File.ReadAllText(files.Index);
        Assert.Contains("tiny.safetensors", html);
        Assert.Contains("data:image/png;base64,", html);
        var grid = ImageIO.Load(files.Grid);
        Assert.Equal(4 * 150 + 5 * 4, grid.Height);   // two double rows: 8 + 4 faces…
        Assert.InRange(grid.Width, 8 * 150 + 9 * 4 + 20, 8 * 150 + 9 * 4 + 200);   // …and a label column saying who drew each row
        Assert.Equal(r.Results.Count, files.Histograms.Count);
        Assert.All(files.Histograms, h => Assert.Equal((1200, 560), (ImageIO.Load(h).Width, ImageIO.Load(h).Height)));
        var json = JsonDocument.Parse(File.ReadAllText(files.Json)).RootElement;
        Assert.Equal(12, json.GetProperty("data").GetProperty("evaluated_images").GetInt32());
        Assert.Equal(3, json.GetProperty("results")[0].GetProperty("rates").GetArrayLength());
        Assert.Equal(JsonValueKind.Number, json.GetProperty("quality").GetProperty("ssim_mean").ValueKind);
    }

    sealed class SyncProgress(Action<EvaluationProgress> a) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress p) => a(p);
    }
}
