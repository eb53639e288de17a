using System.Globalization;
using Dfd.Core;
using Dfd.Imaging;

namespace Dfd.Analysis;

/// <summary>
/// The <see cref="FaceGeometry"/> quantity a geometric series moves, so the detector can tell how much of the change
/// the template (and so its reconstruction) keeps. Shifts are split by axis because the probe measures the landmark
/// centre's x and y separately.
/// </summary>
public enum GeometryQuantity { None, Roll, ShiftX, ShiftY, Zoom }

/// <summary>What each <see cref="GeometryQuantity"/> reads from a <see cref="FaceGeometry"/>, as a change from the clean crop.</summary>
public static class GeometryQuantities
{
    public static string Label(GeometryQuantity q) => q switch
    {
        GeometryQuantity.Roll => "roll (degrees)",
        GeometryQuantity.ShiftX => "landmark centre x (px)",
        GeometryQuantity.ShiftY => "landmark centre y (px)",
        GeometryQuantity.Zoom => "log inter-ocular distance",
        _ => throw new ArgumentOutOfRangeException(nameof(q), q, "no geometry quantity"),
    };

    /// <summary>The quantity's change from <paramref name="clean"/> to <paramref name="g"/>.</summary>
    public static double Delta(GeometryQuantity q, FaceGeometry g, FaceGeometry clean) => q switch
    {
        GeometryQuantity.Roll => Wrap(g.Roll - clean.Roll),
        GeometryQuantity.ShiftX => g.CentreX - clean.CentreX,
        GeometryQuantity.ShiftY => g.CentreY - clean.CentreY,
        // A zoom multiplies distances, so its log is what moves linearly with log(factor).
        GeometryQuantity.Zoom => Math.Log(g.InterOcular / clean.InterOcular),
        _ => throw new ArgumentOutOfRangeException(nameof(q), q, "no geometry quantity"),
    };

    /// <summary>The change a perturbation of this strength should make, in the units of <see cref="Delta"/>.</summary>
    public static double OfStrength(GeometryQuantity q, double strength) => q == GeometryQuantity.Zoom ? Math.Log(strength) : strength;

    static double Wrap(double deg) => deg > 180 ? deg - 360 : deg < -180 ? deg + 360 : deg;
}

/// <summary>Sequences of strengths shared by the CLI, the demo and the library's default sweeps.</summary>
public static class Strengths
{
    /// <summary>
    /// How many strengths <see cref="Range"/> gives: the steps that fit, counting a max that the steps reach up to
    /// rounding (0.6 + 8·0.1 lands a hair above 1.4). Saturates instead of overflowing, so callers can cap it.
    /// </summary>
    public static long Count(double min, double max, double step)
    {
        double n = Math.Floor((max - min) / step + 1e-9) + 1;
        return n >= long.MaxValue ? long.MaxValue : (long)n;
    }

    /// <summary>
    /// min, min + step, … up to max inclusive. The k-th value is min + k·step rounded to 9 decimals, computed afresh
    /// rather than accumulated, so 0, 1 and the decimal grid land on the exact doubles a user would type (adding 0.1
    /// eight times to 0.6 gives 1.3999999999999999). Negative zero becomes 0 so labels never read "-0".
    /// </summary>
    public static double[] Range(double min, double max, double step)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max)) throw new ArgumentOutOfRangeException(nameof(min), $"bounds must be finite, got {min}..{max}");
        if (!(step > 0) || !double.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be positive and finite");
        if (max < min) throw new ArgumentOutOfRangeException(nameof(max), max, $"max is below min ({min})");
        long n = Count(min, max, step);
        if (n > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(step), step, $"{n} strengths do not fit in an array");
        var v = new double[n];
        for (int k = 0; k < n; k++) v[k] = Math.Round(min + k * step, 9) + 0.0;
        return v;
    }
}

/// <summary>
/// One curve an analysis draws (<see cref="AnalysisPoint.Series"/>): its name, or the prefix before ':' for families
/// such as occlude:eyes or fgsm:dodge; the report's axis label and strength format; the geometry quantity it moves;
/// and, for sweeps, the change it makes to a crop at a given strength.
/// </summary>
/// <param name="StrengthFormat">A composite format for <c>strength · FormatScale</c>, e.g. "{0:0.#}°".</param>
public sealed record AnalysisSeries(string Name, string AxisLabel, string StrengthFormat,
    GeometryQuantity Quantity = GeometryQuantity.None, Func<RgbImage, double, RgbImage>? Apply = null, double FormatScale = 1)
{
    public bool Matches(string series) => series == Name || series.StartsWith(Name + ":", StringComparison.Ordinal);

    public string Label(double strength) => string.Format(CultureInfo.InvariantCulture, StrengthFormat, strength * FormatScale);

    /// <summary>This series' perturbation at one strength.</summary>
    public Perturbation At(double strength)
    {
        var f = Apply ?? throw new InvalidOperationException($"series {Name} is not a sweep of strengths");
        return new(Name, strength, img => f(img, strength));
    }
}

/// <summary>A sweep's default --min/--max/--step, its unit in messages, and which strengths make sense.</summary>
/// <param name="Valid">Null: any value; otherwise the test each strength must pass, <paramref name="Invalid"/> saying why.</param>
public sealed record StrengthRange(double Min, double Max, double Step, string Unit, Func<double, bool>? Valid = null, string? Invalid = null)
{
    public double[] Values() => Strengths.Range(Min, Max, Step);
}

/// <summary>An option of a kind: --Name, what the help shows after it, its default (null: none), and another spelling.</summary>
public sealed record KindOption(string Name, string Shown, string? Default = null, string? Alias = null);

/// <summary>A user's option is wrong (the CLI shows the message as a usage error).</summary>
public sealed class AnalysisOptionException(string message) : DfdException(message);

/// <summary>A kind's options as given (by the CLI's arguments, or in code), falling back to the declared defaults.</summary>
public sealed class KindOptions(AnalysisKind kind, Func<string, string?> lookup)
{
    public AnalysisKind Kind { get; } = kind;

    KindOption Declared(string name) => Kind.Options.FirstOrDefault(o => o.Name == name)
        ?? throw new ArgumentException($"analysis kind {Kind.Name} declares no option --{name}", nameof(name));

    /// <summary>The value given, else null (no default).</summary>
    public string? Given(string name)
    {
        var o = Declared(name);
        return lookup(name) ?? (o.Alias != null ? lookup(o.Alias) : null);
    }

    public string? Get(string name) => Given(name) ?? Declared(name).Default;

    public int Int(string name)
    {
        var v = Get(name) ?? throw new AnalysisOptionException($"missing required option --{name}");
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : throw new AnalysisOptionException($"--{name} expects an integer, got '{v}'");
    }

    public double Double(string name)
    {
        var v = Get(name) ?? throw new AnalysisOptionException($"missing required option --{name}");
        return double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) ? r : throw new AnalysisOptionException($"--{name} expects a number, got '{v}'");
    }
}

/// <summary>
/// A kind with its options settled, ready to run on any encoder's <see cref="Analyzer"/>. Which fields matter depends
/// on the kind: sweeps use <see cref="Range"/> and <see cref="Perturbations"/>, occlusion Patch/Stride/Colour, attacks
/// Epsilons/Goals/AttackSteps/StepSize, interpolation Steps.
/// </summary>
public sealed record AnalysisPlan(AnalysisKind Kind)
{
    public StrengthRange? Range { get; init; }
    public IReadOnlyList<Perturbation> Perturbations { get; init; } = [];
    public int Patch { get; init; }
    public int Stride { get; init; }
    public Colour Colour { get; init; }
    public double[] Epsilons { get; init; } = [];
    public AttackGoal[] Goals { get; init; } = [];
    public int AttackSteps { get; init; }
    public double? StepSize { get; init; }
    public int Steps { get; init; }

    /// <param name="measure">false skips the face-detector geometry of sweeps (the probe is the slow part).</param>
    public List<AnalysisResult> Run(Analyzer analyzer, IReadOnlyList<AnalysisInput> inputs, string? decoderName = null, bool measure = true) =>
        Kind.Run(analyzer, this, inputs, decoderName, measure);
}

/// <summary>
/// One analysis of `dfd analyze &lt;kind&gt;`, the report and the demo: its name, what it does, its options (with
/// defaults, for the help and the parser), the series it draws, and how it is parsed and run.
/// </summary>
/// <param name="HelpNote">The help's parenthetical after the options, or null.</param>
/// <param name="ImagePair">Runs on two images named on the command line (A B) instead of --input; such kinds cannot be compared.</param>
/// <param name="Attack">Points score attack success (dodge: no longer matches; impersonate: matches the target) rather than match rate.</param>
public sealed record AnalysisKind(
    string Name, string Description, string? HelpNote, IReadOnlyList<KindOption> Options, IReadOnlyList<AnalysisSeries> Series,
    Func<KindOptions, AnalysisPlan> Parse, Func<Analyzer, AnalysisPlan, IReadOnlyList<AnalysisInput>, string?, bool, List<AnalysisResult>> Run,
    StrengthRange? Range = null, bool ImagePair = false, bool Attack = false)
{
    /// <summary>Parses options looked up by name (null: not given).</summary>
    public AnalysisPlan Plan(Func<string, string?> lookup) => Parse(new KindOptions(this, lookup));

    /// <summary>A plan from options in code: ("min", -45), ("eps", "0,2,4,8"), …; values are written invariantly.</summary>
    public AnalysisPlan Plan(params (string Name, object Value)[] options)
    {
        var d = options.ToDictionary(o => o.Name, o => Convert.ToString(o.Value, CultureInfo.InvariantCulture));
        return Plan(n => d.GetValueOrDefault(n));
    }

    /// <summary>The sweep over the given strengths: every series at every strength, series by series.</summary>
    public List<Perturbation> Sweep(IReadOnlyList<double> strengths) =>
        Series.Where(s => s.Apply != null).SelectMany(s => strengths.Select(s.At)).ToList();

    /// <summary>The sweep from min to max by step (<see cref="Strengths.Range"/>).</summary>
    public List<Perturbation> Sweep(double min, double max, double step) => Sweep(Strengths.Range(min, max, step));

    /// <summary>The options as the help shows them: "[--min -60 --max 60 --step 10]", "A B [--steps 9]".</summary>
    public string Usage => (ImagePair ? "A B " : "") + "[" + string.Join(" ", Options.Select(o => $"--{o.Name} {o.Shown}")) + "]";
}

/// <summary>
/// The table of analysis kinds. The CLI's parser, kinds list and help, the report's axis labels and strength formats,
/// the geometry fits and the demo all read it, so a new kind is one entry in <see cref="All"/>.
/// </summary>
public static class AnalysisKinds
{
    /// <summary>A sweep over strengths with --min/--max/--step, one series per entry of <paramref name="series"/>.</summary>
    static AnalysisKind Sweep(string name, string description, string? note, StrengthRange range, params AnalysisSeries[] series) => new(
        name, description, note,
        [new("min", Num(range.Min), Num(range.Min)), new("max", Num(range.Max), Num(range.Max)), new("step", Num(range.Step), Num(range.Step))],
        series, ParseSweep,
        (an, plan, inputs, dec, measure) => [an.Sweep(plan.Kind.Name, inputs, plan.Perturbations, dec, keepImages: true, measure: measure)],
        range);

    /// <summary>--max below --min and other nonsense fail here, before any model loads.</summary>
    static AnalysisPlan ParseSweep(KindOptions o)
    {
        var d = o.Kind.Range!;
        double lo = o.Double("min"), hi = o.Double("max"), st = o.Double("step");
        if (!(st > 0)) throw new AnalysisOptionException("--step must be positive");
        if (hi < lo) throw new AnalysisOptionException($"--max ({hi}{d.Unit}) is below --min ({lo}{d.Unit})");
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || !double.IsFinite(st)) throw new AnalysisOptionException("--min, --max and --step must be finite");
        long n = Strengths.Count(lo, hi, st);
        if (n > MaxStrengths) throw new AnalysisOptionException($"{n} strengths from --min, --max, --step: at most {MaxStrengths}");
        var v = Strengths.Range(lo, hi, st);
        if (d.Valid != null && !v.All(d.Valid)) throw new AnalysisOptionException(d.Invalid ?? $"{o.Kind.Name}: a strength out of range");
        return new(o.Kind) { Range = d with { Min = lo, Max = hi, Step = st }, Perturbations = o.Kind.Sweep(v) };
    }

    /// <summary>Every sweep point is encoded, decoded and measured; beyond this a typo (--step 0.01) rather than a plan.</summary>
    public const int MaxStrengths = 200;

    static string Num(double x) => x.ToString(CultureInfo.InvariantCulture);

    public static readonly AnalysisKind Rotation = Sweep("rotation", "in-plane rotation about the crop centre", "degrees, in-plane",
        new StrengthRange(-60, 60, 10, "°"),
        new AnalysisSeries("rotate", "rotation (degrees)", "{0:0.#}°", GeometryQuantity.Roll, Perturbations.Rotate));

    public static readonly AnalysisKind Translation = Sweep("translation", "horizontal, then vertical shifts of the crop", "pixels of the aligned crop, x and y",
        new StrengthRange(-20, 20, 5, " px"),
        new AnalysisSeries("translate-x", "shift (pixels of the aligned crop)", "{0:0.#} px", GeometryQuantity.ShiftX, (img, d) => Perturbations.Translate(img, d, 0)),
        new AnalysisSeries("translate-y", "shift (pixels of the aligned crop)", "{0:0.#} px", GeometryQuantity.ShiftY, (img, d) => Perturbations.Translate(img, 0, d)));

    public static readonly AnalysisKind Scale = Sweep("scale", "zoom about the crop centre (factor > 1 zooms in)", null,
        new StrengthRange(0.6, 1.4, 0.1, "", f => f > 0, "scale factors must be positive"),
        new AnalysisSeries("scale", "scale factor", "×{0:0.##}", GeometryQuantity.Zoom, Perturbations.Scale));

    public static readonly AnalysisKind Occlusion = new("occlusion",
        "a patch swept over the crop (heat map) and the named face-part occluders", null,
        [new("patch", "30", "30"), new("stride", "10", "10"), new("colour", "black|grey|white|R,G,B", "black", Alias: "color")],
        [new AnalysisSeries("occlude", "fraction of the crop covered", "{0:0.#}% covered", FormatScale: 100)],
        o =>
        {
            int patch = o.Int("patch"), stride = o.Int("stride");
            if (patch < 1 || stride < 1) throw new AnalysisOptionException("--patch and --stride must be positive");
            return new(o.Kind) { Patch = patch, Stride = stride, Colour = ParseColour(o.Get("colour")!) };
        },
        (an, plan, inputs, dec, _) => [an.Occlusion(inputs, plan.Patch, plan.Stride, plan.Colour, dec)]);

    /// <param name="oneStep">FGSM: a single step of size ε, so --steps and --step-size are refused rather than ignored.</param>
    static AnalysisKind AttackKind(string name, string description, bool oneStep) => new(name, description, "ε in grey levels",
        [new("eps", "0,1,2,4,8", "0,1,2,4,8"), new("goal", "dodge|impersonate|both", "both"), new("steps", "10", "10"), new("step-size", "S")],
        [new AnalysisSeries(name, "ε (grey levels of 255)", "ε {0:0.##}")],
        o => ParseAttack(o, oneStep),
        (an, plan, inputs, dec, _) => plan.Goals.Select(g => an.Attack(plan.Kind.Name, inputs, g, plan.Epsilons,
            e => oneStep ? AttackOptions.Fgsm(e) : AttackOptions.Pgd(e, plan.AttackSteps, plan.StepSize), null, dec)).ToList(),
        Attack: true);

    static AnalysisPlan ParseAttack(KindOptions o, bool oneStep)
    {
        var eps = o.Get("eps")!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 0 && double.IsFinite(x) ? x : throw new AnalysisOptionException($"--eps: '{s}' is not a non-negative number")).ToArray();
        if (eps.Length == 0) throw new AnalysisOptionException("--eps lists no values");
        var goals = o.Get("goal") switch
        {
            "dodge" => new[] { AttackGoal.Dodge },
            "impersonate" => [AttackGoal.Impersonate],
            "both" => [AttackGoal.Dodge, AttackGoal.Impersonate],
            var g => throw new AnalysisOptionException($"--goal expects dodge, impersonate or both, got '{g}'"),
        };
        int steps = oneStep ? 1 : o.Int("steps");
        if (oneStep && o.Given("steps") != null) throw new AnalysisOptionException($"{o.Kind.Name} is one step; use pgd for --steps");
        double? size = o.Given("step-size") != null ? o.Double("step-size") : null;
        if (oneStep && size != null) throw new AnalysisOptionException($"{o.Kind.Name}'s step is ε; use pgd for --step-size");
        if (steps < 1) throw new AnalysisOptionException("--steps must be at least 1");
        return new(o.Kind) { Epsilons = eps, Goals = goals, AttackSteps = steps, StepSize = size };
    }

    public static readonly AnalysisKind Fgsm = AttackKind("fgsm", "fast gradient sign attack: one step of size ε", oneStep: true);
    public static readonly AnalysisKind Pgd = AttackKind("pgd", "projected gradient descent: steps of the sign gradient within ±ε", oneStep: false);

    public static readonly AnalysisKind Interpolate = new("interpolate",
        "decode templates along the great circle between two faces' templates", "two images: decode the path between their templates",
        [new("steps", "9", "9")],
        [new AnalysisSeries("interpolate", "fraction of the way from A to B", "{0:0.##} of the way to B")],
        o =>
        {
            int steps = o.Int("steps");
            if (steps < 2) throw new AnalysisOptionException("--steps must be at least 2");
            return new(o.Kind) { Steps = steps };
        },
        (an, plan, inputs, dec, _) => inputs.Count == 2
            ? [an.Interpolate(inputs[0], inputs[1], plan.Steps, dec)]
            : throw new ArgumentException($"interpolate takes two faces, got {inputs.Count}", nameof(inputs)),
        ImagePair: true);

    /// <summary>Every kind, in the order the help lists them.</summary>
    public static IReadOnlyList<AnalysisKind> All { get; } = [Rotation, Translation, Scale, Occlusion, Fgsm, Pgd, Interpolate];

    public static AnalysisKind? Find(string name) => All.FirstOrDefault(k => k.Name == name);

    /// <summary>Whether a result's kind ("fgsm", "rotation", …) scores attack success; false for kinds not in the table.</summary>
    public static bool IsAttack(string kind) => Find(kind)?.Attack == true;

    /// <summary>The entry drawing a series ("rotate", "occlude:eyes", "pgd:dodge"), or null.</summary>
    public static AnalysisSeries? SeriesOf(string series) => All.SelectMany(k => k.Series).FirstOrDefault(s => s.Matches(series));

    /// <summary>The report's axis label for a series; "strength" for series not in the table.</summary>
    public static string AxisLabel(string series) => SeriesOf(series)?.AxisLabel ?? "strength";

    /// <summary>One strength as the report labels it (12°, ×1.1, ε 4, 3.5% covered); plain for series not in the table.</summary>
    public static string StrengthLabel(string series, double strength) =>
        SeriesOf(series)?.Label(strength) ?? strength.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>
    /// The kinds' lines of `dfd analyze --help`, without indentation: names, options with their defaults and the note
    /// in a column; adjacent kinds with the same options and note share a line ("fgsm | pgd").
    /// </summary>
    public static IEnumerable<string> HelpLines()
    {
        for (int i = 0; i < All.Count;)
        {
            int j = i + 1;
            while (j < All.Count && All[j].Usage == All[i].Usage && All[j].HelpNote == All[i].HelpNote && All[j].ImagePair == All[i].ImagePair) j++;
            string head = string.Join(" | ", All.Skip(i).Take(j - i).Select(k => k.Name)) + " " + All[i].Usage;
            yield return All[i].HelpNote is { } note ? head.PadRight(40) + "  (" + note + ")" : head;
            i = j;
        }
    }

    /// <summary>"black", "grey"/"gray", "white" or "R,G,B" (0–255).</summary>
    public static Colour ParseColour(string s) => s switch
    {
        "black" => Colour.Black,
        "grey" or "gray" => Colour.Grey,
        "white" => Colour.White,
        _ when s.Split(',') is { Length: 3 } p && p.All(x => byte.TryParse(x, out _)) => new(byte.Parse(p[0]), byte.Parse(p[1]), byte.Parse(p[2])),
        _ => throw new AnalysisOptionException($"--colour expects black, grey, white or R,G,B (0–255), got '{s}'"),
    };
}
