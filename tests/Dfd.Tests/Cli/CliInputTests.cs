using Dfd.IO;
using TorchSharp;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>
/// Commands given files that are missing, empty, corrupt or of the wrong kind: one line on stderr naming the file and
/// the problem, exit code 1 (2 for a wrong command line), nothing written. The shipped dlib-resnet weights and decoder
/// (models/) make these run without ../shared.
/// </summary>
public sealed class CliInputTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-cli-").FullName;

    static string Decoder => Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
    static string EncoderWeights => Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors");
    static string Sample => Path.Combine(TestPaths.RepoRoot, "samples", "Bill_Clinton_0001.jpg");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    string Templates(string name, int rows, int dim)
    {
        var rng = new Random(1);
        var data = Enumerable.Range(0, rows * dim).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        Npy.Write(P(name), data, [rows, dim]);
        return P(name);
    }

    string CorruptJpeg(string name)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(P(name))!);
        File.WriteAllText(P(name), "this is not a JPEG");
        return P(name);
    }

    // ---- files that do not exist

    [Fact]
    public void EncodeMissingInputNamesIt()
    {
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--input", P("nobody.jpg"), "--output", P("t.npy")), 1, "encode", P("nobody.jpg"));
        Assert.False(File.Exists(P("t.npy")));
    }

    [Fact]
    public void AlignMissingInputNamesIt()
    {
        AssertOneLineError(Run("align", "--model", "dlib-resnet", "--input", P("photos"), "--output", P("out")), 1, "align", P("photos"));
    }

    [Fact]
    public void ReconstructMissingDecoderNamesIt()
    {
        var t = Templates("t.npy", 1, 128);
        AssertOneLineError(Run("reconstruct", "--decoder", P("none.safetensors"), "--input", t, "--output", P("out")), 1, "reconstruct",
            P("none.safetensors"), "not found");
    }

    [Fact]
    public void ReconstructWithTwoDecodersPutsBothInOneGrid()
    {
        // A second dlib-resnet decoder, untrained and smaller, so its faces differ from the shipped one's.
        var second = P("second.safetensors");
        using (var d = new Dfd.Decoder.FaceDecoder(new(Widths: [32, 16, 16], StartWidth: 32, RefineDepth: 1)))
            Dfd.Decoder.DecoderFile.Save(second, d, new Dictionary<string, string> { ["encoder"] = "dlib-resnet", ["decoder_kind"] = "sharp" });
        var t = Templates("t.npy", 3, 128);
        var r = Run("reconstruct", "--decoder", Decoder + "," + second, "--input", t, "--output", P("out"), "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.True(Run("reconstruct", "--decoder", second, "--input", t, "--output", P("alone")).Code == 0);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(File.ReadAllBytes(P($"alone/row{i:D5}.png")), File.ReadAllBytes(P($"out/row{i:D5}.d2.png")));
            Assert.NotEqual(File.ReadAllBytes(P($"out/row{i:D5}.png")), File.ReadAllBytes(P($"out/row{i:D5}.d2.png")));
        }
        var grid = Dfd.Imaging.ImageIO.Load(P("out/grid.png"));
        Assert.Equal(2 * 150 + 3 * 4, grid.Height);   // a row per decoder, 4 px gaps…
        Assert.InRange(grid.Width, 3 * 150 + 4 * 4 + 20, 3 * 150 + 4 * 4 + 200);   // …3 faces and a label saying which decoder drew the row
        var kinds = System.Text.Json.JsonDocument.Parse(File.ReadAllText(P("out/reconstruct.json"))).RootElement.GetProperty("decoder_kind");
        Assert.Equal(["regression", "sharp"], kinds.EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public void ReconstructRefusesDecodersOfDifferentEncoders()
    {
        var other = Path.Combine(TestPaths.RepoRoot, "models", "dfd-mobilefacenet-casia-lfw.safetensors");
        var t = Templates("t.npy", 1, 128);
        AssertOneLineError(Run("reconstruct", "--decoder", Decoder + "," + other, "--input", t, "--output", P("out")), 1, "reconstruct",
            other, "share an encoder");
    }

    [Fact]
    public void ReconstructMissingTemplatesNamesThem()
    {
        AssertOneLineError(Run("reconstruct", "--decoder", Decoder, "--input", P("gone.npy"), "--output", P("out")), 1, "reconstruct",
            P("gone.npy"), "not found");
    }

    [Fact]
    public void EvaluateMissingDecoderNamesIt()
    {
        AssertOneLineError(Run("evaluate", "--decoder", P("d.safetensors"), "--data", "lfw:" + dir, "--report", P("r")), 1, "evaluate",
            P("d.safetensors"));
    }

    [Fact]
    public void SplitMissingPairsFileNamesIt()
    {
        AssertOneLineError(Run("split", "--lfw", dir, "--pairs", P("pairs.txt"), "--out", P("s.json")), 1, "split", P("pairs.txt"));
    }

    [Fact]
    public void ConvertMissingManifestNamesIt()
    {
        AssertOneLineError(Run("convert", "faceapi", "--manifest", P("m.json"), "--out", P("o.safetensors")), 1, "convert", P("m.json"));
    }

    [Fact]
    public void ConvertRelPathsRewritesMetadataAndNamesBadFiles()
    {
        AssertOneLineError(Run("convert", "relpaths", P("none.safetensors")), 1, "convert", P("none.safetensors"), "file not found");
        AssertOneLineError(Run("convert", "relpaths"), 2, "convert", "at least one file");
        File.WriteAllText(P("text.safetensors"), "not a model");
        AssertOneLineError(Run("convert", "relpaths", P("text.safetensors")), 1, "convert", P("text.safetensors"));

        // A copy of the shipped decoder with an absolute --init path: only that value changes, and it still loads.
        var copy = P("d.safetensors");
        var (tensors, shipped) = Safetensors.Read(Decoder);
        var meta = shipped.ToDictionary(kv => kv.Key, kv => RecordPath.ScrubPortable(kv.Value));
        meta["train_config"] = $"{{\"Init\":\"{P("runs/init.safetensors")}\"}}";
        Safetensors.Write(copy, tensors, meta);
        var r = Run("convert", "relpaths", copy, "--json");
        Assert.True(r.Code == 0, r.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        var row = doc.RootElement[0];
        Assert.Equal(["train_config"], row.GetProperty("changed").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(copy))), row.GetProperty("sha256").GetString());
        var (t2, m2) = Safetensors.Read(copy);
        Assert.Equal("{\"Init\":\"init.safetensors\"}", m2["train_config"]);
        Assert.Equal(meta.Where(kv => kv.Key != "train_config"), m2.Where(kv => kv.Key != "train_config"));
        Assert.Equal(tensors.Keys.Order(), t2.Keys.Order());
        foreach (var (k, v) in tensors) Assert.Equal(v.Data, t2[k].Data);
        using (Dfd.Decoder.DecoderFile.Load(copy)) { }
        // Run again: nothing left to rewrite.
        Assert.Contains("nothing", Run("convert", "relpaths", copy).Out);
    }

    [Fact]
    public void TrainMissingDatasetFolderNamesIt()
    {
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + P("faces"), "--out", P("d.safetensors"), "--split", "none"),
            1, "train", P("faces"));
    }

    [SkippableFact]
    public void VerifyMissingPairsFileNamesIt()
    {
        var lfw = TestPaths.SharedDir is { } s ? Path.Combine(s, "data", "lfw", "lfw-deepfunneled") : null;
        Skip.If(lfw == null || !Directory.Exists(lfw), "needs ../shared/data/lfw");
        AssertOneLineError(Run("verify", "--model", "dlib-resnet", "--lfw", lfw!, "--pairs", P("pairs.txt"), "--no-cache"), 1, "verify", P("pairs.txt"));
    }

    // ---- files of the wrong kind

    [Fact]
    public void ReconstructRejectsTemplatesOfAnotherDimension()
    {
        var t = Templates("t512.npy", 2, 512);
        var r = Run("reconstruct", "--decoder", Decoder, "--input", t, "--output", P("out"));
        AssertOneLineError(r, 1, "reconstruct", t, "512 dimensions", "128-D", "dlib-resnet");
        Assert.False(File.Exists(P("out/grid.png")));
    }

    [Fact]
    public void ReconstructRejectsATemplateFileThatIsNotAMatrix()
    {
        var t = P("flat.npy");
        Npy.Write(t, new float[128], [128]);
        AssertOneLineError(Run("reconstruct", "--decoder", Decoder, "--input", t, "--output", P("out")), 1, "reconstruct", t, "2-D");
    }

    [Fact]
    public void ReconstructRejectsANonSafetensorsFileAsDecoder()
    {
        File.WriteAllText(P("notes.safetensors"), "not a model");
        var t = Templates("t.npy", 1, 128);
        AssertOneLineError(Run("reconstruct", "--decoder", P("notes.safetensors"), "--input", t, "--output", P("out")), 1, "reconstruct",
            P("notes.safetensors"));
    }

    [Fact]
    public void ReconstructRejectsEncoderWeightsAsDecoder()
    {
        var t = Templates("t.npy", 1, 128);
        AssertOneLineError(Run("reconstruct", "--decoder", EncoderWeights, "--input", t, "--output", P("out")), 1, "reconstruct",
            EncoderWeights, "not a Dfd decoder");
    }

    [Fact]
    public void ReconstructDecodesTemplatesOfTheRightDimension()
    {
        // The control for the rejections above: the same call with a 128-D file succeeds.
        var t = Templates("t.npy", 2, 128);
        var r = Run("reconstruct", "--decoder", Decoder, "--input", t, "--output", P("out"));
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(P("out/row00000.png")));
        Assert.True(File.Exists(P("out/row00001.png")));
    }

    [Fact]
    public void EncodeEmptyFolderSaysSo()
    {
        Directory.CreateDirectory(P("empty"));
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--input", P("empty"), "--output", P("t.npy")), 2, "encode", P("empty"), "no images");
    }

    [Fact]
    public void EncodeCorruptImageNamesItAndWritesNothing()
    {
        var bad = CorruptJpeg("bad.jpg");
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--input", bad, "--output", P("t.npy")), 1, "encode", bad, "not written");
        Assert.False(File.Exists(P("t.npy")));
        Assert.False(File.Exists(P("t.json")));
    }

    [Fact]
    public void EncodeTruncatedImageNamesTheProblem()
    {
        var bytes = File.ReadAllBytes(Sample);
        File.WriteAllBytes(P("cut.jpg"), bytes[..(bytes.Length / 3)]);
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--aligned", "--input", P("cut.jpg"), "--output", P("t.npy")), 1, "encode",
            P("cut.jpg"), "truncated");
    }

    [Fact]
    public void EncodeWritesTemplatesOfAGoodImage()
    {
        // The control for the failures above: a readable face gives one 128-D row.
        var r = Run("encode", "--model", "dlib-resnet", "--input", Sample, "--output", P("t.npy"));
        Assert.True(r.Code == 0, r.Err);
        var (_, shape) = Npy.Read(P("t.npy"));
        Assert.Equal([1L, 128L], shape);
    }

    [Fact]
    public void EncodeUnknownOptionStopsBeforeWriting()
    {
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--input", Sample, "--output", P("t.npy"), "--flipped"), 2, "encode",
            "unknown option: --flipped");
        Assert.False(File.Exists(P("t.npy")));
    }

    [Fact]
    public void AlignCorruptImageNamesItAndStillWritesTheTable()
    {
        var bad = CorruptJpeg("bad.jpg");
        AssertOneLineError(Run("align", "--model", "dlib-resnet", "--input", bad, "--output", P("out")), 1, "align", bad);
        Assert.Contains("unreadable", File.ReadAllText(P("out/alignment.csv")));
    }

    [Fact]
    public void AlignWithOneGoodImageSucceeds()
    {
        CorruptJpeg("in/bad.jpg");
        File.Copy(Sample, P("in/good.jpg"));
        var r = Run("align", "--model", "dlib-resnet", "--input", P("in"), "--output", P("out"));
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(P("out/good.png")));
    }

    [Theory]
    [InlineData("5")]
    [InlineData("-0.1")]
    [InlineData("NaN")]
    public void AlignRejectsAScoreOutsideZeroToOne(string score)
    {
        AssertOneLineError(Run("align", "--model", "dlib-resnet", "--input", Sample, "--output", P("out"), "--score", score), 2, "align", "--score", score);
    }

    // ---- training options, checked before any data is read

    [Fact]
    public void TrainRejectsAnUnknownLossTerm()
    {
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + dir, "--out", P("d.safetensors"), "--loss", "pixel=1,sharpness=2"),
            2, "train", "--loss", "sharpness");
    }

    [Theory]
    [InlineData("256,abc,64", "abc")]
    [InlineData("256,0,64", "'0'")]
    [InlineData("-16", "-16")]
    [InlineData("256,,64", "''")]
    public void TrainRejectsBadWidths(string widths, string named)
    {
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + dir, "--out", P("d.safetensors"), "--widths", widths),
            2, "train", "--widths", named);
    }

    [Fact]
    public void TrainRejectsANonNumericEpochCount()
    {
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + dir, "--out", P("d.safetensors"), "--epochs", "many"),
            2, "train", "--epochs expects an integer, got 'many'");
    }

    // ---- devices

    [SkippableTheory]
    [InlineData("encode")]
    [InlineData("reconstruct")]
    [InlineData("train")]
    [InlineData("evaluate")]
    [InlineData("analyze")]
    [InlineData("serve")]
    public void CudaWithoutCudaSaysHowToBuildForIt(string command)
    {
        Skip.If(torch.cuda.is_available(), "this machine has CUDA");
        var t = Templates("t.npy", 1, 128);
        string[] args = command switch
        {
            "encode" => ["encode", "--model", "dlib-resnet", "--input", Sample, "--output", P("t2.npy"), "--device", "cuda"],
            "reconstruct" => ["reconstruct", "--decoder", Decoder, "--input", t, "--output", P("out"), "--device", "cuda"],
            "evaluate" => ["evaluate", "--decoder", Decoder, "--data", "folder:" + dir, "--report", P("report"), "--device", "cuda"],
            "analyze" => ["analyze", "pose", "--encoder", "dlib-resnet", "--input", Sample, "--report", P("report"), "--device", "cuda"],
            "serve" => ["serve", "--port", "0", "--device", "cuda"],
            _ => ["train", "--encoder", "dlib-resnet", "--data", "folder:" + dir, "--out", P("d.safetensors"), "--device", "cuda"],
        };
        AssertOneLineError(Run(args), 2, command, "--device cuda", "CUDA is not available", "-p:DfdTorch=cuda");
        Assert.False(File.Exists(P("t2.npy")));
        Assert.False(Directory.Exists(P("report")));
    }

    [Fact]
    public void UnknownDeviceIsAUsageError()
    {
        var t = Templates("t.npy", 1, 128);
        AssertOneLineError(Run("reconstruct", "--decoder", Decoder, "--input", t, "--output", P("out"), "--device", "tpu"), 2, "reconstruct",
            "--device expects cpu or cuda[:N], got 'tpu'");
    }
}
