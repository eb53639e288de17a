using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Core;

/// <summary>
/// Batch normalisation as TorchSharp's BatchNorm1d/2d computes it (the same libtorch call, parameter and buffer names,
/// initial values), but counting batches with a kept Scalar: TorchSharp's own forward adds a bare 1 to
/// num_batches_tracked in every training step, the Scalar race <see cref="Scalars"/> explains.
/// </summary>
public sealed class BatchNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight, bias;
    readonly Tensor running_mean, running_var, num_batches_tracked;
    readonly double eps;

    /// <summary>How far each training batch moves the running statistics (0.1 as PyTorch's); 1/(k+1) for the k-th
    /// batch after <see cref="ResetRunningStats"/> makes them the plain mean over the batches (PyTorch's momentum=None).</summary>
    public double Momentum { get; set; }

    public void ResetRunningStats()
    {
        using var _ = torch.no_grad();
        running_mean.zero_(); running_var.fill_(Scalars.One); num_batches_tracked.zero_();
    }

    public BatchNorm(long features, double eps = 1e-5, double momentum = 0.1) : base("BatchNorm")
    {
        weight = new Parameter(torch.ones(features));
        bias = new Parameter(torch.zeros(features));
        running_mean = torch.zeros(features);
        running_var = torch.ones(features);
        num_batches_tracked = torch.tensor(0L);
        (this.eps, Momentum) = (eps, momentum);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (training)
            using (torch.no_grad()) num_batches_tracked.add_(Scalars.One, Scalars.One);
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, Momentum, eps);
    }
}

/// <summary>PReLU with one slope per channel, as TorchSharp's (weight [C], 0.25 at first), without its constructor's bare Scalar.</summary>
public sealed class PRelu : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;

    public PRelu(long channels, double init = 0.25) : base("PReLU")
    {
        weight = new Parameter(torch.empty(channels).fill_(Scalars.Of(init)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => F.prelu(x, weight);
}
