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
}
