#!/usr/bin/python3
"""Reference SSIM / PSNR values for tests/Dfd.Tests/Evaluation/ImageQualityTests.cs, from scikit-image.

Run from the repository root:  /usr/bin/python3 tools/ssim-reference/reference.py
(Debian 12: apt-get install python3-skimage). Prints the C# fixture lines the test holds.

The synthetic images come from a 31-bit LCG that the test reimplements, so no image files are needed; the face
pair is two of the committed 150x150 face-api fixtures (raw RGB bytes).
"""
import numpy as np
import skimage
from skimage.metrics import structural_similarity, peak_signal_noise_ratio


def lcg_bytes(seed, n):
    """state = (state * 1103515245 + 12345) mod 2^31; byte = (state >> 16) & 255 — as Lcg() in the test."""
    out = np.empty(n, dtype=np.uint8)
    s = seed
    for i in range(n):
        s = (s * 1103515245 + 12345) % (1 << 31)
        out[i] = (s >> 16) & 255
    return out


def noisy(base, seed, amplitude):
    """base + (lcg byte mod (2a+1)) - a, clipped to 0..255."""
    n = lcg_bytes(seed, base.size).astype(np.int32) % (2 * amplitude + 1) - amplitude
    return np.clip(base.astype(np.int32) + n.reshape(base.shape), 0, 255).astype(np.uint8)


def ssim(a, b, channels):
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if channels == 1:
        return structural_similarity(a, b, **kw)
    return structural_similarity(a, b, channel_axis=-1, **kw)


def psnr(a, b):
    return peak_signal_noise_ratio(a, b, data_range=255)


cases = []
# 1. two independent noise images, 32x24 RGB
w, h = 32, 24
a = lcg_bytes(1, w * h * 3).reshape(h, w, 3)
b = lcg_bytes(2, w * h * 3).reshape(h, w, 3)
cases.append(("NoiseVsNoise", a, b, w, h, 3))
# 2. a smooth gradient with texture against itself plus +-20 noise, 40x30 RGB
yy, xx = np.mgrid[0:30, 0:40]
base = np.stack([(xx * 6) % 256, (yy * 8) % 256, ((xx + yy) * 3) % 256], axis=-1).astype(np.uint8)
cases.append(("GradientVsNoisyGradient", base, noisy(base, 7, 20), 40, 30, 3))
# 3. grayscale, 17x13 (odd sizes), noise +-60
g = lcg_bytes(3, 17 * 13).reshape(13, 17)
cases.append(("GreyOddSize", g, noisy(g, 9, 60), 17, 13, 1))
# 4. two real faces (face-api fixtures), 150x150 RGB
fx = "tests/Dfd.Tests/Fixtures/faceapi/"
f1 = np.fromfile(fx + "lfw-Aaron_Peirsol_0001.rgb", dtype=np.uint8).reshape(150, 150, 3)
f2 = np.fromfile(fx + "lfw-George_W_Bush_0001.rgb", dtype=np.uint8).reshape(150, 150, 3)
cases.append(("FaceVsFace", f1, f2, 150, 150, 3))
cases.append(("FaceVsNoisyFace", f1, noisy(f1, 11, 30), 150, 150, 3))

print(f"// scikit-image {skimage.__version__}, numpy {np.__version__}")
for name, a, b, w, h, c in cases:
    print(f'["{name}"] = ({ssim(a, b, c)!r}, {psnr(a, b)!r}),')
