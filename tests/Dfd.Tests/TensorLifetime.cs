using System.Reflection;
using TorchSharp;
using Xunit;
using Xunit.Sdk;

// Every synchronous test runs inside a dispose scope that keeps its tensors referenced until the test ends.
[assembly: Dfd.Tests.KeepTensorsAlive]

namespace Dfd.Tests;

/// <summary>
/// Holds a reference to every tensor a synchronous test makes, outside the library's own dispose scopes, until the test
/// ends; then lets them go (detached, not disposed), so nothing is freed that the test did not free itself.
/// </summary>
/// <remarks>
/// A TorchSharp tensor that is only a temporary (<c>a.mul(b).sum()</c>) can lose its last reference once its handle is
/// passed to native code; a garbage collection in that window runs its finaliser, which frees the native tensor while
/// libtorch copies it. The test host then dies in <c>intrusive_ptr&lt;TensorImpl&gt;::retain_</c> (a segfault at
/// <c>lock xadd</c>: twice in ~9 full runs on 2026-12-06, on a loaded machine). This is the tensor side of the race
/// <see cref="Dfd.Core.Scalars"/> closes for Scalars. The library's loops run in dispose scopes already; this covers
/// the tests' own tensor code. Async tests are left out: their end may run on another thread than their start, and a
/// scope belongs to the thread that opened it.
/// </remarks>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class KeepTensorsAliveAttribute : BeforeAfterTestAttribute
{
    [ThreadStatic] static DisposeScope? scope;

    public override void Before(MethodInfo methodUnderTest)
    {
        if (methodUnderTest.ReturnType == typeof(void)) scope = torch.NewDisposeScope();
    }

    public override void After(MethodInfo methodUnderTest)
    {
        if (scope is not { } s) return;
        scope = null;
        s.Detach(s.DisposablesView.ToList());
        s.Dispose();
    }
}

public class TensorLifetimeTests
{
    [Fact]
    public void TensorsOfASynchronousTestAreHeldByAScope()
    {
        var stats = DisposeScopeManager.Statistics;
        long outside = stats.CreatedOutsideScopeCount, inside = stats.CreatedInScopeCount;
        var t = torch.ones(3).mul(torch.ones(3)).sum();
        Assert.Equal(3f, t.item<float>());
        Assert.Equal(outside, stats.CreatedOutsideScopeCount);
        Assert.Equal(inside + 4, stats.CreatedInScopeCount);
    }
}
