// Dfd.Bench --decoder: training steps/s and reconstructions/s of the TorchSharp decoder (Dfd.Decoder.FaceDecoder) with
// the project's loss (Dfd.Training.DecoderLoss, LossWeights defaults: pixel, SSIM, Sobel, identity through the frozen
// dlib-resnet) and the trainer's Adam, plus the cost of assembling a training batch from a EncodedFaces.
// Run through bench/decoder.sh, which puts it side by side with the same decoder and loss in PyTorch (bench/decoder.py).
// One JSON line per measurement on stdout ("kind": train / recon / data / profile-phases / profile-layers); notes on stderr.
//
//   Dfd.Bench --decoder [--threads 2] [--batch 32] [--train-iters 3] [--train-warmup 1] [--repeats 3]
//                       [--recon-batches 1,32] [--recon-iters 20,2] [--recon-warmup 3,1]
//                       [--data-iters 20] [--trainset BASE|auto|none] [--trainset-limit N]
//                       [--parts train,recon,data] [--dump DIR] [--profile] [--profile-steps 2] [--weights PATH]
//                       [--adv W]
//
// The training step is the trainer's (src/Dfd/Training/Trainer.cs Run loop) minus data loading and checkpointing:
// decoder forward (train mode), DecoderLoss.Compute, finite-loss check, zero_grad, backward, finite-gradient check,
// Adam step (the trainer's own Dfd.Training.Adam), .item() of every term. Inputs are seeded random:
// images uniform 0..255, templates N(0,1) (the decoder L2-normalises them). Batch assembly is timed separately
// ("data"), with the trainer's EncodedFaces.Batch over a EncodedFaces: a synthetic in-memory one always,
// and the cached LFW training set (~/.cache/dfd/trainsets/dlib-resnet-*.json, written by `dfd train`) when present.
//
// --adv W      also times the step with the adversarial term at weight W ("kind": "train-adv", after the plain
//              "train"): the trainer's per-step adversarial work through the library's own code, with the
//              DiscriminatorConfig defaults (PatchDiscriminator width 32, 3 layers, hinge, DiffAugment colour +
//              translation + cutout, its Adam at β 0.5/0.999, lr 2e-4): PatchDiscriminator.AddGeneratorTerms (D's
//              view of the augmented reconstructions, added to the loss; the decoder's backward then runs through D
//              and the augmentation) and PatchDiscriminator.Update (D on augmented real and detached fake, hinge loss,
//              backward, Adam), seeded per step as the trainer seeds them (Trainer.AugmentSeed, seed 1).
// --dump DIR   writes the fresh decoder's weights, a seeded batch of 4, and this side's outputs (eval reconstruction,
//              train-mode loss terms, parameter gradients) to DIR/decoder-check.safetensors for decoder.py to compare;
//              with --adv also the fresh discriminator's weights, the reconstruction, D's augmented inputs and logits,
//              the adversarial term, its gradient at the reconstruction and the decoder's gradients of it, D's loss
//              and gradients and its weights after one update. DIR/decoder-shapes.json: the live models' state-dict names and
//              shapes (DecoderShapes.cs), which decoder.py checks first.
// --profile    where the time goes: (1) phases of the real step with stopwatches (CPU ops are synchronous), and
//              (2) the step re-run stage by stage: each decoder stage's forward, the loss's image terms and identity
//              term, and the backward split with torch.autograd.grad stage by stage (same split as decoder.py).
using System.Diagnostics;
using System.Text.Json;
using Dfd;
using Dfd.Core;
using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

static class DecoderBench
{
    /// <summary>Parameters of the default DecoderConfig at 128-D / 150×150; decoder.py asserts the same number.</summary>
    public const long ExpectedParameters = 3_297_043;

    public static int Run(Args opts, string root)
    {
        string weights = opts.Get("weights", Path.Combine(root, "models", "dlib-resnet", "dlib-resnet.safetensors"));
        int threads = int.Parse(opts.Get("threads", "2"));
        int batch = int.Parse(opts.Get("batch", "32"));
        int trainIters = int.Parse(opts.Get("train-iters", "3"));
        int trainWarmup = int.Parse(opts.Get("train-warmup", "1"));
        int repeats = int.Parse(opts.Get("repeats", "3"));
        var reconBatches = opts.Ints("recon-batches", "1,32");
        var reconIters = opts.Ints("recon-iters", "20,2");
        var reconWarmup = opts.Ints("recon-warmup", "3,1");
        int dataIters = int.Parse(opts.Get("data-iters", "20"));
        var parts = opts.Get("parts", "train,recon,data").Split(',');
        int profileSteps = int.Parse(opts.Get("profile-steps", "2"));
        double advWeight = double.Parse(opts.Get("adv", "0"), System.Globalization.CultureInfo.InvariantCulture);

        torch.set_num_threads(threads);
        Console.Error.WriteLine($"# decoder bench: torchsharp, threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), .NET {Environment.Version}");

        // The frozen encoder, as Trainer.Run leaves it (eval, no parameter gradients).
        var encoder = DlibResNet.Load(weights);
        encoder.eval();
        foreach (var p in encoder.parameters()) p.requires_grad = false;
        var box = Box.InnerFace(DlibResNet.Spec.Template);

        torch.manual_seed(1);
        var cfg = new DecoderConfig(TemplateDim: DlibResNet.Spec.EmbeddingSize, OutWidth: DlibResNet.Spec.InputWidth, OutHeight: DlibResNet.Spec.InputHeight);
        var dec = new FaceDecoder(cfg);
        var lw = new LossWeights();
        Console.Error.WriteLine($"# decoder {cfg.ToJson()}: {dec.ParameterCount:N0} parameters; loss {lw}; inner-face box {box}");
        if (dec.ParameterCount != ExpectedParameters)
        {
            Console.Error.WriteLine($"# FAIL: decoder has {dec.ParameterCount} parameters, the bench (and decoder.py) expect {ExpectedParameters}");
            return 1;
        }
        var loss = new DecoderLoss(encoder, lw, box);

        // The adversarial term as Trainer.Run builds it; the decoder above is seeded first, so its weights do not depend on --adv.
        PatchDiscriminator? disc = null;
        Dfd.Training.Adam? adamD = null;
        if (advWeight > 0)
        {
            torch.manual_seed(2);
            disc = new PatchDiscriminator(new DiscriminatorConfig());
            adamD = new Dfd.Training.Adam(disc, 0.5, 0.999, "optimd.");
            Console.Error.WriteLine($"# adversarial term: weight {advWeight}, {disc.Config}, " +
                                    $"{disc.parameters().Sum(p => p.numel()):N0} parameters");
        }

        if (opts.Has("dump")) Dump(opts.Get("dump", ""), dec, encoder, loss, box, disc, adamD, advWeight);

        var adam = new Dfd.Training.Adam(dec);
        // The trainer runs D at DiscriminatorConfig.Lr times the decoder's scheduled rate over TrainConfig.Lr: at this
        // constant rate (TrainConfig.Lr's default) that is DiscriminatorConfig.Lr itself.
        const double lr = 1e-3;

        // Seeded random batch: images uniform integers 0..255, templates N(0,1).
        torch.manual_seed(1234);
        var x = torch.randint(0, 256, new long[] { batch, 3, cfg.OutHeight, cfg.OutWidth }).to_type(ScalarType.Float32).DetachFromDisposeScope();
        var t = torch.randn(batch, cfg.TemplateDim).DetachFromDisposeScope();

        long global = 0;   // step number: the augmentation seeds of the adversarial term
        void Step(PatchDiscriminator? d)
        {
            using var scope = torch.NewDisposeScope();
            var recon = dec.forward(t);
            var (total, terms) = loss.Compute(recon, x, t);
            if (d != null) total = d.AddGeneratorTerms(recon, x, advWeight, Trainer.AugmentSeed(1, global, 0), total, terms);
            if (!float.IsFinite(total.item<float>())) throw new InvalidOperationException($"loss became {total.item<float>()}");
            dec.zero_grad();
            d?.zero_grad();
            total.backward();
            if (d != null)
                terms["disc"] = d.Update(adamD!, recon.detach(), x, Trainer.AugmentSeed(1, global, 1), Trainer.AugmentSeed(1, global, 2), d.Config.Lr);
            if (Dfd.Training.Adam.GradientsFinite(dec)) adam.Step(lr);
            else Console.Error.WriteLine("# non-finite gradients: step skipped (as the trainer does)");
            double sum = 0;
            foreach (var (_, v) in terms) sum += v.item<float>();
            sum += total.item<float>();
            global++;
        }

        if (parts.Contains("train"))
        {
            dec.train();
            var ms = TimeSteps(() => Step(null), trainWarmup, trainIters, repeats, out double cpuMs, out double faults);
            double med = Bench.Median(ms);
            Emit("train", batch, trainIters, repeats, ms, cpuMs, faults, new() { ["steps_per_s"] = Math.Round(1000 / med, 4), ["zero_grad"] = ZeroGradNote(dec) });
            Console.Error.WriteLine($"# train batch {batch}: {1000 / med:F3} steps/s, {batch * 1000 / med:F2} img/s ({med:F0} ms/step, cpu {cpuMs:F0} ms/step)");
            if (disc != null)
            {
                ms = TimeSteps(() => Step(disc), trainWarmup, trainIters, repeats, out cpuMs, out faults);
                double medAdv = Bench.Median(ms);
                Emit("train-adv", batch, trainIters, repeats, ms, cpuMs, faults, new() { ["steps_per_s"] = Math.Round(1000 / medAdv, 4), ["adv"] = advWeight });
                Console.Error.WriteLine($"# train batch {batch} with the adversarial term: {1000 / medAdv:F3} steps/s, {batch * 1000 / medAdv:F2} img/s " +
                                        $"({medAdv:F0} ms/step, +{medAdv - med:F0} ms, cpu {cpuMs:F0} ms/step)");
            }
        }

        if (parts.Contains("recon"))
        {
            dec.eval();
            for (int i = 0; i < reconBatches.Length; i++)
            {
                int b = reconBatches[i];
                int w = reconWarmup[Math.Min(i, reconWarmup.Length - 1)], it = reconIters[Math.Min(i, reconIters.Length - 1)];
                torch.manual_seed(4321 + b);
                using var tb = torch.randn(b, cfg.TemplateDim);
                var ms = Bench.Time(() => dec.forward(tb), w, it, repeats, out double cpuMs, out double faults);
                Emit("recon", b, it, repeats, ms, cpuMs, faults);
                Console.Error.WriteLine($"# recon batch {b}: {b * 1000 / Bench.Median(ms):F1} img/s ({Bench.Median(ms):F2} ms/batch, cpu {cpuMs:F2} ms)");
            }
            dec.train();
        }

        if (parts.Contains("data"))
        {
            var synthetic = SyntheticSet(Math.Max(8 * batch, 256), cfg.OutWidth, cfg.OutHeight, cfg.TemplateDim);
            TimeData("synthetic", synthetic, batch, dataIters, repeats, null);
            string ts = opts.Get("trainset", "auto");
            string? basePath = ts == "auto" ? FindTrainset() : ts == "none" || ts == "" ? null : ts;
            if (basePath != null && File.Exists(basePath + ".json"))
            {
                int limit = int.Parse(opts.Get("trainset-limit", "0"));
                var sw = Stopwatch.StartNew();
                var real = LoadTrainset(basePath, limit);
                double loadS = sw.Elapsed.TotalSeconds;
                Console.Error.WriteLine($"# trainset {basePath}: {real.Count} crops loaded in {loadS:F2} s");
                TimeData("lfw-cache", real, batch, dataIters, repeats, new() { ["load_s"] = Math.Round(loadS, 3), ["images"] = real.Count, ["path"] = basePath });
            }
            else if (ts != "none")
                Console.Error.WriteLine($"# no cached training set ({(ts == "auto" ? "none under ~/.cache/dfd/trainsets" : ts)}): batch assembly timed on the synthetic set only");
        }

        if (opts.Has("profile"))
        {
            dec.train();
            ProfilePhases(dec, loss, adam, x, t, batch, profileSteps, lr);
            ProfileLayers(dec, encoder, box, x, t, batch, profileSteps);
        }
        return 0;
    }

    static string ZeroGradNote(FaceDecoder dec)
    {
        // Whether Module.zero_grad() leaves gradients allocated (zeroed) or drops them: decoder.py does the same.
        dec.zero_grad();
        bool none = dec.parameters().All(p => p.grad is null);
        return none ? "set_to_none" : "zeroed";
    }

    static void Emit(string kind, int batch, int iters, int repeats, double[] ms, double cpuMs, double faults, Dictionary<string, object>? extra = null)
    {
        double med = Bench.Median(ms);
        var d = new Dictionary<string, object>
        {
            ["impl"] = "torchsharp", ["version"] = Version(), ["kind"] = kind, ["threads"] = torch.get_num_threads(), ["batch"] = batch,
            ["iters"] = iters, ["repeats"] = repeats,
            ["images_per_s"] = Math.Round(batch * 1000 / med, 3), ["ms_per_batch"] = Math.Round(med, 3),
            ["ms_per_batch_min"] = Math.Round(ms.Min(), 3), ["ms_per_batch_max"] = Math.Round(ms.Max(), 3),
            ["cpu_ms_per_batch"] = Math.Round(cpuMs, 3), ["minor_faults_per_batch"] = Math.Round(faults, 1),
            ["loadavg"] = LoadAvg(),
        };
        if (extra != null) foreach (var (k, v) in extra) d[k] = v;
        Console.WriteLine(JsonSerializer.Serialize(d));
    }

    static string Version() => typeof(torch).Assembly.GetName().Version!.ToString();

    static string LoadAvg()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); } catch (IOException) { return "?"; }
    }

    /// <summary>ms per step for each repeat of <paramref name="iters"/> steps (autograd on); process CPU ms and minor faults per timed step.</summary>
    static double[] TimeSteps(Action step, int warmup, int iters, int repeats, out double cpuMs, out double faults)
    {
        for (int k = 0; k < warmup; k++) step();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long flt0 = Bench.MinorFaults();
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int k = 0; k < iters; k++) step();
            ms[r] = sw.Elapsed.TotalMilliseconds / iters;
        }
        cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (iters * repeats);
        faults = (Bench.MinorFaults() - flt0) / (double)(iters * repeats);
        return ms;
    }

    // ---- data: batch assembly from a EncodedFaces ----

    static EncodedFaces SyntheticSet(int n, int w, int h, int d)
    {
        var rng = new Random(77);
        var crops = new byte[n][];
        var tp = new float[n][];
        var tm = new float[n][];
        for (int i = 0; i < n; i++)
        {
            crops[i] = new byte[w * h * 3];
            rng.NextBytes(crops[i]);
            tp[i] = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            tm[i] = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        }
        return new EncodedFaces
        {
            Items = Enumerable.Range(0, n).Select(i => new FaceItem($"synthetic/{i}", $"id{i % 50}", true)).ToList(),
            Crops = crops, Templates = tp, MirrorTemplates = tm, Width = w, Height = h,
        };
    }

    static string? FindTrainset()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var dir = Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg, "dfd", "trainsets");
        if (!Directory.Exists(dir)) return null;
        // A shard set (a folder with set.json), else a cache of the earlier single-file format.
        var sets = new DirectoryInfo(dir).GetDirectories("dlib-resnet-*").Where(d => FaceSet.IsComplete(d.FullName))
            .OrderByDescending(d => d.GetFiles("shard-*.dfs").Sum(f => f.Length)).FirstOrDefault();
        if (sets != null) return sets.FullName;
        var best = new DirectoryInfo(dir).GetFiles("dlib-resnet-*.json").OrderByDescending(f => f.Length).FirstOrDefault();
        return best == null ? null : best.FullName[..^".json".Length];
    }

    /// <summary>The trainer's cached LFW set (EncodedFaces.LoadCache); <paramref name="limit"/> > 0 keeps the first images.</summary>
    static EncodedFaces LoadTrainset(string basePath, int limit)
    {
        var set = FaceSet.IsComplete(basePath) ? FaceSet.Open(basePath).ToFaces()
            : EncodedFaces.LoadCache(basePath) ?? throw new InvalidDataException($"{basePath}: not a readable training-set cache");
        if (limit <= 0 || limit >= set.Count) return set;
        return new EncodedFaces
        {
            Items = set.Items.Take(limit).ToList(), Crops = set.Crops.Take(limit).ToArray(),
            Templates = set.Templates.Take(limit).ToArray(), MirrorTemplates = set.MirrorTemplates.Take(limit).ToArray(),
            Width = set.Width, Height = set.Height,
        };
    }

    static void TimeData(string source, EncodedFaces set, int batch, int iters, int repeats, Dictionary<string, object>? extra)
    {
        var (order, flips) = Trainer.EpochPlan(1, true, 0, set.Count);
        int steps = set.Count / batch, s = 0;
        void One()
        {
            using var scope = torch.NewDisposeScope();
            var idx = order.AsSpan((s % steps) * batch, batch).ToArray();
            s++;
            var (imgs, tmpl) = set.Batch(idx, flips);
            _ = imgs.shape; _ = tmpl.shape;
        }
        var ms = TimeSteps(One, 2, iters, repeats, out double cpuMs, out double faults);
        var e = extra ?? new();
        e["source"] = source;
        e["set_images"] = set.Count;
        Emit("data", batch, iters, repeats, ms, cpuMs, faults, e);
        Console.Error.WriteLine($"# data ({source}, {set.Count} images): {Bench.Median(ms):F2} ms per batch of {batch} (cpu {cpuMs:F2} ms)");
    }

    // ---- cross-check dump for decoder.py ----

    static void Dump(string dir, FaceDecoder dec, DlibResNet encoder, DecoderLoss loss, Box box,
                     PatchDiscriminator? disc, Dfd.Training.Adam? adamD, double advWeight)
    {
        Directory.CreateDirectory(dir);
        const int n = 4;
        var tensors = new Dictionary<string, HostTensor>();
        foreach (var (k, v) in StateDict.ToHost(dec)) tensors["dec." + k] = v;
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(99);
        var x = torch.randint(0, 256, new long[] { n, 3, 150, 150 }).to_type(ScalarType.Float32);
        var t = torch.randn(n, dec.Config.TemplateDim);
        tensors["in.images"] = Host(x);
        tensors["in.templates"] = Host(t);
        dec.eval();
        using (torch.no_grad()) tensors["out.recon_eval"] = Host(dec.forward(t));
        dec.train();
        var recon = dec.forward(t);
        tensors["out.recon_train"] = Host(recon);
        var (total, terms) = loss.Compute(recon, x, t);
        foreach (var (k, v) in terms) tensors["out.loss." + k] = Host(v.reshape(1));
        tensors["out.loss.total"] = Host(total.reshape(1));
        dec.zero_grad();
        total.backward();
        foreach (var (k, p) in dec.named_parameters()) tensors["out.grad." + k] = Host(p.grad!);
        // The same without the identity term: float32 rounding in the dlib-resnet backward alone moves the full
        // gradients by ~0.5% (both libraries against a float64 run), so decoder.py checks this part tightly.
        dec.zero_grad();
        var imgOnly = new DecoderLoss(encoder, loss.Weights with { Identity = 0 }, box);
        imgOnly.Compute(dec.forward(t), x, t).Total.backward();
        foreach (var (k, p) in dec.named_parameters()) tensors["out.grad_img." + k] = Host(p.grad!);
        dec.zero_grad();
        var meta = new Dictionary<string, string>
        {
            ["box"] = $"{box.X},{box.Y},{box.Right},{box.Bottom}", ["parameters"] = dec.ParameterCount.ToString(),
            ["decoder_config"] = dec.Config.ToJson(), ["batch"] = n.ToString(),
        };
        if (disc != null) DumpAdversarial(tensors, meta, dec, disc, adamD!, advWeight, x, t);
        Safetensors.Write(Path.Combine(dir, "decoder-check.safetensors"), tensors, meta);
        // The live models' shapes, which decoder.py compares with its own before anything else (its models are a copy by hand).
        using (var shapesOf = disc == null ? new PatchDiscriminator(new DiscriminatorConfig()) : null)
            File.WriteAllText(Path.Combine(dir, "decoder-shapes.json"), Dfd.Bench.DecoderShapes.Of(dec, disc ?? shapesOf!));
        Console.Error.WriteLine($"# wrote decoder weights, a seeded batch of {n} and TorchSharp's outputs (recon, loss {total.item<float>():F5}, gradients) to {dir}");
    }

    /// <summary>
    /// The adversarial term's first training step (step 0, the trainer's seeds) on the check batch: the reconstruction,
    /// D's augmented inputs and logits (recomputed beside the library calls, which keep them inside), the term, its
    /// gradient at the reconstruction and the decoder's gradients of it alone, then PatchDiscriminator.Update: D's
    /// loss, its gradients and its weights after the update.
    /// </summary>
    static void DumpAdversarial(Dictionary<string, HostTensor> tensors, Dictionary<string, string> meta, FaceDecoder dec,
                                PatchDiscriminator disc, Dfd.Training.Adam adamD, double advWeight, Tensor x, Tensor t)
    {
        var cfg = disc.Config;
        int s0 = Trainer.AugmentSeed(1, 0, 0), s1 = Trainer.AugmentSeed(1, 0, 1), s2 = Trainer.AugmentSeed(1, 0, 2);
        foreach (var (k, v) in StateDict.ToHost(disc)) tensors["disc." + k] = v;
        var recon = dec.forward(t);
        tensors["out.adv.recon"] = Host(recon);
        using (torch.no_grad())
        {
            var augFake = DiffAugment.Apply(recon, cfg, new Random(s0));
            var augReal = DiffAugment.Apply(x, cfg, new Random(s1));
            var augFakeD = DiffAugment.Apply(recon, cfg, new Random(s2));
            tensors["out.adv.aug_fake"] = Host(augFake);
            tensors["out.adv.logits_fake"] = Host(disc.forward(augFake)[^1]);
            tensors["out.adv.aug_real_d"] = Host(augReal);
            tensors["out.adv.logits_real_d"] = Host(disc.forward(augReal)[^1]);
            tensors["out.adv.aug_fake_d"] = Host(augFakeD);
            tensors["out.adv.logits_fake_d"] = Host(disc.forward(augFakeD)[^1]);
        }
        var terms = new Dictionary<string, Tensor>();
        disc.AddGeneratorTerms(recon, x, advWeight, s0, torch.zeros(1), terms);
        tensors["out.adv.term"] = Host(terms["adv"].reshape(1));
        // The term's gradient at the reconstruction: D's and DiffAugment's backward alone, before the decoder's.
        tensors["out.adv.grad_recon"] = Host(torch.autograd.grad([terms["adv"]], [recon], retain_graph: true)[0]);
        dec.zero_grad();
        disc.zero_grad();
        terms["adv"].backward();
        foreach (var (k, p) in dec.named_parameters()) tensors["out.grad_adv." + k] = Host(p.grad!);
        dec.zero_grad();
        var dloss = disc.Update(adamD, recon.detach(), x, s1, s2, cfg.Lr);
        tensors["out.adv.disc_loss"] = Host(dloss.reshape(1));
        foreach (var (k, p) in disc.named_parameters()) tensors["out.grad_disc." + k] = Host(p.grad!);
        foreach (var (k, v) in StateDict.ToHost(disc)) tensors["disc_after." + k] = v;
        disc.zero_grad();
        meta["adv_weight"] = advWeight.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        meta["discriminator_config"] = cfg.ToString();
        meta["adv_seeds"] = $"{s0},{s1},{s2}";
        Console.Error.WriteLine($"# adversarial check (seeds {s0},{s1},{s2}): term {terms["adv"].item<float>():F5}, discriminator loss {dloss.item<float>():F5}");
    }

    static HostTensor Host(Tensor t) => new(t.shape, t.detach().cpu().contiguous().data<float>().ToArray());

    // ---- profile ----

    static void Add(Dictionary<string, double> d, string k, double ms) => d[k] = d.GetValueOrDefault(k) + ms;

    /// <summary>The real step, a stopwatch per phase; data = batch assembly of the synthetic set (Trainer.Batch).</summary>
    static void ProfilePhases(FaceDecoder dec, DecoderLoss loss, Dfd.Training.Adam adam, Tensor x, Tensor t, int batch, int steps, double lr)
    {
        var set = SyntheticSet(Math.Max(2 * batch, 64), 150, 150, (int)t.shape[1]);
        var (order, flips) = Trainer.EpochPlan(1, true, 0, set.Count);
        var ms = new Dictionary<string, double>();
        var sw = new Stopwatch();
        double Lap() { double e = sw.Elapsed.TotalMilliseconds; sw.Restart(); return e; }
        for (int s = -1; s < steps; s++)   // s = -1: warm-up, not counted
        {
            using var scope = torch.NewDisposeScope();
            var m = s < 0 ? new Dictionary<string, double>() : ms;
            sw.Restart();
            _ = set.Batch(order.AsSpan(0, batch).ToArray(), flips);   // timed, not used: the inputs stay the seeded batch
            Add(m, "data: batch assembly (Trainer.Batch)", Lap());
            var recon = dec.forward(t);
            Add(m, "decoder forward", Lap());
            var (total, terms) = loss.Compute(recon, x, t);
            Add(m, "loss forward (incl. dlib-resnet forward)", Lap());
            _ = float.IsFinite(total.item<float>());
            dec.zero_grad();
            Add(m, "finite check + zero_grad", Lap());
            total.backward();
            Add(m, "backward (loss + dlib-resnet + decoder)", Lap());
            bool ok = Dfd.Training.Adam.GradientsFinite(dec);
            Add(m, "gradient finite check", Lap());
            if (ok) adam.Step(lr);
            Add(m, "optimizer step (Adam)", Lap());
            foreach (var (_, v) in terms) _ = v.item<float>();
            Add(m, "term .item()s", Lap());
        }
        EmitProfile("profile-phases", batch, steps, ms, null);
    }

    /// <summary>A stage of the decoder: a name, a forward over the real submodule(s), and the parameters it owns.</summary>
    sealed record Stage(string Name, Func<Tensor, Tensor> Forward, List<Parameter> Params);

    /// <summary>FaceDecoder.forward cut into stages over its own submodules (same order, same ops); checked against forward().</summary>
    static List<Stage> Stages(FaceDecoder dec)
    {
        var c = dec.named_children().ToDictionary(kv => kv.name, kv => kv.module);
        var cfg = dec.Config;
        var project = (Linear)c["project"];
        var projectNorm = (Dfd.Core.BatchNorm)c["projectNorm"];
        var toRgb = (Conv2d)c["toRgb"];
        int s = cfg.StartSize, cin = cfg.StartWidth, s0 = s;   // s changes below: the closures capture s0
        var list = new List<Stage>
        {
            new($"project: L2-normalise, linear {cfg.TemplateDim}->{cfg.StartWidth}x{s0}x{s0}, BN1d, LeakyReLU", z =>
            {
                var n = nn.functional.normalize(z, p: 2, dim: 1);
                return projectNorm.forward(project.forward(n)).LeakyRelu(0.2).view(-1, cfg.StartWidth, s0, s0);
            }, project.parameters().Concat(projectNorm.parameters()).ToList()),
        };
        int i = 0;
        foreach (var (_, blk) in c["blocks"].named_children())
        {
            var bc = blk.named_children().ToDictionary(kv => kv.name, kv => kv.module);
            var conv = (Conv2d)bc["conv"];
            var norm = (Dfd.Core.BatchNorm)bc["norm"];
            int cout = cfg.BlockWidths[i];
            s *= 2;
            list.Add(new($"up{i}: nearest x2, conv3x3 {cin}->{cout}, BN, LeakyReLU @{s}x{s}", a =>
            {
                var u = nn.functional.interpolate(a, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
                return norm.forward(conv.forward(u)).LeakyRelu(0.2);
            }, conv.parameters().Concat(norm.parameters()).ToList()));
            int r = 0;
            foreach (var (_, res) in bc["refine"].named_children())
            {
                var rm = (nn.Module<Tensor, Tensor>)res;
                list.Add(new($"res{i}.{r}: 2x (conv3x3 {cout}->{cout}, BN), add, LeakyReLU @{s}x{s}", rm.forward, res.parameters().ToList()));
                r++;
            }
            cin = cout;
            i++;
        }
        list.Add(new($"head: conv1x1 {cin}->3, sigmoid*255, crop {s}->{cfg.OutWidth}", a =>
        {
            var y = torch.sigmoid(toRgb.forward(a)).Times(255f);
            long oy = (y.shape[2] - cfg.OutHeight) / 2, ox = (y.shape[3] - cfg.OutWidth) / 2;
            return y[.., .., (int)oy..(int)(oy + cfg.OutHeight), (int)ox..(int)(ox + cfg.OutWidth)];
        }, toRgb.parameters().ToList()));
        return list;
    }

    /// <summary>
    /// The step stage by stage: forward of every decoder stage, the loss's image terms (pixel, SSIM, Sobel; global and
    /// local) and its identity term (dlib-resnet forward) as two DecoderLoss instances whose weights sum to the
    /// defaults; backward: d(image terms)/d(recon), d(identity)/d(recon) (the dlib-resnet backward), then each decoder
    /// stage's backward with torch.autograd.grad, last to first. No optimizer step.
    /// </summary>
    static void ProfileLayers(FaceDecoder dec, DlibResNet encoder, Box box, Tensor x, Tensor t, int batch, int steps)
    {
        var stages = Stages(dec);
        var lw = new LossWeights();
        var imgLoss = new DecoderLoss(encoder, lw with { Identity = 0 }, box);
        var idLoss = new DecoderLoss(encoder, new LossWeights(Pixel: 0, PixelLocal: 0, Sobel: 0, SobelLocal: 0, Ssim: 0, Identity: lw.Identity), box);

        // The stages reproduce forward() (eval mode: no running-statistics update, deterministic).
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            dec.eval();
            var a = t;
            foreach (var st in stages) a = st.Forward(a);
            double d = (a - dec.forward(t)).abs().max().item<float>();
            dec.train();
            var (tot, _) = new DecoderLoss(encoder, lw, box).Compute(a, x, t);
            double split = Math.Abs((imgLoss.Compute(a, x, t).Total.Plus(idLoss.Compute(a, x, t).Total) - tot).item<float>());
            Console.Error.WriteLine($"# profile: staged forward vs FaceDecoder.forward max abs diff {d:E2}; image+identity loss split vs full loss {split:E2}");
        }

        var fwd = new Dictionary<string, double>();
        var bwd = new Dictionary<string, double>();
        var sw = new Stopwatch();
        double Lap() { double e = sw.Elapsed.TotalMilliseconds; sw.Restart(); return e; }
        dec.train();
        for (int s = -1; s < steps; s++)
        {
            using var scope = torch.NewDisposeScope();
            var (f, b) = s < 0 ? (new Dictionary<string, double>(), new Dictionary<string, double>()) : (fwd, bwd);
            var acts = new List<Tensor> { t };
            sw.Restart();
            foreach (var st in stages)
            {
                acts.Add(st.Forward(acts[^1]));
                Add(f, st.Name, Lap());
            }
            var recon = acts[^1];
            var li = imgLoss.Compute(recon, x, t).Total;
            Add(f, "loss: pixel + SSIM + Sobel (global + local)", Lap());
            var lid = idLoss.Compute(recon, x, t).Total;
            Add(f, "loss: identity (dlib-resnet forward, 1-cos)", Lap());
            var g1 = torch.autograd.grad([li], [recon])[0];
            Add(b, "loss: pixel + SSIM + Sobel (global + local)", Lap());
            var g2 = torch.autograd.grad([lid], [recon])[0];
            Add(b, "loss: identity (dlib-resnet forward, 1-cos)", Lap());
            var g = g1.Plus(g2);
            for (int k = stages.Count - 1; k >= 0; k--)
            {
                var inputs = new List<Tensor>();
                if (k > 0) inputs.Add(acts[k]);
                inputs.AddRange(stages[k].Params);
                var grads = torch.autograd.grad([acts[k + 1]], inputs, [g]);
                if (k > 0) g = grads[0];
                Add(b, stages[k].Name, Lap());
            }
        }
        EmitProfile("profile-layers", batch, steps, fwd, bwd);
    }

    static void EmitProfile(string kind, int batch, int steps, Dictionary<string, double> a, Dictionary<string, double>? b)
    {
        var d = new Dictionary<string, object>
        {
            ["impl"] = "torchsharp", ["kind"] = kind, ["threads"] = torch.get_num_threads(), ["batch"] = batch, ["steps"] = steps,
            [b == null ? "ms" : "forward_ms"] = a.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / steps, 2)),
        };
        if (b != null) d["backward_ms"] = b.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / steps, 2));
        Console.WriteLine(JsonSerializer.Serialize(d));
        double total = a.Values.Sum() / steps + (b?.Values.Sum() ?? 0) / steps;
        Console.Error.WriteLine($"# torchsharp {kind}, batch {batch}, mean of {steps} step(s), {total:F0} ms in all:");
        foreach (var (k, v) in a) Console.Error.WriteLine($"#   {(b == null ? "" : "fwd ")}{k,-62} {v / steps,9:F1} ms {100 * v / steps / total,5:F1}%");
        if (b != null) foreach (var (k, v) in b) Console.Error.WriteLine($"#   bwd {k,-62} {v / steps,9:F1} ms {100 * v / steps / total,5:F1}%");
    }
}
