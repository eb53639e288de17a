using Dfd.Datasets;
using Dfd.Detection;
using Dfd.Encoders;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>dfd cache build | merge | info: the aligned + encoded training set on disk, built ahead of training, split
/// across processes or machines, gathered, checked.</summary>
static class CacheCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd cache build --encoder E --data <set> [--data <set> ...] [options] [--json]",
        "         the training set `dfd train` would build, as shards under the cache folder; a stopped build continues",
        "         data:    lfw:DIR, vggface2:DIR, celebahq:DIR, aligned:DIR, folder:DIR (repeatable); --split F|none; --limit N",
        "         encoder: --weights W, --device cpu|cuda; --cache DIR (default ~/.cache/dfd/trainsets, as train)",
        $"         --shard i/n (this process builds every n-th shard from the i-th; then dfd cache merge), --shard-faces N (default {EncodedFaces.DefaultFacesPerShard})",
        "       dfd cache merge DIR [FROM_DIR ...] [--json]",
        "         copies the shards of split builds (FROM_DIRs, e.g. from other machines) into DIR, each checked, and",
        "         completes the set once all are there; with DIR alone: parts that built into one shared folder",
        "       dfd cache info DIR [--json]",
        "         the set's encoder, size and shards, every shard's checksum checked",
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var verb = a.Positional.FirstOrDefault() ?? throw new UsageException("usage: dfd cache build|merge|info (dfd cache --help)");
        return verb switch
        {
            "build" => Build(a, argv),
            "merge" => Merge(a),
            "info" => Info(a),
            _ => throw new UsageException($"unknown cache command '{verb}' (build, merge, info)"),
        };
    }

    static int Build(Args a, string[] argv)
    {
        var encName = a.Req("encoder");
        var dataSpecs = TrainCommand.MultiOpt(argv, "data");
        if (dataSpecs.Count == 0) throw new UsageException("missing required option --data (repeatable: lfw:DIR, vggface2:DIR, celebahq:DIR, aligned:DIR, folder:DIR)");
        _ = a.Opt("data");
        bool json = a.Flag("json");
        var cacheDir = a.Opt("cache") ?? Common.CacheDir("trainsets");
        var (part, parts) = ParseShard(a.Opt("shard"));
        int perShard = a.Int("shard-faces", EncodedFaces.DefaultFacesPerShard);
        if (perShard < 1) throw new UsageException($"--shard-faces must be at least 1, not {perShard}");
        int limit = a.Int("limit", int.MaxValue);
        var splitOpt = a.Opt("split");
        var weights = a.Opt("weights");
        var device = a.Opt("device");
        a.CheckUnused();
        using var encoder = Common.Encoder(new Args(["--model", encName, .. (weights != null ? new[] { "--weights", weights } : []),
            .. (device != null ? new[] { "--device", device } : [])], new HashSet<string>()));
        var (split, _) = LfwSplit.Resolve(splitOpt);
        var (items, _, dataDesc) = TrainingData.Assemble(dataSpecs, split, limit);
        using var pipe = items.All(i => i.Aligned) ? null : FacePipeline.CreateDefault();
        var wid = Registry.WeightsId(encName, weights);
        var set = EncodedFaces.Info(items, encoder.Spec, wid);
        var dir = EncodedFaces.SetDir(cacheDir, set);
        if (!json) Console.Error.WriteLine($"{items.Count} items ({string.Join("; ", dataDesc)}) → {dir}" + (parts > 1 ? $", part {part} of {parts}" : ""));
        var started = DateTime.UtcNow;
        var source = LegacyCache.Source(dir, items, set, json ? null : Console.Error.WriteLine) ?? EncodedFaces.EncoderSource(items, encoder, pipe);
        var r = WithProgress(json, progress => FaceSetBuilder.Build(dir, set, items.Count, source, new BuildOptions
        {
            FacesPerShard = perShard, Part = part, Parts = parts, Progress = progress, Note = json ? null : Console.Error.WriteLine,
        }));
        return Report(r, json, started);
    }

    static int Merge(Args a)
    {
        bool json = a.Flag("json");
        a.CheckUnused();
        if (a.Positional.Count < 2) throw new UsageException("usage: dfd cache merge DIR [FROM_DIR ...]");
        var started = DateTime.UtcNow;
        var r = FaceSetBuilder.Merge(a.Positional[1], a.Positional.Skip(2).ToList(), json ? null : Console.Error.WriteLine);
        return Report(r, json, started);
    }

    static int Info(Args a)
    {
        bool json = a.Flag("json");
        a.CheckUnused();
        if (a.Positional.Count != 2) throw new UsageException("usage: dfd cache info DIR");
        var started = DateTime.UtcNow;
        using var set = FaceSet.Open(a.Positional[1], verify: true);
        var m = set.Manifest;
        var info = new
        {
            dir = set.Dir, encoder = m.Set.Encoder, weights = m.Set.Weights, crop = $"{m.Set.Width}x{m.Set.Height}", template_dim = m.Set.Dim,
            targets = m.Set.HasTargets ? $"{m.Set.TargetWidth}x{m.Set.TargetHeight}" : null, items = m.Items, faces = m.Count,
            skipped = set.Skipped.Count, shards = m.Shards.Count, faces_per_shard = m.FacesPerShard, bytes = m.Bytes, checked_seconds = (DateTime.UtcNow - started).TotalSeconds,
        };
        if (json) { Console.WriteLine(Common.ToJson(info)); return 0; }
        var t = new Table().AddColumns("", "");
        t.AddRow("set", Markup.Escape(set.Dir));
        t.AddRow("encoder", Markup.Escape($"{info.encoder} (weights {info.weights}), crops {info.crop}, templates of {info.template_dim}" + (info.targets != null ? $", targets {info.targets}" : "")));
        t.AddRow("faces", $"{info.faces} of {info.items} items ({info.skipped} skipped)");
        t.AddRow("shards", $"{info.shards} of {info.faces_per_shard} items, {FaceSetBuilder.Gb(info.bytes)}, every checksum good ({info.checked_seconds:F1} s)");
        AnsiConsole.Write(t);
        return 0;
    }

    static int Report(BuildResult r, bool json, DateTime started)
    {
        var o = new
        {
            dir = r.Dir, complete = r.Complete, shards_built = r.ShardsBuilt, shards_kept = r.ShardsKept, missing = r.Missing,
            faces = r.Complete ? r.Faces : (int?)null, bytes = r.Bytes, seconds = (DateTime.UtcNow - started).TotalSeconds,
        };
        if (json) Console.WriteLine(Common.ToJson(o));
        else
        {
            var t = new Table().AddColumns("", "");
            t.AddRow("set", Markup.Escape(r.Dir));
            t.AddRow("shards", $"{r.ShardsBuilt} built, {r.ShardsKept} kept, {r.Missing.Count} missing" + (r.Missing.Count > 0 ? $" ({string.Join(", ", r.Missing.Take(10))}{(r.Missing.Count > 10 ? ", …" : "")})" : ""));
            t.AddRow("on disk", FaceSetBuilder.Gb(r.Bytes));
            t.AddRow("state", r.Complete ? $"complete: {r.Faces} faces (set.json written)" : "incomplete: the other parts build the rest; then dfd cache merge");
            AnsiConsole.Write(t);
        }
        return 0;
    }

    static (int Part, int Parts) ParseShard(string? s)
    {
        if (s == null) return (1, 1);
        var p = s.Split('/');
        if (p.Length == 2 && int.TryParse(p[0], out int i) && int.TryParse(p[1], out int n) && n >= 1 && i >= 1 && i <= n) return (i, n);
        throw new UsageException($"--shard expects i/n with 1 ≤ i ≤ n (e.g. --shard 2/4), got '{s}'");
    }

    /// <summary>A bar with this run's rate and time left on a terminal; a line every 10 s otherwise; nothing with --json.</summary>
    static BuildResult WithProgress(bool json, Func<IProgress<BuildProgress>, BuildResult> work)
    {
        static string Line(BuildProgress p) =>
            $"{p.FacesDone}/{p.FacesTotal} items, {p.ShardsDone}/{p.Shards} shards, {p.FacesPerSecond:F1}/s" + (p.Left is { } l ? $", about {Left(l)} left" : "");
        if (json || Console.IsErrorRedirected)
        {
            var last = DateTime.MinValue;
            return work(new SyncProgress<BuildProgress>(p =>
            {
                if (json || (DateTime.UtcNow - last).TotalSeconds < 10 && p.FacesDone != p.FacesTotal) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine("cache build: " + Line(p));
            }));
        }
        BuildResult r = null!;
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("building", maxValue: 1);
                r = work(new SyncProgress<BuildProgress>(p => { task.MaxValue = Math.Max(1, p.FacesTotal); task.Value = p.FacesDone; task.Description = Markup.Escape(Line(p)); }));
                task.Value = task.MaxValue;
            });
        return r;
    }

    static string Left(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours} h {t.Minutes} min" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min" : $"{t.Seconds} s";

}
