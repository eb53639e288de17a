using System.Text.Json;
using Dfd.Datasets;
using Dfd.Imaging;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>dfd cache build | merge | info on a few aligned crops: split build, completion, checks, one-line errors.</summary>
public class CacheCliTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-cache-cli-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    string AlignedFolder()
    {
        var fx = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "faceapi");
        var files = Directory.GetFiles(fx, "*.rgb").Order(StringComparer.Ordinal).ToList();
        var root = Path.Combine(dir, "aligned");
        var results = new List<object>();
        for (int i = 0; i < files.Count; i++)
        {
            var rel = Path.Combine($"p{i % 4}", $"{i}.png");
            Directory.CreateDirectory(Path.Combine(root, $"p{i % 4}"));
            ImageIO.Save(new RgbImage(150, 150, File.ReadAllBytes(files[i])), Path.Combine(root, rel));
            results.Add(new { file = files[i], outputs = new[] { rel } });
        }
        File.WriteAllText(Path.Combine(root, "alignment.json"), JsonSerializer.Serialize(new { results }));
        return root;
    }

    [Fact]
    public void SplitBuildCompletesWithItsSecondPartAndInfoChecksEveryShard()
    {
        var data = AlignedFolder();
        var cache = Path.Combine(dir, "cache");
        string[] Build(string part) => ["cache", "build", "--encoder", "dlib-resnet", "--data", "aligned:" + data, "--split", "none",
            "--cache", cache, "--shard", part, "--shard-faces", "4", "--json"];
        var r = Run(Build("1/2"));
        Assert.True(r.Code == 0, r.Err);
        var j = JsonDocument.Parse(r.Out).RootElement;
        Assert.False(j.GetProperty("complete").GetBoolean());
        Assert.Equal([1], j.GetProperty("missing").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        r = Run(Build("2/2"));
        Assert.True(r.Code == 0, r.Err);
        j = JsonDocument.Parse(r.Out).RootElement;
        Assert.True(j.GetProperty("complete").GetBoolean());
        Assert.Equal(8, j.GetProperty("faces").GetInt32());
        var setDir = j.GetProperty("dir").GetString()!;

        r = Run("cache", "info", setDir, "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(8, JsonDocument.Parse(r.Out).RootElement.GetProperty("faces").GetInt32());

        var shard = Path.Combine(setDir, FaceShard.FileName(1));
        var bytes = File.ReadAllBytes(shard);
        bytes[FaceShard.Start + 7] ^= 1;
        File.WriteAllBytes(shard, bytes);
        AssertOneLineError(Run("cache", "info", setDir), 1, "cache", shard, "checksum mismatch");
    }

    [Fact]
    public void BadCacheCommandLinesAreOneLine()
    {
        AssertOneLineError(Run("cache", "merge", Path.Combine(dir, "nothing")), 1, "cache", "no build.json");
        AssertOneLineError(Run("cache", "build", "--encoder", "dlib-resnet", "--data", "folder:" + dir, "--shard", "3/2"), 2, "cache", "--shard expects i/n");
        AssertOneLineError(Run("cache", "frobnicate"), 2, "cache", "unknown cache command 'frobnicate'");
    }
}
