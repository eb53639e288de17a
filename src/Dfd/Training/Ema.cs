using Dfd.Decoder;
using Dfd.Core;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Dfd.Training;

/// <summary>
/// An exponential moving average of a decoder's weights (Polyak averaging, as GAN generators ship: Karras et al.),
/// after each optimiser step avg ← d·avg + (1 − d)·w; BN statistics are copied, not averaged, since they describe the
/// live weights' activations. Adversarial training makes the weights wander step to step; the average draws steadier
/// faces, and it is what a run with <see cref="TrainConfig.Ema"/> writes as its decoder file. Kept in checkpoints
/// under <see cref="Prefix"/> (and its update count in the metadata), so --resume continues it bit for bit.
/// The decay ramps up as min(d, (1 + t) / (10 + t)) after t updates (TensorFlow's ExponentialMovingAverage with
/// num_updates): early on the average follows the weights closely, so a warm start with new layers does not ship an
/// average still made mostly of their random initial values.
/// </summary>
public sealed class Ema : IDisposable
{
    public const string Prefix = "ema.";
    readonly double decay;
    readonly List<(Tensor Avg, Tensor Live)> parameters = [];
    readonly List<(Tensor Avg, Tensor Live)> buffers = [];

    /// <summary>The averaged decoder, in eval mode, on the live decoder's device; starts as a copy of it.</summary>
    public FaceDecoder Average { get; }

    /// <summary>Updates made so far (the ramp's t).</summary>
    public long Updates { get; private set; }

    /// <summary>The decay applied at update <paramref name="t"/> (0-based).</summary>
    public double Decay(long t) => Math.Min(decay, (1.0 + t) / (10.0 + t));

    public Ema(FaceDecoder live, double decay, long updates = 0)
    {
        Updates = updates;
        if (!(decay > 0 && decay < 1)) throw new ArgumentException($"EMA decay must lie between 0 and 1, not {decay}");
        this.decay = decay;
        Average = new FaceDecoder(live.Config);
        Average.to(live.parameters().First().device);
        Average.eval();
        var own = Average.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, p) in live.named_parameters()) { own[name].requires_grad = false; parameters.Add((own[name], p)); }
        var ownBuffers = Average.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var (name, b) in live.named_buffers()) buffers.Add((ownBuffers[name], b));
        using var _ = torch.no_grad();
        foreach (var (a, l) in parameters.Concat(buffers)) a.copy_(l);
    }

    /// <summary>One step of the average, after the live decoder's optimiser step.</summary>
    public void Update()
    {
        using var _ = torch.no_grad();
        double d = Decay(Updates++);
        foreach (var (a, l) in parameters) a.mul_(Scalars.Of(d)).add_(l, alpha: Scalars.Of(1 - d));
        foreach (var (a, l) in buffers) a.copy_(l);
    }

    public Dictionary<string, HostTensor> State() =>
        StateDict.ToHost(Average).ToDictionary(kv => Prefix + kv.Key, kv => kv.Value);

    /// <summary>Restores the average from a checkpoint's <see cref="Prefix"/> tensors.</summary>
    public void Load(IReadOnlyDictionary<string, HostTensor> tensors, long updates, string source)
    {
        Updates = updates;
        StateDict.Assign(Average, tensors.Where(kv => kv.Key.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[Prefix.Length..], kv => kv.Value), source);
    }

    public void Dispose() => Average.Dispose();
}
