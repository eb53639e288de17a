using Dfd.Bench;
using Xunit;

namespace Dfd.Tests.Decoder;

/// <summary>
/// bench/decoder.py mirrors FaceDecoder and PatchDiscriminator by hand; bench/decoder-shapes.json says what it must
/// mirror. A change of shape on the C# side fails here, where no PyTorch is needed, instead of passing unnoticed until
/// someone runs the bench.
/// </summary>
public class DecoderShapesTests
{
    [Fact]
    public void TheCommittedShapesAreTheModelsShapes()
    {
        var path = Path.Combine(TestPaths.RepoRoot, DecoderShapes.File);
        var current = DecoderShapes.Current();
        var diffs = File.Exists(path) ? DecoderShapes.Diff(File.ReadAllText(path), current) : ["the file is missing"];
        if (diffs.Count == 0) return;
        var written = Path.Combine(TestPaths.RepoRoot, "out", "decoder-shapes.json");
        Directory.CreateDirectory(Path.GetDirectoryName(written)!);
        File.WriteAllText(written, current);
        Assert.Fail($"FaceDecoder / PatchDiscriminator changed shape against {DecoderShapes.File}: {string.Join("; ", diffs)}. " +
            $"bench/decoder.py mirrors them by hand: change it to match, then copy {written} over {DecoderShapes.File}.");
    }

    [Fact]
    public void ADifferenceIsNamed()
    {
        var current = DecoderShapes.Current();
        var changed = current.Replace("\"project.weight\": [", "\"project.weight\": [2, ");
        Assert.NotEqual(current, changed);
        var diffs = DecoderShapes.Diff(current, changed);
        Assert.Single(diffs);
        Assert.Contains("decoder: project.weight is [2,", diffs[0]);
        Assert.Empty(DecoderShapes.Diff(current, current));
    }
}
