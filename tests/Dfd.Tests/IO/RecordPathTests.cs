using Dfd.IO;
using Xunit;

namespace Dfd.Tests.IO;

public class RecordPathTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-rp-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void PathsUnderTheWorkingDirectoryOrHomeLoseTheirMachinePrefix()
    {
        var cwd = Directory.GetCurrentDirectory();
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine(cwd, "models", "d.safetensors")));
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine("models", "d.safetensors")));
        // A folder beside the working directory (the checkout's ../shared) stays relative.
        var sibling = Path.Combine(Path.GetDirectoryName(cwd)!, "shared", "lfw");
        Assert.Equal(Path.Combine("..", "shared", "lfw"), RecordPath.Of(sibling));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!cwd.StartsWith(home + "/") && home.Length > 1)
        {
            Assert.Equal("~/.cache/dfd/x", RecordPath.Of(Path.Combine(home, ".cache", "dfd", "x")));
            // Files that ship carry no ~: the file name.
            Assert.Equal("x.safetensors", RecordPath.Portable(Path.Combine(home, ".cache", "dfd", "runs", "x.safetensors")));
        }
        // Elsewhere: the file name, not the machine's folders.
        Assert.Equal("x", RecordPath.Of("/nonexistent-root-dir/deeper/x"));
        Assert.Equal("runs", RecordPath.Portable("/nonexistent-root-dir/deeper/runs/"));
        var text = $"{{\"Init\":\"{Path.Combine(cwd, "runs", "a.safetensors")}\"}}";
        Assert.Equal("{\"Init\":\"runs/a.safetensors\"}", RecordPath.Scrub(text));
    }

    [Fact]
    public void ScrubPortableRewritesEveryAbsolutePathAndNothingElse()
    {
        var text = "{\"Init\":\"/nonexistent-root-dir/.cache/dfd/runs/v13/init-shipped.safetensors\",\"InitId\":\"init-shipped.safetensors sha256:71a4\"}";
        Assert.Equal("{\"Init\":\"init-shipped.safetensors\",\"InitId\":\"init-shipped.safetensors sha256:71a4\"}", RecordPath.ScrubPortable(text));
        Assert.Equal("lfw:lfw-deepfunneled (10 of 12 images)", RecordPath.ScrubPortable("lfw:/nonexistent-root-dir/lfw/lfw-deepfunneled (10 of 12 images)"));
        // Relative paths, ~, URLs, ratios and words with slashes are not absolute paths.
        foreach (var keep in new[] { "lfw:../shared/data/lfw (10562 of 13233)", "~/.cache/dfd/evalsets", "https://example.org/a/b",
                     "train 4859 people / 10562 images", "and/or 1/2", "{\"Widths\":[256,128],\"Init\":null}" })
        {
            Assert.False(RecordPath.HasAbsolutePath(keep), keep);
            Assert.Equal(keep, RecordPath.ScrubPortable(keep));
        }
        Assert.True(RecordPath.HasAbsolutePath("data: /nonexistent-root-dir/x"));
    }

    [Fact]
    public void RewriteMetadataChangesOnlyTheMetadata()
    {
        var p = Path.Combine(dir, "d.safetensors");
        var tensors = new Dictionary<string, HostTensor> { ["a"] = new([2, 3], [1, 2, 3, 4, 5, 6]), ["b"] = new([1], [7]) };
        Safetensors.Write(p, tensors, new Dictionary<string, string>
        {
            ["train_config"] = $"{{\"Init\":\"{Path.Combine(dir, "runs", "init.safetensors")}\"}}",
            ["data"] = $"lfw:{dir}/lfw (3 images)",
            ["encoder"] = "dlib-resnet",
        });
        var before = File.ReadAllBytes(p);
        long hlen = BitConverter.ToInt64(before, 0);

        var changed = Safetensors.RewriteMetadata(p, (_, v) => RecordPath.ScrubPortable(v));
        Assert.Equal(["data", "train_config"], changed.Order());
        var after = File.ReadAllBytes(p);
        var (t, meta) = Safetensors.Read(p);
        Assert.Equal("{\"Init\":\"init.safetensors\"}", meta["train_config"]);
        Assert.Equal("lfw:lfw (3 images)", meta["data"]);
        Assert.Equal("dlib-resnet", meta["encoder"]);
        foreach (var (k, v) in tensors) { Assert.Equal(v.Shape, t[k].Shape); Assert.Equal(v.Data, t[k].Data); }
        // The data bytes are the same bytes, and the header stays 8-byte aligned.
        long hlen2 = BitConverter.ToInt64(after, 0);
        Assert.Equal(0, hlen2 % 8);
        Assert.Equal(before.AsSpan(8 + (int)hlen).ToArray(), after.AsSpan(8 + (int)hlen2).ToArray());
        Assert.NotEqual(hlen, hlen2);

        // Nothing to change: the file is not written (same time, same bytes).
        var stamp = File.GetLastWriteTimeUtc(p);
        Assert.Empty(Safetensors.RewriteMetadata(p, (_, v) => RecordPath.ScrubPortable(v)));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(p));
        Assert.Equal(after, File.ReadAllBytes(p));
        // No temporary file left beside it.
        Assert.Single(Directory.GetFiles(dir));

        // A damaged file is refused by name.
        var bad = Path.Combine(dir, "bad.safetensors");
        File.WriteAllBytes(bad, [1, 0, 0, 0, 0, 0, 0, 0, (byte)'x']);
        var e = Assert.Throws<ModelFileException>(() => Safetensors.RewriteMetadata(bad, (_, v) => v));
        Assert.Contains("bad.safetensors: damaged safetensors file", e.Message);
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
