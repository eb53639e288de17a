using Dfd.Evaluation;
using Dfd.Reports;
using Spectre.Console;

namespace Dfd.Cli.Commands;

/// <summary>Type-I/II match rates of a decoder's reconstructions at fixed FMRs, SSIM/PSNR, and an HTML report.</summary>
static class EvaluateCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd evaluate --decoder F[,F2,…] [--baseline B] --data <set> --report <dir> [--with-models m1,m2] [options] [--json]",
        "  data: lfw:DIR (the test people of --split FILE, default splits/lfw-dfd-v1.json; none: everyone), vggface2:DIR,",
        "        celebahq:DIR, aligned:DIR, folder:DIR",
        "  type-I/II match rates at FMR 1e-2/1e-3/1e-4 under the decoder's encoder and each --with-models model (judges",
        "  that never saw the decoder), rank-1 identification, false matches, Fréchet distance, SSIM, PSNR, spread and",
        "  detail, colour bias (mean R/G/B minus the originals') and texture Fréchet distance (pooled early mobilefacenet-casia",
        "  features; skipped without its weights), each beside the mean-face floor and the originals; report: index.html,",
        "  evaluation.json, grid.png, histograms. Several decoders (--decoder A,B or --baseline B: e.g. sharp beside regression)",
        "  are evaluated on the same set and set side by side with the originals (each decoder's full report in a subfolder)",
        "  --limit-people N (first N test people, ≥ 2) --cache DIR|none (aligned crops and templates) --device cpu|cuda[:N]"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var decoders = a.Req("decoder").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
        if (a.Opt("baseline") is { } bl) decoders.AddRange(bl.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        if (decoders.Count == 0) throw new UsageException("--decoder needs a decoder file");
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
        var all = new List<EvaluationResult>();
        foreach (var decoder in decoders)
        {
            if (!json && decoders.Count > 1) Console.Error.WriteLine($"evaluating {decoder} ({all.Count + 1} of {decoders.Count})");
            all.Add(Run(decoder, opt, json));
        }
        if (all.Count > 1 && all.Any(x => x.Encoder != all[0].Encoder))
            throw new UsageException($"decoders set side by side must invert one encoder: {string.Join(", ", all.Select(x => $"{x.Decoder.Path} ({x.Encoder})"))}");
        if (all.Count == 1)
        {
            var files = EvaluationReport.Write(all[0], report);
            if (json) Console.WriteLine(EvaluationReport.Json(all[0]));
            else Print(all[0], files);
            return 0;
        }
        var sbs = EvaluationReport.WriteSideBySide(all, report);
        if (json)
        {
            Console.WriteLine(EvaluationReport.Json(all));
            return 0;
        }
        for (int k = 0; k < all.Count; k++)
        {
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(EvaluationReport.KindLabel(all[k]))}[/]");
            Print(all[k], sbs.Decoders[k]);
            Console.WriteLine();
        }
        PrintSideBySide(all);
        Console.WriteLine($"side by side: {sbs.Index} (grid.png, evaluation.json; each decoder's report in its own folder)");
        return 0;
    }

    /// <summary>The side-by-side table at FMR 1e-3 (<see cref="SideBySide"/>).</summary>
    static void PrintSideBySide(IReadOnlyList<EvaluationResult> all)
    {
        var rows = SideBySide.Rows(all);
        var cross = rows[0].CrossModel ?? "cross";
        var t = new Table().AddColumns("images", "own type I", "type II", "false m.", $"{Markup.Escape(cross)} type I", "type II", "rank-1", "false m.",
            "detail whole", "inner", "spread", "SSIM", "colour bias R/G/B", "texture FD");
        string P(double? x) => x is { } v ? Pct(v) : "–";
        string G(double? x, string f = "F4") => x is { } v && double.IsFinite(v) ? v.ToString(f) : "–";
        foreach (var x in rows)
            t.AddRow(Markup.Escape(x.Kind == "originals" ? "originals" : Dfd.Decoder.DecoderKind.Label(x.Kind)),
                P(x.OwnTypeI), P(x.OwnTypeII), G(x.OwnFalseMatches, "E2"), P(x.CrossTypeI), P(x.CrossTypeII), P(x.CrossRank1), G(x.CrossFalseMatches, "E2"),
                G(x.DetailWhole), G(x.DetailInner), G(x.Spread), G(x.Ssim), x.ColourBias is { } c ? string.Join(" / ", c.Select(v => v.ToString("+0.0000;-0.0000;0"))) : "–",
                G(x.TextureFrechet));
        AnsiConsole.Write(t);
        foreach (var x in rows.Where(x => x.Kind != "originals")) Console.WriteLine($"{Dfd.Decoder.DecoderKind.Label(x.Kind)}: {x.Name}");
        Console.WriteLine("originals' row: genuine rate under type II, the models' own rank-1 and false matches on photos, colour bias 0 by definition, texture: every other person's originals against the rest's");
    }

    static void Print(EvaluationResult r, EvaluationReport.Files files)
    {
        var d = r.Decoder;
        Console.WriteLine($"decoder {d.Path} ({EvaluationReport.KindLabel(r)}): {d.Encoder}, {d.Format}{(d.EpochsDone is { } ep ? $", {ep} epoch(s){(d.Metadata.GetValueOrDefault("step_in_epoch") is { } st and not "0" ? $" + {st} step(s)" : "")}" : "")}{(d.TrainSeconds is { } ts ? $", {ts / 3600:F2} h of training" : "")}");
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
        if (r.ColourBias is { } cb)
            Console.WriteLine($"colour bias (reconstructions' mean minus the originals', 0–1, R/G/B): {Rgb(cb.Reconstructions)}; inner face {(cb.ReconstructionsInner is { } ci ? Rgb(ci) : "–")}" +
                (cb.OriginalsHalves is { } oh ? $"; two halves of the originals (by person) differ by {Rgb(oh)}" : "") + "; the originals: 0 by definition");
        if (r.Texture is { } tx)
            Console.WriteLine(tx.Skipped != null ? $"texture Fréchet distance: skipped ({tx.Skipped})"
                : $"texture Fréchet distance ({tx.Model}, {tx.Layer}): reconstructions {F(tx.Reconstructions ?? double.NaN)}; the mean face {F(tx.MeanFace ?? double.NaN)}; originals, halves by person {F(tx.OriginalsHalves ?? double.NaN)}");
        Console.WriteLine($"report: {files.Index} (grid.png, {string.Join(", ", files.Histograms.Select(Path.GetFileName))}, evaluation.json); {r.Seconds:F1} s " +
            $"[{string.Join(", ", r.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:F1}"))}]");
    }

    static string Rgb(double[] c) => string.Join(" / ", c.Select(v => v.ToString("+0.0000;-0.0000;0")));

    static string F(double x) => double.IsFinite(x) ? x.ToString("F4") : "–";
    static string Pct(double x) => double.IsFinite(x) ? Common.Pct(x) : "–";

    static EvaluationResult Run(string decoder, EvaluationOptions opt, bool json) => Common.WithStages(json, p => DecoderEvaluation.Run(decoder, opt, p));
}
