using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests;

/// <summary>README's C# example, compiled and run: the lines between the markers stand in README.md word for word.</summary>
public class ReadmeExampleTests
{
    static readonly string Source = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "ReadmeExampleTests.cs");

    /// <summary>Runs in the repository root, as a user who cloned it would, and returns what it printed.</summary>
    static double Example()
    {
        // README example start
        using var model = FaceModel.Open("dlib-resnet");                    // encoder + its shipped decoder + face detector
        var crop = model.Align(ImageIO.Load("samples/Hugh_Grant_0001.jpg"));  // the most central face, aligned
        var template = model.Encode(crop);                                   // 128-D template
        ImageIO.Save(model.Reconstruct(template), "out/hugh-grant.png");      // the face the template holds

        var other = model.Encode(model.Align(ImageIO.Load("samples/Hugh_Grant_0002.jpg")));
        Console.WriteLine($"{model.Compare(template, other):F3} (match: {model.Matches(template, other)})");
        // README example end
        return model.Compare(template, other);
    }

    [Fact]
    public void TheExampleWritesAReconstructionThatPassesAsThePerson()
    {
        var cwd = Directory.GetCurrentDirectory();
        var output = Path.Combine(TestPaths.RepoRoot, "out", "hugh-grant.png");
        if (File.Exists(output)) File.Delete(output);
        double same;
        try
        {
            Directory.SetCurrentDirectory(TestPaths.RepoRoot);
            same = Example();
        }
        finally { Directory.SetCurrentDirectory(cwd); }

        Assert.True(File.Exists(output), "the example wrote no PNG");
        var recon = ImageIO.Load(output);
        Assert.Equal((150, 150), (recon.Width, recon.Height));
        // The reconstruction is a face of the same person to the model: its template matches the photo's.
        using var model = FaceModel.Open("dlib-resnet");
        var photo = model.Encode(model.Align(ImageIO.Load(Path.Combine(TestPaths.RepoRoot, "samples", "Hugh_Grant_0001.jpg"))));
        Assert.True(model.Matches(model.Encode(recon), photo), $"reconstruction vs photo: {model.Compare(model.Encode(recon), photo):F3}");
        // Two photos of one man match; the number printed is a real comparison, not a constant.
        var halle = model.Encode(model.Align(ImageIO.Load(Path.Combine(TestPaths.RepoRoot, "samples", "Halle_Berry_0001.jpg"))));
        Assert.True(same >= model.Spec.Threshold1e3, $"same person {same:F3}");
        Assert.True(model.Compare(photo, halle) < same, "another person scored higher than the same one");
    }

    [Fact]
    public void ReadmeShowsTheExampleAsItRuns()
    {
        var lines = File.ReadAllLines(Source);
        int start = Array.FindIndex(lines, l => l.Trim() == "// README example start"), end = Array.FindIndex(lines, l => l.Trim() == "// README example end");
        Assert.True(start >= 0 && end > start + 1, "markers not found");
        var code = lines[(start + 1)..end].Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var readme = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "README.md")).Select(l => l.Trim()).ToList();
        int at = readme.IndexOf(code[0]);
        Assert.True(at >= 0, $"README lacks the example's first line: {code[0]}");
        var shown = readme.Skip(at).Where(l => l.Length > 0).Take(code.Count).ToList();
        Assert.Equal(code, shown);
    }

    [Fact]
    public void OpenRefusesWhatItCannotUse()
    {
        Assert.Throws<EncoderNotAvailableException>(() => FaceModel.Open("no-such-model"));
        var notDecoder = Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors");
        var e = Assert.Throws<DecoderFileException>(() => FaceModel.Open("dlib-resnet", decoder: notDecoder));
        Assert.Contains(notDecoder, e.Message);
        using var model = FaceModel.Open("dlib-resnet");
        var blank = new RgbImage(200, 200);
        Assert.Throws<NoFaceException>(() => model.Align(blank));
        Assert.Throws<ArgumentException>(() => model.Reconstruct(new float[64]));
    }
}
