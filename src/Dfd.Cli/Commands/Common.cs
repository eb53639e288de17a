using System.Text.Json;
using System.Text.Json.Serialization;
using Dfd.Datasets;
using Dfd.Detection;
using Dfd.Evaluation;
using Dfd.Encoders;
using Dfd.Imaging;
using Spectre.Console;
using TorchSharp;

namespace Dfd.Cli.Commands;

static class Common
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string ToJson(object o) => JsonSerializer.Serialize(o, Json);

    public static torch.Device Device(Args a)
    {
        var d = a.Opt("device") ?? "cpu";
        if (d.StartsWith("cuda") && !torch.cuda.is_available())
            throw new UsageException($"--device {d}: CUDA is not available (no NVIDIA GPU/driver found, or this is the default CPU-only build); use --device cpu, or on a machine with an NVIDIA GPU build with 'dotnet build -p:DfdTorch=cuda' (docs/gpu.md)");
        try { return torch.device(d); }
        catch (Exception) { throw new UsageException($"--device expects cpu or cuda[:N], got '{d}'"); }
    }

    public static IEncoder Encoder(Args a, string option = "model")
    {
        var name = a.Req(option);
        // --model onnx:PATH / tfjs:PATH take their preprocessing from these options, over the sidecar (PATH.json / STEM.dfd.json).
        string? size = a.Opt("input-size"), mean = a.Opt("mean"), std = a.Opt("std"), channels = a.Opt("channels"), template = a.Opt("template");
        GraphEncoderOptions? onnx = null;
        if (size != null || mean != null || std != null || channels != null || template != null)
        {
            if (!OnnxEncoder.IsOnnxName(name) && !TfjsEncoder.IsTfjsName(name)) throw new UsageException($"--input-size, --mean, --std, --channels and --template apply only to --model onnx:PATH or tfjs:PATH, not to {name}");
            try { onnx = GraphEncoderOptions.Parse(size, mean, std, channels, template); }
            catch (FormatException e) { throw new UsageException(e.Message); }
        }
        return Registry.Create(name, a.Opt("weights"), Device(a), onnx);
    }

    /// <summary>Runs work under a progress bar on a terminal, quietly otherwise (scripts, --json, CI logs).</summary>
    public static T WithProgress<T>(string label, bool quiet, Func<IProgress<(int Done, int Total)>, T> work)
    {
        if (quiet || Console.IsErrorRedirected && Console.IsOutputRedirected)
        {
            var last = DateTime.MinValue;
            var p = new Progress<(int Done, int Total)>(x =>
            {
                if (quiet) return;
                if ((DateTime.UtcNow - last).TotalSeconds < 10 && x.Done != x.Total) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"{label}: {x.Done}/{x.Total}");
            });
            return work(p);
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: 1);
                var p = new SyncProgress(x => { task.MaxValue = Math.Max(1, x.Total); task.Value = x.Done; });
                result = work(p);
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>Work reporting named stages (evaluate, lineup): one progress bar per stage on a terminal; a line per stage
    /// (and every 10 s) otherwise; nothing with --json.</summary>
    public static T WithStages<T>(bool quiet, Func<IProgress<EvaluationProgress>?, T> work)
    {
        if (quiet) return work(null);
        if (Console.IsErrorRedirected || Console.IsOutputRedirected)
        {
            string? stage = null;
            var last = DateTime.MinValue;
            return work(new SyncProgress<EvaluationProgress>(x =>
            {
                if (x.Stage == stage && (DateTime.UtcNow - last).TotalSeconds < 10 && x.Done != x.Total) return;
                stage = x.Stage; last = DateTime.UtcNow;
                Console.Error.WriteLine($"{x.Stage}: {x.Done}/{x.Total}");
            }));
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work(new SyncProgress<EvaluationProgress>(x =>
                {
                    if (!tasks.TryGetValue(x.Stage, out var task)) tasks[x.Stage] = task = ctx.AddTask(Markup.Escape(x.Stage), maxValue: 1);
                    task.MaxValue = Math.Max(1, x.Total);
                    task.Value = x.Done;
                }));
                foreach (var task in tasks.Values) task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; the bar must be updated in order, so report synchronously.</summary>
    sealed class SyncProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }

    public static IProgress<(int Done, int Total)> Sync(Action<(int Done, int Total)> a) => new SyncProgress(a);

    /// <summary>The start of align's, encode's and reconstruct's --pick help: one default everywhere (<see cref="FacePick"/>).</summary>
    public const string PickHelp =
        "  --pick central|confident|all: the face taken from a photo with several: central (the default, as in train, evaluate,\n" +
        "             analyze and serve: the person of a portrait photo, as in LFW), confident (the detector's most confident)";

    /// <summary>--pick's value; central (<see cref="FacePick.MostCentral"/>), the library's default, when not given.</summary>
    public static FacePick Pick(string? value) => value switch
    {
        null or "central" => FacePick.MostCentral,
        "confident" => FacePick.MostConfident,
        "all" => FacePick.All,
        _ => throw new UsageException($"--pick expects central, confident or all, got '{value}'"),
    };

    public static string PickName(FacePick p) => p switch { FacePick.MostConfident => "confident", FacePick.All => "all", _ => "central" };

    /// <summary>
    /// A file's crops under --pick: one face, or every face (<see cref="FacePick.All"/>) with its index among the
    /// detections (0 = most confident), or why none. Without a detector the file must be an aligned crop.
    /// </summary>
    public static (List<(RgbImage Crop, int Face)> Crops, int Found, string? Problem) Crops(
        string file, EncoderSpec spec, FacePipeline? pipeline, FacePick pick)
    {
        if (pipeline == null || pick != FacePick.All)
        {
            var r = FaceInput.Crop(file, spec, pipeline, pick);
            return r.Crop is { } c ? ([(c, -1)], 1, null) : ([], 0, r.Problem);
        }
        var all = pipeline.AlignFile(file, spec.Template, FacePick.All);
        if (all.Status != AlignStatus.Aligned) return ([], 0, all.Message ?? all.Status.ToString());
        return (all.Crops.Select((c, k) => (c, k)).ToList(), all.Crops.Count, null);
    }

    /// <summary>An output name's face suffix: _faceK where --pick all found several faces in the photo, else none.</summary>
    public static string FaceSuffix(int face, int found) => face >= 0 && found > 1 ? $"_face{face}" : "";

    public static List<string> InputFiles(string input)
    {
        if (File.Exists(input)) return [input];
        if (Directory.Exists(input))
        {
            var files = Dfd.Imaging.ImageIO.ListImages(input);
            if (files.Count == 0) throw new UsageException($"{input}: no images (.jpg, .jpeg, .png, .bmp, .webp) in this folder");
            return files;
        }
        throw new FileNotFoundException($"{input}: no such file or folder");
    }

    /// <summary>$XDG_CACHE_HOME/dfd/<paramref name="kind"/>, else ~/.cache/dfd/<paramref name="kind"/>.</summary>
    public static string CacheDir(string kind)
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
        return Path.Combine(root, "dfd", kind);
    }

    public static string Pct(double x) => (100 * x).ToString("F2") + "%";
}
