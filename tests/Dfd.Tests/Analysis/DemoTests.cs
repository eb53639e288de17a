using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Tests.Analysis;
using Xunit;

namespace Dfd.Tests;

/// <summary>`dfd demo`'s job on the bundled samples and committed models (no ../shared needed).</summary>
public class DemoTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-demo-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    [Fact]
    public void DemoPageReferencesOnlyImagesThatExistAndDecode()
    {
        var decPath = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        Assert.True(File.Exists(decPath), "the shipped decoder is missing from models/");
        using var enc = DlibResNet.Load(Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors"));
        var (dec, info) = DecoderFile.Load(decPath);
        using var _ = dec;
        Assert.Equal("dlib-resnet", info.Encoder);
        var stages = new HashSet<string>();
        var r = Demo.Run(Path.Combine(TestPaths.RepoRoot, "samples"), dir, enc, dec, decPath, (s, _, _) => stages.Add(s));

        Assert.Equal(12, r.Faces.Length);
        Assert.Empty(r.Problems);
        Assert.True(stages.SetEquals(["align", "reconstruct", "rotation", "occlusion", "fgsm"]), "stages reported: " + string.Join(", ", stages));
        var images = AnalyzerTests.ImagesOf(r.Index);
        foreach (var must in new[] { "reconstructions.png", "rotate-strip.png", "occlusion-heatmap.png", "fgsm-dodge-strip.png", "rotate-similarity.png" })
            Assert.Contains(images, p => p.EndsWith(must));
        Assert.True(images.Count(p => p.Contains($"{Path.DirectorySeparatorChar}aligned{Path.DirectorySeparatorChar}")) >= 12);
        // The sidecar names the rows of templates.npy.
        var (data, shape) = Dfd.IO.Npy.Read(Path.Combine(dir, "templates.npy"));
        Assert.Equal(new long[] { 12, 128 }, shape);
        Assert.All(data, v => Assert.True(float.IsFinite(v)));
        // Reconstructions are re-encoded and scored; every number is finite and within cosine range.
        Assert.All(r.ReconstructionSimilarity!, s => Assert.InRange(s, -1, 1));
    }
}
