// The shapes bench/decoder.py mirrors by hand: the names and shapes of the state dicts of FaceDecoder and
// PatchDiscriminator at their default configs (128-D templates, 150x150 crops: dlib-resnet's, as the bench builds
// them), with their parameter counts. bench/decoder-shapes.json holds them. Three places hold the line:
//   - tests/Dfd.Tests/Decoder/DecoderShapesTests.cs (this file is compiled into the tests too) fails when the C#
//     models no longer match the committed file, so a change of shape cannot pass unnoticed where no torch is;
//   - bench/decoder.py refuses to run when its own models do not match the committed file;
//   - Dfd.Bench --dump writes the live shapes beside the check batch, and decoder.py --csharp-dump compares them too.
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dfd.Decoder;
using Dfd.Training;
using TorchSharp;

namespace Dfd.Bench;

public static class DecoderShapes
{
    /// <summary>The committed file, relative to the repository root.</summary>
    public const string File = "bench/decoder-shapes.json";

    /// <summary>The shapes of the default decoder and discriminator, as JSON text (one line per tensor, for diffs).</summary>
    public static string Current()
    {
        using var dec = new FaceDecoder(new DecoderConfig());
        using var disc = new PatchDiscriminator(new DiscriminatorConfig());
        return Of(dec, disc);
    }

    public static string Of(FaceDecoder dec, PatchDiscriminator disc)
    {
        var sb = new StringBuilder("{\n");
        sb.Append("  \"source\": \"src/Dfd/Decoder/FaceDecoder.cs (DecoderConfig defaults) and src/Dfd/Training/Adversarial.cs ")
          .Append("(DiscriminatorConfig defaults), written by bench/Dfd.Bench/DecoderShapes.cs; mirrored by bench/decoder.py\",\n");
        sb.Append("  \"decoder_config\": ").Append(dec.Config.ToJson()).Append(",\n");
        Model(sb, "decoder", dec);
        sb.Append(",\n");
        Model(sb, "discriminator", disc);
        sb.Append("\n}\n");
        return sb.ToString();
    }

    static void Model(StringBuilder sb, string name, torch.nn.Module module)
    {
        long n = module.parameters().Sum(p => p.numel());
        sb.Append($"  \"{name}\": {{\n    \"parameters\": {n.ToString(CultureInfo.InvariantCulture)},\n    \"state\": {{\n");
        var state = module.state_dict().ToList();
        for (int i = 0; i < state.Count; i++)
            sb.Append($"      \"{state[i].Key}\": [{string.Join(", ", state[i].Value.shape)}]{(i + 1 < state.Count ? "," : "")}\n");
        sb.Append("    }\n  }");
    }

    /// <summary>Every difference between two such documents, one line each (empty: they agree).</summary>
    public static List<string> Diff(string expected, string actual)
    {
        var diffs = new List<string>();
        JsonNode e = JsonNode.Parse(expected)!, a = JsonNode.Parse(actual)!;
        foreach (var model in new[] { "decoder", "discriminator" })
        {
            long pe = e[model]!["parameters"]!.GetValue<long>(), pa = a[model]!["parameters"]!.GetValue<long>();
            if (pe != pa) diffs.Add($"{model}: {pa} parameters, the file says {pe}");
            var se = e[model]!["state"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.ToJsonString());
            var sa = a[model]!["state"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.ToJsonString());
            foreach (var k in sa.Keys.Except(se.Keys)) diffs.Add($"{model}: {k} {sa[k]} is new");
            foreach (var k in se.Keys.Except(sa.Keys)) diffs.Add($"{model}: {k} {se[k]} is gone");
            foreach (var k in se.Keys.Intersect(sa.Keys).Where(k => se[k] != sa[k])) diffs.Add($"{model}: {k} is {sa[k]}, the file says {se[k]}");
        }
        return diffs;
    }
}
