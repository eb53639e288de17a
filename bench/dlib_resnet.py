#!/usr/bin/python3
"""dlib-resnet (face-api port) in plain PyTorch, for benchmarking against the TorchSharp port in src/Dfd.

Mirrors src/Dfd/Encoders/DlibResNet.cs layer for layer and loads the same safetensors file. Before timing it checks
correctness against the committed face-api (tfjs) fixtures, and, when given --csharp-dump, against the TorchSharp
port's output for the same seeded random input. Then it times batch 1 and batch 32 under torch.inference_mode() and
prints one JSON line per batch size: {impl, threads, batch, templates_per_s, ms_per_batch, ...}.

Needs a Python with torch (Debian: /usr/bin/python3 with python3-torch); the safetensors reader is built in.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WEIGHTS = os.path.join(ROOT, "models", "dlib-resnet", "dlib-resnet.safetensors")
FIXTURES = os.path.join(ROOT, "tests", "Dfd.Tests", "Fixtures", "faceapi")

MEAN = (122.782, 117.001, 104.298)
STD = (255.0, 255.0, 255.0)
BLOCKS = ["conv32_1", "conv32_2", "conv32_3",
          "conv64_down", "conv64_1", "conv64_2", "conv64_3",
          "conv128_down", "conv128_1", "conv128_2",
          "conv256_down", "conv256_1", "conv256_2", "conv256_down_out"]


def read_safetensors(path):
    """Minimal safetensors reader (F32/F16/I64... little-endian); returns ({name: torch.Tensor}, metadata)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


class ConvScale(nn.Module):
    """conv2d (+bias) then dlib's affine layer x*scale+shift. 'valid' for strided convs, pad k//2 otherwise."""

    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = nn.Parameter(torch.ones(cout))
        self.shift = nn.Parameter(torch.zeros(cout))
        self.stride = stride
        self.padding = k // 2 if stride == 1 else 0

    def forward(self, x):
        y = F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        return y * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)


class Residual(nn.Module):
    def __init__(self, cin, cout, down):
        super().__init__()
        self.conv1 = ConvScale(cin, cout, 3, 2 if down else 1)
        self.conv2 = ConvScale(cout, cout, 3, 1)
        self.down = down
        self.cout = cout

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        if not self.down:
            return F.relu(y + x)
        # 2x2 average-pool shortcut, zero channels appended; zero-pad the conv branch at bottom/right when smaller.
        pooled = F.avg_pool2d(x, 2, 2)
        if pooled.shape[1] != self.cout:
            pooled = F.pad(pooled, [0, 0, 0, 0, 0, self.cout - pooled.shape[1]])
        if pooled.shape[2] != y.shape[2] or pooled.shape[3] != y.shape[3]:
            y = F.pad(y, [0, pooled.shape[3] - y.shape[3], 0, pooled.shape[2] - y.shape[2]])
        return F.relu(y + pooled)


class DlibResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv32_down = ConvScale(3, 32, 7, 2)
        blocks, cin = [], 32
        for name in BLOCKS:
            cout = int(name[4:].split("_")[0])
            blocks.append(Residual(cin, cout, "_down" in name))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Parameter(torch.zeros(128, 256))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("inv_std", (1.0 / torch.tensor(STD)).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb255):
        x = (rgb255 - self.mean) * self.inv_std
        x = F.relu(self.conv32_down(x))
        x = F.max_pool2d(x, 3, 2)
        for b in self.blocks:
            x = b(x)
        x = x.mean([2, 3])
        return x.matmul(self.fc.t())

    @staticmethod
    def load(path=WEIGHTS):
        tensors, meta = read_safetensors(path)
        if meta.get("encoder", "dlib-resnet") != "dlib-resnet":
            raise ValueError(f"{path} holds weights of encoder {meta.get('encoder')!r}")
        m = DlibResNet()
        missing, unexpected = m.load_state_dict(tensors, strict=True)
        assert not missing and not unexpected
        return m.eval()


def check_fixtures(model, tol):
    """Largest |difference| to face-api's tfjs descriptors over all committed fixtures."""
    with open(os.path.join(FIXTURES, "descriptors.json")) as f:
        items = json.load(f)["items"]
    imgs, expected = [], []
    for it in items:
        raw = np.fromfile(os.path.join(FIXTURES, it["input"]), dtype=np.uint8).reshape(150, 150, 3)
        imgs.append(torch.from_numpy(raw.astype(np.float32)).permute(2, 0, 1))
        expected.append(it["descriptor"])
    with torch.inference_mode():
        got = model(torch.stack(imgs))
    diff = (got.double() - torch.tensor(expected, dtype=torch.float64)).abs().max().item()
    return diff, len(items), diff <= tol


def check_csharp(model, dump_dir):
    """Largest |difference| to the TorchSharp port's output on its seeded random input (written by Dfd.Bench)."""
    with open(os.path.join(dump_dir, "random-input.json")) as f:
        info = json.load(f)
    n = info["batch"]
    x = np.fromfile(os.path.join(dump_dir, "random-input.u8"), dtype=np.uint8).reshape(n, 3, 150, 150)
    ref = np.fromfile(os.path.join(dump_dir, "random-output.f32"), dtype=np.float32).reshape(n, 128)
    with torch.inference_mode():
        got = model(torch.from_numpy(x.astype(np.float32))).numpy()
    return float(np.abs(got.astype(np.float64) - ref).max()), n


def time_batch(model, batch, warmup, iters, repeats, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch, 3, 150, 150), generator=g).float()
    return time_fn(lambda: model(x), batch, warmup, iters, repeats)


def time_fn(f, batch, warmup, iters, repeats):
    rep_ms = []
    with torch.inference_mode():
        for _ in range(warmup):
            f()
        cpu0 = time.process_time()
        flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(iters):
                f()
            rep_ms.append((time.perf_counter() - t0) * 1000 / iters)
    ms = statistics.median(rep_ms)
    cpu_ms = (time.process_time() - cpu0) * 1000 / (iters * repeats)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0) / (iters * repeats)
    return {"impl": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
            "batch": batch, "iters": iters, "repeats": repeats,
            "templates_per_s": round(batch * 1000 / ms, 2), "ms_per_batch": round(ms, 3),
            "ms_per_batch_min": round(min(rep_ms), 3), "ms_per_batch_max": round(max(rep_ms), 3),
            # process CPU time (all threads) and minor page faults per timed forward: less sensitive to other processes
            "cpu_ms_per_batch": round(cpu_ms, 3), "minor_faults_per_batch": round(faults, 1)}


class Profiler:
    """The forward written functionally over the file's tensors with a timer around each op (CPU ops are synchronous),
    plus whole-forward variants; mirrors Profile in bench/Dfd.Bench/Program.cs."""

    def __init__(self, weights, batch, repeats):
        self.w, _ = read_safetensors(weights)
        self.folded = dict(self.w)
        for k in [k for k in self.w if k.endswith(".scale")]:
            p = k[: -len(".scale")]
            s = self.w[k]
            self.folded[p + ".weight"] = (self.w[p + ".weight"] * s.view(-1, 1, 1, 1)).contiguous()
            self.folded[p + ".bias"] = self.w[p + ".bias"] * s + self.w[p + ".shift"]
        g = torch.Generator().manual_seed(99)
        self.x = torch.randint(0, 256, (batch, 3, 150, 150), generator=g).float()
        self.batch, self.repeats = batch, repeats

    @staticmethod
    def _t(times, key, f):
        if times is None:
            return f()
        t0 = time.perf_counter()
        r = f()
        times[key] = times.get(key, 0.0) + (time.perf_counter() - t0) * 1000
        return r

    def _conv(self, w, p, x, stride, pad, times, folded):
        wt = w[p + ".weight"]
        kind = "conv7x7" if wt.shape[2] == 7 else "conv3x3/s2" if stride == 2 else "conv3x3"
        y = self._t(times, kind, lambda: F.conv2d(x, wt, w[p + ".bias"], stride=stride, padding=pad))
        if folded:
            return y
        return self._t(times, "affine(scale,shift)",
                       lambda: y * w[p + ".scale"].view(1, -1, 1, 1) + w[p + ".shift"].view(1, -1, 1, 1))

    def forward(self, w, rgb, times=None, folded=False):
        t = self._t
        x = t(times, "normalize", lambda: (rgb - torch.tensor(MEAN).view(1, 3, 1, 1)) * (1.0 / 255.0))
        x = self._conv(w, "conv32_down", x, 2, 0, times, folded)
        x = t(times, "relu", lambda: F.relu(x))
        x = t(times, "maxpool", lambda: F.max_pool2d(x, 3, 2))
        for i, name in enumerate(BLOCKS):
            cout = int(name[4:].split("_")[0])
            down = "_down" in name
            p = f"blocks.{i}"
            y = self._conv(w, p + ".conv1", x, 2 if down else 1, 0 if down else 1, times, folded)
            y = t(times, "relu", lambda: F.relu(y))
            y = self._conv(w, p + ".conv2", y, 1, 1, times, folded)
            if not down:
                x = t(times, "add+relu", lambda: F.relu(y + x))
                continue
            xi = x

            def pool():
                pl = F.avg_pool2d(xi, 2, 2)
                return F.pad(pl, [0, 0, 0, 0, 0, cout - pl.shape[1]]) if pl.shape[1] != cout else pl
            pooled = t(times, "avgpool+pad", pool)
            if pooled.shape[2] != y.shape[2]:
                yi = y
                y = t(times, "avgpool+pad", lambda: F.pad(yi, [0, pooled.shape[3] - yi.shape[3], 0, pooled.shape[2] - yi.shape[2]]))
            x = t(times, "add+relu", lambda: F.relu(y + pooled))
        return t(times, "mean+fc", lambda: x.mean([2, 3]).matmul(w["fc"].t()))

    def run(self):
        iters = 3
        times = {}
        with torch.inference_mode():
            d = (self.forward(self.w, self.x) - self.forward(self.folded, self.x, None, True)).abs().max().item()
            print(f"# profile: folded-scale vs as-shipped output, max abs diff {d:.2e}", file=sys.stderr)
            for _ in range(iters):
                self.forward(self.w, self.x, times)
        total = sum(times.values()) / iters
        print(f"# pytorch op breakdown, batch {self.batch} (mean of {iters} forwards, {total:.1f} ms total):", file=sys.stderr)
        for k, v in sorted(times.items(), key=lambda kv: -kv[1]):
            print(f"#   {k:<22} {v / iters:9.2f} ms  {100 * v / iters / total:5.1f}%", file=sys.stderr)
        print(json.dumps({"impl": "pytorch", "profile": "ops", "batch": self.batch,
                          "ms": {k: round(v / iters, 2) for k, v in times.items()}}))
        variants = [("functional-as-shipped", self.w, False, True), ("folded-scale", self.folded, True, True),
                    ("as-shipped-mkldnn-off", self.w, False, False)]
        for name, w, folded, mkldnn in variants:
            # mkldnn off is ~5x slower (im2col + BLAS): one forward is enough to see it.
            n, reps = (3, self.repeats) if mkldnn else (1, 1)
            with torch.backends.mkldnn.flags(enabled=mkldnn):
                r = time_fn(lambda: self.forward(w, self.x, None, folded), self.batch, 1, n, reps)
            r["variant"] = name
            print(json.dumps(r))


def micro(batch):
    """Single ops on a [B,32,35,35] activation, 20 calls each; same as Dfd.Bench --micro."""
    x = torch.rand(batch, 32, 35, 35) - 0.5
    wt, b, sc = torch.rand(32, 32, 3, 3) - 0.5, torch.rand(32), torch.rand(32).view(1, -1, 1, 1)
    ops = [("relu", lambda: F.relu(x)), ("x*s+t", lambda: x * sc + sc), ("x+x", lambda: x + x),
           ("conv3x3 32->32", lambda: F.conv2d(x, wt, b, padding=1))]
    res = {name: time_fn(f, batch, 3, 20, 3)["ms_per_batch"] for name, f in ops}
    print(json.dumps({"impl": "pytorch", "micro_ms": res, "batch": batch, "threads": torch.get_num_threads()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", default="20,2", help="timed iterations per repeat, per batch size (comma list)")
    ap.add_argument("--warmup", default="5,2")
    ap.add_argument("--repeats", type=int, default=3, help="report the median repeat")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--csharp-dump", help="folder where Dfd.Bench wrote random-input.u8 / random-output.f32")
    ap.add_argument("--weights", default=WEIGHTS)
    ap.add_argument("--profile", action="store_true", help="also time the forward op by op at the largest batch")
    ap.add_argument("--micro", action="store_true", help="also time single ops (relu, affine, add, one conv)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    print(f"# pytorch {torch.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), "
          f"mkldnn available={torch.backends.mkldnn.is_available()} enabled={torch.backends.mkldnn.enabled}",
          file=sys.stderr)
    model = DlibResNet.load(a.weights)

    diff, n, ok = check_fixtures(model, a.tol)
    print(f"# pytorch vs face-api fixtures ({n} images): max abs diff {diff:.3e} (tol {a.tol:g}) {'OK' if ok else 'FAIL'}",
          file=sys.stderr)
    if not ok:
        sys.exit(1)
    if a.csharp_dump:
        d, n = check_csharp(model, a.csharp_dump)
        ok = d <= a.tol
        print(f"# pytorch vs TorchSharp on seeded random input ({n} images): max abs diff {d:.3e} "
              f"{'OK' if ok else 'FAIL'}", file=sys.stderr)
        if not ok:
            sys.exit(1)

    batches = [int(b) for b in a.batches.split(",")]
    iters = [int(i) for i in a.iters.split(",")]
    warm = [int(w) for w in a.warmup.split(",")]
    for i, b in enumerate(batches):
        r = time_batch(model, b, warm[min(i, len(warm) - 1)], iters[min(i, len(iters) - 1)], a.repeats, seed=1234 + b)
        print(json.dumps(r), flush=True)
    if a.profile:
        Profiler(a.weights, max(batches), a.repeats).run()
    if a.micro:
        micro(max(batches))


if __name__ == "__main__":
    main()
