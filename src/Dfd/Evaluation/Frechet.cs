using TorchSharp;
using Dfd.Core;
using static TorchSharp.torch;

namespace Dfd.Evaluation;

/// <summary>
/// Fréchet distance between two sets of one model's templates, each set taken as a Gaussian (as FID does with
/// Inception features): ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½). Templates are L2-normalised first (the models
/// compare directions); means and covariances (divided by N − 1) in double; the matrix square roots by symmetric
/// eigendecomposition, negative eigenvalues from rounding set to 0.
/// </summary>
/// <param name="Reconstructions">Reconstructions against the originals.</param>
/// <param name="MeanFace">One image (the mean face) for every reconstruction against the originals: the collapse floor.</param>
/// <param name="OriginalsHalves">Originals of every other person against those of the rest: how far two sets of real
/// faces lie apart at this size, the level a reconstruction set as varied as the photos would reach.</param>
public sealed record FrechetResult(int Dimensions, double Reconstructions, double MeanFace, double OriginalsHalves);

public static class Frechet
{
    /// <param name="unit">L2-normalise each vector first (templates); false for features whose length matters (pooled feature maps).</param>
    public static double Distance(IReadOnlyList<float[]> a, IReadOnlyList<float[]> b, bool unit = true)
    {
        if (a.Count < 2 || b.Count < 2) throw new ArgumentException($"sets of {a.Count} and {b.Count} templates: a covariance needs two");
        using var scope = torch.NewDisposeScope();
        var (ma, ca) = Moments(a, unit);
        var (mb, cb) = Moments(b, unit);
        var sa = Sqrt(ca);
        var middle = Sqrt(sa.matmul(cb).matmul(sa));
        var d = ma - mb;
        return d.dot(d).item<double>() + ca.trace().item<double>() + cb.trace().item<double>() - 2 * middle.trace().item<double>();
    }

    /// <summary>The three distances of <see cref="FrechetResult"/>; <paramref name="identities"/> gives each original's person.</summary>
    public static FrechetResult Measure(IReadOnlyList<float[]> originals, IReadOnlyList<float[]> reconstructions, float[] meanFace, IReadOnlyList<string> identities)
    {
        var people = Scoring.People(identities);
        var halfA = people.Where((_, p) => p % 2 == 0).SelectMany(p => p).Select(i => originals[i]).ToList();
        var halfB = people.Where((_, p) => p % 2 == 1).SelectMany(p => p).Select(i => originals[i]).ToList();
        return new FrechetResult(originals[0].Length, Distance(reconstructions, originals),
            Distance(Enumerable.Repeat(meanFace, Math.Max(2, reconstructions.Count)).ToList(), originals), Distance(halfA, halfB));
    }

    static (Tensor Mean, Tensor Cov) Moments(IReadOnlyList<float[]> t, bool unit)
    {
        var u = unit ? Cosine.Unit(t) : t.Select(v => Array.ConvertAll(v, x => (double)x)).ToArray();
        int n = u.Length, d = u[0].Length;
        var x = torch.tensor(u.SelectMany(v => v).ToArray(), new long[] { n, d }, ScalarType.Float64);
        var mean = x.mean([0L]);
        var c = x - mean;
        return (mean, c.t().matmul(c).div(Scalars.Of((double)(n - 1))));
    }

    /// <summary>Square root of a symmetric positive semi-definite matrix.</summary>
    static Tensor Sqrt(Tensor s)
    {
        var sym = s.Plus(s.t()).div(Scalars.Of(2.0));
        var (w, v) = torch.linalg.eigh(sym);
        return (v * w.clamp_min(Scalars.Of(0.0)).sqrt().unsqueeze(0)).matmul(v.t());
    }
}
