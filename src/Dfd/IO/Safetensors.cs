using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd.Core;

namespace Dfd.IO;

public sealed class ModelFileException(string path, string problem) : DfdException($"{path}: {problem}")
{
    public string Path { get; } = path;
}

/// <summary>A float32 tensor held on the CPU as a flat array, row-major.</summary>
public sealed record HostTensor(long[] Shape, float[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// safetensors (huggingface format): 8-byte little-endian header length, a JSON header with dtype, shape and
/// data_offsets per tensor plus a "__metadata__" map of strings, then the raw little-endian data.
/// </summary>
public static class Safetensors
{
    public static void Write(string path, IReadOnlyDictionary<string, HostTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata != null)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            var t = tensors[name];
            if (t.Data.Length != t.Count) throw new ArgumentException($"tensor {name}: {t.Data.Length} values for shape [{string.Join(",", t.Shape)}]");
            long bytes = t.Data.Length * 4L;
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(t.Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8; // keep the data 8-byte aligned, as the reference writer does
        var headerBytes = new byte[json.Length + pad];
        json.CopyTo(headerBytes, 0);
        for (int i = json.Length; i < headerBytes.Length; i++) headerBytes[i] = (byte)' ';

        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write((ulong)headerBytes.Length);
            w.Write(headerBytes);
            foreach (var name in names)
            {
                var data = tensors[name].Data;
                var span = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan());
                w.Write(span);
            }
        });
    }

    public static (Dictionary<string, HostTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        var (all, hlen, header) = ReadWhole(path);

        long dataStart = 8 + (long)hlen;
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) meta[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            var o = node!.AsObject();
            string dtype = o["dtype"]!.GetValue<string>();
            long[] shape = o["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            var offs = o["data_offsets"]!.AsArray();
            long b = offs[0]!.GetValue<long>(), e = offs[1]!.GetValue<long>();
            if (dataStart + e > all.Length || b > e)
                throw new ModelFileException(path, $"damaged safetensors file: tensor '{name}' lies past the end of the file (truncated?)");
            long count = shape.Aggregate(1L, (x, y) => x * y);
            var span = all.AsSpan((int)(dataStart + b), (int)(e - b));
            float[] data = dtype switch
            {
                "F32" => CheckedCast(span, count, 4, name, path, s => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(s).ToArray()),
                "F16" => CheckedCast(span, count, 2, name, path, s => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(s).ToArray().Select(h => (float)h).ToArray()),
                "BF16" => CheckedCast(span, count, 2, name, path, s => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(s).ToArray().Select(u => BitConverter.Int32BitsToSingle(u << 16)).ToArray()),
                "F64" => CheckedCast(span, count, 8, name, path, s => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(s).ToArray().Select(d => (float)d).ToArray()),
                "I64" => CheckedCast(span, count, 8, name, path, s => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(s).ToArray().Select(d => (float)d).ToArray()),
                _ => throw new ModelFileException(path, $"tensor '{name}' has dtype {dtype}, which is not supported"),
            };
            tensors[name] = new HostTensor(shape, data);
        }
        return (tensors, meta);
    }

    /// <summary>
    /// Rewrites the metadata values of a safetensors file in place (atomically), leaving the header's tensor entries
    /// and every data byte as they were; returns the keys whose values changed (none: the file is not touched).
    /// </summary>
    public static IReadOnlyList<string> RewriteMetadata(string path, Func<string, string, string> rewrite)
    {
        var (all, hlen, header) = ReadWhole(path);
        if (header["__metadata__"] is not JsonObject meta) return [];

        var changed = new List<string>();
        foreach (var key in meta.Select(kv => kv.Key).ToList())
        {
            if (meta[key] is not JsonValue v || !v.TryGetValue<string>(out var old)) continue;
            var now = rewrite(key, old);
            if (now == old) continue;
            meta[key] = now;
            changed.Add(key);
        }
        if (changed.Count == 0) return changed;

        // The tensors' data_offsets count from the end of the header, so a header of another length moves nothing.
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8;
        long dataStart = 8 + (long)hlen;
        AtomicFile.Write(path, stream =>
        {
            var len = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            stream.Write(len);
            stream.Write(json);
            for (int i = 0; i < pad; i++) stream.WriteByte((byte)' ');
            stream.Write(all, (int)dataStart, (int)(all.Length - dataStart));
        });
        return changed;
    }

    /// <summary>A safetensors file's bytes, its header's length and the parsed header.</summary>
    /// <exception cref="ModelFileException">Missing, too short, or a header that is cut off or not JSON.</exception>
    static (byte[] All, ulong HeaderLength, JsonObject Header) ReadWhole(string path)
    {
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new ModelFileException(path, "file not found"); }
        if (all.Length < 8) throw new ModelFileException(path, "too short to be a safetensors file");
        ulong hlen = BitConverter.ToUInt64(all, 0);
        if (hlen > (ulong)(all.Length - 8)) throw new ModelFileException(path, "damaged safetensors file: header runs past the end of the file (truncated?)");
        try { return (all, hlen, JsonNode.Parse(Encoding.UTF8.GetString(all, 8, (int)hlen))!.AsObject()); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        { throw new ModelFileException(path, "damaged safetensors file: header is not valid JSON"); }
    }

    static float[] CheckedCast(ReadOnlySpan<byte> span, long count, int width, string name, string path, Func<ReadOnlySpan<byte>, float[]> cast)
    {
        if (span.Length != count * width)
            throw new ModelFileException(path, $"damaged safetensors file: tensor '{name}' has {span.Length} bytes, its shape needs {count * width}");
        return cast(span);
    }

}

/// <summary>Writes through a temporary file in the same folder and renames it, so a crash never leaves half a file.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { var b = Encoding.UTF8.GetBytes(text); s.Write(b, 0, b.Length); });
}
