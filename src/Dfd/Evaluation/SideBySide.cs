namespace Dfd.Evaluation;

/// <summary>
/// One row of the side-by-side table (<c>dfd evaluate --decoder A,B</c>): the headline numbers of one decoder on the
/// same test set, or of the originals themselves (the reference each number is read against). Nulls: not measured
/// or not meaningful for that row (the originals have no type I: a photo against itself).
/// </summary>
/// <param name="Name">The decoder file, or "originals".</param>
/// <param name="Kind">"regression", "sharp" or "originals".</param>
/// <param name="OwnTypeI">Type I at FMR 1e-3 under the decoder's encoder (E0).</param>
/// <param name="OwnTypeII">Type II at FMR 1e-3 under E0; for the originals the genuine rate (another photo of the person).</param>
/// <param name="CrossModel">The first other FR model (e.g. mobilefacenet-casia), or null.</param>
/// <param name="ColourBias">R, G, B: reconstructions' mean minus the originals', 0..1; the originals: 0 by definition.</param>
/// <param name="TextureFrechet">Texture Fréchet distance to the originals; the originals: every other person's against the rest's.</param>
public sealed record SideBySideRow(string Name, string Kind,
    double? OwnTypeI, double? OwnTypeII, double? OwnFalseMatches,
    string? CrossModel, double? CrossTypeI, double? CrossTypeII, double? CrossRank1, double? CrossFalseMatches,
    double? DetailWhole, double? DetailInner, double? Spread, double? Ssim,
    double[]? ColourBias, double? TextureFrechet);

public static class SideBySide
{
    const double Fmr = 1e-3;

    /// <summary>A row per decoder, then the originals' row (from the first evaluation: all share the test set).</summary>
    public static List<SideBySideRow> Rows(IReadOnlyList<EvaluationResult> all)
    {
        if (all.Count == 0) throw new ArgumentException("no evaluation to set side by side");
        var rows = all.Select(Row).ToList();
        rows.Add(Originals(all[0]));
        return rows;
    }

    static (ModelResult? Own, ModelResult? Cross) Models(EvaluationResult r) =>
        (r.Results.FirstOrDefault(m => m.Model == r.Encoder), r.Results.FirstOrDefault(m => m.Model != r.Encoder));

    static RateAtFmr? At(ModelResult? m) => m?.Rates.FirstOrDefault(x => x.Fmr == Fmr);

    public static SideBySideRow Row(EvaluationResult r)
    {
        var (own, cross) = Models(r);
        var q = r.Quality;
        return new SideBySideRow(Path.GetFileName(r.Decoder.Path), r.DecoderKind,
            At(own)?.TypeI, At(own)?.TypeII, own?.Identification?.FalseMatches,
            cross?.Model, At(cross)?.TypeI, At(cross)?.TypeII, cross?.Identification?.Rank1, cross?.Identification?.FalseMatches,
            q.Sharpness?.Whole, q.Sharpness?.Inner, q.PixelSpread, q.SsimMean,
            r.ColourBias?.Reconstructions, r.Texture?.Reconstructions);
    }

    /// <summary>The originals' reference: genuine rate, rank-1 and false matches of the photos themselves, a photo's
    /// detail (1) and spread, another photo of the same person's SSIM, no colour bias, and the texture distance
    /// between two halves of the originals.</summary>
    public static SideBySideRow Originals(EvaluationResult r)
    {
        var (own, cross) = Models(r);
        var q = r.Quality;
        return new SideBySideRow("originals", "originals",
            null, At(own)?.Genuine, own?.Identification?.FalseMatchesOriginals,
            cross?.Model, null, At(cross)?.Genuine, cross?.Identification?.Rank1Originals, cross?.Identification?.FalseMatchesOriginals,
            q.Sharpness != null ? 1 : null, q.Sharpness != null ? 1 : null, q.PixelSpreadOriginals, q.SamePersonSsim,
            r.ColourBias != null ? [0, 0, 0] : null, r.Texture?.OriginalsHalves);
    }
}
