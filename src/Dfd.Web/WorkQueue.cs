using Dfd.Core;

namespace Dfd.Web;

/// <summary>The queue is full (503) or one client has too much waiting (429); the message says which.</summary>
public sealed class QueueFullException(int status, string message) : DfdException(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// One worker thread for all libtorch (and ONNX Runtime) work of the server, so that requests from several clients never
/// run models at the same time. Bounded (<paramref name="capacity"/> waiting in all, <paramref name="perClient"/> per
/// client) and fair: the worker takes the clients' queues in turn (round robin), so a client with many requests waiting
/// does not hold back one with a single request. A request whose token is cancelled while it waits is dropped unrun;
/// one already running finishes (libtorch cannot be interrupted) and its result is discarded.
/// </summary>
public sealed class WorkQueue : IDisposable
{
    sealed record Item(Func<object?> Work, TaskCompletionSource<object?> Done, CancellationToken Token);

    readonly object gate = new();
    readonly Dictionary<string, Queue<Item>> byClient = new(StringComparer.Ordinal);
    readonly LinkedList<string> turn = new();   // clients with work waiting, in the order they are served
    readonly Thread worker;
    readonly int capacity, perClient;
    int waiting;
    bool stopped;

    public WorkQueue(int capacity = 64, int perClient = 8)
    {
        if (capacity < 1 || perClient < 1) throw new ArgumentOutOfRangeException(nameof(capacity), "capacity and per-client limit must be positive");
        (this.capacity, this.perClient) = (capacity, perClient);
        worker = new Thread(Loop) { IsBackground = true, Name = "dfd-serve-worker" };
        worker.Start();
    }

    /// <summary>Requests waiting (not counting the one running).</summary>
    public int Waiting { get { lock (gate) return waiting; } }

    /// <summary>The order the worker ran work in, as client names (for tests of fairness); kept only when set.</summary>
    public List<string>? Log { get; set; }

    /// <summary>Runs <paramref name="work"/> on the worker thread and returns its result (or its exception).</summary>
    /// <exception cref="QueueFullException">The queue or the client's share of it is full.</exception>
    public async Task<T> Run<T>(string client, Func<T> work, CancellationToken token)
    {
        var item = new Item(() => work(), new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously), token);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopped, this);
            if (waiting >= capacity) throw new QueueFullException(503, $"server busy: {waiting} requests waiting; try again shortly");
            if (!byClient.TryGetValue(client, out var q)) byClient[client] = q = new Queue<Item>();
            if (q.Count >= perClient) throw new QueueFullException(429, $"too many requests from this client at once ({q.Count} waiting); wait for the answers");
            q.Enqueue(item);
            if (q.Count == 1) turn.AddLast(client);
            waiting++;
            Monitor.Pulse(gate);
        }
        return (T)(await item.Done.Task.WaitAsync(token))!;
    }

    void Loop()
    {
        while (true)
        {
            Item item;
            string client;
            lock (gate)
            {
                while (turn.Count == 0 && !stopped) Monitor.Wait(gate);
                if (stopped) return;
                client = turn.First!.Value;
                turn.RemoveFirst();
                var q = byClient[client];
                item = q.Dequeue();
                waiting--;
                if (q.Count > 0) turn.AddLast(client);   // back of the line: the others go first
                else byClient.Remove(client);
            }
            if (item.Token.IsCancellationRequested) { item.Done.TrySetCanceled(item.Token); continue; }
            Log?.Add(client);
            try { item.Done.TrySetResult(item.Work()); }
            catch (Exception e) { item.Done.TrySetException(e); }
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (stopped) return;
            stopped = true;
            foreach (var q in byClient.Values)
                foreach (var i in q) i.Done.TrySetException(new ObjectDisposedException(nameof(WorkQueue)));
            byClient.Clear();
            turn.Clear();
            Monitor.PulseAll(gate);
        }
        worker.Join(TimeSpan.FromSeconds(30));
    }
}
