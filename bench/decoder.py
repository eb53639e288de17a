#!/usr/bin/python3
"""The Dfd face decoder and its training loss in plain PyTorch, for benchmarking against the TorchSharp originals.

Mirrors, op for op:
  - src/Dfd/Decoder/FaceDecoder.cs (DecoderConfig defaults at 128-D / 150x150: linear -> BN1d -> LeakyReLU(0.2) ->
    5x5x256 map; five [nearest x2, conv3x3 (no bias), BN, LeakyReLU(0.2), residual refinement in the first two] blocks
    of widths 256,128,64,32,16; 1x1 conv to RGB; sigmoid*255; centre crop 160 -> 150; templates L2-normalised first);
    module and parameter names are the same, so the TorchSharp weights load with strict=True;
  - src/Dfd/Training/Losses.cs DecoderLoss.Compute with the LossWeights defaults (pixel L1 global + inner-face local,
    1-SSIM (11x11 Gaussian sigma 1.5, valid, population moments), Sobel L1 global + local, identity 1-cos through the
    frozen dlib-resnet of bench/dlib_resnet.py; perceptual terms are 0 by default and not built here);
  - the per-step work of src/Dfd/Training/Trainer.cs: forward (train mode), loss, finite-loss check, zero_grad,
    backward, finite-gradient check, Adam step (torch.optim.Adam, single-tensor loop, same betas/eps), .item() of
    every term;
  - with --adv W, the adversarial term as well (src/Dfd/Training/Adversarial.cs and Augmentation.cs, the
    DiscriminatorConfig defaults): PatchDiscriminator (three stride-2 4x4 convs 32/64/128 wide, LeakyReLU(0.2), 3x3
    head to one logit map; same parameter names), hinge loss, DiffAugment (colour, translation, cutout) drawing from
    a port of .NET's seeded System.Random with the trainer's seeds, so both sides augment alike; the generator term
    on D's view of the augmented reconstruction, then one D update (augmented real and detached fake, backward,
    torch.optim.Adam(betas=(0.5, 0.999))). Timed as "kind": "train-adv" after the plain step.

Prints one JSON line per measurement ({"impl": "pytorch", "kind": train|recon|data|profile-*, ...}), notes on stderr.
Run through bench/decoder.sh, which puts it side by side with `Dfd.Bench --decoder` (bench/Dfd.Bench/DecoderBench.cs).
With --csharp-dump DIR it first loads the TorchSharp decoder's weights and compares outputs, loss terms and
gradients on the same seeded batch, then times from those weights; with --adv also the discriminator's (augmented
inputs, logits, the adversarial term, its gradient through DiffAugment + D and through the decoder, D's loss,
gradients and updated weights).
"""
import argparse
import glob
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlib_resnet import WEIGHTS, DlibResNet, read_safetensors  # noqa: E402

EXPECTED_PARAMETERS = 3_297_043  # DecoderBench.ExpectedParameters; FaceDecoder.ParameterCount for the defaults
# The C# models' state-dict names and shapes (bench/Dfd.Bench/DecoderShapes.cs writes it; a C# test keeps it equal to
# FaceDecoder and PatchDiscriminator). This file copies them by hand, so it checks itself against them first.
SHAPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "decoder-shapes.json")


def shape_mismatches(expected, models):
    """Every difference between the C# state dicts in `expected` (decoder-shapes.json) and these models', one line each."""
    out = []
    for what, model in models.items():
        want = {k: list(v) for k, v in expected[what]["state"].items()}
        have = {k: list(v.shape) for k, v in model.state_dict().items()}
        out += [f"{what}: {k} {want[k]} is missing here" for k in want if k not in have]
        out += [f"{what}: {k} {have[k]} is here, not in C#" for k in have if k not in want]
        out += [f"{what}: {k} is {have[k]} here, {want[k]} in C#" for k in want if k in have and have[k] != want[k]]
        n = sum(p.numel() for p in model.parameters())
        if n != expected[what]["parameters"]:
            out.append(f"{what}: {n} parameters here, {expected[what]['parameters']} in C#")
    return out


def check_shapes(path, dec, where):
    """Stops the run, saying what differs, unless the decoder and discriminator here have the C# side's shapes."""
    if not os.path.exists(path):
        raise SystemExit(f"decoder.py: {path} not found ({where}): the C# side's shapes are what this copy is checked against")
    with open(path) as f:
        expected = json.load(f)
    with torch.random.fork_rng():  # a throwaway discriminator for its shapes; the seeds of the run stay as they are
        bad = shape_mismatches(expected, {"decoder": dec, "discriminator": PatchDiscriminator()})
    if bad:
        raise SystemExit(f"decoder.py: the C# decoder or discriminator changed shape ({where}, {path}): " + "; ".join(bad)
                         + ". bench/decoder.py mirrors src/Dfd/Decoder/FaceDecoder.cs and src/Dfd/Training/Adversarial.cs by hand:"
                         " change its FaceDecoder / PatchDiscriminator to match before comparing or timing anything.")
    print(f"# shapes: decoder and discriminator state dicts as {where} ({len(expected['decoder']['state'])} + "
          f"{len(expected['discriminator']['state'])} tensors)", file=sys.stderr)

# ---------------------------------------------------------------------------------------------------------------------
# Decoder (FaceDecoder.cs)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.n1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.n2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.leaky_relu(x + self.n2(self.c2(F.leaky_relu(self.n1(self.c1(x)), 0.2))), 0.2)


class UpBlock(nn.Module):
    def __init__(self, cin, cout, refine):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.refine = nn.ModuleList([Residual(cout) for _ in range(refine)])

    def up(self, x):
        x = F.interpolate(x, scale_factor=(2.0, 2.0), mode="nearest")
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)

    def forward(self, x):
        x = self.up(x)
        for r in self.refine:
            x = r(x)
        return x


class FaceDecoder(nn.Module):
    def __init__(self, template_dim=128, out_w=150, out_h=150, widths=(256, 128, 64, 32, 16), start_width=256,
                 refine_blocks=1, refine_depth=2):
        super().__init__()
        self.out_w, self.out_h, self.start_width = out_w, out_h, start_width
        self.widths = list(widths)
        self.start = math.ceil(max(out_w, out_h) / 2 ** len(widths))
        s = self.start
        self.project = nn.Linear(template_dim, start_width * s * s)
        self.projectNorm = nn.BatchNorm1d(start_width * s * s)
        blocks, cin = [], start_width
        for w in widths:
            blocks.append(UpBlock(cin, w, refine_blocks if len(blocks) < refine_depth else 0))
            cin = w
        self.blocks = nn.ModuleList(blocks)
        self.toRgb = nn.Conv2d(cin, 3, 1)

    def head(self, x):
        x = torch.sigmoid(self.toRgb(x)) * 255.0
        oy, ox = (x.shape[2] - self.out_h) // 2, (x.shape[3] - self.out_w) // 2
        if oy or ox:
            x = x[:, :, oy:oy + self.out_h, ox:ox + self.out_w]
        return x

    def project_(self, t):
        z = F.normalize(t, p=2, dim=1)
        return F.leaky_relu(self.projectNorm(self.project(z)), 0.2).view(-1, self.start_width, self.start, self.start)

    def forward(self, t):
        x = self.project_(t)
        for b in self.blocks:
            x = b(x)
        return self.head(x)

    def stages(self):
        """forward() cut into the same stages as DecoderBench.Stages: (name, fn, parameters)."""
        s, cin = self.start, self.start_width
        out = [(f"project: L2-normalise, linear {self.project.in_features}->{self.start_width}x{s}x{s}, BN1d, LeakyReLU",
                self.project_, list(self.project.parameters()) + list(self.projectNorm.parameters()))]
        for i, b in enumerate(self.blocks):
            cout = self.widths[i]
            s *= 2
            out.append((f"up{i}: nearest x2, conv3x3 {cin}->{cout}, BN, LeakyReLU @{s}x{s}", b.up,
                        list(b.conv.parameters()) + list(b.norm.parameters())))
            for r, res in enumerate(b.refine):
                out.append((f"res{i}.{r}: 2x (conv3x3 {cout}->{cout}, BN), add, LeakyReLU @{s}x{s}", res, list(res.parameters())))
            cin = cout
        out.append((f"head: conv1x1 {cin}->3, sigmoid*255, crop {s}->{self.out_w}", self.head, list(self.toRgb.parameters())))
        return out


# ---------------------------------------------------------------------------------------------------------------------
# Loss (Losses.cs)

# dlib mean face shape, the points Box.InnerFace uses (AlignmentTemplate.Dlib: eye centres 36-41 / 42-47, nose tip 30,
# mouth corners 48 / 54), unit frame; from src/Dfd/Imaging/Alignment.cs (index = point - 17).
_DLIB_X = {30: 0.490127, 36: 0.121737, 37: 0.187122, 38: 0.265825, 39: 0.334606, 40: 0.260918, 41: 0.182743,
           42: 0.645647, 43: 0.714428, 44: 0.793132, 45: 0.858516, 46: 0.79751, 47: 0.719335, 48: 0.254149, 54: 0.726104}
_DLIB_Y = {30: 0.515625, 36: 0.216423, 37: 0.178758, 38: 0.179852, 39: 0.231733, 40: 0.245099, 41: 0.244077,
           42: 0.231733, 43: 0.179852, 44: 0.178758, 45: 0.216423, 46: 0.244077, 47: 0.245099, 48: 0.780233, 54: 0.780233}


def inner_face_box(size=150, padding=0.25, margin=0.3):
    """Box.InnerFace(AlignmentTemplate.Dlib(150, 0.25)) in float32 as the C# computes it: (x0, y0, x1, y1)."""
    f = np.float32

    def mean(a, b):
        return (f(sum(f(_DLIB_X[i]) for i in range(a, b + 1)) / f(b - a + 1)),
                f(sum(f(_DLIB_Y[i]) for i in range(a, b + 1)) / f(b - a + 1)))
    unit = [mean(36, 41), mean(42, 47), (f(_DLIB_X[30]), f(_DLIB_Y[30])), (f(_DLIB_X[48]), f(_DLIB_Y[48])),
            (f(_DLIB_X[54]), f(_DLIB_Y[54]))]
    k = f(size / (1 + 2 * padding))
    pts = [((x + f(padding)) * k, (y + f(padding)) * k) for x, y in unit]
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    mx, my = (x1 - x0) * f(margin), (y1 - y0) * f(margin)
    return (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(size, math.ceil(x1 + mx)), min(size, math.ceil(y1 + my)))


def ssim_window(sigma=1.5, truncate=3.5):
    r = int(truncate * sigma + 0.5)
    w = [math.exp(-0.5 * i * i / (sigma * sigma)) for i in range(-r, r + 1)]
    s = sum(w)
    return torch.tensor([v / s for v in w], dtype=torch.float32)


DEFAULT_WEIGHTS = dict(pixel=1.0, pixel_local=1.0, sobel=0.5, sobel_local=0.5, identity=0.5, ssim=0.5)


class DecoderLoss:
    """DecoderLoss.Compute for the default LossWeights (L1 pixel, no perceptual terms); terms in the C# order."""

    def __init__(self, encoder, box, weights=None):
        self.encoder, self.box = encoder, box
        self.w = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.g = ssim_window()

    def crop(self, x):
        x0, y0, x1, y1 = self.box
        return x[:, :, y0:y1, x0:x1]

    def ssim(self, a, b):
        g = self.g
        k, c = g.shape[0], a.shape[1]
        gx = g.view(1, 1, 1, k).repeat(c, 1, 1, 1)
        gy = g.view(1, 1, k, 1).repeat(c, 1, 1, 1)

        def blur(x):
            return F.conv2d(F.conv2d(x, gx, groups=c), gy, groups=c)
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        ua, ub = blur(a), blur(b)
        uaa, ubb, uab = ua * ua, ub * ub, ua * ub
        va = blur(a * a) - uaa
        vb = blur(b * b) - ubb
        cov = blur(a * b) - uab
        m = (2 * uab + c1) * (2 * cov + c2) / ((uaa + ubb + c1) * (va + vb + c2))
        return m.mean()

    @staticmethod
    def sobel(x):
        kx = torch.tensor([-1, 0, 1, -2, 0, 2, -1, 0, 1], dtype=torch.float32).view(1, 1, 3, 3) / 4.0
        ky = kx.transpose(2, 3)
        k = torch.cat([kx, ky], 0).repeat(3, 1, 1, 1)
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), k, groups=3)

    def __call__(self, recon, target, target_templates):
        w, terms = self.w, {}
        r, t = recon / 255.0, target / 255.0
        if w["pixel"] > 0:
            terms["pixel"] = (r - t).abs().mean() * w["pixel"]
        if w["pixel_local"] > 0:
            terms["pixel_local"] = (self.crop(r) - self.crop(t)).abs().mean() * w["pixel_local"]
        if w["ssim"] > 0:
            terms["ssim"] = (1 - self.ssim(r, t)) * w["ssim"]
        if w["sobel"] > 0 or w["sobel_local"] > 0:
            gr, gt = self.sobel(r), self.sobel(t)
            if w["sobel"] > 0:
                terms["sobel"] = (gr - gt).abs().mean() * w["sobel"]
            if w["sobel_local"] > 0:
                terms["sobel_local"] = (self.crop(gr) - self.crop(gt)).abs().mean() * w["sobel_local"]
        if w["identity"] > 0:
            rt = self.encoder(recon)
            terms["identity"] = (1 - F.cosine_similarity(rt, target_templates, dim=1)).mean() * w["identity"]
        total = None
        for v in terms.values():
            total = v if total is None else total + v
        return total, terms


# ---------------------------------------------------------------------------------------------------------------------
# Adversarial term (Adversarial.cs, Augmentation.cs DiffAugment, Trainer.AugmentSeed)

class NetRandom:
    """.NET's System.Random(seed) (the seeded, Net5-compatible subtractive generator), for DiffAugment's draws."""
    MAX = 2147483647

    def __init__(self, seed):
        a = [0] * 56
        mj = 161803398 - (self.MAX if seed == -2147483648 else abs(seed))
        a[55] = mj
        mk, ii = 1, 0
        for i in range(1, 55):
            ii += 21
            if ii >= 55:
                ii -= 55
            a[ii] = mk
            mk = mj - mk
            if mk < 0:
                mk += self.MAX
            mj = a[ii]
        for _ in range(1, 5):
            for i in range(1, 56):
                n = i + 30
                if n >= 55:
                    n -= 55
                a[i] -= a[1 + n]
                if a[i] < 0:
                    a[i] += self.MAX
        self.a, self.inext, self.inextp = a, 0, 21

    def _sample(self):
        i, j = self.inext + 1, self.inextp + 1
        if i >= 56:
            i = 1
        if j >= 56:
            j = 1
        r = self.a[i] - self.a[j]
        if r == self.MAX:
            r -= 1
        if r < 0:
            r += self.MAX
        self.a[i], self.inext, self.inextp = r, i, j
        return r * (1.0 / self.MAX)

    def next_double(self):
        return self._sample()

    def next(self, lo, hi=None):
        """Next(max) or Next(min, max): an int in [lo, hi)."""
        if hi is None:
            lo, hi = 0, lo
        return int(self._sample() * (hi - lo)) + lo


def augment_seed(seed, step, which):
    """Trainer.AugmentSeed: unchecked 32-bit wrap of seed * 1_000_003 + step * 31 + which."""
    v = (seed * 1_000_003 + step * 31 + which) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def diff_augment(x, rng, colour=True, translation=True, cutout=True):
    """DiffAugment.Apply, op for op, the draws in the same order."""
    n, _, h, w = x.shape
    y = x / 255.0

    def per_sample(draw):
        return torch.tensor([draw() for _ in range(n)], dtype=torch.float32).view(n, 1, 1, 1)
    if colour:
        y = y + per_sample(lambda: rng.next_double() - 0.5)
        grey = y.mean(dim=1, keepdim=True)
        y = (y - grey) * per_sample(lambda: rng.next_double() * 2)
        y = y + grey
        mean = y.mean(dim=[1, 2, 3], keepdim=True)
        y = (y - mean) * per_sample(lambda: rng.next_double() + 0.5)
        y = y + mean
    if translation:
        theta = np.zeros((n, 2, 3), dtype=np.float32)
        for i in range(n):
            dx, dy = rng.next(-(w // 8), w // 8 + 1), rng.next(-(h // 8), h // 8 + 1)
            theta[i, 0, 0], theta[i, 0, 2] = 1, np.float32(-2) * np.float32(dx) / np.float32(w)
            theta[i, 1, 1], theta[i, 1, 2] = 1, np.float32(-2) * np.float32(dy) / np.float32(h)
        grid = F.affine_grid(torch.from_numpy(theta), [n, 3, h, w], align_corners=False)
        y = F.grid_sample(y, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if cutout:
        mask = np.ones((n, 1, h, w), dtype=np.float32)
        ch, cw = h // 2, w // 2
        for i in range(n):
            cy, cx = rng.next(h) - ch // 2, rng.next(w) - cw // 2
            mask[i, 0, max(0, cy):min(h, cy + ch), max(0, cx):min(w, cx + cw)] = 0
        y = y * torch.from_numpy(mask)
    return y * 255.0


class PatchDiscriminator(nn.Module):
    """Adversarial.cs PatchDiscriminator with the DiscriminatorConfig defaults; hinge loss; no feature matching."""

    def __init__(self, width=32, layers=3):
        super().__init__()
        convs, cin = [], 3
        for i in range(layers):
            cout = width << min(i, 3)
            convs.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1))
            cin = cout
        self.convs = nn.ModuleList(convs)
        self.head = nn.Conv2d(cin, 1, 3, padding=1)
        self.lr = 2e-4

    def forward(self, rgb255):
        x = rgb255 / 127.5 - 1.0
        outs = []
        for c in self.convs:
            x = F.leaky_relu(c(x), 0.2)
            outs.append(x)
        outs.append(self.head(x))
        return outs

    @staticmethod
    def generator_loss(fake):
        return -fake.mean()

    @staticmethod
    def discriminator_loss(real, fake):
        return F.relu(1.0 - real).mean() + F.relu(fake + 1.0).mean()

    def add_generator_terms(self, recon, weight, seed, total, terms):
        """PatchDiscriminator.AddGeneratorTerms (feature matching is off by default)."""
        fake = self(diff_augment(recon, NetRandom(seed)))
        terms["adv"] = self.generator_loss(fake[-1]) * weight
        return total + terms["adv"]

    def update(self, opt, fake, real, seed_real, seed_fake):
        """PatchDiscriminator.Update: one Adam step on augmented real and detached fake; returns D's loss."""
        opt.zero_grad(set_to_none=True)
        on_real = self(diff_augment(real, NetRandom(seed_real)))[-1]
        on_fake = self(diff_augment(fake, NetRandom(seed_fake)))[-1]
        loss = self.discriminator_loss(on_real, on_fake)
        loss.backward()
        if gradients_finite(self):
            opt.step()
        return loss.detach()


def disc_adam(disc):
    return torch.optim.Adam(disc.parameters(), lr=disc.lr, betas=(0.5, 0.999), eps=1e-8, foreach=False)


def gradients_finite(model):
    acc = None
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                acc = p.grad.abs().sum() if acc is None else acc + p.grad.abs().sum()
    return acc is None or math.isfinite(acc.item())


# ---------------------------------------------------------------------------------------------------------------------
# Timing helpers (same fields as Dfd.Bench --decoder)

def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def time_steps(f, warmup, iters, repeats):
    for _ in range(warmup):
        f()
    cpu0 = time.process_time()
    flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    rep = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            f()
        rep.append((time.perf_counter() - t0) * 1000 / iters)
    cpu = (time.process_time() - cpu0) * 1000 / (iters * repeats)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0) / (iters * repeats)
    return rep, cpu, faults


def emit(kind, batch, iters, repeats, rep, cpu, faults, **extra):
    med = statistics.median(rep)
    d = {"impl": "pytorch", "version": torch.__version__, "kind": kind, "threads": torch.get_num_threads(), "batch": batch,
         "iters": iters, "repeats": repeats, "images_per_s": round(batch * 1000 / med, 3), "ms_per_batch": round(med, 3),
         "ms_per_batch_min": round(min(rep), 3), "ms_per_batch_max": round(max(rep), 3),
         "cpu_ms_per_batch": round(cpu, 3), "minor_faults_per_batch": round(faults, 1), "loadavg": loadavg()}
    d.update(extra)
    print(json.dumps(d), flush=True)
    return med


# ---------------------------------------------------------------------------------------------------------------------
# Cross-check against the TorchSharp dump

def worst_gradient(module, tensors, key):
    """The parameter whose gradient is furthest from the dump's out.KEY.*, and by how much, relative."""
    refs = {k[len(key) + 5:]: v for k, v in tensors.items() if k.startswith(f"out.{key}.")}
    # Relative to the parameter's own largest gradient, floored at 1e-3 of the largest anywhere: project.bias
    # feeds BatchNorm1d in train mode, so its true gradient is 0 and both sides hold rounding noise (~1e-7).
    floor = 1e-3 * max(v.abs().max().item() for v in refs.values())
    gw, gname = 0.0, ""
    for k, p in module.named_parameters():
        ref = refs[k].reshape(p.shape)
        rel = (p.grad - ref).abs().max().item() / max(ref.abs().max().item(), floor)
        if rel > gw:
            gw, gname = rel, k
    return gw, gname


def check_csharp(dec, loss, dump_dir, tol_recon, tol_loss, tol_grad_img, tol_grad):
    tensors, meta = read_safetensors(os.path.join(dump_dir, "decoder-check.safetensors"))
    ok = True
    n_cs = int(meta["parameters"])
    box_cs = tuple(int(v) for v in meta["box"].split(","))
    msgs = [f"parameters {n_cs} (C#) vs {sum(p.numel() for p in dec.parameters())} (here)",
            f"inner-face box {box_cs} (C#) vs {loss.box} (here)"]
    ok &= n_cs == sum(p.numel() for p in dec.parameters()) and box_cs == tuple(loss.box)
    state = {k[4:]: v for k, v in tensors.items() if k.startswith("dec.")}
    own = dec.state_dict()
    for k in own:  # num_batches_tracked is int64 here; the C# file stores every tensor as float32
        if k in state:
            state[k] = state[k].to(own[k].dtype).reshape(own[k].shape)
    dec.load_state_dict(state, strict=True)
    x, t = tensors["in.images"], tensors["in.templates"]
    dec.eval()
    with torch.no_grad():
        d = (dec(t) - tensors["out.recon_eval"]).abs().max().item()
    msgs.append(f"eval reconstruction max abs diff {d:.2e} (0..255, tol {tol_recon:g})")
    ok &= d <= tol_recon
    dec.train()
    recon = dec(t)
    d = (recon - tensors["out.recon_train"]).abs().max().item()
    msgs.append(f"train-mode reconstruction max abs diff {d:.2e}")
    ok &= d <= tol_recon
    total, terms = loss(recon, x, t)
    terms = dict(terms, total=total)
    worst = 0.0
    for k, v in terms.items():
        ref = tensors["out.loss." + k].item()
        worst = max(worst, abs(v.item() - ref) / max(abs(ref), 1e-6))
    missing = sorted(set(k[9:] for k in tensors if k.startswith("out.loss.")) ^ set(terms))
    msgs.append(f"loss terms {','.join(terms)}: max rel diff {worst:.2e} (tol {tol_loss:g})"
                + (f"; terms on one side only: {missing}" if missing else ""))
    ok &= worst <= tol_loss and not missing
    # Gradients twice: of the image terms alone (tight), and of the full loss (loose: float32 rounding in the
    # dlib-resnet backward moves the identity term's gradient by ~0.5% in either library, against a float64 run).
    img_loss = DecoderLoss(loss.encoder, loss.box, dict(loss.w, identity=0.0))
    for key, tol, lossfn in (("grad_img", tol_grad_img, img_loss), ("grad", tol_grad, loss)):
        dec.zero_grad(set_to_none=True)
        lossfn(dec(t), x, t)[0].backward()
        gw, gname = worst_gradient(dec, tensors, key)
        what = "image terms" if key == "grad_img" else "full loss"
        msgs.append(f"gradients ({what}): worst max|diff| / max|grad| {gw:.2e} ({gname}; tol {tol:g})")
        ok &= gw <= tol
    dec.zero_grad(set_to_none=True)
    print(f"# pytorch vs TorchSharp decoder on the dumped seeded batch ({x.shape[0]} images): " + "; ".join(msgs)
          + (" OK" if ok else " FAIL"), file=sys.stderr)
    return ok


def check_adversarial(dec, disc, opt_d, weight, dump_dir, tol_aug, tol_adv, tol_adv_grad, tol_grad):
    """The adversarial term's first step on the dumped batch: TorchSharp's fresh D weights, the trainer's step-0 seeds."""
    tensors, meta = read_safetensors(os.path.join(dump_dir, "decoder-check.safetensors"))
    if "adv_seeds" not in meta:
        print("# FAIL: the TorchSharp dump holds no discriminator (Dfd.Bench --decoder --dump needs --adv too)", file=sys.stderr)
        return False
    seeds = [int(v) for v in meta["adv_seeds"].split(",")]
    w_cs = float(meta["adv_weight"])
    msgs = [f"weight {w_cs:g} (C#) vs {weight:g}, seeds {seeds} (C#) vs {[augment_seed(1, 0, k) for k in range(3)]}"]
    ok = w_cs == weight and seeds == [augment_seed(1, 0, k) for k in range(3)]
    own = disc.state_dict()
    disc.load_state_dict({k[5:]: v.reshape(own[k[5:]].shape) for k, v in tensors.items() if k.startswith("disc.")}, strict=True)
    before = {k: v.detach().clone() for k, v in disc.named_parameters()}
    x, t = tensors["in.images"], tensors["in.templates"]

    def rel(a, b):
        return (a - b).abs().max().item() / max(b.abs().max().item(), 1e-30)
    dec.train()
    recon = dec(t)
    recon_cs = tensors["out.adv.recon"].reshape(recon.shape)
    with torch.no_grad():
        # D alone, on TorchSharp's own augmented inputs: the network, to float rounding.
        d_only = max(rel(disc(tensors[f"out.adv.aug_{k}"])[-1], tensors[f"out.adv.logits_{k}"]) for k in ("fake", "real_d", "fake_d"))
        # DiffAugment here on the same images and draws: the real batch is the same input on both sides, the fake
        # batches carry the reconstructions' own difference (within the decoder check's tolerance) along.
        augs = {"fake": diff_augment(recon, NetRandom(seeds[0])), "real_d": diff_augment(x, NetRandom(seeds[1])),
                "fake_d": diff_augment(recon, NetRandom(seeds[2]))}
        aug_diff = {k: (v - tensors[f"out.adv.aug_{k}"]).abs().max().item() for k, v in augs.items()}
        logit_diff = max(rel(disc(v)[-1], tensors[f"out.adv.logits_{k}"]) for k, v in augs.items())
    msgs.append(f"D logits on TorchSharp's augmented inputs max rel diff {d_only:.2e}")
    msgs.append(f"DiffAugment max abs diff real {aug_diff['real_d']:.2e}, fake {max(aug_diff['fake'], aug_diff['fake_d']):.2e} "
                f"(0..255, tol {tol_aug:g}); D logits on own augmentations max rel diff {logit_diff:.2e}")
    ok &= d_only <= tol_adv and max(aug_diff.values()) <= tol_aug and logit_diff <= tol_adv
    terms = {}
    disc.add_generator_terms(recon, weight, seeds[0], torch.zeros(1), terms)
    adv_diff = rel(terms["adv"].detach().reshape(1), tensors["out.adv.term"])
    msgs.append(f"adv term {terms['adv'].item():.5f} vs {tensors['out.adv.term'].item():.5f} (rel diff {adv_diff:.2e}, tol {tol_adv:g})")
    ok &= adv_diff <= tol_adv
    # The term's gradient in two halves, each on the same inputs on both sides. D's input gradient is discontinuous
    # (LeakyReLU): a D unit whose pre-activation lies within float32 rounding of 0 takes the other slope in one
    # library, which changes the gradient by ~1% over that unit's receptive field (22x22 pixels at layer 3), and the
    # decoder's gradients by a few %, whichever library is off float64. So: (1) DiffAugment + D backward on
    # TorchSharp's reconstruction, by the relative L2 norm of the difference; (2) the decoder's backward of
    # TorchSharp's gradient at the reconstruction. The end-to-end difference is reported, not checked.
    g_cs = tensors["out.adv.grad_recon"].reshape(recon.shape)
    r = recon_cs.clone().requires_grad_(True)
    t2 = {}
    disc.add_generator_terms(r, weight, seeds[0], torch.zeros(1), t2)
    g_here = torch.autograd.grad([t2["adv"]], [r])[0]
    l2 = ((g_here - g_cs).norm() / g_cs.norm()).item()
    off = ((g_here - g_cs).abs() > 1e-3 * g_cs.abs().max()).float().mean().item()
    dec.zero_grad(set_to_none=True)
    dec(t).backward(g_cs)
    gw_dec, gname_dec = worst_gradient(dec, tensors, "grad_adv")
    dec.zero_grad(set_to_none=True)
    disc.zero_grad(set_to_none=True)
    terms["adv"].backward()
    gw, gname = worst_gradient(dec, tensors, "grad_adv")
    dec.zero_grad(set_to_none=True)
    msgs.append(f"its gradient at TorchSharp's reconstruction (DiffAugment + D backward): |diff| / |grad| {l2:.2e} (L2, tol {tol_adv_grad:g}; "
                f"max rel {rel(g_here, g_cs):.2e}, {100 * off:.2f}% of pixels off by > 1e-3 of the largest); decoder backward of "
                f"TorchSharp's gradient: worst max|diff| / max|grad| {gw_dec:.2e} ({gname_dec}; tol {tol_grad:g}); end to end "
                f"(each side's own reconstruction and D backward, not checked): {gw:.2e} ({gname})")
    ok &= l2 <= tol_adv_grad and gw_dec <= tol_grad
    dloss = disc.update(opt_d, recon.detach(), x, seeds[1], seeds[2])
    d_diff = rel(dloss.reshape(1), tensors["out.adv.disc_loss"])
    dw, dname = worst_gradient(disc, tensors, "grad_disc")
    # Adam's first step moves each weight by about lr·sign(gradient) on both sides: compare the moves, in units of lr.
    step_diff, step_name = 0.0, ""
    for k, p in disc.named_parameters():
        moved_cs = tensors["disc_after." + k].reshape(p.shape) - before[k]
        v = (p.detach() - before[k] - moved_cs).abs().max().item() / disc.lr
        if v > step_diff:
            step_diff, step_name = v, k
    disc.zero_grad(set_to_none=True)
    msgs.append(f"D loss {dloss.item():.5f} vs {tensors['out.adv.disc_loss'].item():.5f} (rel diff {d_diff:.2e}); "
                f"D gradients worst max|diff| / max|grad| {dw:.2e} ({dname}; tol {tol_grad:g}); "
                f"D weights after one Adam step: worst move difference {step_diff:.2e} lr ({step_name})")
    ok &= d_diff <= tol_adv and dw <= tol_grad
    print(f"# pytorch vs TorchSharp discriminator (adversarial term, first step) on the dumped seeded batch: " + "; ".join(msgs)
          + (" OK" if ok else " FAIL"), file=sys.stderr)
    return ok


# ---------------------------------------------------------------------------------------------------------------------
# Data: the equivalent of Trainer.Batch over the EncodedFaces arrays, in numpy

def synthetic_set(n, w=150, h=150, d=128):
    rng = np.random.default_rng(77)
    crops = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    return crops, rng.random((n, d), dtype=np.float32) - 0.5, rng.random((n, d), dtype=np.float32) - 0.5


def find_trainset():
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    files = sorted(glob.glob(os.path.join(xdg, "dfd", "trainsets", "dlib-resnet-*.json")), key=os.path.getsize, reverse=True)
    return files[0][:-len(".json")] if files else None


def load_trainset(base, limit):
    with open(base + ".json") as f:
        idx = json.load(f)
    n, w, h = len(idx["Files"]), idx["Width"], idx["Height"]
    if limit > 0:
        n = min(n, limit)
    crops = np.fromfile(base + ".crops.bin", dtype=np.uint8, count=n * w * h * 3).reshape(n, h, w, 3)
    t = np.load(base + ".templates.npy")
    return crops, np.ascontiguousarray(t[0:2 * n:2]), np.ascontiguousarray(t[1:2 * n:2])


def epoch_plan(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(n), rng.integers(0, 2, n).astype(bool)


def make_batch(crops, plain, mirror, idx, flips):
    f = flips[idx]
    imgs = crops[idx]                       # copy
    imgs[f] = imgs[f][:, :, ::-1]            # mirror the flipped ones (HWC: width is axis 2)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()   # NCHW float32 0..255, contiguous copy
    t = torch.from_numpy(np.where(f[:, None], mirror[idx], plain[idx]))
    return x, t


def time_data(source, data, batch, iters, repeats, **extra):
    crops, plain, mirror = data
    order, flips = epoch_plan(len(crops))
    steps, s = len(crops) // batch, [0]

    def one():
        i = s[0] % steps
        s[0] += 1
        make_batch(crops, plain, mirror, order[i * batch:(i + 1) * batch], flips)
    rep, cpu, faults = time_steps(one, 2, iters, repeats)
    med = emit("data", batch, iters, repeats, rep, cpu, faults, source=source, set_images=len(crops), **extra)
    print(f"# data ({source}, {len(crops)} images): {med:.2f} ms per batch of {batch} (cpu {cpu:.2f} ms)", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------------------
# Profile

def emit_profile(kind, batch, steps, a, b=None):
    d = {"impl": "pytorch", "kind": kind, "threads": torch.get_num_threads(), "batch": batch, "steps": steps,
         ("ms" if b is None else "forward_ms"): {k: round(v / steps, 2) for k, v in a.items()}}
    if b is not None:
        d["backward_ms"] = {k: round(v / steps, 2) for k, v in b.items()}
    print(json.dumps(d), flush=True)
    total = sum(a.values()) / steps + (sum(b.values()) / steps if b else 0)
    print(f"# pytorch {kind}, batch {batch}, mean of {steps} step(s), {total:.0f} ms in all:", file=sys.stderr)
    for k, v in a.items():
        print(f"#   {'' if b is None else 'fwd '}{k:<62} {v / steps:9.1f} ms {100 * v / steps / total:5.1f}%", file=sys.stderr)
    for k, v in (b or {}).items():
        print(f"#   bwd {k:<62} {v / steps:9.1f} ms {100 * v / steps / total:5.1f}%", file=sys.stderr)


def profile_phases(dec, loss, opt, x, t, batch, steps):
    crops, plain, mirror = synthetic_set(max(2 * batch, 64))
    order, flips = epoch_plan(len(crops))
    ms = {}
    for s in range(-1, steps):
        m = {} if s < 0 else ms
        lap = [time.perf_counter()]

        def add(k):
            now = time.perf_counter()
            m[k] = m.get(k, 0.0) + (now - lap[0]) * 1000
            lap[0] = now
        make_batch(crops, plain, mirror, order[:batch], flips)
        add("data: batch assembly (Trainer.Batch)")
        recon = dec(t)
        add("decoder forward")
        total, terms = loss(recon, x, t)
        add("loss forward (incl. dlib-resnet forward)")
        math.isfinite(total.item())
        opt.zero_grad(set_to_none=True)
        add("finite check + zero_grad")
        total.backward()
        add("backward (loss + dlib-resnet + decoder)")
        ok = gradients_finite(dec)
        add("gradient finite check")
        if ok:
            opt.step()
        add("optimizer step (Adam)")
        for v in terms.values():
            v.item()
        add("term .item()s")
    emit_profile("profile-phases", batch, steps, ms)


def profile_layers(dec, encoder, box, x, t, batch, steps):
    stages = dec.stages()
    img_w = dict(DEFAULT_WEIGHTS, identity=0.0)
    id_w = dict(pixel=0.0, pixel_local=0.0, sobel=0.0, sobel_local=0.0, ssim=0.0, identity=DEFAULT_WEIGHTS["identity"])
    img_loss, id_loss, full = DecoderLoss(encoder, box, img_w), DecoderLoss(encoder, box, id_w), DecoderLoss(encoder, box)
    with torch.no_grad():
        dec.eval()
        a = t
        for _, f, _ in stages:
            a = f(a)
        d = (a - dec(t)).abs().max().item()
        dec.train()
        split = abs((img_loss(a, x, t)[0] + id_loss(a, x, t)[0] - full(a, x, t)[0]).item())
    print(f"# profile: staged forward vs FaceDecoder.forward max abs diff {d:.2e}; image+identity loss split vs full loss {split:.2e}",
          file=sys.stderr)
    fwd, bwd = {}, {}
    for s in range(-1, steps):
        f_, b_ = ({}, {}) if s < 0 else (fwd, bwd)
        lap = [time.perf_counter()]

        def add(m, k):
            now = time.perf_counter()
            m[k] = m.get(k, 0.0) + (now - lap[0]) * 1000
            lap[0] = now
        acts = [t]
        for name, f, _ in stages:
            acts.append(f(acts[-1]))
            add(f_, name)
        recon = acts[-1]
        li = img_loss(recon, x, t)[0]
        add(f_, "loss: pixel + SSIM + Sobel (global + local)")
        lid = id_loss(recon, x, t)[0]
        add(f_, "loss: identity (dlib-resnet forward, 1-cos)")
        g1 = torch.autograd.grad([li], [recon])[0]
        add(b_, "loss: pixel + SSIM + Sobel (global + local)")
        g2 = torch.autograd.grad([lid], [recon])[0]
        add(b_, "loss: identity (dlib-resnet forward, 1-cos)")
        g = g1 + g2
        for k in range(len(stages) - 1, -1, -1):
            inputs = ([acts[k]] if k > 0 else []) + stages[k][2]
            grads = torch.autograd.grad([acts[k + 1]], inputs, [g])
            if k > 0:
                g = grads[0]
            add(b_, stages[k][0])
    emit_profile("profile-layers", batch, steps, fwd, bwd)


def profile_ops(step, batch, top):
    """torch.profiler over one full training step (after the others: warm); op table by self CPU time."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(labels=True)
    ka = prof.key_averages()
    print("# torch.profiler, one training step (self CPU time; the profiler adds overhead):", file=sys.stderr)
    for line in ka.table(sort_by="self_cpu_time_total", row_limit=top).splitlines():
        print("#   " + line, file=sys.stderr)
    rows = sorted(ka, key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in rows)
    print(json.dumps({"impl": "pytorch", "kind": "profile-ops", "threads": torch.get_num_threads(), "batch": batch,
                      "total_self_cpu_ms": round(total / 1000, 2),
                      "ops": [{"op": e.key, "count": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1000, 2),
                               "cpu_ms": round(e.cpu_time_total / 1000, 2)} for e in rows[:top]]}), flush=True)


# ---------------------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="training batch")
    ap.add_argument("--train-iters", type=int, default=3, help="timed training steps per repeat")
    ap.add_argument("--train-warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="report the median repeat")
    ap.add_argument("--recon-batches", default="1,32")
    ap.add_argument("--recon-iters", default="20,2")
    ap.add_argument("--recon-warmup", default="3,1")
    ap.add_argument("--data-iters", type=int, default=20)
    ap.add_argument("--trainset", default="auto", help="cached training set base path (…/dlib-resnet-KEY), auto, or none")
    ap.add_argument("--trainset-limit", type=int, default=0, help="read only the first N crops (0: all)")
    ap.add_argument("--parts", default="train,recon,data")
    ap.add_argument("--csharp-dump", help="folder where Dfd.Bench --decoder --dump wrote decoder-check.safetensors")
    ap.add_argument("--tol-recon", type=float, default=5e-2, help="max abs diff of reconstructions (0..255)")
    ap.add_argument("--tol-loss", type=float, default=1e-3, help="max relative diff of each loss term")
    ap.add_argument("--tol-grad-img", type=float, default=3e-2, help="max |grad diff| / max |grad| per parameter, image terms only (PyTorch 1.13 itself is ~1e-2 off a float64 run)")
    ap.add_argument("--tol-grad", type=float, default=5e-2, help="the same for the full loss (identity term included)")
    ap.add_argument("--adv", type=float, default=0.0, help="also time the step with the adversarial term at this weight (train-adv)")
    ap.add_argument("--tol-aug", type=float, default=0.5, help="max abs diff of DiffAugment outputs (0..255)")
    ap.add_argument("--tol-adv", type=float, default=1e-3, help="max relative diff of D logits, the adversarial term and D's loss")
    ap.add_argument("--tol-adv-grad", type=float, default=1e-2, help="|diff| / |grad| (L2) of the adversarial term's gradient at the reconstruction")
    ap.add_argument("--weights", default=WEIGHTS)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-steps", type=int, default=2)
    ap.add_argument("--profile-top", type=int, default=25, help="rows of the torch.profiler op table")
    a = ap.parse_args()
    parts = a.parts.split(",")

    torch.set_num_threads(a.threads)
    print(f"# decoder bench: pytorch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), "
          f"mkldnn available={torch.backends.mkldnn.is_available()} enabled={torch.backends.mkldnn.enabled}", file=sys.stderr)

    encoder = DlibResNet.load(a.weights)
    encoder.requires_grad_(False)
    box = inner_face_box()
    torch.manual_seed(1)
    dec = FaceDecoder()
    n_params = sum(p.numel() for p in dec.parameters())
    print(f"# decoder: {n_params:,} parameters; loss weights {DEFAULT_WEIGHTS}; inner-face box {box}", file=sys.stderr)
    check_shapes(SHAPES, dec, "bench/decoder-shapes.json")
    if a.csharp_dump:
        check_shapes(os.path.join(a.csharp_dump, "decoder-shapes.json"), dec, "the TorchSharp dump")
    if n_params != EXPECTED_PARAMETERS:
        print(f"# FAIL: decoder has {n_params} parameters, expected {EXPECTED_PARAMETERS} (FaceDecoder.cs defaults)", file=sys.stderr)
        sys.exit(1)
    loss = DecoderLoss(encoder, box)
    disc = opt_d = None
    if a.adv > 0:
        torch.manual_seed(2)
        disc = PatchDiscriminator()
        opt_d = disc_adam(disc)
        print(f"# adversarial term: weight {a.adv:g}, discriminator {sum(p.numel() for p in disc.parameters()):,} parameters", file=sys.stderr)
    if a.csharp_dump and not check_csharp(dec, loss, a.csharp_dump, a.tol_recon, a.tol_loss, a.tol_grad_img, a.tol_grad):
        sys.exit(1)
    if a.csharp_dump and disc is not None and not check_adversarial(dec, disc, opt_d, a.adv, a.csharp_dump, a.tol_aug, a.tol_adv,
                                                                   a.tol_adv_grad, a.tol_grad_img):
        sys.exit(1)

    opt = torch.optim.Adam(dec.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    torch.manual_seed(1234)
    x = torch.randint(0, 256, (a.batch, 3, 150, 150)).float()
    t = torch.randn(a.batch, 128)

    global_step = [0]   # the adversarial term's augmentation seeds, as Dfd.Bench and the trainer number steps

    def step(labels=False, adv=False):
        from torch.profiler import record_function
        import contextlib

        def rf(name):
            return record_function(name) if labels else contextlib.nullcontext()
        g = global_step[0]
        with rf("## decoder forward"):
            recon = dec(t)
        with rf("## loss forward"):
            total, terms = loss(recon, x, t)
            if adv:
                total = disc.add_generator_terms(recon, a.adv, augment_seed(1, g, 0), total, terms)
        if not math.isfinite(total.item()):
            raise RuntimeError(f"loss became {total.item()}")
        opt.zero_grad(set_to_none=True)   # TorchSharp's Module.zero_grad() drops the gradients too (checked by Dfd.Bench)
        if adv:
            opt_d.zero_grad(set_to_none=True)
        with rf("## backward"):
            total.backward()
        if adv:
            terms["disc"] = disc.update(opt_d, recon.detach(), x, augment_seed(1, g, 1), augment_seed(1, g, 2))
        with rf("## gradient check + Adam"):
            if gradients_finite(dec):
                opt.step()
            else:
                print("# non-finite gradients: step skipped (as the trainer does)", file=sys.stderr)
        sum(v.item() for v in terms.values()) + total.item()
        global_step[0] += 1

    if "train" in parts:
        dec.train()
        rep, cpu, faults = time_steps(step, a.train_warmup, a.train_iters, a.repeats)
        med = emit("train", a.batch, a.train_iters, a.repeats, rep, cpu, faults, steps_per_s=round(1000 / statistics.median(rep), 4),
                   zero_grad="set_to_none")
        print(f"# train batch {a.batch}: {1000 / med:.3f} steps/s, {a.batch * 1000 / med:.2f} img/s ({med:.0f} ms/step, cpu {cpu:.0f} ms/step)",
              file=sys.stderr)
        if disc is not None:
            rep, cpu, faults = time_steps(lambda: step(adv=True), a.train_warmup, a.train_iters, a.repeats)
            med_adv = emit("train-adv", a.batch, a.train_iters, a.repeats, rep, cpu, faults,
                           steps_per_s=round(1000 / statistics.median(rep), 4), adv=a.adv)
            print(f"# train batch {a.batch} with the adversarial term: {1000 / med_adv:.3f} steps/s, {a.batch * 1000 / med_adv:.2f} img/s "
                  f"({med_adv:.0f} ms/step, +{med_adv - med:.0f} ms, cpu {cpu:.0f} ms/step)", file=sys.stderr)

    if "recon" in parts:
        dec.eval()
        rb = [int(v) for v in a.recon_batches.split(",")]
        ri = [int(v) for v in a.recon_iters.split(",")]
        rw = [int(v) for v in a.recon_warmup.split(",")]
        for i, b in enumerate(rb):
            torch.manual_seed(4321 + b)
            tb = torch.randn(b, 128)
            it, w = ri[min(i, len(ri) - 1)], rw[min(i, len(rw) - 1)]
            with torch.inference_mode():
                rep, cpu, faults = time_steps(lambda: dec(tb), w, it, a.repeats)
            med = emit("recon", b, it, a.repeats, rep, cpu, faults)
            print(f"# recon batch {b}: {b * 1000 / med:.1f} img/s ({med:.2f} ms/batch, cpu {cpu:.2f} ms)", file=sys.stderr)
        dec.train()

    if "data" in parts:
        time_data("synthetic", synthetic_set(max(8 * a.batch, 256)), a.batch, a.data_iters, a.repeats)
        base = find_trainset() if a.trainset == "auto" else None if a.trainset in ("none", "") else a.trainset
        if base and os.path.exists(base + ".json"):
            t0 = time.perf_counter()
            data = load_trainset(base, a.trainset_limit)
            load_s = time.perf_counter() - t0
            print(f"# trainset {base}: {len(data[0])} crops loaded in {load_s:.2f} s", file=sys.stderr)
            time_data("lfw-cache", data, a.batch, a.data_iters, a.repeats, load_s=round(load_s, 3), images=len(data[0]), path=base)
        elif a.trainset != "none":
            print("# no cached training set: batch assembly timed on the synthetic set only", file=sys.stderr)

    if a.profile:
        dec.train()
        profile_phases(dec, loss, opt, x, t, a.batch, a.profile_steps)
        profile_layers(dec, encoder, box, x, t, a.batch, a.profile_steps)
        profile_ops(step, a.batch, a.profile_top)


if __name__ == "__main__":
    main()
