using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Reports;
using Dfd.Tests.Analysis;
using Xunit;

namespace Dfd.Tests;

/// <summary>`dfd demo`'s job on the bundled samples and committed models (no ../shared needed).</summary>
public class DemoTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-demo-").FullName;
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>
    /// The whole demo, with a second model and its decoder to compare with (the committed random MobileFaceNet ONNX
    /// fixture, 112×96 crop, and an untrained decoder made here; one demo run, as each takes a while): every page
    /// references only images that exist, the numbers are sane, and models left out are named.
    /// </summary>
    [Fact]
    public void DemoPageReferencesOnlyImagesThatExistAndDecode()
    {
        var decPath = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        Assert.True(File.Exists(decPath), "the shipped decoder is missing from models/");
        using var enc = DlibResNet.Load(Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors"));
        var (dec, info) = DecoderFile.Load(decPath);
        using var _ = dec;
        Assert.Equal("dlib-resnet", info.Encoder);
        var onnx = "onnx:" + Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "onnx", "mobilefacenet-random.onnx");
        var otherDec = Cli.CompareCliTests.UntrainedDecoder(onnx, Path.Combine(dir, "other.safetensors"));
        var missing = new List<string>();
        var partners = Demo.OpenPartners(DlibResNet.Spec.Name, [(onnx, otherDec)], null, missing);
        try
        {
            Assert.Empty(missing);
            var stages = new HashSet<string>();
            var compare = new DemoPartners(partners.Select(Dfd.Analysis.ComparedModel.Of).ToList(), ["vgg16-face: weights not found, not compared"]);
            // A stand-in sharp decoder (the shipped file, its metadata saying sharp): shown as a third row.
            var sharpPath = Evaluation.ColourTextureTests.StandInSharp(dir);
            using var sharp = DecoderFile.Load(sharpPath);
            var r = Demo.Run(Path.Combine(TestPaths.RepoRoot, "samples"), dir, enc, dec, decPath, (s, _, _) => stages.Add(s), compare,
                info.Kind, new DemoSharp(sharp.Decoder, sharpPath));
            Assert.Equal(("regression", sharpPath), (r.DecoderKind, r.SharpDecoder));
            Assert.Null(r.SharpNote);
            Assert.Equal(r.ReconstructionSimilarity!.Select(s => Math.Round(s, 4)), r.SharpReconstructionSimilarity!.Select(s => Math.Round(s, 4)));   // same weights
            Assert.Equal(3 * 150 + 4 * 4, Dfd.Imaging.ImageIO.Load(Path.Combine(dir, "reconstructions.png")).Height);   // originals / regression / sharp
            var page = File.ReadAllText(r.Index);
            Assert.Contains("regression decoder", page);
            Assert.Contains("sharp decoder <code>dfd-dlib-resnet-lfw-sharp.safetensors</code>", page);
            Assert.True(File.Exists(Path.Combine(dir, "reconstructed-sharp", r.Faces[0] + ".png")));
            Assert.Contains("regression decoder (dfd-dlib-resnet-lfw.safetensors)", File.ReadAllText(Path.Combine(dir, "rotation", "index.html")));

            Assert.Equal(12, r.Faces.Length);
            Assert.Equal(["vgg16-face: weights not found, not compared"], r.Problems);
            Assert.True(stages.SetEquals(["align", "reconstruct", "rotation", "occlusion", "fgsm", "compare"]), "stages reported: " + string.Join(", ", stages));
            var images = AnalyzerTests.ImagesOf(r.Index);
            foreach (var must in new[] { "reconstructions.png", "rotate-strip.png", "occlusion-heatmap.png", "fgsm-dodge-strip.png", "rotate-similarity.png",
                         "compare-rotate-strip.png", "transfer-dlib-resnet-fgsm-dodge-strip.png",
                         $"transfer-{Registry.Spec(onnx).Name.Replace(':', '-').Replace('@', '_')}-fgsm-dodge-strip.png" })
                Assert.Contains(images, p => p.EndsWith(must));
            Assert.All(images, p => Assert.True(File.Exists(p), p));
            Assert.True(images.Count(p => p.Contains($"{Path.DirectorySeparatorChar}aligned{Path.DirectorySeparatorChar}")) >= 12);
            Assert.Contains("What each template keeps, side by side", File.ReadAllText(Path.Combine(dir, "compare-rotation", "index.html")));
            Assert.True(r.Analyses.ContainsKey("compare"));
            // The sidecar names the rows of templates.npy.
            var (data, shape) = Dfd.IO.Npy.Read(Path.Combine(dir, "templates.npy"));
            Assert.Equal(new long[] { 12, 128 }, shape);
            Assert.All(data, v => Assert.True(float.IsFinite(v)));
            // Reconstructions are re-encoded and scored; every number is finite and within cosine range.
            Assert.All(r.ReconstructionSimilarity!, s => Assert.InRange(s, -1, 1));
        }
        finally
        {
            foreach (var m in partners) m.Dispose();
        }
    }

    [Fact]
    public void WithoutAnyOtherDecoderTheDemoSaysWhichModelsAreMissing()
    {
        var missing = new List<string>();
        var partners = Demo.OpenPartners("dlib-resnet", null, null, missing);
        try
        {
            // No other model ships a decoder in models/ yet; each registry model other than dlib-resnet is named, with why.
            foreach (var spec in Registry.All.Where(s => s.Name != "dlib-resnet" && DecoderFile.ShippedPath(s.Name) == null))
                Assert.Contains(missing, m => m.StartsWith(spec.Name + ": "));
            Assert.Equal(Registry.All.Count - 1, missing.Count + partners.Count);
        }
        finally
        {
            foreach (var m in partners) m.Dispose();
        }
    }
}
