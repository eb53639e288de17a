using Dfd.Core;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Training;
using TorchSharp;
using Xunit;

namespace Dfd.Tests.Decoder;

/// <summary>The sharp decoder's parts (issue 25): noise, spectral norm, R1, multi-scale discriminator, EMA, partial warm start.</summary>
public partial class DecoderTests
{
    static void SetNoiseWeights(FaceDecoder dec, float value)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in dec.named_parameters())
            if (name.EndsWith("noise_weight")) p.fill_(Scalars.Of((double)value));
    }

    [Fact]
    public void NoiseIsDrawnFromTheSeed()
    {
        torch.manual_seed(5);
        using var dec = new FaceDecoder(Tiny with { NoiseBlocks = 2 });
        var t = Faces().Templates.Take(3).ToList();
        // At first the noise weights are 0: the seed changes nothing, as in a decoder without noise.
        Assert.Equal(dec.Reconstruct(t, seed: 1)[0].Data, dec.Reconstruct(t, seed: 2)[0].Data);
        SetNoiseWeights(dec, 0.5f);
        var a = dec.Reconstruct(t, seed: 1);
        Assert.Equal(a[2].Data, dec.Reconstruct(t, seed: 1)[2].Data);
        var b = dec.Reconstruct(t, seed: 2);
        Assert.True(a[0].Data.Zip(b[0].Data).Count(p => p.First != p.Second) > 1000, "another seed, the same face");
        // A face depends on its template and the seed, not on the batch it was decoded in.
        Assert.Equal(a[2].Data, dec.Reconstruct([t[2]], seed: 1)[0].Data);
        // The default seed is what forward(templates) and Reconstruct(templates) draw.
        Assert.Equal(dec.Reconstruct(t, seed: FaceDecoder.DefaultSeed)[1].Data, dec.Reconstruct(t)[1].Data);
        // Training mode draws one map per image, from the same seed: reproducible too.
        dec.train();
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(t.SelectMany(v => v).ToArray(), new long[] { 3, 128 });
        Assert.Equal(dec.forward(x, 9).data<float>().ToArray(), dec.forward(x, 9).data<float>().ToArray());
    }

    [Fact]
    public void OldDecoderFilesLoadAndIgnoreTheSeed()
    {
        var shipped = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        var (tensors, meta) = Safetensors.Read(shipped);
        using var loaded = DecoderFile.Load(shipped);
        Assert.Equal(0, loaded.Info.Config.NoiseBlocks);
        // Its config reads and writes back as it was stored: the new setting is left out at its default.
        Assert.Equal(meta["decoder_config"], loaded.Info.Config.ToJson());
        var t = Faces().Templates.Take(2).ToList();
        Assert.Equal(loaded.Decoder.Reconstruct(t, seed: 0)[0].Data, loaded.Decoder.Reconstruct(t, seed: 12345)[0].Data);
        Assert.DoesNotContain(tensors.Keys, k => k.Contains("noise"));
    }

    [Fact]
    public void EmaAveragesTheWeightsAndCopiesTheStatistics()
    {
        torch.manual_seed(2);
        using var dec = new FaceDecoder(Tiny);
        // Past the ramp (updates: 1000), so the decay is the one asked for.
        using var ema = new Ema(dec, 0.9, updates: 1000);
        Assert.Equal(0.1, ema.Decay(0), 12);
        Assert.Equal(0.5, ema.Decay(8), 12);
        Assert.Equal(0.9, ema.Decay(1000), 12);
        var before = StateDict.ToHost(dec);
        using (torch.no_grad())
        {
            foreach (var p in dec.parameters()) p.add_(Scalars.Of(1.0), Scalars.One);
            foreach (var (name, b) in dec.named_buffers()) if (name.EndsWith("running_mean")) b.add_(Scalars.Of(3.0), Scalars.One);
        }
        ema.Update();
        var avg = StateDict.ToHost(ema.Average);
        var paramNames = dec.named_parameters().Select(p => p.name).ToHashSet();
        foreach (var (k, v) in avg)
        {
            // Weights: 0.9·old + 0.1·(old + 1) = old + 0.1; statistics: the live ones (old + 3).
            float shift = paramNames.Contains(k) ? 0.1f : k.EndsWith("running_mean") ? 3f : 0f;
            for (int i = 0; i < v.Data.Length; i += Math.Max(1, v.Data.Length / 50))
                Assert.Equal(before[k].Data[i] + shift, v.Data[i], 4);
        }
        Assert.All(ema.State().Keys, k => Assert.StartsWith("ema.", k));
        Assert.Equal(1001, ema.Updates);
    }

    [Fact]
    public void SpectralNormBringsTheLargestSingularValueToOne()
    {
        torch.manual_seed(4);
        using var scope = torch.NewDisposeScope();
        var w = torch.randn(16, 48).Times(3.0);
        float Largest(torch.Tensor m) => torch.linalg.svdvals(m)[0].item<float>();
        Assert.True(Largest(w) > 10, "the random matrix should start far from σ = 1");
        var u = torch.nn.functional.normalize(torch.randn(16), p: 2, dim: 0);
        var n = SpectralConv2d.Normalise(w, u, 50);
        Assert.InRange(Largest(n), 0.999, 1.001);
        // The conv layer: after its training forwards its weight's σ is ≈ 1, and u (a buffer) goes into state dicts.
        using var conv = new SpectralConv2d(8, 16, 3, 1, 1);
        conv.train();
        for (int i = 0; i < 20; i++) conv.forward(torch.randn(1, 8, 6, 6));
        var sd = conv.state_dict();
        Assert.Contains("u", sd.Keys);
        var raw = sd["weight"].view(16, -1);
        Assert.InRange(Largest(raw) / (sd["u"].dot(raw.mv(torch.nn.functional.normalize(raw.t().mv(sd["u"]), p: 2, dim: 0)))).item<float>(), 0.99, 1.01);
    }

    /// <summary>
    /// The sharp recipe's discriminator (two scales, no spectral norm, R1 or DiffAugment, learning rate 8e-4) learns to
    /// score four photos above blurred copies of them within 100 steps: a decoder's adversarial term is only as good as
    /// this. The same test, one scale: separation 0.65 plain, 0.30 with spectral norm, 0.09 with DiffAugment's
    /// translation; at lr 2e-4 with R1 γ 1, or with translation and cutout, the hinge loss was still 1.97 (chance: 2)
    /// after 40 steps. sharp-v2's discriminator had all of these (docs/ablation-sharp.md).
    /// </summary>
    [Fact]
    public void DiscriminatorTellsPhotosFromBlurredCopies()
    {
        var set = Faces();
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(7);
        using var disc = new PatchDiscriminator(new DiscriminatorConfig(Scales: 2, Translation: false, Cutout: false, Lr: 8e-4));
        var adam = new Adam(disc, 0.5, 0.999);
        var real = Tensors.FromImages(Enumerable.Range(0, 4).Select(set.Image).ToList(), 150, 150);
        var blurred = torch.nn.functional.avg_pool2d(real, 5, stride: 1, padding: 2, count_include_pad: false);
        var losses = new List<float>();
        for (int step = 0; step < 100; step++)
            using (var s = torch.NewDisposeScope())
                losses.Add(disc.Update(adam, blurred, real, 2 * step, 2 * step + 1, disc.Config.Lr, step).item<float>());
        var trace = "hinge loss by step: " + string.Join(" ", losses.Select(l => l.ToString("F2")));
        using var _ = torch.no_grad();
        float r = disc.forward(real)[^1].mean().item<float>(), b = disc.forward(blurred)[^1].mean().item<float>();
        Assert.True(r > b + 0.5, $"D(photos) {r:F3}, D(blurred) {b:F3}; {trace}");
    }

    [Fact]
    public void R1PenaltyHasFiniteGradients()
    {
        torch.manual_seed(6);
        using var disc = new PatchDiscriminator(new DiscriminatorConfig(Width: 16, Layers: 2, SpectralNorm: true, R1: 10, Scales: 2));
        var set = Faces();   // outside the scope: the shared encoder may be loaded here
        using var scope = torch.NewDisposeScope();
        var (x, _) = set.Batch([0, 1], new bool[set.Count]);
        x = x.detach().requires_grad_(true);
        var views = disc.Views(x);
        Assert.Equal(2, views.Count);
        var pen = PatchDiscriminator.R1Penalty(x, views, 10);
        Assert.True(float.IsFinite(pen.item<float>()) && pen.item<float>() > 0, $"R1 {pen.item<float>()}");
        pen.backward();
        var grads = disc.parameters().Where(p => p.grad is not null).ToList();
        Assert.NotEmpty(grads);
        Assert.All(grads, p => Assert.True(p.grad!.isfinite().all().item<bool>()));
        Assert.True(grads.Sum(p => p.grad!.abs().sum().item<float>()) > 0, "the penalty reaches the discriminator's weights");
    }

    [Fact]
    public void SharpRecipeResumesBitForBitAndShipsTheAverage()
    {
        var set = Faces(2);
        var cfg = new TrainConfig
        {
            Epochs = 2, Batch = 4, Lr = 2e-3, Decoder = Tiny with { NoiseBlocks = 2 }, CheckpointEvery = 3, Ema = 0.9,
            Loss = new LossWeights(Perceptual: 0, PerceptualLocal: 0, Identity: 0, Adv: 0.5),
            Discriminator = new DiscriminatorConfig(Width: 16, Layers: 2, FeatureMatching: 1, SpectralNorm: true, R1: 1, R1Every: 2, Scales: 2),
        };
        var meta = new Dictionary<string, string>();
        var terms = new HashSet<string>();
        var first = new Trainer(set, encoder.Value, cfg, Path.Combine(dir, "sharp-a.safetensors"), meta);
        using var straight = first.Run(false, s => { foreach (var k in s.Terms.Keys) terms.Add(k); });
        Assert.Superset(new HashSet<string> { "adv", "disc", "feature_matching", "r1" }, terms);

        var b = Path.Combine(dir, "sharp-b.safetensors");
        using (new Trainer(set, encoder.Value, cfg, b, meta) { MaxSteps = 4 }.Run(false)) { }
        var second = new Trainer(set, encoder.Value, cfg, b, meta);
        using var resumed = second.Run(true);
        Assert.Equal(0, first.SkippedSteps + second.SkippedSteps);

        var (ca, ma) = Safetensors.Read(first.CheckpointPath);
        var (cb, _) = Safetensors.Read(second.CheckpointPath);
        Assert.Contains(ca.Keys, k => k.StartsWith("ema."));
        Assert.Contains(ca.Keys, k => k.StartsWith("disc.") && k.EndsWith(".u"));
        Assert.Contains(ca.Keys, k => k.StartsWith("disc.coarser."));
        Assert.Contains(ca.Keys, k => k.EndsWith("noise_weight"));
        Assert.Equal(ca.Keys.Order(), cb.Keys.Order());
        foreach (var k in ca.Keys) Assert.Equal(ca[k].Data, cb[k].Data);
        // The noise weights moved off 0: the noise reaches the loss.
        Assert.Contains(ca.Keys.Where(k => k.StartsWith("blocks.") && k.EndsWith("noise_weight")), k => ca[k].Data.Any(v => v != 0));

        // The decoder file holds the average, not the live weights, and says it is a sharp decoder.
        var (file, fm) = Safetensors.Read(Path.Combine(dir, "sharp-a.safetensors"));
        Assert.Equal("sharp", fm["decoder_kind"]);
        var live = StateDict.ToHost(straight);
        var w = live.Keys.First(k => k.EndsWith("conv.weight"));
        Assert.Equal(ca["ema." + w].Data, file[w].Data);
        Assert.NotEqual(live[w].Data, file[w].Data);
        using (var l = DecoderFile.Load(Path.Combine(dir, "sharp-a.safetensors"))) Assert.Equal(2, l.Info.Config.NoiseBlocks);
        using (DecoderFile.Load(first.CheckpointPath)) { }
        Assert.Equal("sharp", ma["decoder_kind"]);
        Assert.Equal("8", ma["ema_updates"]);
        Assert.True(File.Exists(Path.Combine(first.SamplesDir, "epoch-001-step-0003.png")), "a sample sheet at each mid-epoch checkpoint");
    }

    [Fact]
    public void RegressionRunsKeepTheirFingerprintAndKind()
    {
        // A run without the new settings fingerprints as before (no "Ema", no noise) and calls itself a regression decoder.
        var cfg = new TrainConfig { Epochs = 1, Batch = 4, Decoder = Tiny, Loss = new LossWeights(Identity: 0) };
        Assert.DoesNotContain("Ema", cfg.Fingerprint());
        Assert.DoesNotContain("Noise", cfg.Fingerprint());
        Assert.Contains("\"Ema\":0.999", (cfg with { Ema = 0.999 }).Fingerprint());
        var p = Path.Combine(dir, "reg.safetensors");
        using (new Trainer(Faces(), encoder.Value, cfg, p, new Dictionary<string, string>()).Run(false)) { }
        Assert.Equal("regression", Safetensors.Read(p).Metadata["decoder_kind"]);
    }

    [Fact]
    public void RecomputedNormsMakeEvalModeDrawAsTrainingMode()
    {
        var set = Faces(); // the shared encoder and faces, made outside this test's dispose scope
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(4);
        using var dec = new FaceDecoder(Tiny);
        var batch = torch.randn(64, 128);
        dec.train();
        torch.Tensor drawn;
        using (torch.no_grad()) drawn = dec.forward(batch);       // batch statistics
        var weights = dec.parameters().Select(p => p.detach().clone()).ToList();
        dec.eval();
        double before;
        using (torch.no_grad()) before = (dec.forward(batch) - drawn).abs().mean().item<float>();
        dec.RecomputeNorms([batch], 0);
        Assert.False(dec.training);
        double after;
        using (torch.no_grad()) after = (dec.forward(batch) - drawn).abs().mean().item<float>();
        // One batch measured: eval mode then normalises with that batch's statistics (running variance unbiased, 64/63).
        Assert.True(before > 5 && after < 0.5, $"mean |eval − train| before {before:F3}, after {after:F3} levels");
        Assert.All(dec.parameters().Zip(weights), p => Assert.True(p.First.eq(p.Second).all().item<bool>()));
        Assert.All(dec.modules().OfType<Dfd.Core.BatchNorm>(), n => Assert.Equal(0.1, n.Momentum));
        Assert.Throws<ArgumentException>(() => dec.RecomputeNorms([], 0));

        // In training: the file holds the same averaged weights with or without --ema-norms, and other statistics.
        var cfg = new TrainConfig { Epochs = 1, Batch = 4, Decoder = Tiny, Loss = new LossWeights(Identity: 0), Ema = 0.9 };
        var (a, b) = (Path.Combine(dir, "norms-a.safetensors"), Path.Combine(dir, "norms-b.safetensors"));
        using (new Trainer(set, encoder.Value, cfg, a, new Dictionary<string, string>()).Run(false)) { }
        using (new Trainer(set, encoder.Value, cfg with { EmaNorms = true }, b, new Dictionary<string, string>()).Run(false)) { }
        Assert.Contains("\"EmaNorms\":true", (cfg with { EmaNorms = true }).Fingerprint());
        var (ta, tb) = (Safetensors.Read(a).Tensors, Safetensors.Read(b).Tensors);
        Assert.All(ta.Keys.Where(k => k.EndsWith(".weight") || k.EndsWith(".bias")), k => Assert.Equal(ta[k].Data, tb[k].Data));
        Assert.Contains(ta.Keys.Where(k => k.EndsWith("running_mean")), k => !ta[k].Data.SequenceEqual(tb[k].Data));
    }

    [Fact]
    public void FrozenBlocksKeepTheInitFilesWeights()
    {
        var set = Faces();
        var cfg = new TrainConfig { Epochs = 1, Batch = 4, Decoder = Tiny, Loss = new LossWeights(Identity: 0), Lr = 1e-2 };
        var a = Path.Combine(dir, "freeze-a.safetensors");
        using (new Trainer(set, encoder.Value, cfg, a, new Dictionary<string, string>()).Run(false)) { }
        var want = Safetensors.Read(a).Tensors;
        var frozen = cfg with { Init = a, FreezeBlocks = 2, Seed = 3 };
        Assert.Contains("\"FreezeBlocks\":2", frozen.Fingerprint());
        Assert.DoesNotContain("FreezeBlocks", cfg.Fingerprint());
        using var dec = new Trainer(set, encoder.Value, frozen, Path.Combine(dir, "freeze-b.safetensors"), new Dictionary<string, string>()).Run(false);
        var got = StateDict.ToHost(dec);
        // Weights below the frozen line are the file's to the bit; every weight above it moved.
        bool Below(string k) => k.StartsWith("project.") || k.StartsWith("projectNorm.") || k.StartsWith("blocks.0.") || k.StartsWith("blocks.1.");
        var weights = dec.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains(weights, Below);
        foreach (var k in weights)
            if (Below(k)) Assert.True(want[k].Data.SequenceEqual(got[k].Data), $"{k} changed");
            else Assert.False(want[k].Data.SequenceEqual(got[k].Data), $"{k} did not train");
        Assert.Throws<ArgumentException>(() => new Trainer(set, encoder.Value, cfg with { FreezeBlocks = 1 }, Path.Combine(dir, "freeze-c.safetensors"), new Dictionary<string, string>()).Run(false));
        Assert.Throws<ArgumentException>(() => dec.Freeze(Tiny.BlockWidths.Length + 1));
    }

    [Fact]
    public void WarmStartIntoANewTopTakesWhatFits()
    {
        var set = Faces();
        var cfg = new TrainConfig { Epochs = 1, Batch = 4, Decoder = Tiny, Loss = new LossWeights(Identity: 0) };
        var a = Path.Combine(dir, "top-a.safetensors");
        using (new Trainer(set, encoder.Value, cfg, a, new Dictionary<string, string>()).Run(false)) { }
        var want = Safetensors.Read(a).Tensors;
        var events = new List<string>();
        // Noise in the last block and a wider last block: its conv and BN are widened from the file's, the RGB head
        // takes the new channels at weight 0, so the decoder starts out drawing exactly the file's faces.
        var top = cfg with { Init = a, Decoder = Tiny with { Widths = [32, 16, 24], NoiseBlocks = 1 } };
        using var dec = new Trainer(set, encoder.Value, top, Path.Combine(dir, "top-b.safetensors"), new Dictionary<string, string>()) { MaxSteps = 0 }
            .Run(false, s => { if (s.Event != null) events.Add(s.Event); });
        var got = StateDict.ToHost(dec);
        foreach (var k in got.Keys.Where(k => k.StartsWith("project.") || k.StartsWith("blocks.0.") || k.StartsWith("blocks.1.")))
            Assert.Equal(want[k].Data, got[k].Data);
        Assert.Equal(new long[] { 24, 16, 3, 3 }, got["blocks.2.conv.weight"].Shape);
        var note = Assert.Single(events, e => e.StartsWith("warm start"));
        Assert.Contains("widened from it: ", note);
        Assert.Contains("blocks.2.conv.weight [16,16,3,3]→[24,16,3,3]", note);
        Assert.Contains("toRgb.weight [3,16,1,1]→[3,24,1,1]", note);
        Assert.Contains("new: blocks.2.noise_weight", note);
        using var old = DecoderFile.Load(a);
        var t = set.Templates.Take(3).ToList();
        var x = old.Decoder.Reconstruct(t);
        var y = dec.Reconstruct(t);
        for (int i = 0; i < 3; i++)
            Assert.True(x[i].Data.Zip(y[i].Data).All(p => Math.Abs(p.First - p.Second) <= 1), $"face {i}: the widened decoder draws another face");
        // Grow itself: outputs repeat, inputs are zero.
        using var scope = torch.NewDisposeScope();
        var g = Trainer.Grow(torch.tensor(new[] { 0f, 1f, 2f, 3f }).view(2, 2), [3, 3]);
        Assert.Equal(new float[] { 0, 1, 0, 2, 3, 0, 0, 1, 0 }, g.data<float>().ToArray());
    }
}
