using System.Diagnostics;
using Dfd.Core;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;

namespace Dfd.Evaluation;

/// <summary>
/// Evaluates a decoder as Križaj et al. (2024) do: reconstructions of test templates go back into FR models (the
/// decoder's own encoder E0 and others), and the share that an FR system would accept at fixed false-match rates is
/// counted, against the original image itself (type I) and against the person's other images (type II).
/// </summary>
/// <remarks>This is the run only: the results are in EvaluationResults.cs, the match-rate arithmetic in
/// <see cref="Scoring"/>, the picture measures in <see cref="ImageMeasures"/> (a new one goes there and into
/// <see cref="QualityResult"/>), and the measures of a model's templates (<see cref="Identification"/>,
/// <see cref="Frechet"/>) are called once per model in <see cref="Run"/>.</remarks>
public static class DecoderEvaluation
{
    public const string DefaultExtraModel = "mobilefacenet-casia";

    /// <summary>The FR models to score with: E0 first, then the extras (default: mobilefacenet-casia where its weights are found).</summary>
    public static List<string> ModelList(string e0, IReadOnlyList<string>? extra)
    {
        var list = new List<string> { e0 };
        IEnumerable<string> more = extra ?? (WeightsFound(DefaultExtraModel) ? [DefaultExtraModel] : []);
        foreach (var m in more)
        {
            var name = Registry.Spec(m).Name;   // unknown names fail here, before any work
            if (!list.Contains(name, StringComparer.OrdinalIgnoreCase)) list.Add(name);
        }
        return list;
    }

    static bool WeightsFound(string name)
    {
        try { return Registry.WeightsPath(name) != null; }
        catch (EncoderNotAvailableException) { return false; }
    }

    /// <summary>
    /// The whole evaluation: load and check the decoder; list the test people; align + encode their images for E0
    /// (cached); decode; SSIM/PSNR; then per FR model M: align + encode the originals for M (cached), bring the
    /// reconstructions to M's crop, encode them, score and summarise.
    /// </summary>
    public static EvaluationResult Run(string decoderPath, EvaluationOptions opt, IProgress<EvaluationProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var stages = new Dictionary<string, double>();
        var stage = Stopwatch.StartNew();
        void Lap(string name) { stages[name] = Math.Round(stage.Elapsed.TotalSeconds, 2); stage.Restart(); }
        IProgress<(int, int)> P(string name) => new StageProgress(progress, name);

        using var loaded = DecoderFile.Load(decoderPath, opt.Device);
        var (dec, info) = loaded;
        var spec0 = loaded.RequireEncoder();
        var models = ModelList(spec0.Name, opt.Models);
        var (kind, items, split, splitFile, listedPeople) = FaceDatasets.TestItems(opt.Data, opt.Split, opt.LimitPeople);
        using var pipeline = items.All(i => i.Aligned) ? null : FacePipeline.CreateDefault();
        Lap("load");

        // E0: aligned crops and templates of the test images; the reconstructions.
        using var enc0 = Registry.Create(spec0.Name, null, opt.Device);
        string wid0 = Registry.WeightsId(spec0.Name);
        // A decoder drawing larger than E0's crop: the test faces are also aligned at its size, and the image measures
        // compare at that size; the FR models see the reconstructions resized to E0's crop, as training showed them.
        bool larger = info.OutWidth != spec0.InputWidth || info.OutHeight != spec0.InputHeight;
        var set0 = EncodedFaces.Build(items, enc0, pipeline, opt.CacheDir, wid0, P($"aligning + encoding test set ({spec0.Name})"),
            larger ? info.OutWidth : 0, larger ? info.OutHeight : 0);
        if (set0.Count == 0) throw new InvalidDataException($"{opt.Data}: no face found in any of the {items.Count} test images");
        Lap("test_set_" + spec0.Name);
        var drawn = dec.Reconstruct(set0.Templates, opt.Batch, P("decoding"));
        var recon = larger ? Reconstruction.Resize(drawn, spec0.InputWidth, spec0.InputHeight) : drawn;
        Lap("decode");
        var originals0 = Enumerable.Range(0, set0.Count).Select(set0.Image).ToList();
        var meanFace0 = ImageMeasures.MeanImage(originals0);
        var targets0 = larger ? Enumerable.Range(0, set0.Count).Select(set0.TargetImage).ToList() : originals0;
        var quality = ImageMeasures.Quality(drawn, targets0, set0.Items.Select(i => i.Identity).ToList(), Box.InnerFace(spec0.Template.Scaled(info.OutWidth, info.OutHeight)));
        Lap("ssim_psnr");

        var results = new List<ModelResult>();
        var index0 = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < set0.Count; i++) index0[set0.Items[i].Path] = i;
        foreach (var name in models)
        {
            bool isE0 = name == spec0.Name;
            var enc = isE0 ? enc0 : Registry.Create(name, null, opt.Device);
            try
            {
                var spec = enc.Spec;
                var set = isE0 ? set0 : EncodedFaces.Build(items, enc, pipeline, opt.CacheDir, Registry.WeightsId(name), P($"aligning + encoding test set ({name})"));
                if (!isE0) Lap("test_set_" + name);
                // Images present in both sets (detection does not depend on the template, so normally all).
                var pairs = new List<(int I0, int I)>();
                for (int i = 0; i < set.Count; i++)
                    if (index0.TryGetValue(set.Items[i].Path, out var j)) pairs.Add((j, i));
                var warp = AlignmentTemplate.CropToCrop(spec0.Template, spec.Template);
                var inputs = pairs.Select(p => warp is { } w ? Warp.Affine(recon[p.I0], w, spec.InputWidth, spec.InputHeight) : recon[p.I0]).ToList();
                var rt = EncodeWithProgress(enc, inputs, opt.Batch, P($"encoding reconstructions ({name})"));
                var ot = pairs.Select(p => set.Templates[p.I]).ToList();
                var ids = pairs.Select(p => set.Items[p.I].Identity).ToList();
                var scores = Scoring.Scores(ot, rt, ids);
                if (warp is { } wp)
                {
                    var wo = Cosine.Unit(EncodeWithProgress(enc, pairs.Select(p => Warp.Affine(originals0[p.I0], wp, spec.InputWidth, spec.InputHeight)).ToList(),
                        opt.Batch, P($"encoding warped originals ({name})")));
                    var on = Cosine.Unit(ot);
                    scores = new ModelScores
                    {
                        Impostor = scores.Impostor, TypeI = scores.TypeI, TypeII = scores.TypeII, Genuine = scores.Genuine, People = scores.People,
                        WarpedOriginals = wo.Select((v, i) => Cosine.Dot(v, on[i])).ToArray(),
                    };
                }
                var summary = Scoring.Summarise(scores, opt.Fmrs, name, isE0 ? "decoder's encoder (E0)" : "other FR model",
                    isE0 ? wid0 : Registry.WeightsId(name), spec.InputWidth, spec.InputHeight, warp != null);
                // The mean face goes the reconstructions' way: drawn in E0's crop, moved to this model's.
                var meanT = enc.Encode([warp is { } mw ? Warp.Affine(meanFace0, mw, spec.InputWidth, spec.InputHeight) : meanFace0])[0];
                var at1e3 = summary.Rates.FirstOrDefault(x => x.Fmr == 1e-3);
                results.Add(summary with
                {
                    Identification = at1e3 != null && scores.People >= 2 ? Identification.Measure(ot, rt, meanT, ids, at1e3.Threshold) : null,
                    Frechet = scores.People >= 4 ? Frechet.Measure(ot, rt, meanT, ids) : null,
                });
                Lap("score_" + name);
            }
            finally { if (!isE0) enc.Dispose(); }
        }

        // Issue 25: colour bias and texture distance, each beside the originals' reference (ColourBias.cs, TextureDistance.cs).
        var ids0 = set0.Items.Select(i => i.Identity).ToList();
        var colour = ColourBias.Measure(recon, originals0, ids0, Box.InnerFace(spec0.Template));
        var texture = opt.Texture
            ? TextureDistance.Measure(recon, originals0, meanFace0, ids0, spec0.Template, opt.Device, opt.Batch, P($"texture features ({TextureDistance.Model})"))
            : null;
        Lap("colour_texture");

        // Sample faces: one image each of people spread over the list (or the first images, when people are few).
        var samples = SampleIndices(set0.Items.Select(i => i.Identity).ToList(), opt.SampleFaces);
        var meta = info.Metadata;
        var decProv = new DecoderProvenance(RecordPath.Of(decoderPath), FileId.Of(decoderPath), new FileInfo(decoderPath).Length, info.Encoder,
            info.TemplateDim, $"{info.OutWidth}x{info.OutHeight}", meta.GetValueOrDefault("format", ""),
            int.TryParse(meta.GetValueOrDefault("epochs_done"), out var ep) ? ep : null,
            double.TryParse(meta.GetValueOrDefault("train_seconds"), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ts) ? ts : null,
            meta.GetValueOrDefault("split"), meta.GetValueOrDefault("train_config") is { } tc ? RecordPath.Scrub(tc) : null,
            meta.Where(kv => kv.Key != "epoch_sums").OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => RecordPath.Scrub(kv.Value)));
        var dataProv = new DataProvenance(RecordPath.Scrub(opt.Data), kind, split?.Name, splitFile == null ? null : RecordPath.Of(splitFile), items.Count,
            listedPeople, opt.LimitPeople, set0.Count, set0.Items.Select(i => i.Identity).Distinct().Count(), set0.Skipped.Count,
            set0.Skipped.Select(s => new[] { RecordPath.Of(s.File), s.Problem }).ToList(), opt.CacheDir == null ? "" : RecordPath.Of(opt.CacheDir));
        return new EvaluationResult(decProv, dataProv, spec0.Name, models, opt.Fmrs, results, quality,
            (opt.Device ?? torch.CPU).ToString(), stages, Math.Round(clock.Elapsed.TotalSeconds, 2), DateTime.UtcNow.ToString("o"))
        {
            SampleOriginals = samples.Select(i => targets0[i]).ToList(),
            SampleReconstructions = samples.Select(i => drawn[i]).ToList(),
            SampleNames = samples.Select(i => Path.GetFileNameWithoutExtension(set0.Items[i].Path)).ToList(),
            DecoderKind = info.Kind, ColourBias = colour, Texture = texture,
        };
    }

    /// <summary>Indices of up to <paramref name="count"/> images: each the first image of people evenly spread over the list.</summary>
    public static List<int> SampleIndices(IReadOnlyList<string> identities, int count)
    {
        var firsts = new List<int>();
        for (int i = 0; i < identities.Count; i++)
            if (i == 0 || identities[i] != identities[i - 1]) firsts.Add(i);
        if (firsts.Count < count) return Enumerable.Range(0, Math.Min(count, identities.Count)).ToList();
        return Enumerable.Range(0, count).Select(k => firsts[(int)((long)k * firsts.Count / count)]).ToList();
    }

    static float[][] EncodeWithProgress(IEncoder enc, IReadOnlyList<RgbImage> crops, int batch, IProgress<(int, int)> p)
    {
        var r = new List<float[]>(crops.Count);
        int chunk = batch * 4;
        for (int i = 0; i < crops.Count; i += chunk)
        {
            r.AddRange(enc.Encode(crops.Skip(i).Take(chunk).ToList(), batch: batch));
            p.Report((Math.Min(i + chunk, crops.Count), crops.Count));
        }
        if (crops.Count == 0) p.Report((0, 0));
        return r.ToArray();
    }

    sealed class StageProgress(IProgress<EvaluationProgress>? inner, string stage) : IProgress<(int, int)>
    {
        public void Report((int, int) v) => inner?.Report(new EvaluationProgress(stage, v.Item1, v.Item2));
    }
}
