using System.Text.Json.Nodes;
using Dfd.Imaging;
using Dfd.IO;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>
/// Issue 27's bar for the output size: `dfd train --out-size 256` trains a 256² decoder for dlib-resnet on a few LFW
/// people for one epoch; the size is in the file and in `dfd reconstruct`'s PNGs. Tiny widths and two people keep it
/// under a minute on two cores; it needs ../shared (LFW) and skips without it.
/// </summary>
public sealed class OutSizeCliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-outcli-").FullName;
    public void Dispose() => Directory.Delete(dir, recursive: true);

    static string? Lfw => TestPaths.SharedDir is { } s && Directory.Exists(Path.Combine(s, "data", "lfw", "lfw-deepfunneled"))
        ? Path.Combine(s, "data", "lfw", "lfw-deepfunneled") : null;

    [SkippableFact]
    public void TrainsA256DecoderAndReconstructsAtItsSize()
    {
        Skip.If(Lfw is null, "no shared LFW data on this machine");
        // Two people (7 + 6 photos) as an LFW folder of their own.
        var data = Path.Combine(dir, "lfw");
        Directory.CreateDirectory(data);
        foreach (var p in new[] { "Al_Sharpton", "Albert_Costa" })
            Directory.CreateSymbolicLink(Path.Combine(data, p), Path.Combine(Lfw!, p));
        var dec = Path.Combine(dir, "d256.safetensors");
        var r = Run("train", "--encoder", "dlib-resnet", "--data", "lfw:" + data, "--split", "none", "--out", dec, "--out-size", "256",
            "--epochs", "1", "--batch", "4", "--widths", "16,16,16,16,16", "--start-width", "16", "--cache", "none", "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("256x256", JsonNode.Parse(r.Out)!["output_size"]!.GetValue<string>());
        var meta = Safetensors.Read(dec).Metadata;
        Assert.Equal("256x256", meta["output_size"]);
        Assert.StartsWith("150x150", meta["encoder_input"]);
        Assert.Equal("1", meta["epochs_done"]);

        var outDir = Path.Combine(dir, "recon");
        var photo = Path.Combine(Lfw!, "Al_Sharpton", "Al_Sharpton_0001.jpg");
        var rr = Run("reconstruct", "--decoder", dec, "--input", photo, "--output", outDir, "--json");
        Assert.True(rr.Code == 0, rr.Err);
        var png = ImageIO.Load(Path.Combine(outDir, "Al_Sharpton_0001.png"));
        Assert.Equal((256, 256), (png.Width, png.Height));
        // The photo shown beside it is aligned at the same size.
        var aligned = ImageIO.Load(Path.Combine(outDir, "Al_Sharpton_0001.aligned.png"));
        Assert.Equal((256, 256), (aligned.Width, aligned.Height));
        Assert.Equal("256x256", JsonNode.Parse(rr.Out)!["output_size"]!.GetValue<string>());
    }

    [Fact]
    public void OutSizeOfAnotherAspectIsAUsageError()
    {
        var data = Path.Combine(dir, "faces", "someone");
        Directory.CreateDirectory(data);
        var r = Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + Path.Combine(dir, "faces"), "--out", Path.Combine(dir, "d.safetensors"),
            "--out-size", "256x200", "--split", "none");
        AssertOneLineError(r, 2, "train", "--out-size", "256x200", "150x150");
        r = Run("train", "--encoder", "dlib-resnet", "--data", "folder:" + Path.Combine(dir, "faces"), "--out", Path.Combine(dir, "d.safetensors"),
            "--out-size", "big", "--split", "none");
        AssertOneLineError(r, 2, "train", "--out-size", "big");
    }
}
