using Dfd.Datasets;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Training;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class TrainCommand
{
    /// <summary>The full usage; defaults are read from the library's configs, so the help cannot drift from them.</summary>
    public static readonly string Help = MakeHelp(new TrainConfig(), new AugmentConfig());

    static string MakeHelp(TrainConfig c, AugmentConfig g)
    {
        static string N(double v) => v.ToString("G", System.Globalization.CultureInfo.InvariantCulture);
        var dec = c.Decoder;
        var d = c.Discriminator;
        return string.Join("\n",
        [
            "usage: dfd train --encoder E --data <set> [--data <set> ...] --out decoder.safetensors [options] [--json]",
            "  data:      lfw:DIR, vggface2:DIR, celebahq:DIR, aligned:DIR, folder:DIR (repeatable); LFW test people of",
            "             --split (default splits/lfw-dfd-v1.json; none: no split) are left out; --limit N images",
            $"  schedule:  --epochs {c.Epochs} --batch {c.Batch} --lr {N(c.Lr)} (cosine to {N(c.MinLr)}) --seed {c.Seed} --no-flip --checkpoint-every {c.CheckpointEvery}",
            "             --resume (from OUT.ckpt, bit for bit) --init F (start from another decoder's weights; a new top or noise:",
            "             the tensors that fit, the rest new) --ema D (moving average of the weights, decay D, 0 off; the file holds it)",
            "             --ema-norms (the average's batch-norm statistics measured on its own activations before it is written)",
            "             --max-steps N (stop after N steps, checkpointed in OUT.ckpt; for benchmarks and smoke runs)",
            "             --freeze-blocks N (with --init: the template projection and the first N blocks keep the file's weights)",
            "  loss:      --loss name=number,... weights: " + string.Join(", ", LossSpec.WeightNames),
            "             options: l2=1, stages=N, stage_from=K (perceptual on feature maps K..K+N-1), identity_centred=1,",
            "             warp_shrink=S (identity_warped's copies also shrunk by up to S and enlarged back), warps=N (copies a step)",
            $"  decoder:   --widths {string.Join(",", dec.BlockWidths)} --start-width {dec.StartWidth} --refine {dec.RefineBlocks} --shuffle-blocks {dec.ShuffleBlocks}",
            $"             --noise-blocks {dec.NoiseBlocks} (seeded per-pixel noise in the last N blocks, learned per-channel scale from 0)",
            "             --out-size N|WxH (draw at this size, the encoder's alignment scaled; default the encoder's crop: the",
            "             pixel terms compare with photos aligned at N, identity and perceptual see the output resized)",
            $"  adv term:  --disc-width {d.Width} --disc-layers {d.Layers} --disc-lr {N(d.Lr)} --disc-loss hinge|lsq --feature-matching {N(d.FeatureMatching)}",
            $"             --spectral-norm --r1 {N(d.R1)} (γ on reals) --r1-every {d.R1Every} --disc-scales {d.Scales} (full, half, … resolution)",
            "             --diffaug " + string.Join(",", new[] { d.Colour ? "colour" : null, d.Translation ? "translation" : null, d.Cutout ? "cutout" : null }.Where(x => x != null)) +
            " (any of colour,translation,cutout, or none; the same augmentation on real and reconstructed images)",
            $"  augment:   --augment on|off|degrees={N(g.Degrees)},shift={N(g.Shift)},zoom={N(g.Zoom)},photometric={N(g.Photometric)} (photos re-encoded each step)",
            "  encoder:   --weights W, --device cpu|cuda[:N], --cache DIR|none (aligned + encoded training set, as shards; dfd cache build makes it ahead)",
        ]);
    }

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json", "resume", "no-flip", "spectral-norm", "ema-norms" });
        var encName = a.Req("encoder");
        var dataSpecs = MultiOpt(argv, "data");
        if (dataSpecs.Count == 0) throw new UsageException("missing required option --data (repeatable: lfw:DIR, vggface2:DIR, celebahq:DIR, aligned:DIR, folder:DIR)");
        _ = a.Opt("data");
        var outPath = a.Req("out");
        bool json = a.Flag("json"), resume = a.Flag("resume");
        var splitOpt = a.Opt("split");
        var cacheDir = a.Opt("cache") is { } cacheOpt ? cacheOpt == "none" ? null : cacheOpt : Common.CacheDir("trainsets");
        var baseCfg = new TrainConfig();
        var widths = a.Opt("widths");
        var (lossWeights, lossOptions) = ParseLoss(a.Opt("loss"));
        var cfg = baseCfg with
        {
            Loss = lossWeights,
            LossOptions = lossOptions,
            Epochs = a.Int("epochs", baseCfg.Epochs),
            Batch = a.Int("batch", baseCfg.Batch),
            Lr = a.Double("lr", baseCfg.Lr),
            Seed = a.Int("seed", baseCfg.Seed),
            Flip = !a.Flag("no-flip"),
            CheckpointEvery = a.Int("checkpoint-every", baseCfg.CheckpointEvery),
            Decoder = baseCfg.Decoder with
            {
                Widths = widths?.Split(',').Select(w => int.TryParse(w, out var v) && v > 0 ? v
                    : throw new UsageException($"--widths: '{w}' is not a positive whole number (e.g. --widths 256,128,64,32,16)")).ToArray(),
                StartWidth = a.Int("start-width", baseCfg.Decoder.StartWidth),
                RefineBlocks = a.Int("refine", baseCfg.Decoder.RefineBlocks),
                ShuffleBlocks = a.Int("shuffle-blocks", baseCfg.Decoder.ShuffleBlocks),
                NoiseBlocks = a.Int("noise-blocks", baseCfg.Decoder.NoiseBlocks),
            },
            Init = a.Opt("init"),
            Ema = a.Double("ema", baseCfg.Ema),
            FreezeBlocks = a.Int("freeze-blocks", 0),
            EmaNorms = a.Flag("ema-norms"),
            Discriminator = ParseDiscriminator(a, baseCfg.Discriminator),
            Augment = ParseAugment(a.Opt("augment")),
        };
        if (!(cfg.Ema >= 0 && cfg.Ema < 1)) throw new UsageException($"--ema is a decay in [0, 1) (0: off), not {cfg.Ema}");
        int nb = cfg.Decoder.BlockWidths.Length;
        if (cfg.Decoder.NoiseBlocks < 0 || cfg.Decoder.NoiseBlocks > nb) throw new UsageException($"--noise-blocks must be 0–{nb} (the decoder's blocks), not {cfg.Decoder.NoiseBlocks}");
        if (cfg.EmaNorms && cfg.Ema == 0) throw new UsageException("--ema-norms measures the moving average's statistics; give --ema D");
        if (cfg.FreezeBlocks < 0 || cfg.FreezeBlocks > nb) throw new UsageException($"--freeze-blocks must be 0–{nb} (the decoder's blocks), not {cfg.FreezeBlocks}");
        if (cfg.FreezeBlocks > 0 && cfg.Init == null) throw new UsageException("--freeze-blocks keeps blocks of the --init file; give --init");
        int limit = a.Int("limit", int.MaxValue);
        var outSize = a.Opt("out-size");
        int maxSteps = a.Int("max-steps", 0);
        if (a.Opt("max-steps") != null && maxSteps < 1) throw new UsageException($"--max-steps must be at least 1, not {maxSteps}");
        // Stopped early, the run's state is kept by a checkpoint at its last step, unless told otherwise.
        if (maxSteps > 0 && a.Opt("checkpoint-every") == null) cfg = cfg with { CheckpointEvery = maxSteps };
        var encoder = Common.Encoder(new Args(["--model", encName, .. Pass(a, "weights"), .. Pass(a, "device")], new HashSet<string>()));
        a.CheckUnused();
        var spec = encoder.Spec;
        if (LossSpec.Problem(cfg.Loss, cfg.LossOptions, encoder) is { } problem) throw new UsageException($"--loss: {problem}");
        var (outW, outH) = ParseOutSize(outSize, spec);
        cfg = cfg with { OutWidth = outW, OutHeight = outH };

        // Data: every --data set, minus LFW test people under the split.
        var (split, _) = LfwSplit.Resolve(splitOpt);
        var (items, preview, dataDesc) = TrainingData.Assemble(dataSpecs, split, limit);

        using var pipeline = items.All(i => i.Aligned) ? null : FacePipeline.CreateDefault();
        var wid = Registry.WeightsId(encName, a.Opt("weights"));
        // On disk under the cache folder, read as needed; a stopped build continues (dfd cache build does it ahead, split).
        using var data = Common.WithProgress("aligning + encoding training set", json, p => EncodedFaces.Build(items, encoder, pipeline, cacheDir, wid,
            new BuildOptions { Progress = new SyncProgress<BuildProgress>(x => p.Report(((int)x.FacesDone, (int)x.FacesTotal))), Note = json ? null : Console.Error.WriteLine }, EncodedFaces.Cropper(spec, pipeline, outW, outH)));
        using var previewSet = preview.Count > 0 ? EncodedFaces.Build(preview, encoder, pipeline, null, wid, null, outW, outH) : null;
        if (!json) Console.Error.WriteLine($"training set: {data.Count} faces ({data.Skipped.Count} skipped: no face or unreadable); {string.Join("; ", dataDesc)}");

        var provenance = new Dictionary<string, string>
        {
            ["data"] = string.Join("; ", dataDesc),
            ["split"] = split == null ? "none" : $"{split.Name}: train {split.TrainPeople} people / {split.TrainImages} images, test {split.TestPeople} people / {split.TestImages} images ({split.Description})",
            ["encoder_weights"] = wid,
            ["encoder_input"] = $"{spec.InputWidth}x{spec.InputHeight} {spec.Channels}",
            ["encoder_mean"] = string.Join(",", spec.Mean),
            ["encoder_std"] = string.Join(",", spec.Std),
            ["skipped_images"] = data.Skipped.Count.ToString(),
        };
        var trainer = new Trainer(data, encoder, cfg, outPath, provenance) { Preview = previewSet, MaxSteps = maxSteps > 0 ? maxSteps : int.MaxValue };
        var decoder = cfg.Decoder with { TemplateDim = spec.EmbeddingSize, OutWidth = data.OutWidth, OutHeight = data.OutHeight };
        using (var probe = new FaceDecoder(decoder))
            if (!json) Console.Error.WriteLine($"decoder: {probe.ParameterCount / 1e6:F2} M parameters, {decoder.OutWidth}x{decoder.OutHeight} output; {cfg.Epochs} epochs × {data.Count / cfg.Batch} steps of {cfg.Batch}; checkpoint {trainer.CheckpointPath}");

        if (!json && OperatingSystem.IsLinux() && !(Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Contains("glibc.malloc.hugetlb"))
            Console.Error.WriteLine("note: GLIBC_TUNABLES=glibc.malloc.hugetlb=1 is not set; ./dfd sets it, and training steps ran ~3x faster with it (glibc otherwise maps and unmaps every large tensor)");
        var started = DateTime.UtcNow;
        FaceDecoder dec;
        if (json || Console.IsOutputRedirected)
        {
            var last = DateTime.MinValue;
            dec = trainer.Run(resume, s =>
            {
                if (s.Event != null) { Console.Error.WriteLine(s.Event); return; }
                if ((DateTime.UtcNow - last).TotalSeconds < 30) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"epoch {s.Epoch}/{s.Epochs} step {s.Step}/{s.StepsPerEpoch} loss {s.Loss:F4} [{Terms(s)}] {s.ImagesPerSecond:F1} img/s");
            });
        }
        else
        {
            dec = null!;
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: 1);
                    dec = trainer.Run(resume, s =>
                    {
                        if (s.Event != null) { AnsiConsole.MarkupLine(Markup.Escape(s.Event)); return; }
                        task.MaxValue = (double)s.Epochs * s.StepsPerEpoch;
                        task.Value = (double)(s.Epoch - 1) * s.StepsPerEpoch + s.Step;
                        task.Description = Markup.Escape($"epoch {s.Epoch}/{s.Epochs} loss {s.Loss:F4} [{Terms(s)}] {s.ImagesPerSecond:F1} img/s");
                    });
                });
        }
        var result = new { output = outPath, output_size = $"{data.OutWidth}x{data.OutHeight}", checkpoint = trainer.CheckpointPath, samples = trainer.SamplesDir, log = trainer.LogPath, images = data.Count, steps = trainer.StepsDone, seconds = (DateTime.UtcNow - started).TotalSeconds, device = encoder.Device.ToString() };
        bool early = maxSteps > 0 && trainer.StepsDone >= maxSteps;
        Console.WriteLine(json ? Common.ToJson(result) : early
            ? $"stopped after {trainer.StepsDone} steps (--max-steps): state in {trainer.CheckpointPath}{(File.Exists(outPath) ? $", last finished epoch in {outPath}" : "")}"
            : $"done: {outPath} (samples in {trainer.SamplesDir}, losses in {trainer.LogPath})");
        dec.Dispose();
        return 0;
    }

    /// <summary>--disc-width 32 --disc-layers 3 --disc-lr 2e-4 --disc-loss hinge|lsq --feature-matching W --diffaug colour,translation,cutout|none.</summary>
    static DiscriminatorConfig ParseDiscriminator(Args a, DiscriminatorConfig d)
    {
        var kind = a.Opt("disc-loss");
        var aug = a.Opt("diffaug");
        var parts = aug?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet() ?? [];
        var known = new HashSet<string> { "colour", "color", "translation", "cutout", "none" };
        if (parts.FirstOrDefault(p => !known.Contains(p)) is { } bad)
            throw new UsageException($"--diffaug: unknown transform '{bad}' (colour, translation, cutout, or none)");
        d = d with
        {
            Width = a.Int("disc-width", d.Width),
            Layers = a.Int("disc-layers", d.Layers),
            Lr = a.Double("disc-lr", d.Lr),
            FeatureMatching = a.Double("feature-matching", d.FeatureMatching),
            SpectralNorm = a.Flag("spectral-norm") || d.SpectralNorm,
            R1 = a.Double("r1", d.R1),
            R1Every = a.Int("r1-every", d.R1Every),
            Scales = a.Int("disc-scales", d.Scales),
            Loss = kind switch
            {
                null => d.Loss,
                "hinge" => AdversarialLoss.Hinge,
                "lsq" or "least-squares" => AdversarialLoss.LeastSquares,
                _ => throw new UsageException($"--disc-loss: '{kind}' is not hinge or lsq"),
            },
        };
        if (aug != null) d = d with { Colour = parts.Contains("colour") || parts.Contains("color"), Translation = parts.Contains("translation"), Cutout = parts.Contains("cutout") };
        if (d.Width < 16 || d.Layers < 1 || d.Layers > 6) throw new UsageException($"--disc-width must be ≥ 16 and --disc-layers 1–6 (got {d.Width}, {d.Layers})");
        if (!(d.Lr > 0) || !double.IsFinite(d.Lr)) throw new UsageException($"--disc-lr must be a positive number, not {d.Lr}");
        if (!(d.FeatureMatching >= 0) || !double.IsFinite(d.FeatureMatching)) throw new UsageException($"--feature-matching must be a number ≥ 0, not {d.FeatureMatching}");
        if (!(d.R1 >= 0) || !double.IsFinite(d.R1)) throw new UsageException($"--r1 must be a number ≥ 0, not {d.R1}");
        if (d.R1Every < 1) throw new UsageException($"--r1-every must be ≥ 1, not {d.R1Every}");
        if (d.Scales < 1 || d.Scales > 3) throw new UsageException($"--disc-scales must be 1–3, not {d.Scales}");
        return d;
    }

    /// <summary>--augment on | degrees=5,shift=0.03,zoom=0.05,photometric=0.1 (unnamed ones keep these defaults).</summary>
    static AugmentConfig? ParseAugment(string? s)
    {
        if (s == null || s == "off") return null;
        var c = new AugmentConfig();
        if (s == "on") return c;
        foreach (var part in s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split('=', StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || !double.TryParse(kv[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
                throw new UsageException($"--augment: '{part}' is not name=number ≥ 0 (degrees, shift, zoom, photometric), 'on' or 'off'");
            c = kv[0] switch
            {
                "degrees" => c with { Degrees = v },
                "shift" => v < 0.5 ? c with { Shift = v } : throw new UsageException("--augment: shift is a fraction of the side, below 0.5"),
                "zoom" => v < 0.5 ? c with { Zoom = v } : throw new UsageException("--augment: zoom is a fraction, below 0.5"),
                "photometric" => v <= 1 ? c with { Photometric = v } : throw new UsageException("--augment: photometric is at most 1"),
                _ => throw new UsageException($"--augment: unknown setting '{kv[0]}' (degrees, shift, zoom, photometric)"),
            };
        }
        return c;
    }

    /// <summary>--out-size 256 or 256x256 → (0, 0) for the encoder's own crop, else the size, of the crop's aspect and no smaller.</summary>
    public static (int Width, int Height) ParseOutSize(string? s, EncoderSpec spec)
    {
        if (s == null) return (0, 0);
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length is < 1 or > 2 || parts.Any(p => !int.TryParse(p, out var v) || v <= 0))
            throw new UsageException($"--out-size: '{s}' is not N or WxH in pixels (e.g. --out-size 256)");
        int w = int.Parse(parts[0]);
        // One number is the longer side; the other follows from the encoder's crop.
        int h = parts.Length == 2 ? int.Parse(parts[1]) : spec.InputHeight >= spec.InputWidth ? w : (int)Math.Round((double)w * spec.InputHeight / spec.InputWidth);
        if (parts.Length == 1 && spec.InputHeight > spec.InputWidth) (w, h) = ((int)Math.Round((double)w * spec.InputWidth / spec.InputHeight), w);
        if (w > 4096 || h > 4096) throw new UsageException($"--out-size: {w}x{h} is larger than 4096");
        if (w < spec.InputWidth || h < spec.InputHeight)
            throw new UsageException($"--out-size: {w}x{h} is smaller than {spec.Name}'s {spec.InputWidth}x{spec.InputHeight} crop");
        try { return EncodedFaces.TargetSize(spec, w, h); }
        catch (ArgumentException) { throw new UsageException($"--out-size: {w}x{h} is not the aspect of {spec.Name}'s {spec.InputWidth}x{spec.InputHeight} crop"); }
    }

    static string Terms(TrainStatus s) => string.Join(" ", s.Terms.Select(kv => $"{kv.Key} {kv.Value:F3}"));

    static IEnumerable<string> Pass(Args a, string name) => a.Opt(name) is { } v ? ["--" + name, v] : [];

    /// <summary>--data may repeat; Args keeps the last, so collect them here.</summary>
    internal static List<string> MultiOpt(string[] argv, string name)
    {
        var r = new List<string>();
        for (int i = 0; i < argv.Length; i++)
        {
            if (argv[i] == "--" + name && i + 1 < argv.Length) r.Add(argv[++i]);
            else if (argv[i].StartsWith("--" + name + "=")) r.Add(argv[i][(name.Length + 3)..]);
        }
        return r;
    }

    /// <summary>--loss pixel=1,sobel=0.5,identity=0.5,l2=1 (unnamed terms keep their defaults).</summary>
    static (LossWeights, LossOptions) ParseLoss(string? s)
    {
        try { return LossSpec.Parse(s ?? ""); }
        catch (FormatException e) { throw new UsageException($"--loss: {e.Message}"); }
    }
}
