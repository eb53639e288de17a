using Dfd.Web;
using Xunit;

namespace Dfd.Tests.Web;

public class WorkQueueTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ClientsTakeTurnsSoOneWithManyRequestsDoesNotStarveAnother()
    {
        using var q = new WorkQueue(capacity: 16, perClient: 8) { Log = [] };
        using var gate = new ManualResetEventSlim();
        var first = q.Run("a", () => { gate.Wait(Wait); return 0; }, CancellationToken.None);
        while (q.Waiting > 0 || q.Log!.Count == 0) await Task.Delay(5);   // a's first request is running
        var more = new List<Task<int>>();
        for (int i = 1; i <= 3; i++) more.Add(q.Run("a", () => 0, CancellationToken.None));
        var b = q.Run("b", () => 1, CancellationToken.None);
        gate.Set();
        await Task.WhenAll([first, b, .. more]).WaitAsync(Wait);
        // First come first served would give a a a a b: b waits behind a's whole backlog.
        Assert.Equal(new[] { "a", "a", "b", "a", "a" }, q.Log);
    }

    [Fact]
    public async Task ItIsBoundedInAllAndPerClient()
    {
        using var q = new WorkQueue(capacity: 2, perClient: 1);
        using var gate = new ManualResetEventSlim();
        var running = q.Run("a", () => { gate.Wait(Wait); return 0; }, CancellationToken.None);
        while (q.Waiting > 0) await Task.Delay(5);
        await Task.Delay(50);
        var a2 = q.Run("a", () => 0, CancellationToken.None);
        var perClient = await Assert.ThrowsAsync<QueueFullException>(() => q.Run("a", () => 0, CancellationToken.None));
        Assert.Equal(429, perClient.Status);
        var b = q.Run("b", () => 0, CancellationToken.None);
        var full = await Assert.ThrowsAsync<QueueFullException>(() => q.Run("c", () => 0, CancellationToken.None));
        Assert.Equal(503, full.Status);
        gate.Set();
        await Task.WhenAll(running, a2, b).WaitAsync(Wait);
        Assert.Equal(7, await q.Run("c", () => 7, CancellationToken.None));   // room again
    }

    [Fact]
    public async Task WorkCancelledWhileWaitingNeverRunsAndErrorsComeBack()
    {
        using var q = new WorkQueue();
        using var gate = new ManualResetEventSlim();
        var running = q.Run("a", () => { gate.Wait(Wait); return 0; }, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        bool ran = false;
        var waiting = q.Run("b", () => ran = true, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        gate.Set();
        await running.WaitAsync(Wait);
        await Assert.ThrowsAsync<InvalidOperationException>(() => q.Run<int>("a", () => throw new InvalidOperationException("boom"), CancellationToken.None));
        Assert.Equal(1, await q.Run("a", () => 1, CancellationToken.None));
        Assert.False(ran);
    }

    [Fact]
    public async Task AllWorkRunsOnOneThread()
    {
        using var q = new WorkQueue();
        var ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => q.Run("c" + i % 4, () => Environment.CurrentManagedThreadId, CancellationToken.None)));
        Assert.Single(ids.Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, ids[0]);
    }
}
