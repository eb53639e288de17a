using Dfd.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Training;

/// <summary>
/// Every person of a training set as an impostor, for the <see cref="LossWeights.Apart"/> term: each person's centre
/// (unit length) and <see cref="Threshold"/>, the cosine that a training photo's template reaches against other
/// people's centres at the false-match rate <see cref="Fmr"/> (the k-th largest of all those cosines, k = ⌈rate ×
/// count⌉). The term asks a reconstruction to match other people no more readily than a photo does: identity terms that
/// pull a template towards its person's centre also pull it towards the crowd, and <c>dfd evaluate</c> counts the
/// false matches that follow. Only the encoder in training is used, so the cross-model figures stay independent.
/// </summary>
public sealed class Impostors : IDisposable
{
    /// <summary>The false-match rate of <c>dfd evaluate</c>'s threshold.</summary>
    public const double DefaultFmr = 1e-3;

    readonly Tensor centres; // [P, D], unit rows

    public double Fmr { get; }
    public double Threshold { get; }
    public int People => (int)centres.shape[0];
    /// <summary>How many photos' templates set <see cref="Threshold"/>.</summary>
    public int Photos { get; }

    /// <param name="centresByPerson">One centre per person [P][D] (<see cref="DecoderLoss.PersonTable"/>).</param>
    /// <param name="personOf">Each template's person, an index into <paramref name="centresByPerson"/>.</param>
    /// <param name="templates">The training photos' templates that set <see cref="Threshold"/>.</param>
    /// <param name="maxPhotos">At most this many of them, evenly spaced (item i·n/max), set the threshold: a set of
    /// VGGFace2's size would otherwise take n × people cosines.</param>
    /// <exception cref="ArgumentException">Fewer than two people, counts that disagree, a person index out of range, or a
    /// rate outside (0, 1).</exception>
    public Impostors(IReadOnlyList<float[]> centresByPerson, IReadOnlyList<int> personOf, IReadOnlyList<float[]> templates,
        double fmr = DefaultFmr, Device? device = null, int maxPhotos = 20_000)
    {
        int p = centresByPerson.Count;
        if (p < 2) throw new ArgumentException($"impostors need at least two people, got {p}");
        if (personOf.Count != templates.Count) throw new ArgumentException($"{templates.Count} templates but {personOf.Count} person indices");
        if (personOf.Any(i => i < 0 || i >= p)) throw new ArgumentException($"a person index outside 0..{p - 1}");
        if (!(fmr > 0 && fmr < 1)) throw new ArgumentException($"false-match rate must be in (0, 1), not {fmr}");
        if (maxPhotos < 1) throw new ArgumentException($"maxPhotos must be ≥ 1, not {maxPhotos}");
        int[] chosen = templates.Count <= maxPhotos ? [.. Enumerable.Range(0, templates.Count)]
            : [.. Enumerable.Range(0, maxPhotos).Select(i => (int)((long)i * templates.Count / maxPhotos))];
        int n = chosen.Length, d = centresByPerson[0].Length;
        Fmr = fmr;
        Photos = n;
        using var scope = torch.NewDisposeScope();
        var c = F.normalize(torch.tensor(centresByPerson.SelectMany(v => v).ToArray(), new long[] { p, d }), dim: 1);
        var t = F.normalize(torch.tensor(chosen.SelectMany(i => templates[i]).ToArray(), new long[] { n, d }), dim: 1);
        long count = (long)n * (p - 1);
        int k = (int)Math.Min(count, (long)Math.Ceiling(fmr * count));
        // The k largest impostor cosines, chunk by chunk (all n × p at once would not fit for a large set).
        Tensor? top = null;
        const int chunk = 256;
        for (int s = 0; s < n; s += chunk)
        {
            int m = Math.Min(chunk, n - s);
            var own = F.one_hot(torch.tensor(chosen.Skip(s).Take(m).Select(i => (long)personOf[i]).ToArray()), p).to_type(ScalarType.Bool);
            var sims = t.narrow(0, s, m).matmul(c.t()).masked_fill(own, Scalars.Of(double.NegativeInfinity)).flatten();
            var joined = top is null ? sims : torch.cat([top, sims]);
            top = joined.topk((int)Math.Min(k, joined.shape[0])).values;
        }
        Threshold = top!.min().item<float>();
        centres = c.to(device ?? CPU).DetachFromDisposeScope();
    }

    /// <summary>Per template [B] (rows of <paramref name="templates"/>, any length), the sum over people other than its own
    /// (<paramref name="persons"/>) of max(0, cos(template, centre) − <see cref="Threshold"/>).</summary>
    /// <exception cref="ArgumentException">Counts that disagree.</exception>
    public Tensor Excess(Tensor templates, IReadOnlyList<int> persons)
    {
        if (templates.shape[0] != persons.Count) throw new ArgumentException($"{templates.shape[0]} templates but {persons.Count} person indices");
        var own = F.one_hot(torch.tensor(persons.Select(i => (long)i).ToArray(), device: templates.device), People).to_type(ScalarType.Bool);
        var sims = F.normalize(templates, dim: 1).matmul(centres.t());
        return F.relu(sims.Minus(Threshold)).masked_fill(own, Scalars.Of(0.0)).sum(1);
    }

    public void Dispose() => centres.Dispose();
}
