// Templates per second of the TorchSharp dlib-resnet port (Dfd.Encoders.DlibResNet), as shipped.
// Prints one JSON line per batch size on stdout, the same shape as bench/dlib_resnet.py; notes go to stderr.
// Run through bench/run.sh, which puts it side by side with the same network in PyTorch.
//
//   Dfd.Bench [--threads 2] [--batches 1,32] [--iters 20,2] [--warmup 5,2] [--repeats 3]
//             [--dump DIR] [--profile] [--weights PATH]
//   Dfd.Bench --encoders ...   every encoder instead (EncoderBench.cs, run through bench/encoders.sh)
//   Dfd.Bench --decoder ...    decoder training steps/s and reconstructions/s (DecoderBench.cs, run through bench/decoder.sh)
//   Dfd.Bench --serve ...      dfd serve: slider latency and several clients at once (ServeBench.cs, bench/serve.sh)
//   Dfd.Bench --scale ...      a synthetic on-disk training set of N faces, 50 training steps from it (ScaleBench.cs, bench/scale.sh)
//   Dfd.Bench --device-diff ...  a decoder's reconstructions on CPU and on CUDA compared (DeviceDiff.cs, bench/gpu.sh)
//
// --dump DIR   writes a seeded random input (random-input.u8, [4,3,150,150] uint8) and this port's output for it
//              (random-output.f32, [4,128]) for the Python script to compare against.
// --profile    also times, at the largest batch, the forward op by op (conv / affine scale / relu / pool / ...)
//              and a variant with the scale folded into the conv weights, to see where the time goes.
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd;
using Dfd.Core;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

var opts = Args.Parse(args);
string root = FindRoot();
if (opts.Has("encoders")) return EncoderBench.Run(opts, root);   // every encoder, TorchSharp / ONNX Runtime / interpreter (bench/encoders.sh)
if (opts.Has("device-diff")) return DeviceDiff.Run(opts);             // one decoder file on two devices (bench/gpu.sh); before --decoder, which it also takes
if (opts.Has("decoder")) return DecoderBench.Run(opts, root);
if (opts.Has("serve")) return ServeBench.Run(opts, root);
if (opts.Has("scale")) return ScaleBench.Run(opts, root);           // the training set on disk at N faces (bench/scale.sh)
string weights = opts.Get("weights", Path.Combine(root, "models", "dlib-resnet", "dlib-resnet.safetensors"));
int threads = int.Parse(opts.Get("threads", "2"));
var batches = opts.Ints("batches", "1,32");
var iters = opts.Ints("iters", "20,2");
var warmup = opts.Ints("warmup", "5,2");
int repeats = int.Parse(opts.Get("repeats", "3"));
double tol = double.Parse(opts.Get("tol", "1e-4"), CultureInfo.InvariantCulture);

torch.set_num_threads(threads);
string tsVersion = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
                   ?? typeof(torch).Assembly.GetName().Version!.ToString();
Console.Error.WriteLine($"# TorchSharp {tsVersion}, .NET {Environment.Version}, threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})");

var model = DlibResNet.Load(weights);

// Correctness first: the committed face-api (tfjs) fixtures, as the unit tests do.
{
    string fx = Path.Combine(root, "tests", "Dfd.Tests", "Fixtures", "faceapi");
    var items = JsonNode.Parse(File.ReadAllText(Path.Combine(fx, "descriptors.json")))!["items"]!.AsArray();
    var imgs = items.Select(i => new RgbImage(150, 150, File.ReadAllBytes(Path.Combine(fx, i!["input"]!.GetValue<string>())))).ToList();
    var expected = items.Select(i => i!["descriptor"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray()).ToList();
    var got = model.Encode(imgs);
    double worst = 0;
    for (int k = 0; k < imgs.Count; k++)
        for (int j = 0; j < 128; j++) worst = Math.Max(worst, Math.Abs(got[k][j] - expected[k][j]));
    bool ok = worst <= tol;
    Console.Error.WriteLine($"# torchsharp vs face-api fixtures ({imgs.Count} images): max abs diff {worst:E3} (tol {tol:G}) {(ok ? "OK" : "FAIL")}");
    if (!ok) return 1;
}

if (opts.Has("dump"))
{
    string dir = opts.Get("dump", "");
    Directory.CreateDirectory(dir);
    const int n = 4;
    var bytes = new byte[n * 3 * 150 * 150];
    new Random(1234).NextBytes(bytes);
    using var scope = torch.NewDisposeScope();
    using var _ = torch.inference_mode();
    var x = torch.tensor(bytes, new long[] { n, 3, 150, 150 }).to_type(ScalarType.Float32);
    var y = model.forward(x).contiguous().data<float>().ToArray();
    File.WriteAllBytes(Path.Combine(dir, "random-input.u8"), bytes);
    File.WriteAllBytes(Path.Combine(dir, "random-output.f32"), y.SelectMany(BitConverter.GetBytes).ToArray());
    File.WriteAllText(Path.Combine(dir, "random-input.json"), JsonSerializer.Serialize(new { batch = n, seed = 1234, layout = "NCHW uint8 / N x 128 float32 LE" }));
    Console.Error.WriteLine($"# wrote seeded random input and TorchSharp output ({n} images) to {dir}");
}

for (int i = 0; i < batches.Length; i++)
{
    int b = batches[i];
    int w = warmup[Math.Min(i, warmup.Length - 1)], it = iters[Math.Min(i, iters.Length - 1)];
    var gen = new Random(1234 + b);
    var buf = new float[b * 3 * 150 * 150];
    for (int k = 0; k < buf.Length; k++) buf[k] = gen.Next(256);
    using var x = torch.tensor(buf, new long[] { b, 3, 150, 150 });
    var ms = Bench.Time(() => model.forward(x), w, it, repeats, out var cpuMs, out var faults);
    Console.WriteLine(Bench.Json("torchsharp", tsVersion, b, it, repeats, ms, cpuMs, faults));
}

if (opts.Has("profile"))
    Profile.Run(weights, batches.Max(), repeats);
if (opts.Has("micro"))
    Profile.Micro(batches.Max());
return 0;

static string FindRoot()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "Dfd.slnx"))) return d.FullName;
    for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d != null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "Dfd.slnx"))) return d.FullName;
    throw new InvalidOperationException("no Dfd.slnx above the binary or the working directory");
}

static class Bench
{
    /// <summary>ms per call for each repeat of <paramref name="iters"/> calls, under inference mode, a dispose scope per call.</summary>
    public static double[] Time(Func<Tensor> f, int warmup, int iters, int repeats) => Time(f, warmup, iters, repeats, out _, out _);

    /// <summary>Also the process CPU time (all threads) and minor page faults per call over the timed calls (not the warm-up).</summary>
    public static double[] Time(Func<Tensor> f, int warmup, int iters, int repeats, out double cpuMs, out double faults)
    {
        using var _ = torch.inference_mode();
        for (int k = 0; k < warmup; k++) { using var s = torch.NewDisposeScope(); f(); }
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long flt0 = MinorFaults();
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int k = 0; k < iters; k++) { using var s = torch.NewDisposeScope(); f(); }
            ms[r] = sw.Elapsed.TotalMilliseconds / iters;
        }
        cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (iters * repeats);
        faults = (MinorFaults() - flt0) / (double)(iters * repeats);
        return ms;
    }

    public static double Median(double[] v)
    {
        var s = v.OrderBy(a => a).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>Minor page faults of this process so far (/proc/self/stat field 10); -1 where unavailable.</summary>
    public static long MinorFaults()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7]); // field 10 overall: state is field 3
        }
        catch (Exception) { return -1; }
    }

    public static string Json(string impl, string version, int batch, int iters, int repeats, double[] ms, double? cpuMs = null, double? faults = null)
    {
        double m = Median(ms);
        var d = new Dictionary<string, object>
        {
            ["impl"] = impl, ["version"] = version, ["threads"] = torch.get_num_threads(), ["batch"] = batch,
            ["iters"] = iters, ["repeats"] = repeats,
            ["templates_per_s"] = Math.Round(batch * 1000 / m, 2), ["ms_per_batch"] = Math.Round(m, 3),
            ["ms_per_batch_min"] = Math.Round(ms.Min(), 3), ["ms_per_batch_max"] = Math.Round(ms.Max(), 3),
        };
        // Process CPU time (all threads) per forward: less sensitive to other processes than wall time.
        if (cpuMs is double c) d["cpu_ms_per_batch"] = Math.Round(c, 3);
        if (faults is double f) d["minor_faults_per_batch"] = Math.Round(f, 1);
        return JsonSerializer.Serialize(d);
    }
}

/// <summary>
/// The same forward written functionally over the file's tensors, with a stopwatch around each op (CPU ops are
/// synchronous), plus whole-forward variants. Matches bench/dlib_resnet.py --profile.
/// </summary>
static class Profile
{
    public static void Run(string weights, int batch, int repeats)
    {
        var (host, _) = Safetensors.Read(weights);
        var w = host.ToDictionary(kv => kv.Key, kv => torch.tensor(kv.Value.Data, kv.Value.Shape));
        var gen = new Random(99);
        var buf = new float[batch * 3 * 150 * 150];
        for (int k = 0; k < buf.Length; k++) buf[k] = gen.Next(256);
        using var x = torch.tensor(buf, new long[] { batch, 3, 150, 150 });

        // Folded: conv(x, w*s, b*s+t) == conv(x,w,b)*s+t.
        var folded = new Dictionary<string, Tensor>(w);
        foreach (var k in w.Keys.Where(k => k.EndsWith(".scale")).ToList())
        {
            string p = k[..^".scale".Length];
            var s = w[k];
            folded[p + ".weight"] = (w[p + ".weight"] * s.view(-1, 1, 1, 1)).contiguous();
            folded[p + ".bias"] = (w[p + ".bias"] * s).Plus(w[p + ".shift"]);
        }

        var times = new Dictionary<string, double>();
        int iters = 3;
        using (torch.inference_mode())
        {
            using (torch.NewDisposeScope())
            {
                var r0 = Forward(w, x, null, false);
                double d = (r0 - Forward(folded, x, null, true)).abs().max().item<float>();
                double d2 = (r0 - Forward(w, x, null, false, true)).abs().max().item<float>();
                Console.Error.WriteLine($"# profile: folded-scale / in-place vs as-shipped output, max abs diff {d:E2} / {d2:E2}");
            }
            for (int r = 0; r < iters; r++) { using var s = torch.NewDisposeScope(); Forward(w, x, times, false); }
        }
        double total = times.Values.Sum() / iters;
        Console.Error.WriteLine($"# torchsharp op breakdown, batch {batch} (mean of {iters} forwards, {total:F1} ms total):");
        foreach (var (k, v) in times.OrderByDescending(kv => kv.Value))
            Console.Error.WriteLine($"#   {k,-22} {v / iters,9:F2} ms  {100 * v / iters / total,5:F1}%");
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["impl"] = "torchsharp", ["profile"] = "ops", ["batch"] = batch,
            ["ms"] = times.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / iters, 2)),
        }));

        foreach (var (name, dict, fold, inpl) in new[] { ("functional-as-shipped", w, false, false), ("folded-scale", folded, true, false),
                                                           ("in-place-affine+relu", w, false, true), ("folded+in-place-relu", folded, true, true) })
        {
            var ms = Bench.Time(() => Forward(dict, x, null, fold, inpl), 1, 3, repeats, out var cpuMs, out var faults);
            var line = JsonNode.Parse(Bench.Json("torchsharp", "variant", batch, 3, repeats, ms, cpuMs, faults))!.AsObject();
            line["variant"] = name;
            Console.WriteLine(line.ToJsonString());
        }
    }

    /// <summary>Single ops on a [B,32,35,35] activation (the largest 3×3 stage), 20 calls each; same as the Python --micro.</summary>
    public static void Micro(int batch)
    {
        using var x = torch.rand(batch, 32, 35, 35).Minus(0.5f);
        using var wt = torch.rand(32, 32, 3, 3).Minus(0.5f);
        using var b = torch.rand(32);
        using var sc = torch.rand(32).view(1, -1, 1, 1);
        var ops = new (string, Func<Tensor>)[]
        {
            ("relu", () => F.relu(x)),
            ("x*s+t", () => (x * sc).Plus(sc)),
            ("x+x", () => x.Plus(x)),
            ("conv3x3 32->32", () => F.conv2d(x, wt, b, padding: [1, 1])),
        };
        var res = new Dictionary<string, object>();
        foreach (var (name, f) in ops)
        {
            var ms = Bench.Time(f, 3, 20, 3);
            res[name] = Math.Round(Bench.Median(ms), 3);
        }
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["impl"] = "torchsharp", ["micro_ms"] = res, ["batch"] = batch, ["threads"] = torch.get_num_threads() }));
    }

    static readonly string[] Blocks = DlibResNet.Blocks;

    static Tensor T(Dictionary<string, double>? times, string key, Func<Tensor> f)
    {
        if (times == null) return f();
        var sw = Stopwatch.StartNew();
        var r = f();
        times[key] = times.GetValueOrDefault(key) + sw.Elapsed.TotalMilliseconds;
        return r;
    }

    static Tensor Conv(Dictionary<string, Tensor> w, string p, Tensor x, int stride, int pad, Dictionary<string, double>? t, bool folded, bool inplace)
    {
        string kind = w[p + ".weight"].shape[2] == 7 ? "conv7x7" : stride == 2 ? "conv3x3/s2" : "conv3x3";
        var y = T(t, kind, () => F.conv2d(x, w[p + ".weight"], w[p + ".bias"], strides: [stride, stride], padding: [pad, pad]));
        if (folded) return y;
        if (inplace) return T(t, "affine(scale,shift)", () => y.mul_(w[p + ".scale"].view(1, -1, 1, 1)).add_(w[p + ".shift"].view(1, -1, 1, 1), Scalars.One));
        return T(t, "affine(scale,shift)", () => (y * w[p + ".scale"].view(1, -1, 1, 1)).Plus(w[p + ".shift"].view(1, -1, 1, 1)));
    }

    public static Tensor Forward(Dictionary<string, Tensor> w, Tensor rgb, Dictionary<string, double>? t, bool folded, bool inplace = false)
    {
        var x = T(t, "normalize", () =>
        {
            var mean = torch.tensor(DlibResNet.Spec.Mean).view(1, 3, 1, 1);
            return (rgb - mean).Times(1f / 255f);
        });
        x = Conv(w, "conv32_down", x, 2, 0, t, folded, inplace);
        x = T(t, "relu", () => inplace ? x.relu_() : F.relu(x));
        x = T(t, "maxpool", () => F.max_pool2d(x, 3, 2));
        int cin = 32;
        for (int i = 0; i < Blocks.Length; i++)
        {
            int cout = int.Parse(Blocks[i][4..].Split('_')[0]);
            bool down = Blocks[i].Contains("_down");
            string p = $"blocks.{i}";
            var y = Conv(w, p + ".conv1", x, down ? 2 : 1, down ? 0 : 1, t, folded, inplace);
            y = T(t, "relu", () => inplace ? y.relu_() : F.relu(y));
            y = Conv(w, p + ".conv2", y, 1, 1, t, folded, inplace);
            if (!down)
            {
                var xi = x;
                x = T(t, "add+relu", () => inplace ? y.add_(xi, Scalars.One).relu_() : F.relu(y.Plus(xi)));
            }
            else
            {
                var xi = x;
                var pooled = T(t, "avgpool+pad", () =>
                {
                    var pl = F.avg_pool2d(xi, 2, 2);
                    return pl.shape[1] != cout ? F.pad(pl, [0, 0, 0, 0, 0, cout - pl.shape[1]]) : pl;
                });
                if (pooled.shape[2] != y.shape[2])
                {
                    var yi = y;
                    y = T(t, "avgpool+pad", () => F.pad(yi, [0, pooled.shape[3] - yi.shape[3], 0, pooled.shape[2] - yi.shape[2]]));
                }
                x = T(t, "add+relu", () => inplace ? y.add_(pooled, Scalars.One).relu_() : F.relu(y.Plus(pooled)));
            }
            cin = cout;
        }
        return T(t, "mean+fc", () => x.mean([2L, 3L]).matmul(w["fc"].t()));
    }
}

sealed class Args
{
    readonly Dictionary<string, string> d = new();
    public static Args Parse(string[] a)
    {
        var r = new Args();
        for (int i = 0; i < a.Length; i++)
        {
            if (!a[i].StartsWith("--")) throw new ArgumentException($"unexpected argument '{a[i]}'");
            string k = a[i][2..];
            if (i + 1 < a.Length && !a[i + 1].StartsWith("--")) r.d[k] = a[++i];
            else r.d[k] = "";
        }
        return r;
    }
    public bool Has(string k) => d.ContainsKey(k);
    public string Get(string k, string def) => d.TryGetValue(k, out var v) ? v : def;
    public int[] Ints(string k, string def) => Get(k, def).Split(',').Select(int.Parse).ToArray();
}
