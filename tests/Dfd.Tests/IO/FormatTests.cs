using Dfd.IO;
using Xunit;

namespace Dfd.Tests.IO;

public class FormatTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-io-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void NpyRoundTripAndHeaderLayout()
    {
        var p = Path.Combine(dir, "t.npy");
        var data = Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray();
        Npy.Write(p, data, [3, 4]);
        var bytes = File.ReadAllBytes(p);
        Assert.Equal(0x93, bytes[0]);
        Assert.Equal(0, (bytes.Length - 12 * 4) % 64); // header padded to 64 bytes, as numpy requires
        var header = System.Text.Encoding.ASCII.GetString(bytes, 10, bytes.Length - 48 - 10);
        Assert.Contains("'descr': '<f4'", header);
        Assert.Contains("'shape': (3, 4)", header);
        var (back, shape) = Npy.Read(p);
        Assert.Equal(new long[] { 3, 4 }, shape);
        Assert.Equal(data, back);
    }

    [Fact]
    public void TruncatedNpyIsRefused()
    {
        var p = Path.Combine(dir, "t.npy");
        Npy.Write(p, new float[20], [5, 4]);
        var b = File.ReadAllBytes(p);
        File.WriteAllBytes(p, b[..^8]);
        var e = Assert.Throws<ModelFileException>(() => Npy.Read(p));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void SafetensorsRoundTripWithMetadata()
    {
        var p = Path.Combine(dir, "w.safetensors");
        var t = new Dictionary<string, HostTensor>
        {
            ["b.weight"] = new([2, 3], [1, 2, 3, 4, 5, 6]),
            ["a"] = new([1], [-7.5f]),
        };
        Safetensors.Write(p, t, new Dictionary<string, string> { ["encoder"] = "x", ["dims"] = "128" });
        var len = BitConverter.ToUInt64(File.ReadAllBytes(p), 0);
        Assert.Equal(0UL, len % 8);
        var (back, meta) = Safetensors.Read(p);
        Assert.Equal("x", meta["encoder"]);
        Assert.Equal(new long[] { 2, 3 }, back["b.weight"].Shape);
        Assert.Equal(t["b.weight"].Data, back["b.weight"].Data);
        Assert.Equal(-7.5f, back["a"].Data[0]);
    }

    [Fact]
    public void DamagedSafetensorsAreNamed()
    {
        var p = Path.Combine(dir, "w.safetensors");
        Safetensors.Write(p, new Dictionary<string, HostTensor> { ["w"] = new([100], new float[100]) });
        var b = File.ReadAllBytes(p);
        File.WriteAllBytes(p, b[..^40]);
        var e = Assert.Throws<ModelFileException>(() => Safetensors.Read(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(p, [1, 2, 3]);
        Assert.Contains("too short", Assert.Throws<ModelFileException>(() => Safetensors.Read(p)).Message);

        var junk = new byte[64];
        BitConverter.GetBytes(16UL).CopyTo(junk, 0);
        File.WriteAllBytes(p, junk);
        Assert.Contains("not valid JSON", Assert.Throws<ModelFileException>(() => Safetensors.Read(p)).Message);
    }

    [Fact]
    public void AtomicWriteLeavesOldFileWhenWriterFails()
    {
        var p = Path.Combine(dir, "keep.txt");
        File.WriteAllText(p, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(p, s => { s.WriteByte(1); throw new InvalidOperationException("boom"); }));
        Assert.Equal("old", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(dir));
    }
}
