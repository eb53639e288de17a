using System.Text.Json.Nodes;
using Dfd.IO;

namespace Dfd.Encoders;

/// <summary>
/// Reads face-api's tfjs weight files (a manifest plus the tensors concatenated in manifest order; quantised
/// tensors are stored as uint8/uint16 with value = q·scale + min) and converts dlib-resnet's to our safetensors.
/// </summary>
public static class FaceApiWeights
{
    public static Dictionary<string, HostTensor> ReadManifest(string manifestPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        JsonArray groups;
        try { groups = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsArray(); }
        catch (Exception e) when (e is not FileNotFoundException)
        { throw new ModelFileException(manifestPath, "not a tfjs weights manifest (expected a JSON array of weight groups)"); }

        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            var bytes = g!["paths"]!.AsArray().SelectMany(p => File.ReadAllBytes(Path.Combine(dir, p!.GetValue<string>()))).ToArray();
            int at = 0;
            foreach (var w in g["weights"]!.AsArray())
            {
                string name = w!["name"]!.GetValue<string>();
                long[] shape = w["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                int count = (int)shape.Aggregate(1L, (a, b) => a * b);
                var q = w["quantization"];
                var data = new float[count];
                if (q == null)
                {
                    if (w["dtype"]!.GetValue<string>() != "float32") throw new ModelFileException(manifestPath, $"{name}: dtype {w["dtype"]} not supported");
                    Need(at + count * 4);
                    Buffer.BlockCopy(bytes, at, data, 0, count * 4);
                    at += count * 4;
                }
                else
                {
                    string qd = q["dtype"]!.GetValue<string>();
                    // tfjs dequantises in double precision, then stores float32; do the same so the port agrees bit for bit.
                    double scale = q["scale"]!.GetValue<double>(), min = q["min"]!.GetValue<double>();
                    if (qd == "uint8")
                    {
                        Need(at + count);
                        for (int i = 0; i < count; i++) data[i] = (float)(bytes[at + i] * scale + min);
                        at += count;
                    }
                    else if (qd == "uint16")
                    {
                        Need(at + count * 2);
                        for (int i = 0; i < count; i++) data[i] = (float)(BitConverter.ToUInt16(bytes, at + 2 * i) * scale + min);
                        at += count * 2;
                    }
                    else throw new ModelFileException(manifestPath, $"{name}: quantisation {qd} not supported");
                }
                result[name] = new HostTensor(shape, data);

                void Need(int end)
                {
                    if (end > bytes.Length) throw new ModelFileException(manifestPath, $"weight data ends before tensor '{name}' (truncated .bin?)");
                }
            }
            if (at != bytes.Length) throw new ModelFileException(manifestPath, $"weight data has {bytes.Length - at} bytes the manifest does not describe");
        }
        return result;
    }

    /// <summary>face-api names (HWIO filters, [in,out] fc) → DlibResNet state-dict names (OIHW, [out,in]).</summary>
    public static Dictionary<string, HostTensor> ToDlibResNet(IReadOnlyDictionary<string, HostTensor> tf)
    {
        var outp = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var (name, t) in tf)
        {
            var parts = name.Split('/');
            string target;
            if (name == "fc") { outp["fc"] = Transpose2(t); continue; }
            string block = parts[0];
            string prefix = block == "conv32_down" ? "conv32_down" : $"blocks.{Array.IndexOf(DlibResNet.Blocks, block)}.{parts[1]}";
            if (block != "conv32_down" && Array.IndexOf(DlibResNet.Blocks, block) < 0)
                throw new InvalidDataException($"unknown face-api tensor {name}");
            string leaf = string.Join("/", parts[(block == "conv32_down" ? 1 : 2)..]);
            switch (leaf)
            {
                case "conv/filters": outp[prefix + ".weight"] = HwioToOihw(t); continue;
                case "conv/bias": target = prefix + ".bias"; break;
                case "scale/weights": target = prefix + ".scale"; break;
                case "scale/biases": target = prefix + ".shift"; break;
                default: throw new InvalidDataException($"unknown face-api tensor {name}");
            }
            outp[target] = t;
        }
        return outp;
    }

    public static Dictionary<string, string> Metadata(EncoderSpec s, string converter) => new()
    {
        ["format"] = "dfd-encoder",
        ["encoder"] = s.Name,
        ["embedding_size"] = s.EmbeddingSize.ToString(),
        ["input_size"] = $"{s.InputWidth}x{s.InputHeight}",
        ["channels"] = s.Channels.ToString(),
        ["mean"] = string.Join(",", s.Mean),
        ["std"] = string.Join(",", s.Std),
        ["source"] = s.Source,
        ["licence"] = s.Licence,
        ["converted_by"] = converter,
    };

    /// <summary>The one-time conversion whose output is committed as models/dlib-resnet/dlib-resnet.safetensors.</summary>
    public static void ConvertDlibResNet(string manifestPath, string outPath)
    {
        var tensors = ToDlibResNet(ReadManifest(manifestPath));
        // Prove the mapping before writing: every model parameter is covered with the right shape.
        using (var model = new DlibResNet()) StateDict.Assign(model, tensors, manifestPath);
        Safetensors.Write(outPath, tensors, Metadata(DlibResNet.Spec, "dfd convert faceapi (FaceApiWeights.ConvertDlibResNet)"));
    }

    static HostTensor HwioToOihw(HostTensor t)
    {
        long h = t.Shape[0], w = t.Shape[1], i = t.Shape[2], o = t.Shape[3];
        var d = new float[t.Data.Length];
        for (long y = 0; y < h; y++)
            for (long x = 0; x < w; x++)
                for (long ci = 0; ci < i; ci++)
                    for (long co = 0; co < o; co++)
                        d[((co * i + ci) * h + y) * w + x] = t.Data[((y * w + x) * i + ci) * o + co];
        return new HostTensor([o, i, h, w], d);
    }

    static HostTensor Transpose2(HostTensor t)
    {
        long r = t.Shape[0], c = t.Shape[1];
        var d = new float[t.Data.Length];
        for (long a = 0; a < r; a++) for (long b = 0; b < c; b++) d[b * r + a] = t.Data[a * c + b];
        return new HostTensor([c, r], d);
    }
}
