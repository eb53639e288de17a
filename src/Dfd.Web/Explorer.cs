using Dfd.Analysis;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Imaging;
using Dfd.Reports;

namespace Dfd.Web;

/// <summary>One loaded face as one encoder sees it: its aligned crop, template and (regression decoder's) reconstruction.</summary>
public sealed record FaceView(RgbImage Crop, float[] Template, RgbImage? Reconstruction);

/// <summary>
/// A photo held for the session (in memory only, never written: faces are biometric data): the faces the detector
/// found, the one picked, and per encoder its <see cref="FaceView"/>.
/// </summary>
public sealed class LoadedFace
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required RgbImage Photo { get; init; }
    public required IReadOnlyList<Face> Faces { get; init; }
    public required int Pick { get; init; }
    public required IReadOnlyList<FaceView> Views { get; init; }
}

/// <summary>
/// The explorer's model work, on one or more encoders side by side: load a photo, perturb its crop, attack it,
/// interpolate between two faces, decode a template. Every method runs models and must be called from one thread at a
/// time (the server's <see cref="WorkQueue"/>); the face store itself is thread-safe.
/// </summary>
public sealed class Explorer : IDisposable
{
    readonly object gate = new();
    readonly LinkedList<LoadedFace> faces = new();   // oldest first
    readonly int maxFaces;
    readonly IReadOnlyList<LoadedDecoder?> sharp;

    /// <param name="models">The encoders, in the order the page shows them; the first one's detector finds faces.</param>
    /// <param name="samples">The folder of bundled sample photos, or null.</param>
    /// <param name="sharp">Per encoder, its sharp decoder or null (the explorer then owns them).</param>
    public Explorer(IReadOnlyList<FaceModel> models, string? samples, int maxFaces = 64, IReadOnlyList<LoadedDecoder?>? sharp = null)
    {
        if (models.Count == 0) throw new ArgumentException("no encoders", nameof(models));
        var dup = models.GroupBy(m => m.Spec.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"encoder {dup.Key} given twice", nameof(models));
        Models = models;
        SamplesDir = samples;
        Samples = samples == null ? [] : ImageIO.ListImages(samples, recursive: false).Select(f => Path.GetFileName(f)).ToArray();
        this.maxFaces = maxFaces;
        if (sharp != null && sharp.Count != models.Count)
            throw new ArgumentException($"{sharp.Count} sharp decoder entries for {models.Count} encoders", nameof(sharp));
        this.sharp = sharp ?? new LoadedDecoder?[models.Count];
    }

    /// <summary>Encoder <paramref name="k"/>'s sharp decoder, or null.</summary>
    public LoadedDecoder? Sharp(int k) => sharp[k];

    /// <summary>
    /// The decoder kind per encoder (in <see cref="Models"/> order) that a request asks for: regression unless it names
    /// sharp. Checked before any work is queued.
    /// </summary>
    /// <exception cref="ApiException">400: an encoder not loaded, or a kind other than regression or sharp; 409: that
    /// encoder has no sharp decoder here.</exception>
    public string[] Choose(IReadOnlyDictionary<string, string?>? choice)
    {
        var kinds = Enumerable.Repeat(DecoderKind.Regression, Models.Count).ToArray();
        foreach (var (enc, kind) in choice ?? new Dictionary<string, string?>())
        {
            int k = Models.Select(m => m.Spec.Name).ToList().IndexOf(enc);
            var loaded = string.Join(", ", Models.Select(m => m.Spec.Name));
            if (k < 0) throw new ApiException(400, $"decoders names encoder '{Clip(enc)}', which is not loaded here (loaded: {loaded})");
            kinds[k] = kind switch
            {
                DecoderKind.Regression => DecoderKind.Regression,
                DecoderKind.Sharp => sharp[k] != null ? DecoderKind.Sharp
                    : throw new ApiException(409, $"{enc} has no sharp decoder here (models/dfd-{enc}-lfw-sharp.safetensors not found)"),
                _ => throw new ApiException(400,
                    $"decoder for {enc} must be {DecoderKind.Regression} or {DecoderKind.Sharp}, got '{Clip(kind ?? "")}'"),
            };
        }
        return kinds;
    }

    /// <summary>A template of encoder <paramref name="k"/> drawn by the decoder of that kind, and the kind; nulls where it has none.</summary>
    public (RgbImage? Image, string? Kind) Draw(int k, string kind, float[] template)
    {
        if (kind == DecoderKind.Sharp) return (sharp[k]!.Decoder.Reconstruct(template), DecoderKind.Sharp);
        var m = Models[k];
        return m.Decoder != null ? (m.Reconstruct(template), DecoderKind.Regression) : (null, null);
    }

    /// <summary>A loaded face's reconstruction by encoder <paramref name="k"/>'s decoder of that kind (the regression one is kept).</summary>
    public (RgbImage? Image, string? Kind) Reconstruction(LoadedFace f, int k, string kind) =>
        kind == DecoderKind.Regression
            ? (f.Views[k].Reconstruction, f.Views[k].Reconstruction != null ? kind : null)
            : Draw(k, kind, f.Views[k].Template);

    public IReadOnlyList<FaceModel> Models { get; }
    public string? SamplesDir { get; }
    public IReadOnlyList<string> Samples { get; }

    /// <summary>More than one encoder with a decoder: the page shows them side by side.</summary>
    public bool SideBySide => Models.Count(m => m.Decoder != null) > 1;

    /// <summary>A loaded face by id.</summary>
    /// <exception cref="ApiException">404: no such face (never loaded, or dropped to make room).</exception>
    public LoadedFace Get(string? id)
    {
        if (string.IsNullOrEmpty(id)) throw new ApiException(400, "no face id given");
        lock (gate)
            return faces.FirstOrDefault(f => f.Id == id) ?? throw new ApiException(404, $"unknown face id '{Clip(id)}' (load a face first; the server keeps the last {maxFaces})");
    }

    public bool Remove(string id)
    {
        lock (gate)
        {
            var n = faces.First;
            for (; n != null; n = n.Next) if (n.Value.Id == id) { faces.Remove(n); return true; }
            return false;
        }
    }

    /// <summary>The bytes of a bundled sample, by file name.</summary>
    /// <exception cref="ApiException">404: not one of the samples.</exception>
    public byte[] SampleBytes(string? name)
    {
        if (SamplesDir == null || name == null || !Samples.Contains(name, StringComparer.Ordinal))
            throw new ApiException(404, $"unknown sample '{Clip(name ?? "")}'" + (Samples.Count > 0 ? $" (samples: {Samples[0]} … {Samples[^1]})" : " (no samples folder)"));
        return File.ReadAllBytes(Path.Combine(SamplesDir, name));
    }

    /// <summary>
    /// Detects the faces in a photo, aligns the most central (as everywhere, <see cref="FacePick"/>) for every encoder,
    /// encodes and decodes it, keeps it.
    /// </summary>
    /// <exception cref="ApiException">422: the detector finds no face.</exception>
    public LoadedFace Add(string name, RgbImage photo)
    {
        var found = Models[0].Detect(photo);
        if (found.Count == 0) throw new ApiException(422, $"{name}: no face found; use a photo with a face in it, roughly frontal and not too small");
        var central = FacePipeline.MostCentral(found, photo.Width, photo.Height);
        int pick = Enumerable.Range(0, found.Count).First(i => ReferenceEquals(found[i], central));
        return Keep(Build(Guid.NewGuid().ToString("N")[..12], name, photo, found, pick));
    }

    /// <summary>The same photo with another of its detected faces picked.</summary>
    public LoadedFace Pick(string id, int index)
    {
        var f = Get(id);
        if (index < 0 || index >= f.Faces.Count) throw new ApiException(400, $"face index must lie in 0..{f.Faces.Count - 1}, got {index}");
        var g = Build(f.Id, f.Name, f.Photo, f.Faces, index);
        lock (gate)
        {
            var n = faces.Find(f);
            if (n != null) n.Value = g; else Keep(g);
        }
        return g;
    }

    LoadedFace Build(string id, string name, RgbImage photo, IReadOnlyList<Face> found, int pick)
    {
        var views = Models.Select(m =>
        {
            var crop = FacePipeline.Align(photo, found[pick], m.Spec.Template);
            var t = m.Encode(crop);
            return new FaceView(crop, t, m.Decoder != null ? m.Reconstruct(t) : null);
        }).ToList();
        return new LoadedFace { Id = id, Name = name, Photo = photo, Faces = found, Pick = pick, Views = views };
    }

    LoadedFace Keep(LoadedFace f)
    {
        lock (gate)
        {
            faces.AddLast(f);
            while (faces.Count > maxFaces) faces.RemoveFirst();
        }
        return f;
    }

    /// <summary>One encoder's answer for a changed input: the input, what its template decodes to (and which decoder
    /// drew it), cosine and decision.</summary>
    public sealed record Outcome(string Encoder, RgbImage Image, float[] Template, RgbImage? Reconstruction, string? Decoder,
        double Cosine, bool Match, double Threshold);

    Outcome Judge(int k, string kind, RgbImage image, float[] reference, float[]? template = null)
    {
        var m = Models[k];
        var t = template ?? m.Encode(image);
        double cos = m.Compare(t, reference);
        var (recon, drawn) = Draw(k, kind, t);
        bool match = double.IsFinite(m.Spec.Threshold1e3) && cos >= m.Spec.Threshold1e3;
        return new Outcome(m.Spec.Name, image, t, recon, drawn, cos, match, m.Spec.Threshold1e3);
    }

    /// <summary>Rotation, scale and shift of every encoder's crop, then an occluder on top; each judged against its clean template.</summary>
    /// <param name="kinds">The decoder kind per encoder (<see cref="Choose"/>).</param>
    public List<Outcome> Perturb(LoadedFace f, PerturbRequest r, IReadOnlyList<string> kinds)
    {
        var list = new List<Outcome>();
        for (int k = 0; k < Models.Count; k++)
        {
            var v = f.Views[k];
            var img = Perturbations.Transform(v.Crop, r.Rotation, r.Scale, r.ShiftX, r.ShiftY);
            if (r.Occluder is { } o) img = Perturbations.Occlude(img, OccluderBox(k, o), ApiJson.Colour(o.Colour));
            list.Add(Judge(k, kinds[k], img, v.Template));
        }
        return list;
    }

    /// <summary>Checks an occluder against every encoder's crop before any work is queued.</summary>
    public void CheckOccluder(OccluderRequest o)
    {
        ApiJson.Colour(o.Colour);
        for (int k = 0; k < Models.Count; k++) OccluderBox(k, o);
    }

    Box OccluderBox(int k, OccluderRequest o)
    {
        var spec = Models[k].Spec;
        if (o.Name != null)
        {
            if (o.X != null || o.Y != null || o.Size != null) throw new ApiException(400, "occluder: give a name or x, y and size, not both");
            var named = Occluders.Named(spec.Template);
            return named.FirstOrDefault(n => n.Name == o.Name).Box is { Area: > 0 } b ? b
                : throw new ApiException(400, $"occluder name must be one of {string.Join(", ", named.Select(n => n.Name))}, got '{Clip(o.Name)}'");
        }
        if (o.X is not { } x || o.Y is not { } y || o.Size is not { } s) throw new ApiException(400, "occluder: give a name, or x, y and size (crop pixels)");
        int w = spec.InputWidth, h = spec.InputHeight;
        Limits.Check("occluder size", s, (1, Math.Max(w, h)));
        Limits.Check("occluder x", x, (-s + 1, w - 1));
        Limits.Check("occluder y", y, (-s + 1, h - 1));
        return new Box(x, y, s, s);
    }

    /// <summary>The named occluders (Occluders.Named), as the page lists them.</summary>
    public IReadOnlyList<string> OccluderNames => Occluders.Named(Models[0].Spec.Template).Select(n => n.Name).ToList();

    /// <summary>Most patch positions a heat map may sweep: each is one encoder pass, and the worker cannot be interrupted.</summary>
    public const int MaxSweep = 400;

    /// <summary>Checks patch and stride against every encoder's crop before any work is queued.</summary>
    public void CheckHeatmap(HeatmapRequest r)
    {
        foreach (var m in Models)
        {
            int n = Occluders.Sweep(m.Spec.InputWidth, m.Spec.InputHeight, Math.Min(r.Patch, Math.Min(m.Spec.InputWidth, m.Spec.InputHeight)), r.Stride).Count();
            if (n > MaxSweep) throw new ApiException(400, $"patch {r.Patch} at stride {r.Stride} sweeps {n} positions of {m.Spec.Name}'s crop; at most {MaxSweep} (use a larger stride)");
        }
    }

    /// <summary>The occlusion heat map of each encoder's clean crop (a patch swept over it; the mean drop in cosine per pixel).</summary>
    public List<(string Encoder, RgbImage Map, OcclusionMap Numbers)> Heatmap(LoadedFace f, HeatmapRequest r)
    {
        var colour = ApiJson.Colour(r.Colour);
        return Models.Select((m, k) =>
        {
            var crop = f.Views[k].Crop;
            var result = new Analyzer(m.Encoder, null, null).Occlusion([new AnalysisInput(f.Name, crop)], Math.Min(r.Patch, Math.Min(crop.Width, crop.Height)), r.Stride, colour);
            var map = result.Occlusion!;
            return (m.Spec.Name, AnalysisReport.Overlay(crop, map.Mean, Math.Max(1e-9, map.Mean.Max())), map);
        }).ToList();
    }

    /// <summary>An attack's outcome for one encoder: the adversarial crop judged against the clean template, and (impersonation) the target's.</summary>
    public sealed record AttackOutcome(Outcome Result, RgbImage Difference, double? TargetCosine, bool? TargetMatch);

    public List<AttackOutcome> Attack(LoadedFace f, LoadedFace? target, AttackRequest r, AttackGoal goal, IReadOnlyList<string> kinds)
    {
        var options = r.Method == AnalysisKinds.Fgsm.Name ? AttackOptions.Fgsm(r.Epsilon) : AttackOptions.Pgd(r.Epsilon, r.Steps);
        return Models.Select((m, k) =>
        {
            var v = f.Views[k];
            var targets = target != null ? new[] { target.Views[k].Template } : null;
            var res = Attacks.Run(m.Encoder, [v.Crop], goal, options, targets);
            var o = Judge(k, kinds[k], res.Images[0], v.Template, res.Templates[0]);
            double? tc = targets != null ? m.Compare(res.Templates[0], targets[0]) : null;
            return new AttackOutcome(o, Attacks.Difference(v.Crop, res.Images[0], r.Amplify), tc,
                tc is { } c ? double.IsFinite(m.Spec.Threshold1e3) && c >= m.Spec.Threshold1e3 : null);
        }).ToList();
    }

    /// <summary>A point on the great circle between two faces' templates, per encoder: decoded, and compared with both ends.</summary>
    public List<(string Encoder, RgbImage? Reconstruction, string? Decoder, double CosineA, double CosineB, bool MatchA, bool MatchB,
        float[] Template)> Interpolate(
        LoadedFace a, LoadedFace b, double t, IReadOnlyList<string> kinds) =>
        Models.Select((m, k) =>
        {
            var p = Analyzer.Between(a.Views[k].Template, b.Views[k].Template, t);
            double ca = m.Compare(p, a.Views[k].Template), cb = m.Compare(p, b.Views[k].Template), th = m.Spec.Threshold1e3;
            var (recon, drawn) = Draw(k, kinds[k], p);
            return (m.Spec.Name, recon, drawn, ca, cb, ca >= th, cb >= th, p);
        }).ToList();

    /// <summary>The model for an encoder name.</summary>
    /// <exception cref="ApiException">404: not loaded here.</exception>
    public FaceModel Model(string? encoder) =>
        Models.FirstOrDefault(m => m.Spec.Name == encoder)
        ?? throw new ApiException(404, $"encoder '{Clip(encoder ?? "")}' is not loaded here (loaded: {string.Join(", ", Models.Select(m => m.Spec.Name))})");

    /// <summary>Ids and names are echoed in messages; a long or multi-line one is cut so the reason stays one short line.</summary>
    public static string Clip(string s)
    {
        s = new string(s.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return s.Length > 40 ? s[..40] + "…" : s;
    }

    /// <summary>Forgets every face and disposes the models (the explorer owns them).</summary>
    public void Dispose()
    {
        lock (gate) faces.Clear();
        foreach (var m in Models) m.Dispose();
        foreach (var d in sharp) d?.Dispose();
    }
}
