// Dfd.Bench --encoders: templates/s of every real encoder, TorchSharp forward vs ONNX Runtime vs the ONNX→TorchSharp
// interpreter where an ONNX export exists. Run through bench/encoders.sh, which makes the MobileFaceNet export and
// writes bench/results/encoders.md. One JSON line per (encoder, batch, path) on stdout, plus one per (encoder, batch)
// with the agreement check ("check"); notes on stderr.
//
//   Dfd.Bench --encoders [--threads 1] [--ort-threads 1] [--only dlib-resnet,mobilefacenet-casia,vgg16-face,resnet50-face]
//             [--mobilefacenet-onnx PATH.onnx] [--vgg-batch 8] [--quick]
//
// Iterations are per encoder (sized so the whole table takes a few minutes on one thread): see Plan below.
using System.Diagnostics;
using System.Text.Json;
using Dfd.Encoders;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

static class EncoderBench
{
    /// <summary>Warm-up calls, timed calls per repeat, repeats: for batch 1 and for the large batch.</summary>
    sealed record Plan(string Name, int BigBatch, (int W, int I, int R) Small, (int W, int I, int R) Big, string Weights);

    public static int Run(Args opts, string root)
    {
        int threads = int.Parse(opts.Get("threads", "1"));
        int ortThreads = int.Parse(opts.Get("ort-threads", "1"));
        int vggBatch = int.Parse(opts.Get("vgg-batch", "8"));
        bool quick = opts.Has("quick");
        var only = opts.Get("only", "dlib-resnet,mobilefacenet-casia,vgg16-face,resnet50-face").Split(',');
        string? mfnOnnx = opts.Has("mobilefacenet-onnx") ? opts.Get("mobilefacenet-onnx", "") : null;

        torch.set_num_threads(threads);
        Console.Error.WriteLine($"# torch threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), ORT intra-op {ortThreads}, inter-op 1, sequential");

        var plans = new List<Plan>
        {
            new("dlib-resnet", 32, (3, 10, 3), (1, 2, 3), "committed weights (models/dlib-resnet)"),
            new("mobilefacenet-casia", 32, (3, 10, 3), (1, 3, 3), "trained weights (../shared/models/mobilefacenet-casia/068.safetensors; ONNX export of 068.ckpt)"),
            new("vgg16-face", vggBatch, (1, 2, 2), (1, 1, 2), "random initialisation (TorchSharp defaults), full size"),
            new("resnet50-face", 32, (1, 3, 3), (1, 1, 2), "random initialisation (TorchSharp defaults), full size"),
        };
        foreach (var p in plans.Where(p => only.Contains(p.Name)))
        {
            var sw = Stopwatch.StartNew();
            IEncoder model = p.Name switch
            {
                "vgg16-face" => Eval(new VggFace()),
                "resnet50-face" => Eval(new ResNet50Face()),
                _ => Registry.Create(p.Name),
            };
            OnnxEncoder? onnx = null;
            InferenceSession? session = null;
            if (p.Name == "mobilefacenet-casia" && mfnOnnx != null)
            {
                onnx = OnnxEncoder.Load(mfnOnnx);
                _ = onnx.Interpreter;   // built outside inference mode
                // OnnxEncoder's own session takes ORT's default thread pool (one thread per core); the bench times a
                // session with the same model and a fixed intra-op thread count, fed exactly as ForwardWithRuntime feeds its own.
                var so = new SessionOptions { IntraOpNumThreads = ortThreads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
                session = new InferenceSession(onnx.ModelPath, so);
            }
            Console.Error.WriteLine($"# {p.Name}: loaded in {sw.Elapsed.TotalSeconds:F1} s ({p.Weights}){(onnx != null ? $"; ONNX {onnx.ModelPath}" : "")}");
            var spec = model.Spec;

            foreach (var (b, (w, it, r)) in new[] { (1, p.Small), (p.BigBatch, p.Big) })
            {
                int W = quick ? Math.Min(w, 1) : w, I = quick ? 1 : it, R = quick ? 1 : r;
                var gen = new Random(4321 + b);
                var buf = new float[b * 3 * spec.InputHeight * spec.InputWidth];
                for (int k = 0; k < buf.Length; k++) buf[k] = gen.Next(256);
                using var x = torch.tensor(buf, new long[] { b, 3, spec.InputHeight, spec.InputWidth });

                var paths = new List<(string Path, Func<Tensor> F)> { ("torchsharp", () => model.Forward(x)) };
                if (onnx != null)
                {
                    var ses = session!;
                    var enc = onnx;
                    paths.Add(("onnxruntime", () => RunOrt(ses, enc, x)));
                    paths.Add(("interpreter", () => enc.ForwardWithInterpreter(x)));
                }

                // Agreement: one forward of each path on this row's input (doubles as the first warm-up call).
                var outs = new Dictionary<string, float[]>();
                using (torch.inference_mode())
                    foreach (var (name, f) in paths)
                    {
                        using var s = torch.NewDisposeScope();
                        outs[name] = f().cpu().contiguous().data<float>().ToArray();
                    }
                var diffs = new Dictionary<string, object>();
                var names = outs.Keys.ToList();
                for (int i = 0; i < names.Count; i++)
                    for (int j = i + 1; j < names.Count; j++)
                        diffs[$"{names[i]} vs {names[j]}"] = MaxAbsDiff(outs[names[i]], outs[names[j]]);
                double scale = outs["torchsharp"].Max(Math.Abs);
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["encoder"] = p.Name, ["batch"] = b, ["check"] = diffs, ["max_abs_output"] = scale,
                    ["dim"] = outs["torchsharp"].Length / b,
                }));

                foreach (var (name, f) in paths)
                {
                    var ms = Time(f, Math.Max(0, W - 1), I, R, out double cpuMs, out double faults);
                    double med = Bench.Median(ms);
                    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                    {
                        ["encoder"] = p.Name, ["path"] = name, ["batch"] = b, ["iters"] = I, ["repeats"] = R,
                        ["threads"] = name == "onnxruntime" ? ortThreads : torch.get_num_threads(),
                        ["templates_per_s"] = Math.Round(b * 1000 / med, 3), ["ms_per_batch"] = Math.Round(med, 2),
                        ["ms_per_batch_min"] = Math.Round(ms.Min(), 2), ["cpu_ms_per_batch"] = Math.Round(cpuMs, 2),
                        ["minor_faults_per_batch"] = Math.Round(faults, 0),
                    }));
                    Console.Error.WriteLine($"# {p.Name} batch {b} {name}: {b * 1000 / med:F2} templates/s ({med:F1} ms/batch, cpu {cpuMs:F1} ms, {faults:F0} minor page faults)");
                }
            }
            session?.Dispose();
            onnx?.Dispose();
            model.Dispose();
            GC.Collect();
        }
        return 0;
    }

    static T Eval<T>(T m) where T : nn.Module { m.eval(); return m; }

    /// <summary>As <see cref="OnnxEncoder.ForwardWithRuntime"/>, on the bench's own session (fixed thread count).</summary>
    static Tensor RunOrt(InferenceSession session, OnnxEncoder enc, Tensor rgb255)
    {
        float[] input;
        using (var scope = torch.NewDisposeScope())
            input = enc.Spec.Normalise(rgb255).contiguous().data<float>().ToArray();
        long n = rgb255.shape[0];
        using var value = OrtValue.CreateTensorValueFromMemory(input, [n, 3, enc.Spec.InputHeight, enc.Spec.InputWidth]);
        string inName = session.InputMetadata.Keys.First(), outName = session.OutputMetadata.Keys.First();
        using var outs = session.Run(new RunOptions(), [inName], [value], [outName]);
        var o = outs[0].GetTensorDataAsSpan<float>().ToArray();
        return torch.tensor(o, [n, o.Length / n]);
    }

    static double MaxAbsDiff(float[] a, float[] b)
    {
        if (a.Length != b.Length) return double.NaN;
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>ms per call for each repeat, under inference mode (no autograd), a dispose scope per call; CPU ms and minor page faults per timed call.</summary>
    static double[] Time(Func<Tensor> f, int warmup, int iters, int repeats, out double cpuMs, out double faults)
    {
        using var _ = torch.inference_mode();
        for (int k = 0; k < warmup; k++) { using var s = torch.NewDisposeScope(); f(); }
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long flt0 = Bench.MinorFaults();
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int k = 0; k < iters; k++) { using var s = torch.NewDisposeScope(); f(); }
            ms[r] = sw.Elapsed.TotalMilliseconds / iters;
        }
        cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (iters * repeats);
        faults = (Bench.MinorFaults() - flt0) / (double)(iters * repeats);
        return ms;
    }
}
