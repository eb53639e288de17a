#!/usr/bin/python3
"""Export MobileFaceNet (Chen et al. 2018) to ONNX, with the trained CASIA-WebFace weights or seeded random ones.

The architecture and parameter names (tools/mobilefacenet.py) follow the GitHub project "MobileFaceNet_Pytorch"
(xiaoccer), so its checkpoints (e.g. ../shared/models/mobilefacenet-casia/068.ckpt, {'epoch', 'net_state_dict'}) load one to one.

    /usr/bin/python3 tools/onnx-export/export_mobilefacenet.py OUT.onnx --ckpt ../shared/models/mobilefacenet-casia/068.ckpt
    /usr/bin/python3 tools/onnx-export/export_mobilefacenet.py OUT.onnx --random --seed 0

Input: [N, 3, 112, 96] RGB, normalised as (x - 127.5) / 128 (the training preprocessing); output: [N, 128].
The batch dimension is dynamic unless --batch N fixes it. Opset 13. PyTorch's exporter folds each BatchNorm into the
conv before it (eval mode), so the graph holds Conv, PRelu, Add and the Shape/Gather/Unsqueeze/Concat/Reshape of the
final view.

LICENCE: the 068.ckpt weights carry no licence. An export made from them must never be committed; the tests make
one on the fly in a temporary folder. The --random export (seeded, no trained information) may be committed.
A sidecar OUT.json with the preprocessing (input size, mean, std, channels, template) is written next to OUT.onnx
unless --no-sidecar.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mobilefacenet import MobileFacenet  # noqa: E402  (tools/mobilefacenet.py, shared with tools/mobilefacenet-reference)


def randomise(model, seed):
    """Seeded random weights whose activations stay near unit scale: default init, jittered BN affine and PReLU
    slopes, then BN running statistics measured on random inputs (so every folded BN does real work)."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.momentum = None  # cumulative average over the calibration batches
            m.reset_running_stats()
        elif isinstance(m, nn.PReLU):
            nn.init.uniform_(m.weight, 0.05, 0.4)
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(16, 3, 112, 96))
    model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="path of the .onnx file to write")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="MobileFaceNet_Pytorch checkpoint ({'net_state_dict': ...})")
    src.add_argument("--random", action="store_true", help="seeded random weights (committable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0, help="fix the batch size (0: dynamic)")
    ap.add_argument("--no-sidecar", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(min(2, torch.get_num_threads()))
    model = MobileFacenet()
    if args.ckpt:
        ckpt = torch.load(args.ckpt, map_location="cpu")
        state = ckpt["net_state_dict"] if isinstance(ckpt, dict) and "net_state_dict" in ckpt else ckpt
        model.load_state_dict(state, strict=True)  # names and shapes must match exactly
        model.eval()
    else:
        randomise(model, args.seed)

    batch = args.batch if args.batch > 0 else 1
    dummy = torch.zeros(batch, 3, 112, 96)
    dynamic = None if args.batch > 0 else {"input": {0: "batch"}, "embedding": {0: "batch"}}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(model, dummy, args.out, opset_version=13, input_names=["input"], output_names=["embedding"],
                      dynamic_axes=dynamic, do_constant_folding=True)
    if not args.no_sidecar:
        sidecar = {
            "name": "mobilefacenet" + ("-random" if args.random else ""),
            "description": "MobileFaceNet (Chen et al. 2018), MobileFaceNet_Pytorch layout, 112x96 SphereFace crop, 128-D"
                           + (f", random weights (seed {args.seed})" if args.random else ""),
            "input_size": "96x112",
            "mean": [127.5, 127.5, 127.5],
            "std": [128.0, 128.0, 128.0],
            "channels": "rgb",
            "template": "sphereface",
            "source": "random (tools/onnx-export/export_mobilefacenet.py)" if args.random else os.path.basename(args.ckpt),
            "licence": "test fixture, no trained information" if args.random else "none: never commit",
        }
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(sidecar, f, indent=2)
            f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
