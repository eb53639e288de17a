using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;

namespace Dfd.Analysis;

/// <summary>One FR model of a <see cref="Comparison"/>: its encoder and, where there is one, its decoder (file name for the report).</summary>
public sealed record ComparedModel(IEncoder Encoder, FaceDecoder? Decoder = null, string? DecoderName = null)
{
    public EncoderSpec Spec => Encoder.Spec;

    /// <summary>An opened <see cref="FaceModel"/>'s encoder and decoder (the model keeps owning them).</summary>
    public static ComparedModel Of(FaceModel m) => new(m.Encoder, m.Decoder,
        m.DecoderPath is { } p && m.DecoderInfo is { } i ? $"{DecoderKind.Label(i.Kind)} ({Path.GetFileName(p)})" : null);
}

/// <summary>
/// What a <see cref="Comparison"/> made: every model's own run of the plan (<see cref="Results"/>, in model order; one
/// per goal for attacks) and, for attacks, every model's perturbations measured on every other model
/// (<see cref="Transfers"/>, <see cref="AnalysisResult.CraftedOn"/> naming the source).
/// </summary>
public sealed class ComparisonResult
{
    public required string Kind { get; init; }
    public required string[] Models { get; init; }
    public List<AnalysisResult> Results { get; } = [];
    public List<AnalysisResult> Transfers { get; } = [];

    /// <summary>Each model's results, in model order.</summary>
    public IEnumerable<(string Model, List<AnalysisResult> Results)> ByModel =>
        Models.Select(m => (m, Results.Where(r => r.Encoder == m).ToList()));

    /// <summary>The attack crafted on <paramref name="source"/>'s result, measured on each other model.</summary>
    public IEnumerable<AnalysisResult> TransfersOf(AnalysisResult source) =>
        Transfers.Where(t => t.CraftedOn == source.Encoder && t.Kind == source.Kind && Equals(t.Options.GetValueOrDefault("goal"), source.Options.GetValueOrDefault("goal")));
}

/// <summary>
/// Runs one analysis plan on several FR models for the same faces, every model loaded at once: each model perturbs,
/// encodes and decodes its own crop of the photos (crops differ: dlib's 150×150 chip, SphereFace's 112×96), so what
/// one template keeps and the other drops can be set side by side. Attacks are also transferred: the perturbations
/// crafted on each model are carried to every other model's crop (<see cref="Attacks.Transplant"/>) and measured
/// and decoded there.
/// </summary>
public sealed class Comparison
{
    readonly IReadOnlyList<ComparedModel> models;
    readonly YuNet? detector;

    /// <param name="detector">Measures sweep geometry (<see cref="GeometryProbe"/>, each model's template); null: none.</param>
    public Comparison(IReadOnlyList<ComparedModel> models, YuNet? detector = null)
    {
        if (models.Count < 2) throw new ArgumentException("a comparison needs at least two models", nameof(models));
        var dup = models.GroupBy(m => m.Spec.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"model {dup.Key} is listed twice", nameof(models));
        this.models = models;
        this.detector = detector;
    }

    public IReadOnlyList<ComparedModel> Models => models;

    /// <summary>
    /// Each model's aligned crops of the same files (<see cref="AnalysisInputs.Load"/> per model), kept to the faces
    /// every model has, in file order; a file that fails is noted once in <paramref name="problems"/>.
    /// </summary>
    public List<AnalysisInput>[] Align(IReadOnlyList<string> files, FacePipeline? pipeline, int limit, List<string> problems)
    {
        var per = new List<AnalysisInput>[models.Count];
        for (int m = 0; m < models.Count; m++)
        {
            var found = new List<string>();
            per[m] = AnalysisInputs.Load(files, models[m].Spec, pipeline, int.MaxValue, found);
            foreach (var f in found) if (!problems.Contains(f)) problems.Add(f);
        }
        var common = per.Select(l => l.Select(i => i.Name).ToHashSet()).Aggregate((a, b) => { a.IntersectWith(b); return a; });
        var names = per[0].Select(i => i.Name).Where(common.Contains).Take(limit).ToHashSet();
        for (int m = 0; m < models.Count; m++)
        {
            var dropped = per[m].Where(i => !common.Contains(i.Name)).Select(i => i.Name).ToList();
            if (dropped.Count > 0) problems.Add($"{models[m].Spec.Name}: {string.Join(", ", dropped)} left out (not aligned for every model)");
            per[m] = per[m].Where(i => names.Contains(i.Name)).ToList();
        }
        return per;
    }

    /// <summary>
    /// Runs <paramref name="plan"/> on every model with its own crops (<paramref name="inputs"/>[m] for model m, the
    /// same faces in the same order; image-pair kinds take two), then, for attacks, the transfers.
    /// </summary>
    /// <param name="measure">false skips the face-detector geometry of sweeps.</param>
    /// <param name="progress">Called with a stage ("rotation · dlib-resnet", "transfer fgsm:dodge · A → B") and (done, total) within it.</param>
    public ComparisonResult Run(AnalysisPlan plan, IReadOnlyList<IReadOnlyList<AnalysisInput>> inputs, bool measure = true,
        Action<string, int, int>? progress = null)
    {
        if (inputs.Count != models.Count) throw new ArgumentException($"{inputs.Count} input lists for {models.Count} models", nameof(inputs));
        var names = inputs[0].Select(i => i.Name).ToList();
        if (inputs.Any(l => !l.Select(i => i.Name).SequenceEqual(names)))
            throw new ArgumentException("every model needs its crops of the same faces in the same order", nameof(inputs));
        var c = new ComparisonResult { Kind = plan.Kind.Name, Models = models.Select(m => m.Spec.Name).ToArray() };
        Analyzer AnalyzerFor(ComparedModel m, string stage, bool measure) =>
            new(m.Encoder, m.Decoder, measure && detector != null ? new GeometryProbe(detector, m.Spec.Template) : null,
                progress == null ? null : new Stage(x => progress(stage, x.Done, x.Total)));
        var analyzers = models.Select(m => AnalyzerFor(m, $"{plan.Kind.Name} · {m.Spec.Name}", measure)).ToList();
        var own = new List<AnalysisResult>[models.Count];
        for (int m = 0; m < models.Count; m++)
        {
            own[m] = plan.Run(analyzers[m], inputs[m], models[m].DecoderName, measure);
            c.Results.AddRange(own[m]);
        }
        if (plan.Kind.Attack)
            for (int s = 0; s < models.Count; s++)
                foreach (var crafted in own[s])
                    for (int t = 0; t < models.Count; t++)
                    {
                        if (t == s) continue;
                        var warp = AlignmentTemplate.CropToCrop(models[s].Spec.Template, models[t].Spec.Template);
                        var stage = $"transfer {crafted.Points.FirstOrDefault()?.Series ?? crafted.Kind} · {models[s].Spec.Name} → {models[t].Spec.Name}";
                        c.Transfers.Add(AnalyzerFor(models[t], stage, false).Transfer(crafted, inputs[t], warp, models[t].DecoderName));
                    }
        return c;
    }

    sealed class Stage(Action<(int Done, int Total)> a) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => a(value);
    }
}
