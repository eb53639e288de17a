#!/usr/bin/python3
"""Reference fixtures for the C# port of MobileFaceNet (mobilefacenet-casia).

Runs the ORIGINAL PyTorch architecture of the GitHub project Xiaoccer/MobileFaceNet_Pytorch (core/model.py,
re-typed in tools/mobilefacenet.py: ConvBlock / Bottleneck / MobileFacenet with the 112x96 bottleneck setting)
on its own checkpoint 068.ckpt, loaded with torch.load, and stores inputs and templates for Dfd.Tests.

    /usr/bin/python3 tools/mobilefacenet-reference/make_fixtures.py      # needs torch (1.x) and Pillow

Writes into tests/Dfd.Tests/Fixtures/mobilefacenet/:
    *.rgb           112x96x3 uint8 RGB, HWC row-major, raw bytes (32256 bytes each; H=112, W=96)
    templates.json  the 128-D output of the network for every .rgb input

Preprocessing as the original's data loaders (scipy.misc.imread, i.e. RGB): x = (rgb - 127.5) / 128, CHW.
Environment overrides: MOBILEFACENET_CKPT (the checkpoint), LFW_DIR (lfw-deepfunneled root).
The weights are never copied; only inputs and outputs are written.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from mobilefacenet import H, W, MobileFacenet  # noqa: E402  (tools/mobilefacenet.py, shared with tools/onnx-export)

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "Dfd.Tests", "Fixtures", "mobilefacenet")
CKPT = os.environ.get("MOBILEFACENET_CKPT", os.path.join(REPO, "..", "shared", "models", "mobilefacenet-casia", "068.ckpt"))
LFW = os.environ.get("LFW_DIR", os.path.join(REPO, "..", "shared", "data", "lfw", "lfw-deepfunneled"))


# ---------------------------------------------------------------- inputs

def synthetic():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    gradient = np.stack([xx * 255 / (W - 1), yy * 255 / (H - 1), 255 - (xx + yy) * 255 / (W + H - 2)], -1)
    checker = ((((yy // 8) + (xx // 8)) % 2) * 200 + 30)[..., None].repeat(3, -1)
    checker[..., 1] = 255 - checker[..., 1]
    constant = np.zeros((H, W, 3)); constant[...] = (180, 120, 90)
    noise = np.random.default_rng(20240607).integers(0, 256, size=(H, W, 3))
    return {
        "synthetic-gradient": gradient,
        "synthetic-checker": checker,
        "synthetic-constant": constant,
        "synthetic-noise": noise,
    }


def lfw_crops():
    """A fixed crop of the deep-funneled 250x250 image, resized to 96x112: eyes land roughly where SphereFace's
    template puts them. Any fixed crop would do; the fixture only has to be a real face the C# port sees unchanged."""
    from PIL import Image
    out = {}
    for person, idx in [("George_W_Bush", 1), ("Aaron_Peirsol", 1), ("Serena_Williams", 3)]:
        path = os.path.join(LFW, person, f"{person}_{idx:04d}.jpg")
        img = Image.open(path).convert("RGB").crop((70, 58, 180, 186)).resize((W, H), Image.BILINEAR)
        out[f"lfw-{person}_{idx:04d}"] = np.asarray(img)
    return out


def main():
    torch.set_num_threads(1)
    ckpt = torch.load(CKPT, map_location="cpu")
    net = MobileFacenet()
    missing, unexpected = net.load_state_dict(ckpt["net_state_dict"], strict=True)
    net.eval()

    inputs = {**synthetic(), **lfw_crops()}
    os.makedirs(OUT, exist_ok=True)
    items, batch = [], []
    for name, arr in inputs.items():
        u8 = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        assert u8.shape == (H, W, 3), (name, u8.shape)
        raw = u8.tobytes()
        with open(os.path.join(OUT, name + ".rgb"), "wb") as f:
            f.write(raw)
        x = torch.from_numpy((u8.astype(np.float32) - 127.5) / 128.0).permute(2, 0, 1)[None]
        batch.append(x)
        with torch.no_grad():
            t = net(x)[0].double().numpy()
        items.append({
            "input": name + ".rgb",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "l2_norm": float(np.linalg.norm(t)),
            "template": [float(v) for v in t],
        })
    with torch.no_grad():
        tb = net(torch.cat(batch)).double().numpy()
    batch_diff = float(np.abs(tb - np.array([i["template"] for i in items])).max())

    doc = {
        "model": "Xiaoccer/MobileFaceNet_Pytorch core/model.py MobileFacenet (re-typed), eval mode",
        "checkpoint": os.path.basename(CKPT) + " (net_state_dict, epoch %d), torch.load map_location=cpu" % ckpt.get("epoch", -1),
        "torch": torch.__version__,
        "input_format": f"{H}x{W}x3 uint8 RGB HWC raw (H={H}, W={W})",
        "preprocessing": "x = (float(rgb) - 127.5) / 128, CHW, RGB order (the original loaders use scipy.misc.imread)",
        "batch_vs_single_max_abs_diff": batch_diff,
        "items": items,
    }
    with open(os.path.join(OUT, "templates.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{len(items)} fixtures -> {OUT} (batch vs single {batch_diff:.2e})", file=sys.stderr)


if __name__ == "__main__":
    main()
