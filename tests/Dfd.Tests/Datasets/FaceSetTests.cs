using Dfd.Core;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Datasets;

/// <summary>The training set on disk: shards, resumable and split builds, checksums, refusals, old caches.</summary>
public class FaceSetTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-set-").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    static readonly Lazy<DlibResNet> encoder = new(() => DlibResNet.Load(Path.Combine(TestPaths.RepoRoot, "models", "dlib-resnet", "dlib-resnet.safetensors")));

    // Small synthetic faces (8×8 crops, 4-value templates), every 7th item unreadable: a set without an encoder pass.
    static readonly SetInfo Tiny = new("k1", "enc-a", "w1", 8, 8, 4);
    const int N = 50;

    static FaceSource Synthetic(int seed = 0) => (first, count, ct) => Enumerable.Range(first, count).Select(i =>
    {
        var item = new FaceItem($"photos/p{i % 6}/{i}.jpg", $"p{i % 6}", i % 3 == 0);
        if (i % 7 == 3) return new SourceFace(item, null, null, null, null, "no face found");
        var r = new Random(seed * 100_003 + i);
        var crop = new byte[8 * 8 * 3];
        r.NextBytes(crop);
        float[] T() => Enumerable.Range(0, 4).Select(_ => (float)r.NextDouble()).ToArray();
        return new SourceFace(item, crop, T(), T());
    });

    static BuildResult BuildTiny(string d, BuildOptions? o = null, SetInfo? set = null, int seed = 0) =>
        FaceSetBuilder.Build(d, set ?? Tiny, N, Synthetic(seed), (o ?? new()) with { FacesPerShard = (o ?? new()).FacesPerShard == EncodedFaces.DefaultFacesPerShard ? 16 : (o ?? new()).FacesPerShard });

    static void AssertSameFiles(string a, string b)
    {
        var fa = Directory.GetFiles(a).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var fb = Directory.GetFiles(b).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(fa, fb);
        Assert.Contains(FaceSet.ManifestName, fa);
        foreach (var f in fa) Assert.True(File.ReadAllBytes(Path.Combine(a, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs");
    }

    static List<(FaceItem, RgbImage)> Photos(string root, int n)
    {
        var fx = Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "faceapi");
        var imgs = Directory.GetFiles(fx, "*.rgb").Order(StringComparer.Ordinal).Select(f => new RgbImage(150, 150, File.ReadAllBytes(f))).ToList();
        Directory.CreateDirectory(root);
        var list = new List<(FaceItem, RgbImage)>();
        for (int i = 0; i < n; i++)
        {
            var p = Path.Combine(root, $"{i:D3}.png");
            var img = imgs[i % imgs.Count];
            if (i % 13 == 5) File.WriteAllText(p, "not an image");
            else ImageIO.Save(img, p);
            list.Add((new FaceItem(p, $"p{i % 5}", true), img));
        }
        return list;
    }

    [Fact]
    public void KilledBuildRunAgainFinishesWithTheSameSetBitForBit()
    {
        // The real path: photos → crops → dlib-resnet templates, 40 items in shards of 32; one run is stopped after 36
        // faces (inside the second shard), as a kill would, and a dead process's temporary file is left beside it.
        var items = Photos(Path.Combine(dir, "photos"), 40).Select(p => p.Item1).ToList();
        string whole = Path.Combine(dir, "whole"), killed = Path.Combine(dir, "killed");
        var opt = new BuildOptions { FacesPerShard = 32 };
        using var a = EncodedFaces.Build(items, encoder.Value, null, whole, "w", opt);
        var setDir = Directory.GetDirectories(whole).Single();

        Assert.Throws<OperationCanceledException>(() => EncodedFaces.Build(items, encoder.Value, null, killed, "w", opt with { StopAfterFaces = 36 }));
        var killedDir = Directory.GetDirectories(killed).Single();
        Assert.True(File.Exists(Path.Combine(killedDir, FaceShard.FileName(0))));
        Assert.False(File.Exists(Path.Combine(killedDir, FaceShard.FileName(1))));
        Assert.False(FaceSet.IsComplete(killedDir));
        File.WriteAllText(Path.Combine(killedDir, $".{FaceShard.FileName(1)}.999999999.tmp"), "partial");

        var notes = new List<string>();
        using var b = EncodedFaces.Build(items, encoder.Value, null, killed, "w", opt with { Note = notes.Add });
        Assert.Contains(notes, n => n.Contains("1 of 2 shard(s) already built, kept"));
        AssertSameFiles(setDir, killedDir);

        // And the disk set reads back what an in-memory pass over the same list gives, bit for bit.
        using var mem = EncodedFaces.Build(items, encoder.Value, null, null, "w");
        Assert.Equal(mem.Count, b.Count);
        Assert.Equal(37, b.Count);   // 3 of the 40 are not images
        Assert.Equal(mem.Skipped, b.Skipped);
        for (int i = 0; i < b.Count; i++)
        {
            Assert.Equal(mem.Items[i], b.Items[i]);
            Assert.Equal(mem.Crops[i], b.Crops[i]);
            Assert.Equal(mem.Templates[i], b.Templates[i]);
            Assert.Equal(mem.MirrorTemplates[i], b.MirrorTemplates[i]);
        }
    }

    [Fact]
    public void DiskSetBatchesAsTheSameSetInMemory()
    {
        var d = Path.Combine(dir, "s");
        Assert.True(BuildTiny(d).Complete);
        using var set = FaceSet.Open(d, Tiny);
        var disk = set.ToFaces();
        var faces = Synthetic()(0, N, default).Where(f => f.Crop != null).ToList();
        var mem = new EncodedFaces
        {
            Items = faces.Select(f => f.Item).ToList(), Crops = faces.Select(f => f.Crop!).ToArray(), Templates = faces.Select(f => f.Template!).ToArray(),
            MirrorTemplates = faces.Select(f => f.Mirror!).ToArray(), Width = 8, Height = 8,
        };
        Assert.Equal(mem.Count, disk.Count);
        Assert.Equal(N - 7, disk.Count);
        Assert.Equal(7, disk.Skipped.Count);
        Assert.Equal(mem.Items, disk.Items);
        var (order, flips) = Trainer.EpochPlan(3, true, 1, disk.Count);
        using var scope = torch.NewDisposeScope();
        var idx = order.Take(20).ToArray();
        var (x1, t1) = mem.Batch(idx, flips);
        var (x2, t2) = disk.Batch(idx, flips);
        Assert.Equal(x1.data<float>().ToArray(), x2.data<float>().ToArray());
        Assert.Equal(t1.data<float>().ToArray(), t2.data<float>().ToArray());
        Assert.Equal(DecoderLoss.MeanTemplate([.. mem.Templates, .. mem.MirrorTemplates]), DecoderLoss.MeanTemplate(disk.AllTemplates));
    }

    [Fact]
    public void TargetCropsAtTheOutputSizeTravelInTheShards()
    {
        var set = Tiny with { TargetWidth = 16, TargetHeight = 16 };
        static byte[] Target(SourceFace f) => Enumerable.Range(0, 16 * 16 * 3).Select(k => (byte)(k * 7 + f.Item.Path.Length)).ToArray();
        FaceSource src = (first, count, ct) => Synthetic()(first, count, ct).Select(f => f.Crop == null ? f : f with { Target = Target(f) });
        var d = Path.Combine(dir, "t");
        Assert.True(FaceSetBuilder.Build(d, set, N, src, new BuildOptions { FacesPerShard = 16 }).Complete);
        using var fs = FaceSet.Open(d, set);
        var faces = fs.ToFaces();
        var want = src(0, N, default).Where(f => f.Crop != null).ToList();
        Assert.Equal((16, 16), (faces.TargetWidth, faces.TargetHeight));
        Assert.Equal(want.Count, faces.Targets!.Count);
        for (int i = 0; i < want.Count; i++) { Assert.Equal(want[i].Target, faces.Targets[i]); Assert.Equal(want[i].Crop, faces.Crops[i]); }
        // A set without targets is another set.
        Assert.Contains("targets 16x16", Assert.Throws<FaceSetException>(() => FaceSet.Open(d, Tiny)).Message);
    }

    [Fact]
    public void CorruptedOrTruncatedShardIsFoundByItsChecksumAndRedoneByTheNextBuild()
    {
        string d = Path.Combine(dir, "s"), good = Path.Combine(dir, "good");
        BuildTiny(d);
        BuildTiny(good);
        var shard = Path.Combine(d, FaceShard.FileName(1));
        var bytes = File.ReadAllBytes(shard);
        bytes[FaceShard.Start + 100] ^= 0x10;
        File.WriteAllBytes(shard, bytes);
        var e = Assert.Throws<FaceSetException>(() => FaceSet.Open(d, Tiny));
        Assert.StartsWith(shard + ": checksum mismatch", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        var cut = Path.Combine(d, FaceShard.FileName(2));
        File.WriteAllBytes(cut, File.ReadAllBytes(cut)[..^40]);
        e = Assert.Throws<FaceSetException>(() => FaceSet.Open(d, Tiny));
        Assert.Contains(shard, e.Message);   // the first bad one, in order

        // A build over the folder (set.json is there, but its shards are checked again once missing ones are found).
        File.Delete(Path.Combine(d, FaceSet.ManifestName));
        var notes = new List<string>();
        var r = BuildTiny(d, new BuildOptions { Note = notes.Add });
        Assert.True(r.Complete);
        Assert.Equal(2, r.ShardsBuilt);
        Assert.Contains(notes, n => n.StartsWith(shard + ": checksum mismatch") && n.EndsWith("redoing it"));
        Assert.Contains(notes, n => n.StartsWith(cut + ": truncated"));
        AssertSameFiles(good, d);
    }

    [Fact]
    public void ShardOfAnotherEncoderOrWeightsIsRefused()
    {
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        BuildTiny(a);
        var other = Tiny with { Weights = "w2" };
        BuildTiny(b, set: other);
        var foreign = Path.Combine(b, FaceShard.FileName(0));
        File.Copy(Path.Combine(a, FaceShard.FileName(0)), foreign, overwrite: true);
        var e = Assert.Throws<FaceSetException>(() => FaceSet.Open(b, other));
        Assert.StartsWith(foreign + ": refused: a shard of encoder 'enc-a' (weights w1)", e.Message);

        // A build continuing in that folder refuses it too, rather than overwrite it.
        File.Delete(Path.Combine(b, FaceSet.ManifestName));
        File.Delete(Path.Combine(b, FaceShard.FileName(1)));
        e = Assert.Throws<FaceSetException>(() => BuildTiny(b, set: other));
        Assert.StartsWith(foreign + ": refused", e.Message);
        // And a whole set of another encoder is refused when opened for this one.
        e = Assert.Throws<FaceSetException>(() => FaceSet.Open(a, Tiny with { Encoder = "enc-b" }));
        Assert.Contains("encoder 'enc-a'", e.Message);
    }

    [Fact]
    public void SetThatWouldNotFitIsRefusedBeforeWorkStarts()
    {
        var d = Path.Combine(dir, "s");
        var e = Assert.Throws<DiskSpaceException>(() => BuildTiny(d, new BuildOptions { FreeBytes = _ => 20_000 }));
        // 50 faces × (192 + 32 bytes + 256 index) + 4 shards × 64 KB = 279 KB.
        Assert.Contains("needs 279 KB more (50 faces × 0.2 KB, 4 shards), but only 20 KB are free", e.Message);
        Assert.Empty(Directory.GetFiles(d, "*.dfs*"));
        Assert.True(BuildTiny(d, new BuildOptions { FreeBytes = _ => 10_000_000 }).Complete);

        var big = Tiny with { Width = 150, Height = 150, Dim = 128 };
        e = Assert.Throws<DiskSpaceException>(() => FaceSetBuilder.Build(Path.Combine(dir, "big"), big, 300_000, Synthetic(),
            new BuildOptions { FreeBytes = _ => 10L << 30 }));
        Assert.Contains("needs 19.", e.Message);       // 300 k × 67.5 KB ≈ 19.4 GB
        Assert.Contains("only 10.0 GB are free", e.Message);
    }

    /// <summary>Writes pass through until the budget of bytes is spent, then the disk is full.</summary>
    sealed class FullDisk(Stream inner, long[] budget) : Stream, FaceShard.IWrapping
    {
        public Stream Inner => inner;
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> b)
        {
            if ((budget[0] -= b.Length) < 0) throw new IOException("No space left on device : '/tmp/x'");
            inner.Write(b);
        }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); }
    }

    [Fact]
    public void FullDiskStopsTheBuildCleanlyAndTheNextRunContinues()
    {
        string d = Path.Combine(dir, "s"), good = Path.Combine(dir, "good");
        BuildTiny(good);
        var budget = new long[] { new FileInfo(Path.Combine(good, FaceShard.FileName(0))).Length + 500 };   // one shard and a bit
        var e = Assert.Throws<DfdException>(() => BuildTiny(d, new BuildOptions { WrapWrite = s => new FullDisk(s, budget) }));
        Assert.Contains(Path.Combine(d, FaceShard.FileName(1)) + ": writing failed (No space left on device", e.Message);
        Assert.Contains("1 of 4 shard(s) complete, all kept", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(new[] { FaceSet.PlanName, FaceShard.FileName(0) }, Directory.GetFiles(d).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
        var r = BuildTiny(d);
        Assert.Equal((3, 1), (r.ShardsBuilt, r.ShardsKept));
        AssertSameFiles(good, d);
    }

    [Fact]
    public void SplitBuildThenMergeEqualsTheWholeBuild()
    {
        string whole = Path.Combine(dir, "whole"), p1 = Path.Combine(dir, "machine1"), p2 = Path.Combine(dir, "machine2");
        Assert.True(BuildTiny(whole).Complete);
        var r1 = BuildTiny(p1, new BuildOptions { Part = 1, Parts = 2 });
        var r2 = BuildTiny(p2, new BuildOptions { Part = 2, Parts = 2 });
        Assert.False(r1.Complete);
        Assert.Equal(new[] { 1, 3 }, r1.Missing);
        Assert.Equal(new[] { 0, 2 }, r2.Missing);
        var m = FaceSetBuilder.Merge(p1, [p2]);
        Assert.True(m.Complete);
        Assert.Equal((2, 2), (m.ShardsBuilt, m.ShardsKept));
        AssertSameFiles(whole, p1);

        // Parts building into one shared folder: the last to finish completes it (merge with no sources only checks).
        var shared = Path.Combine(dir, "shared");
        Assert.False(BuildTiny(shared, new BuildOptions { Part = 2, Parts = 2 }).Complete);
        Assert.True(BuildTiny(shared, new BuildOptions { Part = 1, Parts = 2 }).Complete);
        AssertSameFiles(whole, shared);

        // A folder of another set is refused by merge.
        var other = Path.Combine(dir, "other");
        BuildTiny(other, set: Tiny with { Key = "k2" });
        var e = Assert.Throws<FaceSetException>(() => FaceSetBuilder.Merge(p1, [other]));
        Assert.Contains("another item list", e.Message);
    }

    [Fact]
    public void OldSingleFileCacheIsConvertedWithoutEncoding()
    {
        var items = Photos(Path.Combine(dir, "photos"), 12).Select(p => p.Item1).ToList();
        using var mem = EncodedFaces.Build(items, encoder.Value, null, null, "w");
        var cache = Path.Combine(dir, "cache");
        var set = EncodedFaces.Info(items, DlibResNet.Spec, "w");
        var basePath = EncodedFaces.SetDir(cache, set);
        // The earlier format, as EncodedFaces.Save wrote it; templates scaled so a fresh encoding would not match.
        Directory.CreateDirectory(cache);
        var t = new float[mem.Count * 2 * 128];
        for (int i = 0; i < mem.Count; i++) { mem.Templates[i].CopyTo(t, 2 * i * 128); mem.MirrorTemplates[i].CopyTo(t, (2 * i + 1) * 128); }
        for (int i = 0; i < t.Length; i++) t[i] *= 2;
        Npy.Write(basePath + ".templates.npy", t, [mem.Count * 2, 128]);
        File.WriteAllBytes(basePath + ".crops.bin", mem.Crops.SelectMany(c => c).ToArray());
        File.WriteAllText(basePath + ".json", System.Text.Json.JsonSerializer.Serialize(new
        {
            Files = mem.Items.Select(i => i.Path).ToList(), Identities = mem.Items.Select(i => i.Identity).ToList(), Aligned = mem.Items.Select(i => i.Aligned).ToList(),
            Width = 150, Height = 150, Skipped = mem.Skipped.Select(s => new[] { s.File, s.Problem }).ToList(),
        }));
        Assert.Equal(mem.Count, EncodedFaces.LoadCache(basePath)!.Count);

        var notes = new List<string>();
        using var conv = EncodedFaces.Build(items, encoder.Value, null, cache, "w", new BuildOptions { Note = notes.Add });
        Assert.Contains(notes, n => n.Contains("converting the old single-file cache"));
        Assert.Equal(mem.Count, conv.Count);
        Assert.Equal(mem.Skipped, conv.Skipped);
        for (int i = 0; i < conv.Count; i++)
        {
            Assert.Equal(mem.Crops[i], conv.Crops[i]);
            Assert.Equal(mem.Templates[i].Select(v => v * 2).ToArray(), conv.Templates[i]);
        }
    }

    [Fact]
    public void TrainingFromTheDiskSetResumesBitForBitAsFromMemory()
    {
        // Uninterrupted from the in-memory set; killed after 3 steps and resumed from the disk set: the same weights.
        var photos = Photos(Path.Combine(dir, "photos"), 16);
        var items = photos.Where((p, i) => i % 13 != 5).Select(p => p.Item1).ToList();
        using var disk = EncodedFaces.Build(items, encoder.Value, null, Path.Combine(dir, "cache"), "w", new BuildOptions { FacesPerShard = 4 });
        Assert.NotNull(disk.Store);
        // The same faces copied into memory (shards of 4 encode in batches of 4, whose templates differ in the last bits
        // from a pass in batches of 32).
        using var mem = new EncodedFaces
        {
            Items = disk.Items.ToList(), Crops = disk.Crops.ToArray(), Templates = disk.Templates.ToArray(), MirrorTemplates = disk.MirrorTemplates.ToArray(),
            Width = disk.Width, Height = disk.Height,
        };
        var cfg = new TrainConfig
        {
            Epochs = 2, Batch = 4, Lr = 2e-3, CheckpointEvery = 2,
            Decoder = new DecoderConfig(Widths: [32, 16, 16], StartWidth: 32, RefineBlocks: 1, RefineDepth: 1),
            Loss = new LossWeights(Perceptual: 0, PerceptualLocal: 0, Identity: 0),
        };
        var meta = new Dictionary<string, string>();
        using var straight = new Trainer(mem, encoder.Value, cfg, Path.Combine(dir, "a.safetensors"), meta).Run(false);
        var b = Path.Combine(dir, "b.safetensors");
        using (new Trainer(disk, encoder.Value, cfg, b, meta) { MaxSteps = 3 }.Run(false)) { }
        using var resumed = new Trainer(disk, encoder.Value, cfg, b, meta).Run(true);
        var sa = StateDict.ToHost(straight);
        var sb = StateDict.ToHost(resumed);
        foreach (var k in sa.Keys) Assert.Equal(sa[k].Data, sb[k].Data);
    }
}
