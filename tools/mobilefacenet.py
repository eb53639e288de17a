"""MobileFaceNet (Chen et al. 2018) in plain PyTorch: the architecture of the GitHub project Xiaoccer/MobileFaceNet_Pytorch
(core/model.py, re-typed from its description: ConvBlock / Bottleneck / MobileFacenet with the 112x96 bottleneck
setting), with its parameter names, so that its checkpoints (e.g. ../shared/models/mobilefacenet-casia/068.ckpt,
{'epoch', 'net_state_dict'}) load one to one with strict=True.

The one copy for the tools that run it: tools/mobilefacenet-reference/make_fixtures.py (the test fixtures of the C#
port, src/Dfd/Encoders/MobileFaceNet.cs) and tools/onnx-export/export_mobilefacenet.py (the ONNX export). They import
it with tools/ on sys.path.

Input: [N, 3, 112, 96] RGB, (x - 127.5) / 128; output: [N, 128].
"""
from torch import nn

H, W = 112, 96

# t (expansion), c (output channels), n (repeats), s (stride of the first)
BOTTLENECK_SETTING = [
    [2, 64, 5, 2],
    [4, 128, 1, 2],
    [2, 128, 6, 1],
    [4, 128, 1, 2],
    [2, 128, 2, 1],
]


class Bottleneck(nn.Module):
    def __init__(self, inp, oup, stride, expansion):
        super().__init__()
        self.connect = stride == 1 and inp == oup
        hidden = inp * expansion
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),                          # pointwise
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),   # depthwise
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),                          # pointwise, linear
            nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.connect else self.conv(x)


class ConvBlock(nn.Module):
    def __init__(self, inp, oup, k, s, p, dw=False, linear=False):
        super().__init__()
        self.linear = linear
        self.conv = nn.Conv2d(inp, oup, k, s, p, groups=inp if dw else 1, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        if not linear:
            self.prelu = nn.PReLU(oup)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class MobileFacenet(nn.Module):
    def __init__(self, setting=BOTTLENECK_SETTING):
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, dw=True)
        layers, inplanes = [], 64
        for t, c, n, s in setting:
            for i in range(n):
                layers.append(Bottleneck(inplanes, c, s if i == 0 else 1, t))
                inplanes = c
        self.blocks = nn.Sequential(*layers)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, (7, 6), 1, 0, dw=True, linear=True)  # global depthwise conv (GDConv)
        self.linear1 = ConvBlock(512, 128, 1, 1, 0, linear=True)

    def forward(self, x):
        x = self.conv1(x)
        x = self.dw_conv1(x)
        x = self.blocks(x)
        x = self.conv2(x)
        x = self.linear7(x)
        x = self.linear1(x)
        return x.view(x.size(0), -1)
