using Dfd.Detection;
using Dfd.Evaluation;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class VerifyCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd verify --model <encoder> --lfw <dir> --pairs <pairs.txt> [options] [--json]",
        "  LFW View 2, 10-fold: accuracy ± sd, ROC AUC, TAR at FMR 1e-2 and 1e-3 (plain and flip-averaged)",
        "  --folds 1,2 (1-based; default all) --flip (headline: flip-averaged) --no-detect --centre-crop 130 (no YuNet:",
        "  a centre crop of that side) --cache DIR (templates; default the user cache) --no-cache",
        "  encoder:   --weights W (else the registry's search path), --device cpu|cuda[:N]; for onnx:PATH / tfjs:PATH also",
        "             --input-size WxH --mean r,g,b --std r,g,b --channels rgb|bgr --template " + string.Join("|", Dfd.Encoders.GraphEncoderOptions.Templates) + " (over the sidecar)",
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json", "no-detect", "flip", "no-cache" });
        var lfw = a.Req("lfw");
        var pairsPath = a.Req("pairs");
        bool json = a.Flag("json"), noDetect = a.Flag("no-detect"), flip = a.Flag("flip"), noCache = a.Flag("no-cache");
        int side = a.Int("centre-crop", 130);
        var foldsOpt = a.Opt("folds");
        var cacheDir = a.Opt("cache") ?? Common.CacheDir("templates");
        using var enc = Common.Encoder(a);
        var weights = Dfd.Encoders.Registry.WeightsPath(enc.Spec.Name, a.Opt("weights"));
        var weightsId = Dfd.Encoders.Registry.WeightsId(enc.Spec.Name, a.Opt("weights"));
        a.CheckUnused();
        if (!Directory.Exists(lfw)) throw new DirectoryNotFoundException($"{lfw}: LFW image folder not found (expected <Name>/<Name>_NNNN.jpg inside)");

        // Folds are given 1-based on the command line, as LFW's documentation numbers them.
        IReadOnlyList<int>? folds = foldsOpt?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => int.TryParse(f, out var k) && k >= 1 ? k - 1 : throw new UsageException($"--folds expects 1-based fold numbers like 1,2, got '{foldsOpt}'")).ToList();
        var opt = new VerifyOptions(noDetect ? CropMode.Centre : CropMode.Detect, side, noCache ? null : cacheDir, folds, weightsId);
        using var pipeline = noDetect ? null : FacePipeline.CreateDefault();
        var r = Common.WithProgress("encoding LFW", json, p => LfwVerify.Run(enc, pipeline, lfw, pairsPath, opt, p));

        var headline = flip ? r.FlipAveraged : r.Plain;
        if (json)
        {
            Console.WriteLine(Common.ToJson(new
            {
                model = r.Model, weights, pairs = r.Pairs, pair_count = r.PairCount, folds = r.FoldCount, images = r.ImageCount,
                crop = noDetect ? $"centre {side}px" : "yunet 5-point similarity", detection_misses = r.DetectionMisses, unreadable = r.Unreadable,
                headline = flip ? "flip_averaged" : "plain", plain = Figures(r.Plain), flip_averaged = Figures(r.FlipAveraged),
                seconds = Math.Round(r.Seconds, 1), from_cache = r.FromCache,
            }));
            return 0;
        }
        var t = new Table().AddColumns("templates", "accuracy (mean ± std)", "ROC AUC", "TAR @ FMR 1e-2", "TAR @ FMR 1e-3");
        foreach (var (name, f) in new[] { ("plain", r.Plain), ("flip-averaged", r.FlipAveraged) })
            t.AddRow((f == headline ? "[bold]" : "") + name + (f == headline ? "[/]" : ""),
                $"{Common.Pct(f.Accuracy.Mean)} ± {Common.Pct(f.Accuracy.Std)}", f.Auc.ToString("F5"),
                $"{Common.Pct(f.TarAtFmr1e2.Tar)} (thr {f.TarAtFmr1e2.At.Threshold:F4})", $"{Common.Pct(f.TarAtFmr1e3.Tar)} (thr {f.TarAtFmr1e3.At.Threshold:F4})");
        AnsiConsole.Write(t);
        Console.WriteLine($"{r.Model} on {Path.GetFileName(r.Pairs)}: {r.PairCount} pairs in {r.FoldCount} fold(s), {r.ImageCount} images, " +
            $"crop: {(noDetect ? $"centre {side}px" : "YuNet alignment")}, detector misses (centre-crop fallback): {r.DetectionMisses}, " +
            $"{r.Seconds:F1} s{(r.FromCache ? " (templates from cache)" : "")}");
        return 0;
    }

    static object Figures(VerifyFigures f) => new
    {
        accuracy_mean = f.Accuracy.Mean, accuracy_std = f.Accuracy.Std, fold_accuracies = f.Accuracy.Accuracies, fold_thresholds = f.Accuracy.Thresholds,
        auc = f.Auc,
        tar_at_fmr_1e2 = new { tar = f.TarAtFmr1e2.Tar, threshold = f.TarAtFmr1e2.At.Threshold, false_accepts = f.TarAtFmr1e2.At.FalseAccepts, impostors = f.TarAtFmr1e2.At.ImpostorCount },
        tar_at_fmr_1e3 = new { tar = f.TarAtFmr1e3.Tar, threshold = f.TarAtFmr1e3.At.Threshold, false_accepts = f.TarAtFmr1e3.At.FalseAccepts, impostors = f.TarAtFmr1e3.At.ImpostorCount },
    };
}
