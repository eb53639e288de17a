using Dfd.Core;
using Dfd.Datasets;
using System.Diagnostics;
using System.Text.Json;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Dfd.Training;

public sealed record TrainConfig
{
    public int Epochs { get; init; } = 30;
    public int Batch { get; init; } = 32;
    public double Lr { get; init; } = 1e-3;
    public double MinLr { get; init; } = 2e-5;
    public int Seed { get; init; } = 1;
    public bool Flip { get; init; } = true;
    public int CheckpointEvery { get; init; } = 100;
    public DecoderConfig Decoder { get; init; } = new();
    public LossWeights Loss { get; init; } = new();
    public LossOptions LossOptions { get; init; } = new();
    /// <summary>The discriminator of the adversarial term; used when <see cref="LossWeights.Adv"/> &gt; 0.</summary>
    public DiscriminatorConfig Discriminator { get; init; } = new();
    /// <summary>Augment each batch's photos and encode them again (null: the cached photos and templates as they are).</summary>
    public AugmentConfig? Augment { get; init; }
    /// <summary>Warm start: a decoder file of the same encoder whose weights the run starts from (path); where this run's
    /// decoder differs from the file's from some block on (a new top, noise), the tensors that fit are taken and the rest start fresh.</summary>
    public string? Init { get; init; }
    /// <summary>Decay of the moving average of the decoder's weights (0: none); with it the decoder file holds the average.</summary>
    public double Ema { get; init; }
    /// <summary>With <see cref="Init"/>: the template projection and the first N blocks keep the init file's weights
    /// (<see cref="FaceDecoder.Freeze"/>), so a sharp run can add detail on top without redrawing the face's layout.</summary>
    public int FreezeBlocks { get; init; }
    /// <summary>With <see cref="Ema"/>: before the average is written, its batch-norm statistics are measured on its own
    /// activations (<see cref="FaceDecoder.RecomputeNorms"/>, the first <see cref="Trainer.NormBatches"/> batches of the
    /// epoch's order) rather than copied from the live weights.</summary>
    public bool EmaNorms { get; init; }

    /// <summary>What the decoder file says it is: "sharp" when an adversarial term drew its detail, else "regression".</summary>
    public string DecoderKind => Loss.Adv > 0 ? "sharp" : "regression";
    /// <summary>The decoder's output size when it differs from the encoder's crop (dfd train --out-size); 0: the crop's.
    /// The training set must then hold targets of this size (<see cref="EncodedFaces.Build"/>'s outWidth, outHeight).</summary>
    public int OutWidth { get; init; }
    public int OutHeight { get; init; }

    /// <summary>The settings that must match for --resume to continue the same run.</summary>
    /// <remarks>Settings at their type's default (0, false, null) are left out, so a setting added later with such a
    /// default does not stop older checkpoints from resuming.</remarks>
    public string Fingerprint() => JsonSerializer.Serialize(new { Batch, Lr, MinLr, Seed, Flip, Decoder = Decoder.ToJson(), Loss, LossOptions, Discriminator = Loss.Adv > 0 ? Discriminator : null, Augment, Init = InitId, OutWidth, OutHeight, Ema, FreezeBlocks, EmaNorms }, FingerprintJson);

    static readonly JsonSerializerOptions FingerprintJson = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault };

    /// <summary>The warm-start file by content, so a resumed run is refused if that file changed underneath it.</summary>
    public string? InitId => Init == null ? null : $"{Path.GetFileName(Init)} sha256:{FileId.Of(Init)}";
}

public sealed class TrainingDivergedException(string message) : DfdException(message);

public sealed record TrainStatus(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss, IReadOnlyDictionary<string, double> Terms,
    double ImagesPerSecond, string? Event = null);

/// <summary>
/// A short regression loop in the manner of arcface_torch: seeded data order and flips per epoch, Adam, cosine LR,
/// atomic checkpoints holding weights, BN statistics and optimiser moments, so --resume continues bit for bit.
/// </summary>
public sealed class Trainer(EncodedFaces data, IEncoder encoder, TrainConfig cfg, string outPath, IReadOnlyDictionary<string, string> provenance)
{
    public string CheckpointPath => outPath + ".ckpt";
    public string SamplesDir => Path.ChangeExtension(outPath, null) + "-samples";
    public string LogPath => Path.ChangeExtension(outPath, null) + "-log.jsonl";

    public EncodedFaces? Preview { get; init; }
    public int MaxSteps { get; init; } = int.MaxValue; // stop early (tests: simulate a kill after N steps)

    public FaceDecoder Run(bool resume, Action<TrainStatus>? report = null, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        torch.manual_seed(cfg.Seed);
        var (outW, outH) = OutputSize(data, cfg);
        var dec = new FaceDecoder(cfg.Decoder with { TemplateDim = encoder.Spec.EmbeddingSize, OutWidth = outW, OutHeight = outH });
        dec.to(encoder.Device);
        if (cfg.FreezeBlocks > 0 && cfg.Init == null) throw new ArgumentException($"freezing {cfg.FreezeBlocks} blocks needs a decoder to start from (--init): they would stay random");
        dec.Freeze(cfg.FreezeBlocks);
        var adam = new Adam(dec);
        using var disc = cfg.Loss.Adv > 0 ? new PatchDiscriminator(cfg.Discriminator) : null;
        disc?.to(encoder.Device);
        var adamD = disc == null ? null : new Adam(disc, 0.5, 0.999, "optimd.");
        Ema? ema = null;
        int startEpoch = 0, startStep = 0;
        double elapsed = 0;
        var sums = new Dictionary<string, double>();
        if (resume && File.Exists(CheckpointPath))
        {
            (startEpoch, startStep, elapsed, sums) = LoadCheckpoint(dec, adam, disc, adamD);
            if (cfg.Ema > 0)
            {
                var (ct0, cm) = Safetensors.Read(CheckpointPath);
                ema = new Ema(dec, cfg.Ema);
                ema.Load(ct0, long.Parse(cm.GetValueOrDefault("ema_updates", "0")), CheckpointPath);
            }
        }
        else
        {
            if (resume)
                report?.Invoke(new TrainStatus(0, cfg.Epochs, 0, 0, double.NaN, new Dictionary<string, double>(), 0, $"no checkpoint at {CheckpointPath}; starting afresh"));
            if (cfg.Init != null) WarmStart(dec, cfg.Init, report);
            if (cfg.Ema > 0) ema = new Ema(dec, cfg.Ema);
        }
        using var _ema = ema;

        var loss = new DecoderLoss(encoder, cfg.Loss, Box.InnerFace(encoder.Spec.Template),
            cfg.LossOptions.IdentityCentred ? DecoderLoss.MeanTemplate(data.AllTemplates) : null, cfg.LossOptions);
        // Each person's centre, one row per person, on the device once, and each item's row; each step gathers its
        // batch's rows (a row per person, not per item: a large set's items would take as much again as its templates).
        int[]? personOf = null;
        float[][]? rows = null;
        if (cfg.Loss.IdentityPerson > 0 || cfg.Loss.Apart > 0)
            (rows, personOf) = DecoderLoss.PersonTable(new LazyRows<string>(data.Count, i => data.Items[i].Identity), data.Templates, data.MirrorTemplates);
        using var centres = cfg.Loss.IdentityPerson > 0
            ? torch.tensor(rows!.SelectMany(c => c).ToArray(), new long[] { rows!.Length, encoder.Spec.EmbeddingSize }).to(encoder.Device) : null;
        using var impostors = cfg.Loss.Apart > 0 ? new Impostors(rows!, personOf!, data.Templates, device: encoder.Device) : null;
        if (impostors != null)
            report?.Invoke(new TrainStatus(startEpoch, cfg.Epochs, 0, 0, double.NaN, new Dictionary<string, double>(), 0,
                $"apart: {impostors.People} people; against other people's centres, {impostors.Photos} training photos reach cosine {impostors.Threshold:F4} at FMR {impostors.Fmr:G}"));
        int n = data.Count, steps = n / cfg.Batch; // the ragged tail is dropped: every step sees a full batch (BN statistics)
        if (steps == 0) throw new ArgumentException($"{n} training images are fewer than one batch of {cfg.Batch}");
        long totalSteps = (long)steps * cfg.Epochs;
        int done = 0;
        var sw = Stopwatch.StartNew();
        encoder_eval();

        for (int epoch = startEpoch; epoch < cfg.Epochs; epoch++)
        {
            var (order, flips) = EpochPlan(cfg.Seed, cfg.Flip, epoch, n);
            dec.train();
            for (int step = epoch == startEpoch ? startStep : 0; step < steps; step++)
            {
                ct.ThrowIfCancellationRequested();
                if (done >= MaxSteps) { StepsDone = done; return dec; }
                var t0 = sw.Elapsed.TotalSeconds;
                using (var scope = torch.NewDisposeScope())
                {
                    var idx = order.AsSpan(step * cfg.Batch, cfg.Batch).ToArray();
                    // x: the encoder's crops; y: what the reconstruction is compared with pixel for pixel, the targets
                    // at the output size where the set has them, else x itself.
                    var (x, t, y) = data.BatchWithTargets(idx, flips);
                    x = x.to(encoder.Device); t = t.to(encoder.Device); y = y?.to(encoder.Device);
                    long global = (long)epoch * steps + step;
                    if (cfg.Augment is { } aug)
                    {
                        // With targets the larger image is augmented, and the encoder sees it resized: one geometry for both.
                        if (y is null) x = aug.Apply(x, new Random(AugmentSeed(global, 3)));
                        else { y = aug.Apply(y, new Random(AugmentSeed(global, 3))); x = Reconstruction.ToSize(y, data.Width, data.Height); }
                        using (torch.no_grad()) t = encoder.Forward(x).detach();
                    }
                    y ??= x;
                    var recon = dec.forward(t, AugmentSeed(global, 4));
                    var c = centres?.index_select(0, torch.tensor(idx.Select(i => (long)personOf![i]).ToArray(), device: encoder.Device));
                    var (total, terms) = loss.Compute(recon, y, t, c, x, new Random(AugmentSeed(global, 5)), impostors,
                        impostors is null ? null : idx.Select(i => personOf![i]).ToArray());
                    if (disc != null) total = disc.AddGeneratorTerms(recon, y, cfg.Loss.Adv, AugmentSeed(global, 0), total, terms);
                    if (!float.IsFinite(total.item<float>()))
                        throw new TrainingDivergedException($"loss became {total.item<float>()} at epoch {epoch + 1}, step {step + 1}; the last good state is in {CheckpointPath} — lower --lr and --resume, or start afresh");
                    dec.zero_grad();
                    disc?.zero_grad();
                    total.backward();
                    // Guard against the rare non-finite gradient from libtorch's CPU conv backward (see FaceDecoder):
                    // the step is skipped and counted rather than poisoning the weights.
                    if (disc != null)
                        terms["disc"] = disc.Update(adamD!, recon.detach(), y, AugmentSeed(global, 1), AugmentSeed(global, 2), cfg.Discriminator.Lr * Lr(global, totalSteps) / cfg.Lr, global, terms);
                    if (Adam.GradientsFinite(dec)) { adam.Step(Lr(global, totalSteps)); ema?.Update(); }
                    else { SkippedSteps++; report?.Invoke(new TrainStatus(epoch + 1, cfg.Epochs, step + 1, steps, double.NaN, new Dictionary<string, double>(), 0, $"non-finite gradients at epoch {epoch + 1} step {step + 1}: step skipped")); }
                    foreach (var (k, v) in terms) sums[k] = sums.GetValueOrDefault(k) + v.item<float>();
                    sums["total"] = sums.GetValueOrDefault("total") + total.item<float>();
                    sums["steps"] = sums.GetValueOrDefault("steps") + 1;
                    double dt = sw.Elapsed.TotalSeconds - t0;
                    report?.Invoke(new TrainStatus(epoch + 1, cfg.Epochs, step + 1, steps, total.item<float>(),
                        terms.ToDictionary(kv => kv.Key, kv => (double)kv.Value.item<float>()), cfg.Batch / Math.Max(dt, 1e-9)));
                }
                done++;
                StepsDone = done;
                bool epochEnd = step + 1 == steps;
                if (epochEnd || done % cfg.CheckpointEvery == 0)
                {
                    int nextEpoch = epochEnd ? epoch + 1 : epoch, nextStep = epochEnd ? 0 : step + 1;
                    if (epochEnd && ema != null && cfg.EmaNorms) RecomputeNorms(ema.Average, order, epoch);
                    if (epochEnd) EndOfEpoch(ema?.Average ?? dec, epoch, sums, elapsed + sw.Elapsed.TotalSeconds, report);
                    // A sharp run changes its faces within an epoch (colour casts, streaks): a sheet at every checkpoint shows when.
                    else if (disc != null)
                        ImageIO.Save(SampleGrid(ema?.Average ?? dec, Preview ?? data, 8), Path.Combine(SamplesDir, $"epoch-{epoch + 1:D3}-step-{step + 1:D4}.png"));
                    SaveCheckpoint(dec, adam, disc, adamD, ema, nextEpoch, nextStep, elapsed + sw.Elapsed.TotalSeconds, epochEnd ? new() : sums);
                    if (epochEnd) sums = new();
                }
            }
        }
        return dec;

        void encoder_eval() { if (encoder is nn.Module m) { m.eval(); foreach (var p in m.parameters()) p.requires_grad = false; } }
    }

    public int SkippedSteps { get; private set; }

    /// <summary>Training steps this Run took (a resumed run counts from where it resumed).</summary>
    public int StepsDone { get; private set; }

    /// <summary>The decoder's output size: the set's (its targets' where it has them), which must be the one asked for.</summary>
    /// <exception cref="ArgumentException">The config asks for an output size the set holds no targets of.</exception>
    public static (int Width, int Height) OutputSize(EncodedFaces data, TrainConfig cfg)
    {
        if (cfg.OutWidth > 0 && (cfg.OutWidth != data.OutWidth || cfg.OutHeight != data.OutHeight))
            throw new ArgumentException($"output size {cfg.OutWidth}x{cfg.OutHeight} asked, but the training set holds {data.OutWidth}x{data.OutHeight} targets (build it with that output size)");
        return (data.OutWidth, data.OutHeight);
    }

    readonly Lazy<Dictionary<string, string>?> initMeta = new(() => cfg.Init != null && File.Exists(cfg.Init) ? Safetensors.Read(cfg.Init).Metadata : null);

    /// <summary>Copies the weights (and BN statistics) of a decoder file; Adam starts fresh, the LR schedule from the top.</summary>
    void WarmStart(FaceDecoder dec, string path, Action<TrainStatus>? report)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: --init decoder not found");
        var (tensors, meta) = Safetensors.Read(path);
        var info = DecoderFile.InfoFrom(path, meta);
        if (info.Encoder != encoder.Spec.Name)
            throw new DecoderFileException(path, $"--init: inverts '{info.Encoder}', not '{encoder.Spec.Name}'");
        string fresh = "";
        if (info.Config.ToJson() == dec.Config.ToJson()) DecoderFile.AssignWeights(dec, tensors, path);
        else
        {
            // A new top (wider or other upsampling in the last blocks, noise): take every tensor whose name and shape
            // fit, grow the ones that are narrower in the file (Grow), and start the rest afresh. The projection must
            // fit, or little but the name would be shared.
            var own = dec.state_dict();
            var fit = own.Keys.Where(k => tensors.TryGetValue(k, out var t) && t.Shape.SequenceEqual(own[k].shape)).ToHashSet();
            if (!fit.Contains("project.weight"))
                throw new DecoderFileException(path, $"--init: decoder shape differs from this run's\n  file: {info.Config.ToJson()}\n  run:  {dec.Config.ToJson()}");
            var grown = own.Keys.Where(k => !fit.Contains(k) && tensors.TryGetValue(k, out var t) && t.Shape.Length == own[k].shape.Length
                && t.Shape.Zip(own[k].shape).All(d => d.First <= d.Second)).ToHashSet();
            using (torch.no_grad())
            {
                foreach (var k in fit) own[k].copy_(torch.tensor(tensors[k].Data, tensors[k].Shape).to(own[k].dtype));
                foreach (var k in grown) own[k].copy_(Grow(torch.tensor(tensors[k].Data, tensors[k].Shape), own[k].shape).to(own[k].dtype));
            }
            var news = own.Keys.Where(k => !fit.Contains(k) && !grown.Contains(k)).ToList();
            fresh = $"; {fit.Count} of {own.Count} tensors from the file" +
                (grown.Count > 0 ? $", widened from it: {string.Join(", ", grown.Select(k => $"{k} [{string.Join(",", tensors[k].Shape)}]→[{string.Join(",", own[k].shape)}]"))}" : "") +
                (news.Count > 0 ? $", new: {string.Join(", ", news)}" : "");
        }
        report?.Invoke(new TrainStatus(0, cfg.Epochs, 0, 0, double.NaN, new Dictionary<string, double>(), 0,
            $"warm start from {path} ({meta.GetValueOrDefault("total_epochs") ?? meta.GetValueOrDefault("epochs_done", "?")} epochs, " +
            $"{meta.GetValueOrDefault("total_train_seconds") ?? meta.GetValueOrDefault("train_seconds", "?")} s of training in all){fresh}"));
    }

    /// <summary>
    /// A file's tensor widened to <paramref name="shape"/> so the network computes what it did (Net2Net-style): along the
    /// first dimension (a layer's outputs, a BN vector) the new entries repeat the old ones, so new channels copy old
    /// channels; along the others (a layer's inputs) they are 0, so the next layer ignores the copies until training
    /// tells them apart (their gradients differ from the start, as the copies' consumers start at 0).
    /// </summary>
    public static Tensor Grow(Tensor t, long[] shape)
    {
        var x = t;
        if (shape[0] > x.shape[0])
        {
            long reps = (shape[0] + x.shape[0] - 1) / x.shape[0];
            x = torch.cat(Enumerable.Repeat(x, (int)reps).ToList(), 0)[TensorIndex.Slice(0, shape[0])];
        }
        var pad = new List<long>();
        for (int d = shape.Length - 1; d >= 1; d--) { pad.Add(0); pad.Add(shape[d] - x.shape[d]); }
        return pad.Count == 0 ? x : torch.nn.functional.pad(x, pad.ToArray());
    }

    /// <summary>Augmentation and noise draws depend only on (seed, step, which): a resumed run draws as the uninterrupted one.
    /// which: 0 the decoder's adversarial term, 1 and 2 the discriminator's real and fake batches, 3 the photos, 4 the decoder's noise.</summary>
    public static int AugmentSeed(int seed, long global, int which) => unchecked((int)(seed * 1_000_003L + global * 31 + which));

    int AugmentSeed(long global, int which) => AugmentSeed(cfg.Seed, global, which);

    double Lr(long step, long total) => cfg.MinLr + 0.5 * (cfg.Lr - cfg.MinLr) * (1 + Math.Cos(Math.PI * step / Math.Max(1, total)));

    /// <summary>The epoch's order and flips depend only on (seed, epoch): a resumed run sees exactly the same batches.</summary>
    public static (int[] Order, bool[] Flips) EpochPlan(int seed, bool flip, int epoch, int n)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch * 7919));
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = rng.Next(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        var flips = new bool[n];
        for (int i = 0; i < n; i++) flips[i] = flip && rng.Next(2) == 1;
        return (order, flips);
    }

    /// <summary>Batches of templates the moving average's batch-norm statistics are measured on (<see cref="TrainConfig.EmaNorms"/>).</summary>
    public const int NormBatches = 50;

    void RecomputeNorms(FaceDecoder average, int[] order, int epoch)
    {
        int b = cfg.Batch, count = Math.Min(NormBatches, order.Length / b);
        var batches = Enumerable.Range(0, count).Select(i => torch.tensor(order.AsSpan(i * b, b).ToArray().SelectMany(j => data.Templates[j]).ToArray(),
            new long[] { b, encoder.Spec.EmbeddingSize }, device: encoder.Device).DetachFromDisposeScope()).ToList();
        try { average.RecomputeNorms(batches, AugmentSeed(epoch, 6)); }
        finally { foreach (var t in batches) t.Dispose(); }
    }

    void EndOfEpoch(FaceDecoder dec, int epoch, Dictionary<string, double> sums, double seconds, Action<TrainStatus>? report)
    {
        double count = Math.Max(1, sums.GetValueOrDefault("steps"));
        var means = sums.Where(kv => kv.Key != "steps").ToDictionary(kv => kv.Key, kv => kv.Value / count);
        var line = JsonSerializer.Serialize(new { epoch = epoch + 1, seconds = Math.Round(seconds, 1), losses = means });
        File.AppendAllText(LogPath, line + "\n");
        DecoderFile.Save(outPath, dec, Metadata(epoch + 1, 0, seconds));
        var grid = SampleGrid(dec, Preview ?? data, 8);
        ImageIO.Save(grid, Path.Combine(SamplesDir, $"epoch-{epoch + 1:D3}.png"));
        report?.Invoke(new TrainStatus(epoch + 1, cfg.Epochs, 0, 0, means.GetValueOrDefault("total"), means, 0,
            $"epoch {epoch + 1}: loss {means.GetValueOrDefault("total"):F4}; wrote {outPath} and {SamplesDir}/epoch-{epoch + 1:D3}.png"));
    }

    /// <summary>Originals above reconstructions for the first <paramref name="count"/> faces.</summary>
    public static RgbImage SampleGrid(FaceDecoder dec, EncodedFaces set, int count)
    {
        int k = Math.Min(count, set.Count);
        // A set without targets beside a larger decoder: its crops are scaled up, for the eye only.
        var originals = Reconstruction.Resize(Enumerable.Range(0, k).Select(set.TargetImage).ToList(), dec.Config.OutWidth, dec.Config.OutHeight);
        return ImageGrid.Compose([originals, dec.Reconstruct(set.Templates.Take(k).ToList())]);
    }

    Dictionary<string, string> Metadata(int epoch, int step, double seconds)
    {
        var m = new Dictionary<string, string>(provenance)
        {
            ["encoder"] = encoder.Spec.Name,
            ["train_config"] = JsonSerializer.Serialize(cfg),
            ["decoder_kind"] = cfg.DecoderKind,
            ["epochs_done"] = epoch.ToString(),
            ["step_in_epoch"] = step.ToString(),
            ["train_seconds"] = seconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture),
            ["train_images"] = data.Count.ToString(),
            ["machine"] = $"{Environment.ProcessorCount} cores, {encoder.Device.type}, torch threads {torch.get_num_threads()}"
                + (Core.OneDnn.OffBecause is { } why ? $", oneDNN off ({why})" : ""),
            ["saved_utc"] = DateTime.UtcNow.ToString("o"),
        };
        // The crop the output is resized to for the encoder (output_size, which DecoderFile.Save writes, may be larger).
        m.TryAdd("encoder_input", $"{encoder.Spec.InputWidth}x{encoder.Spec.InputHeight}");
        // A warm-started run carries its starting point's history, so the shipped file says how long it trained in all.
        if (initMeta.Value is { } im)
        {
            m["init"] = cfg.InitId!;
            foreach (var k in new[] { "epochs_done", "train_seconds", "train_config" })
                if (im.TryGetValue(k, out var v)) m["init_" + k] = v;
            double before = double.Parse(im.GetValueOrDefault("total_train_seconds") ?? im.GetValueOrDefault("train_seconds", "0"), System.Globalization.CultureInfo.InvariantCulture);
            int epochsBefore = int.Parse(im.GetValueOrDefault("total_epochs") ?? im.GetValueOrDefault("epochs_done", "0"));
            m["total_train_seconds"] = (before + seconds).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
            m["total_epochs"] = (epochsBefore + epoch).ToString();
        }
        // Decoder files ship: paths in them (--init, --data) are kept relative to the working directory or as file names.
        foreach (var k in m.Keys.ToList()) m[k] = RecordPath.ScrubPortable(m[k]);
        return m;
    }

    void SaveCheckpoint(FaceDecoder dec, Adam adam, PatchDiscriminator? disc, Adam? adamD, Ema? ema, int epoch, int step, double seconds, Dictionary<string, double> sums)
    {
        var meta = Metadata(epoch, step, seconds);
        meta["fingerprint"] = cfg.Fingerprint();
        meta["adam_step"] = adam.StepCount.ToString();
        meta["epoch_sums"] = JsonSerializer.Serialize(sums);
        var state = adam.State();
        if (disc != null)
        {
            foreach (var (k, v) in StateDict.ToHost(disc)) state["disc." + k] = v;
            foreach (var (k, v) in adamD!.State()) state[k] = v;
            meta["adam_step_disc"] = adamD.StepCount.ToString();
        }
        if (ema != null)
        {
            foreach (var (k, v) in ema.State()) state[k] = v;
            meta["ema_updates"] = ema.Updates.ToString();
        }
        DecoderFile.Save(CheckpointPath, dec, meta, state);
    }

    (int Epoch, int Step, double Seconds, Dictionary<string, double> Sums) LoadCheckpoint(FaceDecoder dec, Adam adam, PatchDiscriminator? disc, Adam? adamD)
    {
        var (tensors, meta) = Safetensors.Read(CheckpointPath);
        if (meta.GetValueOrDefault("format") != DecoderFile.Format + "-checkpoint")
            throw new DecoderFileException(CheckpointPath, "is not a Dfd training checkpoint");
        if (meta.GetValueOrDefault("encoder") != encoder.Spec.Name)
            throw new DecoderFileException(CheckpointPath, $"was trained for encoder '{meta.GetValueOrDefault("encoder")}', not '{encoder.Spec.Name}'");
        if (meta.GetValueOrDefault("fingerprint") != cfg.Fingerprint())
            throw new DecoderFileException(CheckpointPath, $"was made with other settings; resume needs the same batch, lr, seed, decoder and loss.\n  checkpoint: {meta.GetValueOrDefault("fingerprint")}\n  now:        {cfg.Fingerprint()}");
        DecoderFile.AssignWeights(dec, tensors, CheckpointPath);
        adam.Load(tensors, long.Parse(meta["adam_step"]));
        if (disc != null)
        {
            StateDict.Assign(disc, tensors.Where(kv => kv.Key.StartsWith("disc.", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key["disc.".Length..], kv => kv.Value), CheckpointPath);
            adamD!.Load(tensors, long.Parse(meta["adam_step_disc"]));
        }
        var sums = JsonSerializer.Deserialize<Dictionary<string, double>>(meta.GetValueOrDefault("epoch_sums", "{}")) ?? new();
        return (int.Parse(meta["epochs_done"]), int.Parse(meta["step_in_epoch"]),
            double.Parse(meta["train_seconds"], System.Globalization.CultureInfo.InvariantCulture), sums);
    }
}
