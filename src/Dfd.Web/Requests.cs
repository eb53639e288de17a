using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dfd.Analysis;
using Dfd.Core;

namespace Dfd.Web;

/// <summary>A request the server refuses: the status (4xx) and a one-line reason for the page.</summary>
public sealed class ApiException(int status, string message) : DfdException(message)
{
    public int Status { get; } = status;
}

/// <summary>The sliders' ranges: the page reads them from /api/info, and every request is checked against them.</summary>
public static class Limits
{
    public static readonly (double Min, double Max) Rotation = (-180, 180);     // degrees
    public static readonly (double Min, double Max) Shift = (-75, 75);          // crop pixels
    public static readonly (double Min, double Max) Scale = (0.25, 4);          // factor
    public static readonly (double Min, double Max) Epsilon = (0, 32);          // grey levels
    public static readonly (int Min, int Max) Steps = (1, 40);                  // PGD steps
    public static readonly (double Min, double Max) Amplify = (1, 100);         // difference gain
    public static readonly (int Min, int Max) Patch = (4, 150);                 // occlusion sweep patch, crop pixels
    public static readonly (int Min, int Max) Stride = (2, 64);
    public static readonly (double Min, double Max) Fraction = (0, 1);          // interpolation

    public static object Describe() => new
    {
        rotation = new[] { Rotation.Min, Rotation.Max }, shift = new[] { Shift.Min, Shift.Max }, scale = new[] { Scale.Min, Scale.Max },
        epsilon = new[] { Epsilon.Min, Epsilon.Max }, steps = new[] { Steps.Min, Steps.Max }, amplify = new[] { Amplify.Min, Amplify.Max },
        patch = new[] { Patch.Min, Patch.Max }, stride = new[] { Stride.Min, Stride.Max }, fraction = new[] { Fraction.Min, Fraction.Max },
    };

    public static double Check(string name, double v, (double Min, double Max) r)
    {
        if (!double.IsFinite(v) || v < r.Min || v > r.Max)
            throw new ApiException(400, $"{name} must lie in {Num(r.Min)}..{Num(r.Max)}, got {Num(v)}");
        return v;
    }

    public static int Check(string name, int v, (int Min, int Max) r) =>
        v < r.Min || v > r.Max ? throw new ApiException(400, $"{name} must lie in {r.Min}..{r.Max}, got {v}") : v;

    static string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

// Decoders: the decoder kind per encoder name ("regression" or "sharp") that draws the reconstructions of the answer;
// an encoder not named gets its regression decoder. GET /api/faces/{id} and the upload take it as ?decoders=enc:kind,…

public sealed record SampleRequest(string? Name, Dictionary<string, string?>? Decoders = null);

public sealed record PickRequest(int Index, Dictionary<string, string?>? Decoders = null);

/// <summary>An occluder: a named face part (eyes, nose, mouth, upper-half, lower-half) or a square at (x, y) of side size.</summary>
public sealed record OccluderRequest(string? Name = null, int? X = null, int? Y = null, int? Size = null, string? Colour = null);

public sealed record PerturbRequest(string? Face, double Rotation = 0, double ShiftX = 0, double ShiftY = 0, double Scale = 1,
    OccluderRequest? Occluder = null, Dictionary<string, string?>? Decoders = null);

public sealed record HeatmapRequest(string? Face, int Patch = 30, int Stride = 10, string? Colour = null);

public sealed record AttackRequest(string? Face, string Method = "fgsm", string Goal = "dodge", string? Target = null,
    double Epsilon = 4, int Steps = 10, double Amplify = 10, Dictionary<string, string?>? Decoders = null);

public sealed record InterpolateRequest(string? A, string? B, double T = 0.5, Dictionary<string, string?>? Decoders = null);

/// <param name="Decoder">"regression" (the default) or "sharp".</param>
public sealed record ReconstructRequest(string? Encoder, float[]? Template, string? Decoder = null);

/// <summary>The JSON conventions of the API: snake_case names, unknown fields refused (a typo would otherwise pass silently).</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Parses a request body; anything malformed is a 400 with the parser's reason on one line.</summary>
    public static T Parse<T>(byte[] body) where T : class
    {
        if (body.Length == 0) throw new ApiException(400, "empty body: a JSON object expected");
        try
        {
            return JsonSerializer.Deserialize<T>(body, Options) ?? throw new ApiException(400, "a JSON object expected, got null");
        }
        catch (JsonException e)
        {
            throw new ApiException(400, "malformed JSON: " + OneLine(e.Message));
        }
    }

    /// <summary>?decoders=enc:kind,enc:kind as a map (the kinds are checked by <see cref="Explorer.Choose"/>).</summary>
    public static Dictionary<string, string?>? DecoderQuery(string? q)
    {
        if (string.IsNullOrEmpty(q)) return null;
        var map = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var part in q.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int at = part.LastIndexOf(':');
            if (at <= 0) throw new ApiException(400, $"decoders expects encoder:kind pairs separated by commas, got '{Explorer.Clip(part)}'");
            map[part[..at]] = part[(at + 1)..];
        }
        return map;
    }

    public static string OneLine(string s) => string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>"black", "grey", "white", "R,G,B" or "#rrggbb"; null is black.</summary>
    public static Colour Colour(string? s)
    {
        if (s == null) return Analysis.Colour.Black;
        if (s.Length == 7 && s[0] == '#' && int.TryParse(s.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var rgb))
            return new((byte)(rgb >> 16), (byte)(rgb >> 8), (byte)rgb);
        try { return AnalysisKinds.ParseColour(s); }
        catch (AnalysisOptionException) { throw new ApiException(400, $"colour expects black, grey, white, R,G,B or #rrggbb, got '{s}'"); }
    }
}
