using System.Text.Json;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Evaluation;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Reports;
using Xunit;

namespace Dfd.Tests.Evaluation;

/// <summary>Issue 25: colour bias, texture Fréchet distance, the decoder's kind, and decoders side by side.</summary>
public class ColourTextureTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-colour-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>Noise images with values in 20..235, so a shift of ±10 never clips.</summary>
    static List<RgbImage> Noise(int n, int seed, int w = 40, int h = 48)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var im = new RgbImage(w, h);
            for (int i = 0; i < im.Data.Length; i++) im.Data[i] = (byte)rng.Next(20, 236);
            return im;
        }).ToList();
    }

    static RgbImage Shift(RgbImage im, int channel, int by)
    {
        var o = new RgbImage(im.Width, im.Height);
        Array.Copy(im.Data, o.Data, im.Data.Length);
        for (int i = channel; i < o.Data.Length; i += 3) o.Data[i] = (byte)(o.Data[i] + by);
        return o;
    }

    [Fact]
    public void ColourBiasOfASetAgainstItselfIsZero()
    {
        var a = Noise(5, 1);
        Assert.All(ColourBias.Of(a, a), v => Assert.Equal(0, v, 12));
        var r = ColourBias.Measure(a, a, ["p", "p", "q", "r", "r"], new Box(5, 5, 20, 20));
        Assert.All(r.Reconstructions, v => Assert.Equal(0, v, 12));
        Assert.All(r.ReconstructionsInner!, v => Assert.Equal(0, v, 12));
        Assert.Equal(0, r.MaxAbs, 12);
        Assert.NotNull(r.OriginalsHalves);
    }

    [Fact]
    public void ARedShiftOfTenLevelsIsARedBiasOfTenOver255()
    {
        var a = Noise(6, 2);
        var red = a.Select(im => Shift(im, 0, 10)).ToList();
        var b = ColourBias.Of(red, a);
        Assert.Equal(10 / 255.0, b[0], 12);   // ≈ +0.039
        Assert.Equal(0, b[1], 12);
        Assert.Equal(0, b[2], 12);
        Assert.Equal(-10 / 255.0, ColourBias.Of(a, red)[0], 12);
        // Inside a box only that box counts: shift one 10×10 patch of green by −10 in every image.
        var patched = a.Select(im =>
        {
            var o = new RgbImage(im.Width, im.Height);
            Array.Copy(im.Data, o.Data, im.Data.Length);
            for (int y = 10; y < 20; y++) for (int x = 10; x < 20; x++) o.Data[(y * o.Width + x) * 3 + 1] -= 10;
            return o;
        }).ToList();
        var box = ColourBias.Of(patched, a, new Box(10, 10, 10, 10));
        Assert.Equal(-10 / 255.0, box[1], 12);
        Assert.Equal(-10 / 255.0 * 100 / (40 * 48), ColourBias.Of(patched, a)[1], 12);
    }

    [Fact]
    public void FrechetOfRawFeaturesIsNotNormalised()
    {
        // 1-D sets {0, 2} and {1, 3}: means 0 → 1 and 2 (‖Δμ‖² = 1), variances equal (2), so the distance is 1.
        float[][] a = [[0f, 0f], [2f, 0f]], b = [[1f, 0f], [3f, 0f]];
        Assert.Equal(1, Frechet.Distance(a, b, unit: false), 9);
        Assert.Equal(0, Frechet.Distance(a, a, unit: false), 9);
        // Normalised, both sets become the same direction, apart from the zero vector: a different number.
        Assert.NotEqual(1, Frechet.Distance(b, [[1f, 0f], [9f, 0f]], unit: true), 3);
        Assert.Equal(16, Frechet.Distance(b, [[5f, 0f], [7f, 0f]], unit: false), 9);
    }

    static string? MobileFaceNetWeights() => Registry.WeightsPath(TextureDistance.Model) is { } p && File.Exists(p) ? p : null;

    /// <summary>LFW photos cut to MobileFaceNet's 96×112 (a fixed centre cut: the measure needs textures, not alignment).</summary>
    static List<RgbImage> LfwCrops(int n)
    {
        var lfw = Path.Combine(TestPaths.SharedDir!, "data", "lfw", "lfw-deepfunneled");
        var files = Directory.EnumerateDirectories(lfw).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.jpg").OrderBy(f => f, StringComparer.Ordinal).Take(1)).Take(n).ToList();
        return files.Select(f =>
        {
            var im = ImageIO.Load(f);
            var c = new RgbImage(96, 112);
            int ox = (im.Width - 96) / 2, oy = (im.Height - 112) / 2;
            for (int y = 0; y < 112; y++) Array.Copy(im.Data, ((oy + y) * im.Width + ox) * 3, c.Data, y * 96 * 3, 96 * 3);
            return c;
        }).ToList();
    }

    /// <summary>A 5×5 box blur (edges clamped): the same faces without their fine texture.</summary>
    static RgbImage Blur(RgbImage im)
    {
        var o = new RgbImage(im.Width, im.Height);
        for (int y = 0; y < im.Height; y++)
            for (int x = 0; x < im.Width; x++)
                for (int c = 0; c < 3; c++)
                {
                    int s = 0;
                    for (int dy = -2; dy <= 2; dy++)
                        for (int dx = -2; dx <= 2; dx++)
                            s += im.Data[(Math.Clamp(y + dy, 0, im.Height - 1) * im.Width + Math.Clamp(x + dx, 0, im.Width - 1)) * 3 + c];
                    o.Data[(y * im.Width + x) * 3 + c] = (byte)Math.Round(s / 25.0);
                }
        return o;
    }

    [SkippableFact]
    public void TextureDistanceIsZeroForTheSameSetAndGrowsWithBlur()
    {
        Skip.If(TestPaths.SharedDir is null || !Directory.Exists(Path.Combine(TestPaths.SharedDir, "data", "lfw", "lfw-deepfunneled")), "needs ../shared (LFW)");
        Skip.If(MobileFaceNetWeights() is null, "needs the mobilefacenet-casia weights (../shared/models)");
        var faces = LfwCrops(80);
        using var enc = (IFeatureEncoder)Registry.Create(TextureDistance.Model);
        var feats = TextureDistance.Features(enc, faces);
        Assert.All(feats, f => Assert.Equal(64, f.Length));
        double self = Frechet.Distance(feats, feats, unit: false);
        double blurred = TextureDistance.Distance(enc, faces.Select(Blur).ToList(), faces);
        Assert.True(blurred > 0.05, $"blurred against sharp: {blurred}");
        Assert.True(Math.Abs(self) < 1e-4 * blurred, $"a set against itself: {self}, blurred {blurred}");
        // Blurring harder moves further.
        double twice = TextureDistance.Distance(enc, faces.Select(f => Blur(Blur(f))).ToList(), faces);
        Assert.True(twice > blurred, $"blurred twice {twice} ≤ once {blurred}");
    }

    [Fact]
    public void TextureDistanceSaysWhyItWasSkippedWithoutWeights()
    {
        var old = Environment.GetEnvironmentVariable(MobileFaceNet.WeightsVariable);
        try
        {
            // A variable naming a missing file means "not found" (reported, not passed over).
            Environment.SetEnvironmentVariable(MobileFaceNet.WeightsVariable, Path.Combine(dir, "absent.safetensors"));
            var a = Noise(4, 3, 150, 150);
            var t = TextureDistance.Measure(a, a, a[0], ["p", "q", "r", "s"], DlibResNet.Spec.Template);
            Assert.Null(t.Reconstructions);
            Assert.NotNull(t.Skipped);
            Assert.Contains("not found", t.Skipped);
        }
        finally { Environment.SetEnvironmentVariable(MobileFaceNet.WeightsVariable, old); }
    }

    [Fact]
    public void KindComesFromMetadataElseFromTheAdversarialWeight()
    {
        Assert.Equal("sharp", DecoderKind.Of(new Dictionary<string, string> { ["decoder_kind"] = "sharp" }));
        Assert.Equal("regression", DecoderKind.Of(new Dictionary<string, string> { ["decoder_kind"] = "regression", ["train_config"] = "{\"Loss\":{\"Adv\":1}}" }));
        Assert.Equal("sharp", DecoderKind.Of(new Dictionary<string, string> { ["train_config"] = "{\"Epochs\":3,\"Loss\":{\"Pixel\":0.2,\"Adv\":0.5}}" }));
        Assert.Equal("regression", DecoderKind.Of(new Dictionary<string, string> { ["train_config"] = "{\"Loss\":{\"Pixel\":1,\"Adv\":0}}" }));
        Assert.Equal("regression", DecoderKind.Of(new Dictionary<string, string> { ["train_config"] = "{\"Loss\":{\"Pixel\":1}}" }));
        Assert.Equal("regression", DecoderKind.Of(new Dictionary<string, string> { ["train_config"] = "not json" }));
        Assert.Equal("regression", DecoderKind.Of(new Dictionary<string, string>()));
        Assert.Equal("sharp decoder", DecoderKind.Label("sharp"));
        Assert.Equal("regression decoder", DecoderKind.Label("regression"));
        // Two rows of one kind are told apart by their files' names; a kind that appears once keeps its plain label.
        Assert.Equal(["sharp decoder a", "sharp decoder run-7", "regression decoder"],
            DecoderKind.RowLabels(["sharp", "sharp", "regression"], ["models/a.safetensors", "/x/run-7.safetensors", "r.safetensors"]));
    }

    /// <summary>The stand-in sharp decoder: the shipped regression file with its metadata rewritten to decoder_kind=sharp.</summary>
    public static string StandInSharp(string dir)
    {
        var shipped = DecoderFile.ShippedPath("dlib-resnet") ?? throw new InvalidOperationException("shipped decoder not found");
        var (t, meta) = Safetensors.Read(shipped);
        var m = new Dictionary<string, string>(meta) { ["decoder_kind"] = "sharp" };
        var path = Path.Combine(dir, "dfd-dlib-resnet-lfw-sharp.safetensors");
        Safetensors.Write(path, t, m);
        return path;
    }

    [Fact]
    public void ShippedDecodersReadAsTheirKinds()
    {
        var shipped = DecoderFile.ShippedPath("dlib-resnet");
        Assert.NotNull(shipped);
        using (var reg = DecoderFile.Load(shipped!)) Assert.Equal("regression", reg.Info.Kind);
        using var sharp = DecoderFile.Load(StandInSharp(dir));
        Assert.Equal("sharp", sharp.Info.Kind);
        // dlib-resnet's sharp decoder ships and says so; an unknown encoder has none.
        Assert.Null(DecoderFile.ShippedSharpPath("no-such-encoder"));
        var found = DecoderFile.ShippedSharpPath("dlib-resnet");
        Assert.NotNull(found);
        Assert.EndsWith("dfd-dlib-resnet-lfw-sharp.safetensors", found);
        using (var shippedSharp = DecoderFile.Load(found!)) Assert.Equal("sharp", shippedSharp.Info.Kind);
    }

    [Fact]
    public void LabelledGridAddsALabelColumn()
    {
        var a = Noise(3, 4, 30, 30);
        var plain = ImageGrid.Compose([a, a]);
        var g = LabelledGrid.Compose([a, a], ["originals", "regression decoder"]);
        Assert.Equal(plain.Height, g.Height);
        Assert.True(g.Width > plain.Width + 20, $"{g.Width} vs {plain.Width}");
        int labelW = g.Width - plain.Width;
        // Text is drawn: the label column is not all white in either row.
        for (int row = 0; row < 2; row++)
        {
            int y0 = 4 + row * 34, dark = 0;
            for (int y = y0; y < y0 + 30; y++)
                for (int x = 0; x < labelW; x++)
                    if (g.Data[(y * g.Width + x) * 3] < 128) dark++;
            Assert.True(dark > 10, $"row {row}: {dark} dark pixels in the label");
        }
        // The faces sit unchanged to the right of the labels.
        Assert.Equal(plain.Data[(10 * plain.Width + 10) * 3], g.Data[(10 * g.Width + 10 + labelW) * 3]);
        Assert.Throws<ArgumentException>(() => LabelledGrid.Compose([a], ["x", "y"]));
    }

    [Fact]
    public void SharpBesideRegressionOnTheSamples()
    {
        var lfw = TestPaths.SamplesAsLfw(dir);
        var opt = new EvaluationOptions { Data = "lfw:" + lfw, Models = [], CacheDir = Path.Combine(dir, "cache") };
        var reg = DecoderEvaluation.Run(DecoderFile.ShippedPath("dlib-resnet")!, opt);
        var sharp = DecoderEvaluation.Run(StandInSharp(dir), opt);
        Assert.Equal(("regression", "sharp"), (reg.DecoderKind, sharp.DecoderKind));
        // The stand-in is the same network: the same colour bias and texture, which a real bias would show.
        Assert.Equal(reg.ColourBias!.Reconstructions, sharp.ColourBias!.Reconstructions);
        Assert.All(reg.ColourBias.Reconstructions, v => Assert.InRange(v, -0.2, 0.2));
        Assert.Equal(3, reg.ColourBias.OriginalsMean.Length);
        if (MobileFaceNetWeights() != null)
        {
            Assert.Null(reg.Texture!.Skipped);
            Assert.True(reg.Texture.Reconstructions > 0);
            Assert.Equal(64, reg.Texture.Dimensions);
        }
        else Assert.NotNull(reg.Texture!.Skipped);

        var rows = SideBySide.Rows([reg, sharp]);
        Assert.Equal(["regression", "sharp", "originals"], rows.Select(r => r.Kind));
        Assert.Equal([0.0, 0, 0], rows[2].ColourBias);
        Assert.Equal(reg.Texture.OriginalsHalves, rows[2].TextureFrechet);

        var files = EvaluationReport.WriteSideBySide([reg, sharp], Path.Combine(dir, "report"));
        var html = File.ReadAllText(files.Index);
        Assert.Contains("regression decoder", html);
        Assert.Contains("sharp decoder", html);
        Assert.Contains("colour bias", html);
        Assert.Equal(2, files.Decoders.Count);
        Assert.All(files.Decoders, d => Assert.True(File.Exists(d.Index)));
        Assert.Contains("Colour and texture", File.ReadAllText(files.Decoders[0].Index));
        var json = JsonDocument.Parse(File.ReadAllText(files.Json)).RootElement;
        Assert.Equal(3, json.GetProperty("side_by_side").GetArrayLength());
        Assert.Equal("sharp", json.GetProperty("decoders")[1].GetProperty("decoder_kind").GetString());
        Assert.Equal(3, json.GetProperty("decoders")[0].GetProperty("colour_bias").GetProperty("reconstructions").GetArrayLength());
        var grid = ImageIO.Load(files.Grid);
        Assert.Equal(3 * 150 + 4 * 4, grid.Height);   // originals, regression, sharp
    }
}
