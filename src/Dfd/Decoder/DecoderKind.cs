using System.Text.Json;

namespace Dfd.Decoder;

/// <summary>
/// Which kind of decoder drew a face. The <b>regression</b> decoder (the paper's) draws what the template determines:
/// about the mean of the photos that could have given it. The <b>sharp</b> decoder adds detail from an adversarial
/// term: plausible, not measured. Reports name the kind beside every reconstruction so the two are never confused.
/// </summary>
public static class DecoderKind
{
    public const string Regression = "regression";
    public const string Sharp = "sharp";

    /// <summary>The metadata key training writes; files made before it existed are inferred from their train_config.</summary>
    public const string MetadataKey = "decoder_kind";

    /// <summary>
    /// <c>decoder_kind</c> where the file says (anything other than "sharp" reads as regression), else "sharp" when
    /// the training configuration's loss has an adversarial weight above 0, else "regression".
    /// </summary>
    public static string Of(IReadOnlyDictionary<string, string> meta)
    {
        if (meta.TryGetValue(MetadataKey, out var k))
            return string.Equals(k.Trim(), Sharp, StringComparison.OrdinalIgnoreCase) ? Sharp : Regression;
        return meta.TryGetValue("train_config", out var tc) && AdvWeight(tc) > 0 ? Sharp : Regression;
    }

    /// <summary>Loss.Adv of a train_config JSON; 0 where absent or unreadable (a weight at its default is not written).</summary>
    static double AdvWeight(string trainConfig)
    {
        try
        {
            using var doc = JsonDocument.Parse(trainConfig);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("Loss", out var loss) && loss.ValueKind == JsonValueKind.Object
                && loss.TryGetProperty("Adv", out var adv) && adv.ValueKind == JsonValueKind.Number)
                return adv.GetDouble();
        }
        catch (JsonException) { }
        return 0;
    }

    /// <summary>"regression decoder" or "sharp decoder": the words every picture's caption uses.</summary>
    public static string Label(string kind) => kind == Sharp ? "sharp decoder" : "regression decoder";

    /// <summary>Row labels for a grid of several decoders' faces: each kind's <see cref="Label"/>, with the file's name where
    /// two rows would otherwise read the same ("sharp decoder dfd-dlib-resnet-lfw-sharp", "sharp decoder run-7").</summary>
    public static List<string> RowLabels(IReadOnlyList<string> kinds, IReadOnlyList<string> paths) =>
        kinds.Select((k, i) => kinds.Count(x => x == k) > 1 ? $"{Label(k)} {Path.GetFileNameWithoutExtension(paths[i])}" : Label(k)).ToList();

    /// <summary>A caption for a decoder file: "regression decoder (dfd-dlib-resnet-lfw.safetensors)".</summary>
    public static string Caption(DecoderInfo info, string path) => $"{Label(info.Kind)} ({Path.GetFileName(path)})";
}
