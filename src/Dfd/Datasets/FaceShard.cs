using System.Buffers.Binary;
using Dfd.Core;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Win32.SafeHandles;

namespace Dfd.Datasets;

/// <summary>A shard or set of an encoded training set that cannot be used as it is (damaged, truncated, of another set).</summary>
public sealed class FaceSetException(string path, string problem) : DfdException($"{path}: {problem}")
{
    public string Path { get; } = path;
}

/// <summary>A set that would not fit on its disk, refused before any work starts.</summary>
public sealed class DiskSpaceException(string message) : DfdException(message);

/// <summary>What every shard of one set agrees on: the set's key (encoder, weights, crop size, the item list), shape.</summary>
/// <param name="Key">The set's id: encoder, crop size, weights id and every item's path and identity.</param>
/// <param name="TargetWidth">Side of the optional second crop per face (the decoder's output size); 0 when absent.</param>
public sealed record SetInfo(string Key, string Encoder, string Weights, int Width, int Height, int Dim,
    int TargetWidth = 0, int TargetHeight = 0)
{
    [JsonIgnore] public bool HasTargets => TargetWidth > 0 && TargetHeight > 0;
    [JsonIgnore] public long CropBytes => (long)Width * Height * 3;
    [JsonIgnore] public long TargetBytes => HasTargets ? (long)TargetWidth * TargetHeight * 3 : 0;
    /// <summary>Bytes a face takes in a shard: crop, plain and mirrored template, target crop; the index entry is extra.</summary>
    [JsonIgnore] public long FaceBytes => CropBytes + 2L * Dim * 4 + TargetBytes;

    /// <summary>Why a shard with these values is not of this set, or null.</summary>
    public string? Mismatch(SetInfo other)
    {
        if (other.Encoder != Encoder || other.Weights != Weights)
            return $"a shard of encoder '{other.Encoder}' (weights {other.Weights}), not of '{Encoder}' (weights {Weights})";
        if (other.Width != Width || other.Height != Height || other.Dim != Dim || other.TargetWidth != TargetWidth || other.TargetHeight != TargetHeight)
            return $"crops {other.Width}x{other.Height}, templates of {other.Dim}, targets {other.TargetWidth}x{other.TargetHeight}; this set has {Width}x{Height}, {Dim}, {TargetWidth}x{TargetHeight}";
        if (other.Key != Key) return $"a shard of another item list (set {other.Key}, not {Key})";
        return null;
    }
}

/// <summary>A shard's header (JSON, written after the payload; its length and an end mark close the file).</summary>
public sealed record ShardHeader
{
    public string Format { get; init; } = FaceShard.Format;
    public int Version { get; init; } = FaceShard.Version;
    public required SetInfo Set { get; init; }
    public required int Shard { get; init; }
    public required int Shards { get; init; }
    /// <summary>The shard holds the faces of input items FirstItem .. FirstItem + Items − 1 (fewer faces when some were skipped).</summary>
    public required int FirstItem { get; init; }
    public required int Items { get; init; }
    public required int Count { get; init; }
    public required long CropsOffset { get; init; }
    public required long TemplatesOffset { get; init; }
    public required long TargetsOffset { get; init; }
    public required long IndexOffset { get; init; }
    public required long PayloadBytes { get; init; }
    /// <summary>SHA-256 of the payload: every byte between the 16-byte start and the header.</summary>
    public required string Sha256 { get; init; }
    public required List<string[]> Skipped { get; init; }
}

/// <summary>
/// One shard file of an encoded training set: <c>DFDSHARD</c> + format version (16 bytes), then the payload — crops
/// (Count × H × W × 3 uint8, HWC RGB), templates (Count × 2 × Dim float32 LE: each face's plain then mirrored),
/// optional target crops (Count × TH × TW × 3), the index (Count + 1 int64 offsets, then per face
/// "path\0identity\0aligned" in UTF-8) — then the JSON header, its length (int64 LE) and <c>DFDSHEND</c>.
/// The header goes last so crops stream to disk as they are made; a truncated file has no end mark.
/// </summary>
public static class FaceShard
{
    public const string Format = "dfd-faces-shard";
    public const int Version = 1;
    public const int Start = 16;
    static readonly byte[] Magic = "DFDSHARD"u8.ToArray(), EndMagic = "DFDSHEND"u8.ToArray();

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static string FileName(int shard) => $"shard-{shard:D5}.dfs";

    /// <summary>The header, with the file's length checked against it (not the payload's checksum: <see cref="Verify"/>).</summary>
    public static ShardHeader ReadHeader(string path)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ReadHeader(h, path);
    }

    internal static ShardHeader ReadHeader(SafeFileHandle h, string path)
    {
        long len = RandomAccess.GetLength(h);
        Span<byte> head = stackalloc byte[16];
        if (len < 32 || RandomAccess.Read(h, head, 0) != 16 || !head[..8].SequenceEqual(Magic))
            throw new FaceSetException(path, len < 32 ? $"truncated ({len} bytes): not a complete Dfd training-set shard" : "not a Dfd training-set shard (no DFDSHARD mark)");
        int version = BinaryPrimitives.ReadInt32LittleEndian(head[8..]);
        if (version != Version) throw new FaceSetException(path, $"shard format version {version}; this Dfd reads version {Version} (rebuild the set)");
        RandomAccess.Read(h, head, len - 16);
        if (!head[8..].SequenceEqual(EndMagic))
            throw new FaceSetException(path, $"truncated or damaged: no end mark ({len} bytes); delete it and build again to redo this shard");
        long hlen = BinaryPrimitives.ReadInt64LittleEndian(head);
        if (hlen <= 0 || hlen > len - 32) throw new FaceSetException(path, "damaged: the header length is out of range");
        var json = new byte[hlen];
        RandomAccess.Read(h, json, len - 16 - hlen);
        ShardHeader hd;
        try { hd = JsonSerializer.Deserialize<ShardHeader>(json, Json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new FaceSetException(path, $"damaged header ({e.Message.Split('\n')[0]})"); }
        if (hd.Format != Format) throw new FaceSetException(path, $"format '{hd.Format}', not {Format}");
        if (Start + hd.PayloadBytes + hlen + 16 != len)
            throw new FaceSetException(path, $"truncated or damaged: {len} bytes, the header says {Start + hd.PayloadBytes + hlen + 16}");
        return hd;
    }

    /// <summary>Reads the payload and compares its SHA-256 with the header's (read by plain reads, not a mapping, so the
    /// check does not count against the process's resident memory).</summary>
    public static void Verify(string path, ShardHeader hd)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[1 << 20];
        long pos = Start, end = Start + hd.PayloadBytes;
        while (pos < end)
        {
            int n = RandomAccess.Read(h, buf.AsSpan(0, (int)Math.Min(buf.Length, end - pos)), pos);
            if (n <= 0) throw new FaceSetException(path, "truncated while reading the payload");
            sha.AppendData(buf, 0, n);
            pos += n;
        }
        var got = Convert.ToHexStringLower(sha.GetHashAndReset());
        if (got != hd.Sha256)
            throw new FaceSetException(path, $"checksum mismatch (payload sha256 {got[..16]}…, header {hd.Sha256[..Math.Min(16, hd.Sha256.Length)]}…): the shard is damaged; delete it and build again to redo it");
    }

    /// <summary>Writes one shard: faces stream in (crops straight to disk), then the header closes the file. Written
    /// to a temporary name and moved into place when complete, so a killed build never leaves a partial shard.</summary>
    public sealed class Writer : IDisposable
    {
        readonly string path, tmp, sideTmp;
        readonly SetInfo set;
        readonly int shard, shards, firstItem, items;
        readonly Stream file;
        readonly Stream? side;
        readonly IncrementalHash sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        readonly MemoryStream templates = new(), index = new();
        readonly List<long> offsets = [0];
        readonly List<string[]> skipped = [];
        int count;
        bool done;

        /// <param name="wrap">Wraps the file streams (tests: a disk that fills up).</param>
        public Writer(string path, SetInfo set, int shard, int shards, int firstItem, int items, Func<Stream, Stream>? wrap = null)
        {
            (this.path, this.set, this.shard, this.shards, this.firstItem, this.items) = (path, set, shard, shards, firstItem, items);
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
            sideTmp = tmp + ".targets";
            wrap ??= s => s;
            file = wrap(new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16));
            var head = new byte[Start];
            Magic.CopyTo(head, 0);
            BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(8), Version);
            file.Write(head);
            if (set.HasTargets) side = wrap(new FileStream(sideTmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16));
        }

        public int Count => count;

        public void Add(FaceItem item, ReadOnlySpan<byte> crop, ReadOnlySpan<float> template, ReadOnlySpan<float> mirror, ReadOnlySpan<byte> target = default)
        {
            if (crop.Length != set.CropBytes || template.Length != set.Dim || mirror.Length != set.Dim)
                throw new ArgumentException($"face {item.Path}: crop of {crop.Length} bytes and templates of {template.Length}/{mirror.Length}; the set takes {set.CropBytes} and {set.Dim}");
            if (set.HasTargets != (target.Length > 0) || (set.HasTargets && target.Length != set.TargetBytes))
                throw new ArgumentException($"face {item.Path}: target crop of {target.Length} bytes; the set takes {set.TargetBytes}");
            file.Write(crop);
            sha.AppendData(crop);
            templates.Write(MemoryMarshal.AsBytes(template));
            templates.Write(MemoryMarshal.AsBytes(mirror));
            if (side != null) side.Write(target);
            index.Write(Encoding.UTF8.GetBytes($"{item.Path}\0{item.Identity}\0{(item.Aligned ? 1 : 0)}"));
            offsets.Add(index.Length);
            count++;
        }

        public void Skip(string file, string problem) => skipped.Add([file, problem]);

        /// <summary>Finishes the file (templates, targets, index, header), flushes it to disk and moves it into place.</summary>
        public ShardHeader Commit()
        {
            long cropsOff = Start, templatesOff = cropsOff + count * set.CropBytes;
            Append(templates.GetBuffer().AsSpan(0, (int)templates.Length));
            long targetsOff = templatesOff + templates.Length;
            if (side != null)
            {
                side.Flush();
                side.Position = 0;
                var buf = new byte[1 << 20];
                int n;
                while ((n = side.Read(buf)) > 0) Append(buf.AsSpan(0, n));
            }
            long indexOff = targetsOff + count * set.TargetBytes;
            var offs = new byte[offsets.Count * 8];
            for (int i = 0; i < offsets.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(offs.AsSpan(i * 8), offsets[i]);
            Append(offs);
            Append(index.GetBuffer().AsSpan(0, (int)index.Length));
            long payload = indexOff + offs.Length + index.Length - Start;
            var hd = new ShardHeader
            {
                Set = set, Shard = shard, Shards = shards, FirstItem = firstItem, Items = items, Count = count,
                CropsOffset = cropsOff, TemplatesOffset = templatesOff, TargetsOffset = set.HasTargets ? targetsOff : 0, IndexOffset = indexOff,
                PayloadBytes = payload, Sha256 = Convert.ToHexStringLower(sha.GetHashAndReset()), Skipped = skipped,
            };
            var json = JsonSerializer.SerializeToUtf8Bytes(hd, Json);
            file.Write(json);
            var tail = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(tail, json.Length);
            EndMagic.CopyTo(tail, 8);
            file.Write(tail);
            file.Flush();
            if (Unwrap(file) is FileStream fs) fs.Flush(flushToDisk: true);
            file.Dispose();
            side?.Dispose();
            File.Move(tmp, path, overwrite: true);
            done = true;
            Cleanup();
            return hd;
        }

        static Stream Unwrap(Stream s) => s is IWrapping w ? Unwrap(w.Inner) : s;

        void Append(ReadOnlySpan<byte> b) { file.Write(b); sha.AppendData(b); }

        void Cleanup()
        {
            foreach (var f in new[] { tmp, sideTmp }) try { if (File.Exists(f)) File.Delete(f); } catch (IOException) { }
        }

        public void Dispose()
        {
            if (done) return;
            try { file.Dispose(); } catch (IOException) { }   // a full disk can fail the final flush too
            try { side?.Dispose(); } catch (IOException) { }
            sha.Dispose();
            Cleanup();
            done = true;
        }
    }

    /// <summary>A stream that wraps another (so the writer can still flush the file beneath to disk).</summary>
    public interface IWrapping { Stream Inner { get; } }
}

/// <summary>An open shard: positional reads (pread) of one face's crop, templates or index entry.</summary>
internal sealed class ShardReader : IDisposable
{
    public string Path { get; }
    public ShardHeader Header { get; }
    readonly SafeFileHandle h;

    public ShardReader(string path, ShardHeader header, SafeFileHandle handle) => (Path, Header, h) = (path, header, handle);

    public void ReadCrop(int i, Span<byte> dst) => ReadExact(Header.CropsOffset + i * Header.Set.CropBytes, dst[..(int)Header.Set.CropBytes]);

    public void ReadTarget(int i, Span<byte> dst) => ReadExact(Header.TargetsOffset + i * Header.Set.TargetBytes, dst[..(int)Header.Set.TargetBytes]);

    public void ReadTemplate(int i, bool mirror, Span<float> dst)
    {
        int d = Header.Set.Dim;
        ReadExact(Header.TemplatesOffset + (2L * i + (mirror ? 1 : 0)) * d * 4, MemoryMarshal.AsBytes(dst[..d]));
    }

    /// <summary>Both templates of faces <paramref name="first"/>.. in one read: [n × 2 × Dim].</summary>
    public void ReadTemplates(int first, int n, Span<float> dst) =>
        ReadExact(Header.TemplatesOffset + 2L * first * Header.Set.Dim * 4, MemoryMarshal.AsBytes(dst[..(2 * n * Header.Set.Dim)]));

    public FaceItem ReadItem(int i)
    {
        Span<byte> o = stackalloc byte[16];
        ReadExact(Header.IndexOffset + 8L * i, o);
        long a = BinaryPrimitives.ReadInt64LittleEndian(o), b = BinaryPrimitives.ReadInt64LittleEndian(o[8..]);
        var entry = new byte[b - a];
        ReadExact(Header.IndexOffset + 8L * (Header.Count + 1) + a, entry);
        var parts = Encoding.UTF8.GetString(entry).Split('\0');
        if (parts.Length != 3) throw new FaceSetException(Path, $"damaged index entry {i}");
        return new FaceItem(parts[0], parts[1], parts[2] == "1");
    }

    void ReadExact(long offset, Span<byte> dst)
    {
        while (dst.Length > 0)
        {
            int n = RandomAccess.Read(h, dst, offset);
            if (n <= 0) throw new FaceSetException(Path, $"truncated: no data at byte {offset}");
            dst = dst[n..];
            offset += n;
        }
    }

    public void Dispose() => h.Dispose();
}
