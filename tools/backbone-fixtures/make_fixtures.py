#!/usr/bin/python3
"""Fixtures for the TorchSharp ports of VGG-Face (vgg16-face) and the VGGFace2 ResNet-50 (resnet50-face).

Both architectures in plain PyTorch with the public key names (VGG-Face: conv1_1 .. conv5_3, fc6, fc7, fc8 as in the
common conversion vgg_face_dag.pth; ResNet-50: torchvision names conv1, bn1, layer1.0.conv1 .. layer4.2.bn3, fc as in
the VGGFace2 conversion resnet50_ft/scratch, which puts the stride on the bottleneck's first 1x1 conv and uses a
3x3/2 max pool with padding 0 and ceil_mode, as caffe did), at REDUCED WIDTH so the files stay small, randomly
initialised with a fixed seed (BN running statistics random, eval mode). Writes each state dict as a torch.save zip
.pt and as .safetensors (hand-written writer below), two seeded 224x224 RGB inputs (raw bytes, HWC) and the
templates of both models for both inputs (expected.json).

Run with Debian's python (torch 1.13 + numpy): /usr/bin/python3 tools/backbone-fixtures/make_fixtures.py
"""
import json, os, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Dfd.Tests", "Fixtures", "backbones")
VGG_MEAN = [129.1863, 104.7624, 93.5940]     # RGB, std 1, input 0..255
RESNET_MEAN = [131.0912, 103.8827, 91.4953]  # RGB (the original's BGR mean reversed), std 1


class VggFace(nn.Module):
    def __init__(self, divisor=1, fc=4096, classes=2622):
        super().__init__()
        w = [64 // divisor, 128 // divisor, 256 // divisor, 512 // divisor, 512 // divisor]
        cfg = [(1, 2), (2, 2), (3, 3), (4, 3), (5, 3)]
        cin = 3
        self.names = []
        for (b, n), c in zip(cfg, w):
            for i in range(1, n + 1):
                name = f"conv{b}_{i}"
                setattr(self, name, nn.Conv2d(cin, c, 3, padding=1))
                self.names.append(name)
                cin = c
            self.names.append("pool")
        self.fc6 = nn.Linear(cin * 7 * 7, fc)
        self.fc7 = nn.Linear(fc, fc)
        self.fc8 = nn.Linear(fc, classes)

    def forward(self, rgb255):
        x = rgb255 - torch.tensor(VGG_MEAN).view(1, 3, 1, 1)
        for n in self.names:
            x = F.max_pool2d(x, 2, 2) if n == "pool" else F.relu(getattr(self, n)(x))
        x = x.flatten(1)
        x = F.relu(self.fc6(x))
        return F.relu(self.fc7(x))  # template: fc7 after its ReLU; fc8 unused


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)  # caffe: stride here
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    def __init__(self, divisor=1, classes=8631):
        super().__init__()
        base = 64 // divisor
        self.conv1 = nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.maxpool = nn.MaxPool2d(3, 2, padding=0, ceil_mode=True)
        inplanes = base
        for i, (n, s) in enumerate([(3, 1), (4, 2), (6, 2), (3, 2)]):
            planes = base * 2 ** i
            blocks = []
            for j in range(n):
                stride = s if j == 0 else 1
                ds = None
                if j == 0 and (stride != 1 or inplanes != planes * 4):
                    ds = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
                blocks.append(Bottleneck(inplanes, planes, stride, ds))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, rgb255):
        x = rgb255 - torch.tensor(RESNET_MEAN).view(1, 3, 1, 1)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.avg_pool2d(x, 7, 1).flatten(1)  # 2048-D (full width) pooled template; fc unused


def randomise(model, first_conv):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if name == first_conv:
                    m.weight.mul_(1 / 64)  # inputs are 0..255 less the mean: keep activations O(1)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(7)
    model.eval()


def calibrate(model, x):
    """Running statistics from the inputs themselves (momentum 1), then perturbed: activations stay O(1) through
    16 residual blocks, and the statistics are still arbitrary (not what a train-mode pass would compute)."""
    g = torch.Generator().manual_seed(99)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(x)
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(0.2 * m.running_var.sqrt() * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.mul_(0.7 + 0.6 * torch.rand(m.running_var.shape, generator=g))
            m.num_batches_tracked.fill_(7)
    model.eval()


def write_safetensors(path, sd, metadata):
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for k in sorted(sd):
        t = sd[k].contiguous()
        b = t.numpy().tobytes()
        header[k] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(42)
    inputs = []
    for i in range(2):
        img = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
        name = f"input{i}.rgb"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(img.tobytes())
        inputs.append((name, torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1).contiguous()))
    x = torch.stack([t for _, t in inputs])

    expected = {"inputs": [n for n, _ in inputs], "torch": torch.__version__, "models": {}}
    for key, model, first, config in [
        ("vgg16-face", VggFace(divisor=32, fc=64, classes=10), "conv1_1", {"divisor": 32, "fc": 64, "classes": 10}),
        ("resnet50-face", ResNet50(divisor=16, classes=10), "conv1", {"divisor": 16, "classes": 10, "stride_on_conv1": True, "ceil_max_pool": True}),
    ]:
        randomise(model, first)
        if key == "resnet50-face":
            calibrate(model, x)
        sd = model.state_dict()
        torch.save(sd, os.path.join(OUT, f"{key}.pt"))  # zip format (torch >= 1.6 default)
        write_safetensors(os.path.join(OUT, f"{key}.safetensors"), sd, {"encoder": key})
        with torch.no_grad():
            y = model(x)
        expected["models"][key] = {"config": config, "templates": y.tolist(),
                                   "parameters_without_head": sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("fc8.", "fc.")))}
        print(key, tuple(y.shape), "max |y|", float(y.abs().max()), "zeros", int((y == 0).sum()))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    # parameter counts of the full-size models without their classifiers, for the C# test
    for name, m, head in [("vgg16-face", VggFace(), "fc8."), ("resnet50-face", ResNet50(), "fc.")]:
        print(name, "full size, parameters without head:", sum(p.numel() for n, p in m.named_parameters() if not n.startswith(head)),
              "with head:", sum(p.numel() for p in m.parameters()))


if __name__ == "__main__":
    main()
