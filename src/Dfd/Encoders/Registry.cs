using Dfd.IO;
using TorchSharp;

namespace Dfd.Encoders;

public sealed class EncoderNotAvailableException(string message) : Exception(message);

/// <summary>Every encoder Dfd knows, by name, with its pretrained config; <see cref="Create"/> loads the weights.</summary>
public static class Registry
{
    sealed record Entry(EncoderSpec Spec, Func<string, torch.Device?, IEncoder> Load);

    static readonly Dictionary<string, Entry> entries = new(StringComparer.OrdinalIgnoreCase)
    {
        [DlibResNet.Config.Name] = new(DlibResNet.Config, (p, d) => DlibResNet.Load(p, d)),
    };

    public static IReadOnlyList<EncoderSpec> All => entries.Values.Select(e => e.Spec).ToList();

    public static EncoderSpec Spec(string name) =>
        entries.TryGetValue(name, out var e) ? e.Spec
        : throw new EncoderNotAvailableException($"unknown encoder '{name}'; known: {string.Join(", ", entries.Keys)}");

    /// <summary>Where the weights are, or null: the explicit path, else the models folder.</summary>
    public static string? WeightsPath(string name, string? weights = null) =>
        weights ?? ModelPaths.Find(Spec(name).WeightsFile);

    public static IEncoder Create(string name, string? weights = null, torch.Device? device = null)
    {
        var spec = Spec(name);
        var path = WeightsPath(name, weights)
            ?? throw new EncoderNotAvailableException($"weights of '{name}' not found (looked for {spec.WeightsFile} under $DFD_MODELS and models/ folders); supply them with --weights PATH");
        if (!File.Exists(path)) throw new ModelFileException(path, "file not found");
        return entries[name].Load(path, device);
    }
}
