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
    rep_ms = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(iters):
                model(x)
            rep_ms.append((time.perf_counter() - t0) * 1000 / iters)
    ms = statistics.median(rep_ms)
    return {"impl": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
            "batch": batch, "iters": iters, "repeats": repeats,
            "templates_per_s": round(batch * 1000 / ms, 2), "ms_per_batch": round(ms, 3),
            "ms_per_batch_min": round(min(rep_ms), 3), "ms_per_batch_max": round(max(rep_ms), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", default="60,4", help="timed iterations per repeat, per batch size (comma list)")
    ap.add_argument("--warmup", default="10,2")
    ap.add_argument("--repeats", type=int, default=3, help="report the median repeat")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--csharp-dump", help="folder where Dfd.Bench wrote random-input.u8 / random-output.f32")
    ap.add_argument("--weights", default=WEIGHTS)
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


if __name__ == "__main__":
    main()
