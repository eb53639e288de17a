using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Dfd.Tests;

/// <summary>The native library loads on this system (the build's GLIBCXX patch) and autograd runs through a conv.</summary>
public class TorchSharpTests
{
    [Fact]
    public void ConvForwardAndBackward()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        var x = torch.randn(2, 3, 8, 8, requires_grad: true);
        var w = torch.randn(4, 3, 3, 3, requires_grad: true);
        var y = nn.functional.conv2d(x, w, padding: [1, 1]);
        Assert.Equal(new long[] { 2, 4, 8, 8 }, y.shape);
        y.sum().backward();
        // d(sum conv)/dw[o,c,i,j] is the sum of x over the positions that kernel tap sees: check one tap by hand.
        // With padding 1, tap (0,0) of input channel 1 meets x[:, 1, 0..6, 0..6] (the last row and column meet padding).
        var expectedTap = x.detach()[.., 1, ..7, ..7].sum().item<float>();
        Assert.Equal(expectedTap, w.grad![0, 1, 0, 0].item<float>(), 3);
        Assert.Equal(x.shape, x.grad!.shape);
    }

    /// <summary>
    /// oneDNN is off exactly where the CPU describes no caches (or DFD_ONEDNN says so), and the convolutions that went
    /// wrong with it on such a CPU come out right: a 1×1 one on a channels-last map (HSE FaceRes's first; SIGFPE, the
    /// test host dies) and the discriminator's 3×3 head to one channel, whose gradient of a gradient (the R1 penalty)
    /// was NaN. Each against the same sums written as unfold and a matrix product.
    /// </summary>
    [Fact]
    public void ConvolutionsAreRightOnThisCpu()
    {
        var setting = Environment.GetEnvironmentVariable("DFD_ONEDNN");
        bool expected = setting is "on" or "off" ? setting == "on" : !Dfd.Core.OneDnn.CachesUnreported();
        Assert.Equal(expected, Dfd.Core.OneDnn.Enabled);
        Assert.Equal(!expected, Dfd.Core.OneDnn.OffBecause is not null);

        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        foreach (var (cin, cout) in new[] { (32, 64), (32, 32), (16, 64) })
            Check(torch.randn(1, 112, 112, cin).permute(0, 3, 1, 2), torch.randn(cout, cin, 1, 1), stride: 1, padding: 0);
        Check(torch.randn(2, 32, 37, 37), torch.randn(1, 32, 3, 3), stride: 1, padding: 1);
        Check(torch.randn(2, 3, 150, 150), torch.randn(16, 3, 4, 4), stride: 2, padding: 1);
    }

    /// <summary>conv2d's output, input gradient and the gradient of its squared norm against unfold → matrix product
    /// (no convolution kernel involved).</summary>
    static void Check(Tensor x0, Tensor w, long stride, long padding)
    {
        (Tensor Y, Tensor G, Tensor Penalty) Run(Func<Tensor, Tensor> conv)
        {
            var x = x0.detach().requires_grad_(true);
            var y = conv(x);
            var g = torch.autograd.grad([y.mul(y).sum()], [x], retain_graph: true, create_graph: true)[0];
            var penalty = torch.autograd.grad([g.mul(g).sum()], [x])[0];
            return (y.detach(), g.detach(), penalty);
        }
        long k = w.shape[2], o = w.shape[0];
        var a = Run(x => nn.functional.conv2d(x, w, strides: [stride, stride], padding: [padding, padding]));
        var b = Run(x => w.view(o, -1).matmul(nn.functional.unfold(x, k, padding: padding, stride: stride))
            .view(x.shape[0], o, (x.shape[2] + 2 * padding - k) / stride + 1, (x.shape[3] + 2 * padding - k) / stride + 1));
        foreach (var (name, got, want) in new[] { ("output", a.Y, b.Y), ("input gradient", a.G, b.G), ("gradient of the gradient's norm", a.Penalty, b.Penalty) })
        {
            Assert.True(got.isfinite().all().item<bool>(), $"{k}×{k} convolution {o} channels: {name} not finite");
            float scale = want.abs().max().item<float>();
            Assert.True((got - want).abs().max().item<float>() <= 1e-4f * scale, $"{k}×{k} convolution {o} channels: {name}");
        }
    }
}
