using Dfd.Evaluation;
using Dfd.Reports;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>Type-I/II match rates of a decoder's reconstructions at fixed FMRs, SSIM/PSNR, and an HTML report.</summary>
static class EvaluateCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd evaluate --decoder F --data <set> --report <dir> [--with-models m1,m2] [options] [--json]",
        "  data: lfw:DIR (the test people of --split FILE, default splits/lfw-dfd-v1.json; none: everyone), vggface2:DIR,",
        "        celebahq:DIR, aligned:DIR, folder:DIR",
        "  type-I/II match rates at FMR 1e-2/1e-3/1e-4 under the decoder's encoder and each --with-models model (judges",
        "  that never saw the decoder), rank-1 identification, false matches, Fréchet distance, SSIM, PSNR, spread and",
        "  detail, each beside the mean-face floor and the originals; report: index.html, evaluation.json, grid.png, histograms",
        "  --limit-people N (first N test people, ≥ 2) --cache DIR|none (aligned crops and templates) --device cpu|cuda[:N]"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var decoder = a.Req("decoder");
        var data = a.Req("data");
        var report = a.Req("report");
        bool json = a.Flag("json");
        var models = a.Opt("with-models")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        int limit = a.Int("limit-people", 0);
        if (a.Opt("limit-people") != null && limit < 2) throw new UsageException("--limit-people needs at least 2 people (thresholds come from impostor pairs)");
        var cache = a.Opt("cache") ?? Common.CacheDir("evalsets");
        var split = a.Opt("split");
        var device = Common.Device(a);
        a.CheckUnused();

        var opt = new EvaluationOptions
        {
            Data = data, Models = models, LimitPeople = limit > 0 ? limit : null, CacheDir = cache == "none" ? null : cache,
            Split = split, Device = device,
        };
        var r = Run(decoder, opt, json);
        var files = EvaluationReport.Write(r, report);
        if (json)
        {
            Console.WriteLine(EvaluationReport.Json(r));
            return 0;
        }

        var d = r.Decoder;
        Console.WriteLine($"decoder {d.Path}: {d.Encoder}, {d.Format}{(d.EpochsDone is { } ep ? $", {ep} epoch(s){(d.Metadata.GetValueOrDefault("step_in_epoch") is { } st and not "0" ? $" + {st} step(s)" : "")}" : "")}{(d.TrainSeconds is { } ts ? $", {ts / 3600:F2} h of training" : "")}");
        Console.WriteLine($"test set {r.Data.Spec}: {r.Data.EvaluatedImages} images of {r.Data.EvaluatedPeople} people" +
            (r.Data.Split != null ? $" (test people of split {r.Data.Split}" + (r.Data.LimitPeople is { } lp ? $", first {lp} of {r.Data.ListedPeople}" : "") + ")" : "") +
            $"; {r.Data.SkippedImages} skipped (no face or unreadable)");
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;   // logs: whole rows rather than 80-column wrapping
        var t = new Table().AddColumns("model", "FMR", "threshold", "false acc.", "type I", "type II", "genuine", "warp ceil.");
        foreach (var m in r.Results)
            foreach (var x in m.Rates)
                t.AddRow(Markup.Escape(m.Model), EvaluationReport.Fmr(x.Fmr), F(x.Threshold), $"{x.FalseAccepts:N0}/{x.ImpostorComparisons:N0}",
                    $"[bold]{Pct(x.TypeI)}[/]", $"[bold]{Pct(x.TypeII)}[/]", Pct(x.Genuine), x.WarpedOriginals is { } w ? Pct(w) : "–");
        AnsiConsole.Write(t);
        var c = new Table().AddColumns("model", "images", "people (≥2 img)", "mean cos: type I", "type II", "genuine", "impostor", "warp ceil.");
        foreach (var m in r.Results)
            c.AddRow(Markup.Escape(m.Model), m.Images.ToString(), $"{m.People} ({m.PeopleWithTwoOrMore})",
                F(m.MeanTypeI), F(m.MeanTypeII), F(m.MeanGenuine), F(m.MeanImpostor), m.MeanWarpedOriginals is { } w ? F(w) : "–");
        AnsiConsole.Write(c);
        if (r.Results.Any(m => m.Identification != null || m.Frechet != null))
        {
            var idt = new Table().AddColumns("model", "rank-1: recon.", "originals", "mean face", "false matches @1e-3: recon.", "originals", "mean face", "Fréchet: recon.", "mean face", "orig. halves");
            foreach (var m in r.Results)
            {
                var i = m.Identification; var f = m.Frechet;
                idt.AddRow(Markup.Escape(m.Model), i != null ? $"[bold]{Pct(i.Rank1)}[/]" : "–", i != null ? Pct(i.Rank1Originals) : "–", i != null ? Pct(i.Rank1MeanFace) : "–",
                    i != null ? $"[bold]{i.FalseMatches:E2}[/]" : "–", i != null ? i.FalseMatchesOriginals.ToString("E2") : "–", i != null ? i.FalseMatchesMeanFace.ToString("E2") : "–",
                    f != null ? $"[bold]{F(f.Reconstructions)}[/]" : "–", f != null ? F(f.MeanFace) : "–", f != null ? F(f.OriginalsHalves) : "–");
            }
            AnsiConsole.Write(idt);
        }
        var q = r.Quality;
        Console.WriteLine($"image similarity to the {r.Encoder} crops at {d.OutputSize} ({q.Images} images): SSIM {F(q.SsimMean)} ± {F(q.SsimStd)}, " +
            $"PSNR {(q.PsnrMeanDb is { } p ? $"{p:F2} dB ± {q.PsnrStdDb:F2}" : "+inf")}{(q.IdenticalImages > 0 ? $" ({q.IdenticalImages} identical)" : "")}" +
            (q.MeanFaceSsim is { } mf ? $"; the originals' mean face alone: SSIM {F(mf)}, PSNR {q.MeanFacePsnrDb:F2} dB" : "") +
            (q.SamePersonSsim is { } sp ? $"; another photo of the same person: SSIM {F(sp)} ({q.SamePersonPairs:N0} pairs, {q.SamePersonPeople} people)" : ""));
        if (q.PixelSpread is { } ps && q.PixelSpreadOriginals is { } pso)
            Console.WriteLine($"spread from face to face (pixel std over the images, 0–1): reconstructions {F(ps)}, originals {F(pso)} ({ps / pso:P0}; 0 = one face for everyone)");
        if (q.Sharpness is { } sh)
            Console.WriteLine($"detail (gradient energy over the originals'): whole crop {F(sh.Whole)}, inner face {F(sh.Inner)}; the mean face {F(sh.MeanFaceWhole)}, {F(sh.MeanFaceInner)} (1 = a photo's detail)");
        if (q.InnerFace is { } fi)
            Console.WriteLine($"inner face only (box x {fi.X0}–{fi.X1}, y {fi.Y0}–{fi.Y1}): SSIM {F(fi.Reconstructions)}" +
                (fi.MeanFace is { } im ? $"; mean face {F(im)}" : "") + (fi.SamePerson is { } isp ? $"; another photo of the same person {F(isp)}" : ""));
        Console.WriteLine($"report: {files.Index} (grid.png, {string.Join(", ", files.Histograms.Select(Path.GetFileName))}, evaluation.json); {r.Seconds:F1} s " +
            $"[{string.Join(", ", r.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:F1}"))}]");
        return 0;
    }

    static string F(double x) => double.IsFinite(x) ? x.ToString("F4") : "–";
    static string Pct(double x) => double.IsFinite(x) ? Common.Pct(x) : "–";

    /// <summary>One progress bar per stage on a terminal; a line per stage (and every 10 s) otherwise; nothing with --json.</summary>
    static EvaluationResult Run(string decoder, EvaluationOptions opt, bool json)
    {
        if (json) return DecoderEvaluation.Run(decoder, opt);
        if (Console.IsErrorRedirected || Console.IsOutputRedirected)
        {
            string? stage = null;
            var last = DateTime.MinValue;
            var p = new SyncProgress<EvaluationProgress>(x =>
            {
                if (x.Stage == stage && (DateTime.UtcNow - last).TotalSeconds < 10 && x.Done != x.Total) return;
                stage = x.Stage; last = DateTime.UtcNow;
                Console.Error.WriteLine($"{x.Stage}: {x.Done}/{x.Total}");
            });
            return DecoderEvaluation.Run(decoder, opt, p);
        }
        EvaluationResult result = null!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var p = new SyncProgress<EvaluationProgress>(x =>
                {
                    if (!tasks.TryGetValue(x.Stage, out var task)) tasks[x.Stage] = task = ctx.AddTask(Markup.Escape(x.Stage), maxValue: 1);
                    task.MaxValue = Math.Max(1, x.Total);
                    task.Value = x.Done;
                });
                result = DecoderEvaluation.Run(decoder, opt, p);
                foreach (var task in tasks.Values) task.Value = task.MaxValue;
            });
        return result;
    }

    sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
