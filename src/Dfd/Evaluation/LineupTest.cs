using System.Text.Json.Serialization;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;

namespace Dfd.Evaluation;

public sealed record LineupOptions
{
    /// <summary>A dataset spec (<see cref="FaceDatasets.Open"/>); LFW is cut to the split's test people.</summary>
    public required string Data { get; init; }
    public string? Split { get; init; }
    public int Count { get; init; } = 24;
    public int Seed { get; init; } = 1;
    /// <summary>Distractors the decoder's encoder finds nearest the decoded photo; false: drawn at random.</summary>
    public bool Lookalike { get; init; } = true;
    /// <summary>FR models that answer the lineups besides the decoder's own encoder; null: as <see cref="DecoderEvaluation.ModelList"/>.</summary>
    public IReadOnlyList<string>? Models { get; init; }
    public string? CacheDir { get; init; }
    public torch.Device? Device { get; init; }
}

/// <summary>One photo of a lineup in the key: its file and person.</summary>
public sealed record LineupPhoto(string File, string Person);

/// <summary>A lineup as the key records it (the answer as a letter).</summary>
public sealed record LineupEntry(int Number, string Person, string Decoded, IReadOnlyList<LineupPhoto> Candidates, string Answer);

/// <summary>A model's answers to the lineups: the letter it picks for each, and its score.</summary>
public sealed record LineupModelAnswers(string Model, string Role, string Answers, LineupScore Score);

public sealed record LineupResult(
    string Decoder, string DecoderKind, string Encoder, string Data, string? Split, string? SplitFile, int Seed, string Distractors,
    int Choices, IReadOnlyList<LineupEntry> Lineups, IReadOnlyList<LineupModelAnswers> Models, string Utc)
{
    /// <summary>The lineups themselves, for <see cref="LineupResult.Lineups"/>' scoring.</summary>
    [JsonIgnore] public IReadOnlyList<Lineup> Key { get; init; } = [];
    /// <summary>Per lineup: the reconstruction (at the encoder's crop) and the candidate photos (aligned crops), in order.</summary>
    [JsonIgnore] public IReadOnlyList<(RgbImage Drawn, RgbImage[] Photos)> Faces { get; init; } = [];
}

/// <summary>
/// Builds a lineup test of a decoder (<see cref="Lineups"/>): aligns and encodes the test set with the decoder's encoder
/// (the evaluation's cache), draws the lineups, decodes each person's first photo, and lets each FR model answer.
/// </summary>
public static class LineupTest
{
    public static LineupResult Run(string decoderPath, LineupOptions opt, IProgress<EvaluationProgress>? progress = null)
    {
        using var loaded = DecoderFile.Load(decoderPath, opt.Device);
        var (dec, info) = loaded;
        var spec0 = loaded.RequireEncoder();
        var models = DecoderEvaluation.ModelList(spec0.Name, opt.Models);
        var (_, items, split, splitFile, _) = FaceDatasets.TestItems(opt.Data, opt.Split, null);
        using var pipeline = items.All(i => i.Aligned) ? null : FacePipeline.CreateDefault();
        using var enc0 = Registry.Create(spec0.Name, null, opt.Device);
        var set0 = EncodedFaces.Build(items, enc0, pipeline, opt.CacheDir, Registry.WeightsId(spec0.Name), Stage(progress, $"aligning + encoding test set ({spec0.Name})"));
        if (set0.Count == 0) throw new InvalidDataException($"{opt.Data}: no face found in any of the {items.Count} test images");
        var ids = set0.Items.Select(i => i.Identity).ToList();
        var key = Lineups.Draw(ids, set0.Templates, opt.Count, opt.Seed, opt.Lookalike);

        var drawn = dec.Reconstruct(key.Select(l => set0.Templates[l.Source]).ToList());
        var recon = drawn.Select(d => d.Width == spec0.InputWidth && d.Height == spec0.InputHeight ? d : Reconstruction.Resize([d], spec0.InputWidth, spec0.InputHeight)[0]).ToList();

        var answers = new List<LineupModelAnswers>();
        foreach (var name in models)
        {
            bool isE0 = name == spec0.Name;
            var enc = isE0 ? enc0 : Registry.Create(name, null, opt.Device);
            try
            {
                var set = isE0 ? set0 : EncodedFaces.Build(items, enc, pipeline, opt.CacheDir, Registry.WeightsId(name), Stage(progress, $"aligning + encoding test set ({name})"));
                var index = new Dictionary<string, int>(StringComparer.Ordinal);
                for (int i = 0; i < set.Count; i++) index[set.Items[i].Path] = i;
                // A photo this model's aligner missed cannot be compared: the lineup counts as wrong for it.
                float[] Photo(int i0) => index.TryGetValue(set0.Items[i0].Path, out var j) ? set.Templates[j] : new float[set.Templates[0].Length];
                var warp = AlignmentTemplate.CropToCrop(spec0.Template, enc.Spec.Template);
                var inputs = recon.Select(r => warp is { } w ? Warp.Affine(r, w, enc.Spec.InputWidth, enc.Spec.InputHeight) : r).ToList();
                var picks = Lineups.ModelPicks(key, enc.Encode(inputs), Photo);
                answers.Add(new LineupModelAnswers(name, isE0 ? "decoder's encoder (E0)" : "other FR model",
                    new string(picks.Select(Lineups.Letter).ToArray()), Lineups.Score(key, picks)));
            }
            finally { if (!isE0) enc.Dispose(); }
        }

        LineupPhoto P(int i) => new(RecordPath.Of(set0.Items[i].Path), set0.Items[i].Identity);
        var entries = key.Select((l, n) => new LineupEntry(n + 1, l.Person, RecordPath.Of(set0.Items[l.Source].Path),
            l.Candidates.Select(P).ToList(), Lineups.Letter(l.Answer).ToString())).ToList();
        return new LineupResult(RecordPath.Of(decoderPath), info.Kind, spec0.Name, RecordPath.Scrub(opt.Data), split?.Name,
            splitFile == null ? null : RecordPath.Of(splitFile), opt.Seed, opt.Lookalike ? "lookalike" : "random", Lineups.DefaultChoices,
            entries, answers, DateTime.UtcNow.ToString("o"))
        {
            Key = key,
            Faces = key.Select((l, n) => (recon[n], l.Candidates.Select(set0.Image).ToArray())).ToList(),
        };
    }

    static IProgress<(int, int)> Stage(IProgress<EvaluationProgress>? p, string name) =>
        new SyncProgress<(int, int)>(v => p?.Report(new EvaluationProgress(name, v.Item1, v.Item2)));
}
