// The training set at scale (bench/scale.sh): a synthetic encoded set of N faces written in the on-disk shard format
// (seeded random 150² crops and 128-value templates, no encoder pass), then 50 steps of the real Trainer on it (default
// decoder and loss, the dlib-resnet encoder of models/dlib-resnet for the identity term), then the time to fetch a batch.
//
//   Dfd.Bench --scale --faces N [--dir DIR] [--steps 50] [--batch 32] [--shard-faces 1024] [--seed 1] [--batches 40]
//
// Last line on stdout: {"faces": N, "disk_mb": …, "peak_rss_mb": …, "steps_per_s": …, "batch_ms": …}
// (disk_mb in MiB; peak_rss_mb: VmHWM of /proc/self/status at the end, MiB; steps_per_s over the steps after the
// first; batch_ms: median time of EncodedFaces.Batch for a batch of the epoch plan, read from the shards).
// Details (build, open and check times, the batch time's spread, data loading's share of a step) go to stderr as JSON.
using System.Diagnostics;
using System.Text.Json;
using Dfd.Datasets;
using Dfd.Encoders;
using Dfd.Training;
using TorchSharp;

static class ScaleBench
{
    public static int Run(Args opts, string root)
    {
        int faces = int.Parse(opts.Get("faces", "2000"));
        int steps = int.Parse(opts.Get("steps", "50"));
        int batch = int.Parse(opts.Get("batch", "32"));
        int perShard = int.Parse(opts.Get("shard-faces", EncodedFaces.DefaultFacesPerShard.ToString()));
        int seed = int.Parse(opts.Get("seed", "1"));
        int batches = int.Parse(opts.Get("batches", "40"));
        string dir = opts.Get("dir", Path.Combine(root, "bench", "out", "scale", $"faces-{faces}"));
        string weights = Path.Combine(root, "models", "dlib-resnet", "dlib-resnet.safetensors");
        var detail = new Dictionary<string, object>();

        // 1. The set, as `dfd cache build` writes it; a complete one from an earlier run is reused, a stopped one continued.
        var spec = DlibResNet.Spec;
        var set = new SetInfo($"synthetic-{faces}-seed{seed}", spec.Name, "synthetic", spec.InputWidth, spec.InputHeight, spec.EmbeddingSize);
        var clock = Stopwatch.StartNew();
        var last = DateTime.MinValue;
        var built = FaceSetBuilder.Build(dir, set, faces, Synthetic(seed, spec.InputWidth * spec.InputHeight * 3, spec.EmbeddingSize), new BuildOptions
        {
            FacesPerShard = perShard,
            Note = s => Console.Error.WriteLine("# " + s),
            Progress = new SyncProgress<BuildProgress>(p =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 15 && p.FacesDone != p.FacesTotal) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"# building: {p.FacesDone}/{p.FacesTotal} faces, {p.FacesPerSecond:F0}/s" + (p.Left is { } l ? $", {l.TotalSeconds:F0} s left" : ""));
            }),
        });
        detail["build_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        detail["shards_built"] = built.ShardsBuilt;
        long diskBytes = Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);

        // 2. Open it as training does: every shard's header and checksum checked.
        clock.Restart();
        using var store = FaceSet.Open(dir, set, verify: true);
        detail["open_verify_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        var data = store.ToFaces();
        Console.Error.WriteLine($"# set: {data.Count} faces, {diskBytes / (double)(1 << 20):F0} MiB in {store.Manifest.Shards.Count} shards; built in {detail["build_s"]} s, opened and checked in {detail["open_verify_s"]} s; rss now {Rss("VmRSS"):F0} MiB");

        // 3. 50 steps of the real trainer.
        using var encoder = DlibResNet.Load(weights);
        var cfg = new TrainConfig { Epochs = 1, Batch = batch, Seed = seed, CheckpointEvery = int.MaxValue };
        if (faces / batch < steps) throw new ArgumentException($"{faces} faces give {faces / batch} steps of {batch}; the bench runs {steps}");
        var outDir = Directory.CreateTempSubdirectory("dfd-scale-").FullName;
        var stepSeconds = new List<double>();
        clock.Restart();
        try
        {
            var trainer = new Trainer(data, encoder, cfg, Path.Combine(outDir, "d.safetensors"), new Dictionary<string, string>()) { MaxSteps = steps };
            using var dec = trainer.Run(false, s =>
            {
                if (s.Event != null || s.ImagesPerSecond <= 0) return;
                stepSeconds.Add(batch / s.ImagesPerSecond);
                if (stepSeconds.Count % 10 == 0) Console.Error.WriteLine($"# step {stepSeconds.Count}/{steps}: {stepSeconds[^1]:F2} s, loss {s.Loss:F4}");
            });
        }
        finally { Directory.Delete(outDir, true); }
        detail["train_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        var timed = stepSeconds.Skip(1).ToArray();
        double stepsPerS = timed.Length / timed.Sum();

        // 4. Fetching a batch from the set, as each step does: the epoch plan's batches spread over the set.
        var (order, flips) = Trainer.EpochPlan(seed + 1, true, 0, data.Count);
        var ms = new List<double>();
        int stride = Math.Max(1, data.Count / batch / batches);
        for (int b = 0; b < batches; b++)
        {
            var idx = order.AsSpan((b * stride % (data.Count / batch)) * batch, batch).ToArray();
            var sw = Stopwatch.StartNew();
            using (torch.NewDisposeScope()) { var (x, t) = data.Batch(idx, flips); _ = x.shape; _ = t.shape; }
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        ms.Sort();
        double batchMs = ms[ms.Count / 2];
        detail["batch_ms_p90"] = Math.Round(ms[(int)(ms.Count * 0.9)], 2);
        detail["batch_ms_max"] = Math.Round(ms[^1], 2);
        detail["step_ms"] = Math.Round(1000 / stepsPerS, 0);
        detail["data_share_of_step"] = Math.Round(batchMs * stepsPerS / 1000, 4);
        detail["load_avg"] = File.ReadAllText("/proc/loadavg").Split(' ')[..3];
        detail["vmrss_mb"] = Math.Round(Rss("VmRSS"), 0);
        Console.Error.WriteLine("# " + JsonSerializer.Serialize(detail));

        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["faces"] = faces,
            ["disk_mb"] = Math.Round(diskBytes / (double)(1 << 20), 1),
            ["peak_rss_mb"] = Math.Round(Rss("VmHWM"), 1),
            ["steps_per_s"] = Math.Round(stepsPerS, 4),
            ["batch_ms"] = Math.Round(batchMs, 2),
        }));
        return 0;
    }

    /// <summary>Seeded random faces: item i's crop and templates depend only on (seed, i), so a stopped build continues
    /// to the same set. 9131 people, as VGGFace2.</summary>
    static FaceSource Synthetic(int seed, int cropBytes, int dim) => (first, count, ct) => Enumerable.Range(first, count).Select(i =>
    {
        var r = new Random(unchecked(seed * 1_000_003 + i));
        var crop = new byte[cropBytes];
        r.NextBytes(crop);
        float[] T() { var t = new float[dim]; for (int k = 0; k < dim; k++) t[k] = (float)(r.NextDouble() * 0.2 - 0.1); return t; }
        return new SourceFace(new FaceItem($"synthetic/n{i % 9131:D6}/{i:D7}.png", $"n{i % 9131:D6}", true), crop, T(), T());
    });

    /// <summary>A /proc/self/status field in MiB (VmHWM: the peak resident set; VmRSS: now).</summary>
    static double Rss(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }
}
