using Dfd.IO;
using Xunit;

namespace Dfd.Tests.IO;

public class RecordPathTests
{
    [Fact]
    public void PathsUnderTheWorkingDirectoryOrHomeLoseTheirMachinePrefix()
    {
        var cwd = Directory.GetCurrentDirectory();
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine(cwd, "models", "d.safetensors")));
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine("models", "d.safetensors")));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!cwd.StartsWith(home + "/") && home.Length > 1)
            Assert.Equal("~/.cache/dfd/x", RecordPath.Of(Path.Combine(home, ".cache", "dfd", "x")));
        // Elsewhere: as given.
        Assert.Equal("/nonexistent-root-dir/x", RecordPath.Of("/nonexistent-root-dir/x"));
        var text = $"{{\"Init\":\"{Path.Combine(cwd, "runs", "a.safetensors")}\"}}";
        Assert.Equal("{\"Init\":\"runs/a.safetensors\"}", RecordPath.Scrub(text));
    }
}

public class WeightsIdTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-wid-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void TfjsModelIdChangesWithItsShards()
    {
        var src = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "tfjs-graph");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var json = Directory.GetFiles(dir, "*.json").First(f => Dfd.Encoders.TfjsModel.Shards(f).Count > 0);
        var shard = Dfd.Encoders.TfjsModel.Shards(json)[0];
        var before = Dfd.Encoders.Registry.WeightsFileId(json);
        Assert.NotEqual(FileId.Of(json), before);   // the shards count, not the graph alone
        var bytes = File.ReadAllBytes(shard);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(shard, bytes);
        File.SetLastWriteTimeUtc(shard, DateTime.UtcNow.AddMinutes(1));
        Assert.NotEqual(before, Dfd.Encoders.Registry.WeightsFileId(json));
        // Other files: the file's own id.
        var other = Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors");
        Assert.Equal(FileId.Of(other), Dfd.Encoders.Registry.WeightsFileId(other));
    }
}
