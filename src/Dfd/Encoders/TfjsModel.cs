using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd.IO;

namespace Dfd.Encoders;

/// <summary>One node of a TensorFlow.js graph model: TensorFlow's NodeDef as the tfjs converter writes it to JSON.</summary>
/// <param name="Inputs">Data inputs as <c>node</c> or <c>node:k</c> (output k); control inputs (<c>^node</c>) are dropped,
/// as they order side effects that an inference graph does not have.</param>
public sealed record TfjsNode(string Name, string Op, IReadOnlyList<string> Inputs, JsonObject Attr)
{
    public string Describe() => $"node '{Name}' ({Op})";

    JsonNode? A(string key) => Attr.TryGetPropertyValue(key, out var v) ? v : null;

    /// <summary>A string attribute (JSON holds its bytes in base64).</summary>
    public string? Str(string key) => A(key)?["s"] is JsonValue v ? System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(v.GetValue<string>())) : null;

    /// <summary>A list-of-strings attribute (fused_ops).</summary>
    public string[] Strs(string key) => A(key)?["list"]?["s"] is JsonArray a
        ? a.Select(x => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(x!.GetValue<string>()))).ToArray()
        : [];

    /// <summary>A list-of-ints attribute (int64 values are strings in JSON).</summary>
    public long[]? Ints(string key) => A(key)?["list"] is JsonObject l
        ? (l["i"] is JsonArray a ? a.Select(x => long.Parse(x!.ToString(), System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [])
        : null;

    public long Int(string key, long fallback) => A(key)?["i"] is JsonValue v ? long.Parse(v.ToString(), System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public float Float(string key, float fallback) => A(key)?["f"] is JsonValue v ? (float)v.GetValue<double>() : fallback;

    public bool Bool(string key, bool fallback) => A(key)?["b"] is JsonValue v ? v.GetValue<bool>() : fallback;
}

/// <summary>A constant's values as tfjs decodes them: float32 for floating tensors, int32 for integer and bool ones.</summary>
public sealed record TfjsWeight(string Name, long[] Shape, string DType, float[]? Floats, int[]? Ints)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A TensorFlow.js graph model (<c>model.json</c> with <c>format: graph-model</c> and its weight shards): the nodes of
/// <c>modelTopology.node</c>, the signature's inputs and outputs, and every weight decoded as tfjs's
/// <c>io.decodeWeights</c> does. Shards are the <c>paths</c> of each <c>weightsManifest</c> group, read beside the JSON and
/// concatenated in manifest order; each weight takes prod(shape) elements of its stored type. Stored types: float32,
/// int32, bool (1 byte); quantised (<c>quantization.dtype</c>) uint8 or uint16 as value = q·scale + min (rounded for
/// int32 weights), and float16 as IEEE half. String weights are refused.
/// </summary>
public sealed class TfjsModel
{
    public string Path { get; }
    public IReadOnlyList<TfjsNode> Nodes { get; }
    public IReadOnlyDictionary<string, TfjsWeight> Weights { get; }
    /// <summary>The signature's input names (without <c>:0</c>), else the Placeholder nodes.</summary>
    public IReadOnlyList<string> InputNames { get; }
    /// <summary>The signature's output names (without <c>:0</c>); empty where the JSON has no signature.</summary>
    public IReadOnlyList<string> OutputNames { get; }
    /// <summary>The signature's shape of each input, -1 for a free dimension; null where it states none.</summary>
    public IReadOnlyDictionary<string, long[]?> InputShapes { get; }

    TfjsModel(string path, List<TfjsNode> nodes, Dictionary<string, TfjsWeight> weights, List<string> inputs, List<string> outputs, Dictionary<string, long[]?> shapes)
    {
        Path = path; Nodes = nodes; Weights = weights; InputNames = inputs; OutputNames = outputs; InputShapes = shapes;
    }

    /// <summary>Reads the JSON and its weight shards.</summary>
    /// <exception cref="ModelFileException">Missing or malformed file, unsupported format or weight type, a shard of the wrong size.</exception>
    public static TfjsModel Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFileException(path, "file not found");
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFileException(path, "not a JSON object"); }
        catch (JsonException e) { throw new ModelFileException(path, $"not valid JSON: {e.Message}"); }
        var format = root["format"]?.ToString();
        if (format != null && format != "graph-model")
            throw new ModelFileException(path, $"format '{format}': only TensorFlow.js graph models (format graph-model) are supported; layers models are not");
        if (root["modelTopology"]?["node"] is not JsonArray nodeArray)
            throw new ModelFileException(path, "no modelTopology.node: not a TensorFlow.js graph model");
        if (root["modelTopology"]?["library"]?["function"] is JsonArray { Count: > 0 })
            throw new ModelFileException(path, "the graph has functions (control flow); only plain graphs are supported");

        var nodes = new List<TfjsNode>();
        foreach (var n in nodeArray)
        {
            if (n is not JsonObject o || o["name"] is null || o["op"] is null) throw new ModelFileException(path, "a node without name or op");
            var inputs = (o["input"] as JsonArray)?.Select(x => x!.ToString()).Where(x => !x.StartsWith('^')).ToList() ?? [];
            nodes.Add(new TfjsNode(o["name"]!.ToString(), o["op"]!.ToString(), inputs, o["attr"] as JsonObject ?? []));
        }

        var weights = ReadWeights(path, root);

        static string Strip(string name) => name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : name;
        var sig = root["signature"] as JsonObject;
        var inputsSig = (sig?["inputs"] as JsonObject)?.Select(kv => (Name: Strip(kv.Value?["name"]?.ToString() ?? kv.Key), Shape: Shape(kv.Value?["tensorShape"]))).ToList();
        var placeholders = nodes.Where(n => n.Op == "Placeholder").ToList();
        var inputs2 = inputsSig?.Select(i => i.Name).ToList() ?? placeholders.Select(p => p.Name).ToList();
        var shapes = new Dictionary<string, long[]?>(StringComparer.Ordinal);
        foreach (var p in placeholders) shapes[p.Name] = Shape(p.Attr["shape"]?["shape"]);
        foreach (var i in inputsSig ?? []) if (i.Shape != null) shapes[i.Name] = i.Shape;
        var outputs = (sig?["outputs"] as JsonObject)?.Select(kv => Strip(kv.Value?["name"]?.ToString() ?? kv.Key)).ToList() ?? [];
        return new TfjsModel(path, nodes, weights, inputs2, outputs, shapes);
    }

    static long[]? Shape(JsonNode? tensorShape)
    {
        if (tensorShape is not JsonObject ts || ts["unknownRank"]?.GetValue<bool>() == true) return null;
        return (ts["dim"] as JsonArray)?.Select(d => d?["size"] is { } s ? long.Parse(s.ToString(), System.Globalization.CultureInfo.InvariantCulture) : -1L).ToArray() ?? [];
    }

    /// <summary>The weight shard files a model JSON names (beside it), in manifest order; none for other JSON.</summary>
    public static List<string> Shards(string path)
    {
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject root || root["weightsManifest"] is not JsonArray groups) return [];
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            return groups.SelectMany(g => (g?["paths"] as JsonArray)?.Select(p => System.IO.Path.Combine(dir, p!.ToString())) ?? []).ToList();
        }
        catch (System.Text.Json.JsonException) { return []; }
    }

    static Dictionary<string, TfjsWeight> ReadWeights(string path, JsonObject root)
    {
        var result = new Dictionary<string, TfjsWeight>(StringComparer.Ordinal);
        if (root["weightsManifest"] is not JsonArray groups) return result;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        foreach (var g in groups)
        {
            // A group's weights run on across its shards, so the shards are read as one buffer.
            var shards = (g?["paths"] as JsonArray)?.Select(p => System.IO.Path.Combine(dir, p!.ToString())).ToList() ?? [];
            var data = new List<byte>();
            foreach (var s in shards)
            {
                if (!File.Exists(s)) throw new ModelFileException(path, $"weight shard {System.IO.Path.GetFileName(s)} not found beside it ({s})");
                data.AddRange(File.ReadAllBytes(s));
            }
            var bytes = data.ToArray();
            long offset = 0;
            foreach (var w in (g?["weights"] as JsonArray) ?? [])
            {
                var name = w?["name"]?.ToString() ?? throw new ModelFileException(path, "a weight without a name");
                var shape = (w["shape"] as JsonArray)?.Select(x => x!.GetValue<long>()).ToArray() ?? [];
                var dtype = w["dtype"]?.ToString() ?? "float32";
                long count = shape.Aggregate(1L, (a, b) => a * b);
                var q = w["quantization"] as JsonObject;
                var stored = q?["dtype"]?.ToString() ?? dtype;
                int size = stored switch
                {
                    "float32" or "int32" => 4,
                    "uint16" or "float16" => 2,
                    "uint8" or "bool" => 1,
                    _ => throw new ModelFileException(path, $"weight '{name}' is stored as {stored}; supported: float32, int32, bool, quantised uint8/uint16/float16"),
                };
                if (dtype is not ("float32" or "int32" or "bool"))
                    throw new ModelFileException(path, $"weight '{name}' has dtype {dtype}; supported: float32, int32, bool");
                if (offset + count * size > bytes.Length)
                    throw new ModelFileException(path, $"weight '{name}' needs bytes {offset}..{offset + count * size}, but the shards hold {bytes.Length}");
                var span = bytes.AsSpan((int)offset, (int)(count * size));
                offset += count * size;
                var values = new double[count];
                switch (stored)
                {
                    case "float32": for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]); break;
                    case "int32": for (int i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(span[(4 * i)..]); break;
                    case "float16": for (int i = 0; i < count; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(span[(2 * i)..]); break;
                    case "bool": for (int i = 0; i < count; i++) values[i] = span[i] != 0 ? 1 : 0; break;
                    default:
                        {
                            // uint8/uint16: tfjs computes q * scale + min in double precision (JavaScript numbers), then stores float32.
                            double scale = q!["scale"]?.GetValue<double>() ?? throw new ModelFileException(path, $"weight '{name}': quantisation without scale");
                            double min = q["min"]?.GetValue<double>() ?? throw new ModelFileException(path, $"weight '{name}': quantisation without min");
                            for (int i = 0; i < count; i++)
                            {
                                int v = size == 1 ? span[i] : BinaryPrimitives.ReadUInt16LittleEndian(span[(2 * i)..]);
                                values[i] = v * scale + min;
                            }
                            break;
                        }
                }
                result[name] = dtype == "float32"
                    ? new TfjsWeight(name, shape, dtype, values.Select(v => (float)v).ToArray(), null)
                    : new TfjsWeight(name, shape, dtype, null, values.Select(v => (int)Math.Round(v)).ToArray());
            }
            if (offset != bytes.Length)
                throw new ModelFileException(path, $"the weights take {offset} bytes, but the shards {string.Join(", ", shards.Select(System.IO.Path.GetFileName))} hold {bytes.Length}");
        }
        return result;
    }
}
