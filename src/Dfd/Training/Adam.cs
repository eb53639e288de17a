using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Dfd.Core;
using Dfd.IO;

namespace Dfd.Training;

/// <summary>
/// Adam written out (default β 0.9/0.999, ε 1e-8, bias-corrected), so its moments can be checkpointed and restored
/// exactly; <paramref name="prefix"/> names its moments in a checkpoint, so two optimisers can share one file.
/// </summary>
public sealed class Adam(nn.Module module, double b1 = 0.9, double b2 = 0.999, string prefix = "optim.")
{
    readonly List<(string Name, Parameter P, Tensor M, Tensor V)> slots = Slots(module);
    readonly double B1 = b1, B2 = b2;
    const double Eps = 1e-8;
    public long StepCount { get; private set; }

    static List<(string, Parameter, Tensor, Tensor)> Slots(nn.Module module)
    {
        var slots = new List<(string, Parameter, Tensor, Tensor)>();
        foreach (var (name, p) in module.named_parameters())
            slots.Add((name, p, torch.zeros_like(p).DetachFromDisposeScope(), torch.zeros_like(p).DetachFromDisposeScope()));
        return slots;
    }

    public void Step(double lr)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(B1, StepCount), bc2 = 1 - Math.Pow(B2, StepCount);
        using var _ = torch.no_grad();
        foreach (var (_, p, m, v) in slots)
        {
            var g = p.grad;
            if (g is null) continue;
            m.mul_(Scalars.Of(B1)).add_(g, alpha: Scalars.Of(1 - B1));
            v.mul_(Scalars.Of(B2)).addcmul_(g, g, value: Scalars.Of(1 - B2));
            using var bias2 = Scalars.Fresh(bc2);
            using var step = Scalars.Fresh(-lr / bc1);
            using var denom = v.div(bias2).sqrt_().add_(Scalars.Of(Eps), Scalars.One);
            p.addcdiv_(m, denom, value: step);
        }
    }

    public Dictionary<string, HostTensor> State()
    {
        var d = new Dictionary<string, HostTensor>();
        foreach (var (name, _, m, v) in slots)
        {
            d[prefix + "m." + name] = new HostTensor(m.shape, m.cpu().contiguous().data<float>().ToArray());
            d[prefix + "v." + name] = new HostTensor(v.shape, v.cpu().contiguous().data<float>().ToArray());
        }
        return d;
    }

    public void Load(IReadOnlyDictionary<string, HostTensor> t, long step)
    {
        using var _ = torch.no_grad();
        foreach (var (name, _, m, v) in slots)
        {
            m.copy_(torch.tensor(t[prefix + "m." + name].Data, m.shape));
            v.copy_(torch.tensor(t[prefix + "v." + name].Data, v.shape));
        }
        StepCount = step;
    }

    /// <summary>False when any gradient of the module holds NaN or ±∞ (libtorch's CPU conv backward now and then does).</summary>
    public static bool GradientsFinite(nn.Module m)
    {
        using var scope = torch.NewDisposeScope();
        Tensor? acc = null;
        foreach (var p in m.parameters())
            if (p.grad is { } g) acc = acc is null ? g.abs().sum() : acc.Plus(g.abs().sum());
        return acc is null || float.IsFinite(acc.item<float>());
    }
}
