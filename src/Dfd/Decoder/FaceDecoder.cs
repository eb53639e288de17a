using System.Text.Json;
using Dfd.Core;
// Dfd's, not TorchSharp.Modules': see Layers.cs.
using BatchNorm = Dfd.Core.BatchNorm;
using Dfd.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Decoder;

/// <summary>Shape of a decoder; stored in every checkpoint so a file rebuilds its own network.</summary>
public sealed record DecoderConfig(
    int TemplateDim = 128,
    int OutWidth = 150,
    int OutHeight = 150,
    int[]? Widths = null,      // channels after each ×2 upsampling block; their count sets the depth
    int StartWidth = 256,      // channels of the low-resolution map the linear layer makes
    int RefineBlocks = 1,      // residual 3×3 blocks after each upsampling…
    int RefineDepth = 2,       // …in the first RefineDepth blocks only: at 40²–160² they would cost most of the time
    int ShuffleBlocks = 0,     // the last ShuffleBlocks blocks upsample by conv + pixel shuffle (ICNR) instead of nearest + conv
    int NoiseBlocks = 0)       // the last NoiseBlocks blocks add seeded per-pixel noise (see FaceDecoder.forward)
{
    // Sized for CPU training: 8.8 M parameters with [384,256,128,48,24] ran at 1.5–3 img/s on 2 cores, this at ~6.5.
    public int[] BlockWidths => Widths ?? [256, 128, 64, 32, 16];

    /// <summary>Side of the first feature map: doubling reaches at least the output size; the centre is cropped out.</summary>
    public int StartSize => (int)Math.Ceiling(Math.Max(OutWidth, OutHeight) / Math.Pow(2, BlockWidths.Length));

    // Settings at their type's default (0, null) are left out: a file written before such a setting existed reads the same.
    public string ToJson() => JsonSerializer.Serialize(this with { Widths = BlockWidths }, Json);
    static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault };
    public static DecoderConfig FromJson(string s) => JsonSerializer.Deserialize<DecoderConfig>(s)!;
}

/// <summary>
/// The Deep Face Decoder: template (D) → linear → StartSize² map → [nearest ×2, conv, BN, LeakyReLU, residual
/// refinement] per block → 3×3 conv → sigmoid·255 RGB, centre-cropped to the encoder's input size and alignment, so the
/// reconstruction can go straight back into the encoder (the identity loss, type-I/II evaluation).
/// Trained by regression (Training/Trainer.cs); templates are L2-normalised on the way in, so the decoder sees
/// direction, which is what cosine-scored FR models compare.
/// </summary>
public sealed class FaceDecoder : Module<Tensor, Tensor>
{
    public DecoderConfig Config { get; }

    readonly Linear project;
    readonly BatchNorm projectNorm;
    readonly ModuleList<UpBlock> blocks;
    readonly Conv2d toRgb;

    /// <summary>The noise seed of <see cref="forward(Tensor)"/>: a decoder with noise draws the same faces every time unless told otherwise.</summary>
    public const long DefaultSeed = 0;

    public FaceDecoder(DecoderConfig config) : base("dfd")
    {
        Config = config;
        if (config.BlockWidths.Any(w => w < 16) || config.StartWidth < 16)
            throw new ArgumentException($"decoder widths must be at least 16 (got {string.Join(",", config.BlockWidths)}; start {config.StartWidth}): narrower 3×3 convs hit a libtorch CPU backward bug");
        int s = config.StartSize;
        project = Linear(config.TemplateDim, config.StartWidth * s * s);
        projectNorm = new BatchNorm(config.StartWidth * s * s);
        var list = new List<UpBlock>();
        int cin = config.StartWidth;
        if (config.ShuffleBlocks < 0 || config.ShuffleBlocks > config.BlockWidths.Length)
            throw new ArgumentException($"ShuffleBlocks {config.ShuffleBlocks}: the decoder has {config.BlockWidths.Length} blocks");
        if (config.NoiseBlocks < 0 || config.NoiseBlocks > config.BlockWidths.Length)
            throw new ArgumentException($"NoiseBlocks {config.NoiseBlocks}: the decoder has {config.BlockWidths.Length} blocks");
        foreach (var w in config.BlockWidths)
        {
            bool shuffle = list.Count >= config.BlockWidths.Length - config.ShuffleBlocks;
            bool noise = list.Count >= config.BlockWidths.Length - config.NoiseBlocks;
            list.Add(new UpBlock(cin, w, list.Count < config.RefineDepth ? config.RefineBlocks : 0, shuffle, noise));
            cin = w;
        }
        blocks = new ModuleList<UpBlock>(list.ToArray());
        // 1×1: libtorch 2.10's CPU 3×3 conv backward returns NaN input gradients now and then when a layer has fewer
        // than 16 output channels (measured: 3×3 24→3 at 160², 2 in 30 calls; 1×1 24→3, 0 in 30). Hence also
        // the rule that block widths stay ≥ 16.
        toRgb = Conv2d(cin, 3, 1);
        RegisterComponents();
    }

    /// <summary>Templates [N,D] → images [N,3,H,W] in 0..255, noise (if any) drawn from <see cref="DefaultSeed"/>.</summary>
    public override Tensor forward(Tensor templates) => forward(templates, DefaultSeed);

    /// <summary>
    /// Templates [N,D] → images [N,3,H,W] in 0..255. Blocks with noise add a per-pixel map drawn from a CPU generator
    /// seeded with <paramref name="seed"/> (so the same seed draws the same faces on any device), scaled per channel by
    /// a learned weight that starts at 0. In eval mode one map serves the whole batch, so a face depends only on its
    /// template and the seed, not on its neighbours in the batch; in training mode each image draws its own.
    /// Decoders without noise blocks ignore the seed.
    /// </summary>
    public Tensor forward(Tensor templates, long seed)
    {
        // Callers wrap whole steps (forward, loss, backward, update) in one dispose scope.
        var z = F.normalize(templates, p: 2, dim: 1);
        int s = Config.StartSize;
        var x = projectNorm.forward(project.forward(z)).LeakyRelu(0.2).view(-1, Config.StartWidth, s, s);
        using var gen = Config.NoiseBlocks > 0 ? new Generator(unchecked((ulong)seed)) : null;
        foreach (var b in blocks)
        {
            Tensor? noise = null;
            if (b.HasNoise)
                noise = torch.randn(new long[] { training ? x.shape[0] : 1, 1, x.shape[2] * 2, x.shape[3] * 2 }, generator: gen).to(x.device);
            x = b.Forward(x, noise);
        }
        x = torch.sigmoid(toRgb.forward(x)).Times(255f);
        // A centre crop, not a resize: the net learns on a slightly larger canvas, and no resampling blurs the output.
        long oy = (x.shape[2] - Config.OutHeight) / 2, ox = (x.shape[3] - Config.OutWidth) / 2;
        if (oy != 0 || ox != 0) x = x[.., .., (int)oy..(int)(oy + Config.OutHeight), (int)ox..(int)(ox + Config.OutWidth)];
        return x;
    }

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// Measures the batch-norm statistics again, as the mean over <paramref name="batches"/> of templates drawn in
    /// training mode (noise seeded from <paramref name="seed"/>, one seed per batch), without changing a weight. A moving
    /// average of the weights (<c>Ema</c>) is a decoder nobody trained: statistics copied from the live weights
    /// describe other activations than its own (as for averaged weights in SWA, Izmailov et al. 2018).
    /// </summary>
    public void RecomputeNorms(IEnumerable<Tensor> batches, long seed)
    {
        var list = batches.ToList();
        if (list.Count == 0) throw new ArgumentException("no batches to measure batch-norm statistics on");
        var norms = modules().OfType<BatchNorm>().ToList();
        var momentum = norms.Select(n => n.Momentum).ToList();
        bool wasTraining = training;
        train();
        foreach (var n in norms) n.ResetRunningStats();
        int k = 0;
        using (torch.no_grad())
            foreach (var b in list)
            {
                using var scope = torch.NewDisposeScope();
                foreach (var n in norms) n.Momentum = 1.0 / (k + 1);
                forward(b, seed + k);
                k++;
            }
        for (int i = 0; i < norms.Count; i++) norms[i].Momentum = momentum[i];
        if (!wasTraining) eval();
    }

    /// <summary>
    /// Stops training of the template projection and the first <paramref name="n"/> upsampling blocks (no gradients;
    /// their batch-norm statistics still follow the batches): a warm-started decoder keeps the coarse face it learned,
    /// and only the blocks above it change.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="n"/> outside 0..the number of blocks.</exception>
    public void Freeze(int n)
    {
        if (n < 0 || n > blocks.Count) throw new ArgumentException($"cannot freeze {n} blocks: the decoder has {blocks.Count}");
        if (n == 0) return;
        foreach (var p in project.parameters().Concat(projectNorm.parameters()).Concat(blocks.Take(n).SelectMany(b => b.parameters())))
            p.requires_grad = false;
    }

    sealed class UpBlock : Module<Tensor, Tensor>
    {
        readonly Conv2d conv;
        readonly BatchNorm norm;
        readonly ModuleList<Residual> refine;
        readonly bool shuffle;
        // Per-channel scale of the injected noise (StyleGAN's B); 0 at first, so a block with noise starts as one without.
        readonly Parameter? noise_weight;

        public bool HasNoise => noise_weight is not null;

        public UpBlock(int cin, int cout, int refineBlocks, bool shuffle, bool noise) : base("up")
        {
            this.shuffle = shuffle;
            if (noise) noise_weight = new Parameter(torch.zeros(1, cout, 1, 1));
            conv = Conv2d(cin, shuffle ? cout * 4 : cout, 3, padding: 1, bias: false);
            if (shuffle) Icnr(conv, cout);
            norm = new BatchNorm(cout);
            refine = new ModuleList<Residual>(Enumerable.Range(0, refineBlocks).Select(_ => new Residual(cout)).ToArray());
            RegisterComponents();
        }

        /// <summary>
        /// ICNR (Aitken et al. 2017): the four sub-pixel filters of each output channel start equal, so the block
        /// begins as conv + nearest upsampling (no checkerboard) and learns sub-pixel detail from there.
        /// </summary>
        static void Icnr(Conv2d conv, int cout)
        {
            using var _ = torch.no_grad();
            var w = conv.weight!;
            var first = w[TensorIndex.Slice(0, cout)].clone();          // [cout, cin, 3, 3], kaiming-initialised
            w.copy_(first.repeat_interleave(4, 0));                     // pixel_shuffle reads channel c·4 + k as sub-pixel k of c
        }

        public override Tensor forward(Tensor x) => Forward(x, null);

        /// <summary>Upsample, conv, BN, then noise [N or 1,1,H,W] times the per-channel weight, then the activation.</summary>
        public Tensor Forward(Tensor x, Tensor? noise)
        {
            // Resize + conv (or ICNR-initialised sub-pixel conv) rather than transposed conv: no checkerboard artefacts.
            x = shuffle
                ? F.pixel_shuffle(conv.forward(x), 2)
                : conv.forward(F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest));
            x = norm.forward(x);
            // After BN, so the batch statistics do not absorb the noise and its weight reads in units of the normalised map.
            if (noise_weight is not null && noise is not null) x = x.Plus(noise * noise_weight);
            x = x.LeakyRelu(0.2);
            foreach (var r in refine) x = r.forward(x);
            return x;
        }
    }

    sealed class Residual : Module<Tensor, Tensor>
    {
        readonly Conv2d c1, c2;
        readonly BatchNorm n1, n2;

        public Residual(int c) : base("res")
        {
            c1 = Conv2d(c, c, 3, padding: 1, bias: false); n1 = new BatchNorm(c);
            c2 = Conv2d(c, c, 3, padding: 1, bias: false); n2 = new BatchNorm(c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) =>
            x.Plus(n2.forward(c2.forward(n1.forward(c1.forward(x)).LeakyRelu(0.2)))).LeakyRelu(0.2);
    }
}

/// <summary>What a decoder file says about itself: which encoder's templates it inverts, and how it was made.</summary>
public sealed record DecoderInfo(string Encoder, int TemplateDim, int OutWidth, int OutHeight, string Normalisation,
    DecoderConfig Config, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>"regression" or "sharp" (<see cref="DecoderKind.Of"/>).</summary>
    public string Kind => DecoderKind.Of(Metadata);
}

public sealed class DecoderFileException(string path, string problem) : DfdException($"{path}: {problem}");

/// <summary>A decoder loaded by <see cref="DecoderFile.Load"/>, with its file's description and the encoder it was checked against.</summary>
public sealed record LoadedDecoder(FaceDecoder Decoder, DecoderInfo Info, Encoders.EncoderSpec? Encoder, string Path) : IDisposable
{
    /// <summary>Why <see cref="Encoder"/> is null: the registry could not build the encoder the file names.</summary>
    public string? EncoderProblem { get; init; }

    /// <summary>The encoder's spec, for callers that must encode with it.</summary>
    /// <exception cref="DecoderFileException">The encoder the file names cannot be built here.</exception>
    public Encoders.EncoderSpec RequireEncoder() => Encoder
        ?? throw new DecoderFileException(Path, $"decoder inverts encoder '{Info.Encoder}', which this build cannot provide ({EncoderProblem})");

    public void Deconstruct(out FaceDecoder decoder, out DecoderInfo info) { decoder = Decoder; info = Info; }

    public void Dispose() => Decoder.Dispose();
}

public static class DecoderFile
{
    public const string Format = "dfd-decoder";

    /// <summary>The shipped decoder for an encoder (models/dfd-&lt;encoder&gt;-lfw.safetensors), or null.</summary>
    public static string? ShippedPath(string encoder) => Encoders.ModelPaths.Find($"dfd-{encoder}-lfw.safetensors");

    /// <summary>The shipped sharp (adversarial) decoder for an encoder (models/dfd-&lt;encoder&gt;-lfw-sharp.safetensors), or null.</summary>
    public static string? ShippedSharpPath(string encoder) => Encoders.ModelPaths.Find($"dfd-{encoder}-lfw-sharp.safetensors");

    /// <summary>
    /// The one way to load a decoder for inference (eval mode, on <paramref name="device"/>). The file must be a Dfd
    /// decoder, and it is checked against the encoder it inverts: <paramref name="encoder"/> when given (the name must
    /// match), else the registry's spec of the encoder the file names. Template size and output crop must agree with it.
    /// Where the registry cannot build the named encoder here (unknown name, an ONNX file absent), the decoder still
    /// loads, unchecked, with <see cref="LoadedDecoder.Encoder"/> null and <see cref="LoadedDecoder.EncoderProblem"/> saying why.
    /// </summary>
    /// <exception cref="DecoderFileException">Missing, not a decoder, damaged, or made for another encoder.</exception>
    public static LoadedDecoder Load(string path, Device? device = null, Encoders.EncoderSpec? encoder = null)
    {
        if (!File.Exists(path)) throw new DecoderFileException(path, "decoder file not found");
        var (tensors, meta) = Safetensors.Read(path);
        if (!meta.TryGetValue("format", out var fmt) || (fmt != Format && fmt != Format + "-checkpoint"))
            throw new DecoderFileException(path, meta.TryGetValue("format", out var f2)
                ? $"is a '{f2}' file, not a Dfd decoder" : "is not a Dfd decoder (no 'format' metadata)");
        var info = InfoFrom(path, meta);
        string? problem = null;
        if (encoder != null)
        {
            if (info.Encoder != encoder.Name)
                throw new DecoderFileException(path, $"inverts '{info.Encoder}' ({info.TemplateDim}-D templates), not '{encoder.Name}' ({encoder.EmbeddingSize}-D)");
        }
        else
        {
            try { encoder = Encoders.Registry.Spec(info.Encoder); }
            catch (Exception e) when (e is Encoders.EncoderNotAvailableException or ModelFileException) { problem = e.Message; }
        }
        if (encoder != null)
        {
            if (encoder.EmbeddingSize != info.TemplateDim)
                throw new DecoderFileException(path, $"decoder takes {info.TemplateDim}-D templates, but its encoder '{encoder.Name}' makes {encoder.EmbeddingSize}-D ones");
            // A decoder may draw larger than its encoder's crop (dfd train --out-size), in the same alignment scaled:
            // so the same aspect. Callers that encode its images resize them (Reconstruction.ReconstructAt).
            if ((long)encoder.InputWidth * info.OutHeight != (long)encoder.InputHeight * info.OutWidth || info.OutWidth < encoder.InputWidth)
                throw new DecoderFileException(path, $"decoder makes {info.OutWidth}x{info.OutHeight} images, but its encoder '{encoder.Name}' takes {encoder.InputWidth}x{encoder.InputHeight} crops" +
                    " (a decoder's output must be its encoder's crop or a larger one of the same aspect)");
        }
        var dec = new FaceDecoder(info.Config);
        AssignWeights(dec, tensors, path);
        dec.eval();
        if (device != null) dec.to(device);
        return new LoadedDecoder(dec, info, encoder, path) { EncoderProblem = problem };
    }

    /// <summary>Prefixes of what a training checkpoint holds besides the decoder: optimiser moments, a discriminator and its optimiser's, the weights' moving average.</summary>
    public static readonly string[] TrainingStatePrefixes = ["optim.", "disc.", "optimd.", "ema."];

    /// <summary>Loads a file's weights and BN statistics into a decoder, leaving out a checkpoint's training state.</summary>
    public static void AssignWeights(FaceDecoder dec, IReadOnlyDictionary<string, HostTensor> tensors, string path) =>
        StateDict.Assign(dec, tensors.Where(kv => !TrainingStatePrefixes.Any(p => kv.Key.StartsWith(p, StringComparison.Ordinal)))
            .ToDictionary(kv => kv.Key, kv => kv.Value), path);

    public static DecoderInfo InfoFrom(string path, IReadOnlyDictionary<string, string> meta)
    {
        string Need(string k) => meta.TryGetValue(k, out var v) ? v : throw new DecoderFileException(path, $"damaged decoder file: metadata '{k}' is missing");
        DecoderConfig cfg;
        try { cfg = DecoderConfig.FromJson(Need("decoder_config")); }
        catch (JsonException) { throw new DecoderFileException(path, "damaged decoder file: decoder_config is not valid JSON"); }
        return new DecoderInfo(Need("encoder"), int.Parse(Need("template_dim")), cfg.OutWidth, cfg.OutHeight,
            meta.GetValueOrDefault("normalisation", "l2"), cfg, meta);
    }

    public static void Save(string path, FaceDecoder dec, IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, HostTensor>? extra = null)
    {
        var t = StateDict.ToHost(dec);
        if (extra != null) foreach (var (k, v) in extra) t[k] = v;
        var meta = new Dictionary<string, string>(metadata)
        {
            ["format"] = extra == null ? Format : Format + "-checkpoint",
            ["decoder_config"] = dec.Config.ToJson(),
            ["template_dim"] = dec.Config.TemplateDim.ToString(),
            ["output_size"] = $"{dec.Config.OutWidth}x{dec.Config.OutHeight}",
            ["normalisation"] = "l2",
            ["parameters"] = dec.ParameterCount.ToString(),
        };
        Safetensors.Write(path, t, meta);
    }
}
