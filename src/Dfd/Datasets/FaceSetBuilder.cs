using System.Diagnostics;
using Dfd.Core;
using System.Text.Json;
using Dfd.IO;

namespace Dfd.Datasets;

/// <summary>One input item as a source gives it: a face (crop, templates, optional target crop) or a problem.</summary>
public readonly record struct SourceFace(FaceItem Item, byte[]? Crop, float[]? Template, float[]? Mirror, byte[]? Target = null, string? Problem = null);

/// <summary>The faces of input items first .. first + count − 1, in input order (skipped ones with their problem).</summary>
public delegate IEnumerable<SourceFace> FaceSource(int first, int count, CancellationToken ct);

public sealed record BuildOptions
{
    /// <summary>Input items per shard (a multiple of the encoder's batch of 32 keeps batches as a whole-list pass forms them).</summary>
    public int FacesPerShard { get; init; } = 1024;
    /// <summary>This process builds the shards s with s mod <see cref="Parts"/> = <see cref="Part"/> − 1 (--shard Part/Parts).</summary>
    public int Part { get; init; } = 1;
    public int Parts { get; init; } = 1;
    /// <summary>Tests: stop as a kill would, after this many faces of this run.</summary>
    public long StopAfterFaces { get; init; } = long.MaxValue;
    /// <summary>Free bytes on the disk holding a folder (tests inject a number; null: the drive's own).</summary>
    public Func<string, long>? FreeBytes { get; init; }
    /// <summary>Wraps each shard's file stream (tests: a disk that fills up).</summary>
    public Func<Stream, Stream>? WrapWrite { get; init; }
    public IProgress<BuildProgress>? Progress { get; init; }
    /// <summary>One-line notes: shards kept, redone, a cache converted.</summary>
    public Action<string>? Note { get; init; }
    public CancellationToken Cancel { get; init; }
}

/// <param name="Left">Estimated time left, from this run's rate (null until a face is done).</param>
public sealed record BuildProgress(long FacesDone, long FacesTotal, int ShardsDone, int Shards, double FacesPerSecond, TimeSpan? Left);

public sealed record BuildResult(string Dir, bool Complete, int ShardsBuilt, int ShardsKept, IReadOnlyList<int> Missing, long Bytes, int Faces);

/// <summary>
/// Builds an encoded set as shards: resumable (complete shards are kept, the partial one is redone), splittable
/// across processes or machines (--shard i/n, then <see cref="Merge"/>), refused up front when the disk cannot hold it.
/// Shard s always holds the same input items and is made the same way, so however a build is split or interrupted,
/// the shards (and set.json) come out the same, byte for byte.
/// </summary>
public static class FaceSetBuilder
{
    /// <summary>Index entry and slack per face, for the disk check.</summary>
    const long IndexBytesPerFace = 256;

    public static BuildResult Build(string dir, SetInfo set, int items, FaceSource source, BuildOptions opt)
    {
        if (opt.Parts < 1 || opt.Part < 1 || opt.Part > opt.Parts) throw new ArgumentException($"--shard {opt.Part}/{opt.Parts}: expected i/n with 1 ≤ i ≤ n");
        if (opt.FacesPerShard < 1) throw new ArgumentException("faces per shard must be at least 1");
        Directory.CreateDirectory(dir);
        var note = opt.Note ?? (_ => { });
        var plan = PlanFor(dir, new BuildPlan(set, items, opt.FacesPerShard), note);

        var manifest = Path.Combine(dir, FaceSet.ManifestName);
        if (File.Exists(manifest))
        {
            var m = FaceSet.ReadJson<SetManifest>(manifest);
            var gone = m.Shards.Where(e => !File.Exists(Path.Combine(dir, e.File))).Select(e => e.File).ToList();
            if (gone.Count == 0) return new BuildResult(dir, true, 0, m.Shards.Count, [], m.Bytes, m.Count);
            note($"{dir}: {gone.Count} shard(s) missing ({string.Join(", ", gone.Take(5))}); redoing them");
            File.Delete(manifest);
        }

        int shards = plan.Shards;
        var mine = Enumerable.Range(0, shards).Where(s => s % opt.Parts == opt.Part - 1).ToList();
        RemoveStaleTemporaries(dir, mine);
        var todo = new List<int>();
        int kept = 0;
        foreach (var s in mine)
        {
            var path = Path.Combine(dir, FaceShard.FileName(s));
            if (!File.Exists(path)) { todo.Add(s); continue; }
            if (Check(path, plan, s, verify: true, note)) kept++;
            else { File.Delete(path); todo.Add(s); }
        }

        long facesTodo = todo.Sum(s => (long)plan.Range(s).Count);
        long need = facesTodo * (set.FaceBytes + IndexBytesPerFace) + todo.Count * 65536L;
        long free = (opt.FreeBytes ?? FreeBytes)(dir);
        if (need > free)
            throw new DiskSpaceException($"{dir}: the set needs {Gb(need)} more ({facesTodo} faces × {set.FaceBytes / 1024.0:F1} KB, {todo.Count} shards), " +
                $"but only {Gb(free)} are free on that disk; free some space or put the cache on a larger disk (--cache DIR)");
        if (kept > 0) note($"{dir}: {kept} of {mine.Count} shard(s) already built, kept; building {todo.Count}");

        long total = mine.Sum(s => (long)plan.Range(s).Count), done = total - facesTodo, thisRun = 0;
        int shardsDone = kept, built = 0;
        var clock = Stopwatch.StartNew();
        void Report() => opt.Progress?.Report(new BuildProgress(done, total, shardsDone, mine.Count, thisRun / Math.Max(1e-9, clock.Elapsed.TotalSeconds),
            thisRun == 0 ? null : TimeSpan.FromSeconds((total - done) * clock.Elapsed.TotalSeconds / thisRun)));
        Report();
        foreach (var s in todo)
        {
            var path = Path.Combine(dir, FaceShard.FileName(s));
            var (first, count) = plan.Range(s);
            try
            {
                using var w = new FaceShard.Writer(path, set, s, shards, first, count, opt.WrapWrite);
                int seen = 0;
                foreach (var f in source(first, count, opt.Cancel))
                {
                    opt.Cancel.ThrowIfCancellationRequested();
                    if (f.Crop is { } crop) w.Add(f.Item, crop, f.Template, f.Mirror, f.Target);
                    else w.Skip(f.Item.Path, f.Problem ?? "no face");
                    seen++;
                    done++;
                    if (++thisRun >= opt.StopAfterFaces) throw new OperationCanceledException($"stopped after {thisRun} faces (a simulated kill)");
                    if (seen % 32 == 0 || seen == count) Report();
                }
                if (seen != count) throw new InvalidOperationException($"shard {s}: the source gave {seen} of {count} items");
                w.Commit();
            }
            catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
            {
                // Disk full (or gone): this shard's temporary file is removed by the writer; the complete ones stay.
                throw new DfdException($"{path}: writing failed ({e.Message.TrimEnd('.')}); the build stopped with {kept + built} of {mine.Count} shard(s) complete, all kept — free space and run the same command again to continue");
            }
            built++;
            shardsDone++;
            Report();
        }
        var missing = Finish(dir, plan);
        var bytes = Directory.GetFiles(dir, "shard-*.dfs").Sum(f => new FileInfo(f).Length);
        int faces = File.Exists(manifest) ? FaceSet.ReadJson<SetManifest>(manifest).Count : -1;
        return new BuildResult(dir, missing.Count == 0, built, kept, missing, bytes, faces);
    }

    /// <summary>The folder's build.json, written now if absent; an existing one of another set is refused, and its
    /// shard size wins over the requested one (the shards already made have it).</summary>
    static BuildPlan PlanFor(string dir, BuildPlan want, Action<string> note)
    {
        var path = Path.Combine(dir, FaceSet.PlanName);
        if (File.Exists(path))
        {
            var have = FaceSet.ReadJson<BuildPlan>(path);
            if (want.Set.Mismatch(have.Set) is { } why) throw new FaceSetException(path, $"refused: this folder holds {why}");
            if (have.Items != want.Items) throw new FaceSetException(path, $"refused: a set of {have.Items} items, not {want.Items}");
            if (have.FacesPerShard != want.FacesPerShard) note($"{dir}: continuing with its {have.FacesPerShard} faces per shard (not {want.FacesPerShard})");
            return have;
        }
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(want, FaceShard.Json));
        return want;
    }

    /// <summary>Is the shard at <paramref name="path"/> shard <paramref name="s"/> of the plan, whole? False: damaged
    /// (noted, to be redone). A shard of another set is refused, not overwritten.</summary>
    static bool Check(string path, BuildPlan plan, int s, bool verify, Action<string> note)
    {
        ShardHeader hd;
        try { hd = FaceShard.ReadHeader(path); }
        catch (FaceSetException e) { note($"{e.Message}; redoing it"); return false; }
        if (plan.Set.Mismatch(hd.Set) is { } why) throw new FaceSetException(path, $"refused: {why}");
        var (first, count) = plan.Range(s);
        if (hd.Shard != s || hd.FirstItem != first || hd.Items != count)
            throw new FaceSetException(path, $"refused: holds items {hd.FirstItem}..{hd.FirstItem + hd.Items - 1} (shard {hd.Shard}), not shard {s}'s {first}..{first + count - 1}");
        if (!verify) return true;
        try { FaceShard.Verify(path, hd); return true; }
        catch (FaceSetException e) { note($"{e.Message.Split(';')[0]}; redoing it"); return false; }
    }

    /// <summary>Writes set.json when every shard is there; returns the shards still missing.</summary>
    static List<int> Finish(string dir, BuildPlan plan)
    {
        var missing = new List<int>();
        var entries = new List<ShardEntry>();
        for (int s = 0; s < plan.Shards; s++)
        {
            var path = Path.Combine(dir, FaceShard.FileName(s));
            if (!File.Exists(path)) { missing.Add(s); continue; }
            var hd = FaceShard.ReadHeader(path);
            entries.Add(new ShardEntry(FaceShard.FileName(s), hd.FirstItem, hd.Items, hd.Count, new FileInfo(path).Length, hd.Sha256));
        }
        if (missing.Count == 0)
            AtomicFile.WriteAllText(Path.Combine(dir, FaceSet.ManifestName), JsonSerializer.Serialize(new SetManifest
            {
                Set = plan.Set, FacesPerShard = plan.FacesPerShard, Items = plan.Items, Count = entries.Sum(e => e.Count),
                Bytes = entries.Sum(e => e.Bytes), Shards = entries,
            }, new JsonSerializerOptions(FaceShard.Json) { WriteIndented = true }));
        return missing;
    }

    /// <summary>
    /// Gathers the shards of split builds (other folders, e.g. copied from other machines) into <paramref name="into"/>,
    /// each checked (same set, checksum) before it is copied, and writes set.json once all are there.
    /// With no sources it only checks <paramref name="into"/> and finishes it (parts that built into one shared folder).
    /// </summary>
    public static BuildResult Merge(string into, IReadOnlyList<string> sources, Action<string>? note = null)
    {
        note ??= _ => { };
        BuildPlan? plan = File.Exists(Path.Combine(into, FaceSet.PlanName)) ? FaceSet.ReadJson<BuildPlan>(Path.Combine(into, FaceSet.PlanName)) : null;
        foreach (var src in sources)
        {
            var pp = Path.Combine(src, FaceSet.PlanName);
            if (!File.Exists(pp)) throw new FaceSetException(src, "no build.json: not a (partial) training-set folder");
            var p = FaceSet.ReadJson<BuildPlan>(pp);
            if (plan == null) plan = p;
            else if (plan.Set.Mismatch(p.Set) is { } why) throw new FaceSetException(pp, $"refused: {why}");
            else if (p.Items != plan.Items || p.FacesPerShard != plan.FacesPerShard)
                throw new FaceSetException(pp, $"refused: {p.Items} items in shards of {p.FacesPerShard}, not {plan.Items} in shards of {plan.FacesPerShard}");
        }
        if (plan == null) throw new FaceSetException(into, "no build.json: not a training-set folder, and no other folders given to merge");
        Directory.CreateDirectory(into);
        var planPath = Path.Combine(into, FaceSet.PlanName);
        if (!File.Exists(planPath)) AtomicFile.WriteAllText(planPath, JsonSerializer.Serialize(plan, FaceShard.Json));

        int copied = 0, kept = 0;
        for (int s = 0; s < plan.Shards; s++)
        {
            var name = FaceShard.FileName(s);
            var dst = Path.Combine(into, name);
            if (File.Exists(dst))
            {
                if (Check(dst, plan, s, verify: true, note)) { kept++; continue; }
                File.Delete(dst);
            }
            foreach (var src in sources)
            {
                var from = Path.Combine(src, name);
                if (!File.Exists(from)) continue;
                if (!Check(from, plan, s, verify: true, note)) continue;
                var tmp = Path.Combine(into, $".{name}.{Environment.ProcessId}.tmp");
                try { File.Copy(from, tmp, overwrite: true); File.Move(tmp, dst, overwrite: true); }
                finally { if (File.Exists(tmp)) File.Delete(tmp); }
                copied++;
                break;
            }
        }
        var manifest = Path.Combine(into, FaceSet.ManifestName);
        if (File.Exists(manifest)) File.Delete(manifest);
        var missing = Finish(into, plan);
        var bytes = Directory.GetFiles(into, "shard-*.dfs").Sum(f => new FileInfo(f).Length);
        int faces = missing.Count == 0 ? FaceSet.ReadJson<SetManifest>(manifest).Count : -1;
        note($"{into}: {kept} shard(s) there already, {copied} copied, {missing.Count} missing");
        return new BuildResult(into, missing.Count == 0, copied, kept, missing, bytes, faces);
    }

    /// <summary>Temporary files of this part's shards left by a killed build (its process gone).</summary>
    static void RemoveStaleTemporaries(string dir, List<int> mine)
    {
        var names = mine.Select(FaceShard.FileName).ToHashSet();
        foreach (var f in Directory.GetFiles(dir, ".shard-*.tmp*"))
        {
            var parts = Path.GetFileName(f)[1..].Split('.');   // shard-00003, dfs, PID, tmp[, targets]
            if (parts.Length < 4 || !names.Contains(parts[0] + "." + parts[1]) || !int.TryParse(parts[2], out int pid)) continue;
            if (pid != Environment.ProcessId && Alive(pid)) continue;
            try { File.Delete(f); } catch (IOException) { }
        }
    }

    static bool Alive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Free bytes for an unprivileged user on the disk holding <paramref name="dir"/>: the mount with the
    /// longest matching path.</summary>
    public static long FreeBytes(string dir)
    {
        var full = Path.GetFullPath(dir);
        var drive = DriveInfo.GetDrives().Where(d => d.IsReady && IsUnder(full, d.RootDirectory.FullName))
            .OrderByDescending(d => d.RootDirectory.FullName.Length).FirstOrDefault();
        return drive?.AvailableFreeSpace ?? long.MaxValue;

        static bool IsUnder(string path, string root) =>
            path.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal) || path == root.TrimEnd('/') || root == "/";
    }

    public static string Gb(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F1} GB"
        : bytes >= 1L << 20 ? $"{bytes / (double)(1 << 20):F0} MB" : $"{bytes / 1024.0:F0} KB";
}

/// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
