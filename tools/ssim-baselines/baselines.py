#!/usr/bin/python3
"""SSIM that simple template -> image predictors reach on Dfd's LFW test split: the yardstick for the decoder's SSIM.

The decoder sees only the template. These predictors see the same (or, for the person mean, more), with no network:
  - the mean face (one image for everyone; `dfd evaluate` reports it as the floor),
  - the mean of the k training faces whose templates are nearest (cosine) to the test template,
  - a linear map template -> pixels fitted on the training set (ridge regression),
  - the mean of the same person's other test photos (knows who it is, which the decoder has to infer),
and, for scale, the test photo itself blurred (how much SSIM a soft but well-placed face loses).

Inputs are the caches `dfd train` and `dfd evaluate` write (aligned crops and dlib-resnet templates of every image):
  /usr/bin/python3 tools/ssim-baselines/baselines.py \
      --train ~/.cache/dfd/trainsets/dlib-resnet-4152e424c6293b1e --test ~/.cache/dfd/evalsets/dlib-resnet-af3475576ecf7a32 \
      [--json docs/ssim-baselines.json]
(base paths without the .json / .templates.npy / .crops.bin endings; the keys depend on the split and the encoder file.)
SSIM is scikit-image's with the evaluation's settings (Gaussian 11x11, sigma 1.5, population moments, RGB mean, on
rounded 8-bit images), which tests/Dfd.Tests/Evaluation/ImageQualityTests.cs holds Dfd's own SSIM to.
Debian 12: apt-get install python3-numpy python3-scipy python3-skimage. About 8 minutes on 2 cores; it holds the
training crops plain and mirrored as float32 (5.7 GB for this training set).
"""
import argparse
import json
import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity


def load(base):
    meta = json.load(open(base + '.json'))
    n, w, h = len(meta['Files']), meta['Width'], meta['Height']
    crops = np.fromfile(base + '.crops.bin', dtype=np.uint8).reshape(n, h, w, 3)
    t = np.load(base + '.templates.npy').astype(np.float32)
    if len(t) != 2 * n:
        raise SystemExit(f'{base}.templates.npy: {len(t)} rows for {n} images (expected plain and mirrored per image)')
    return meta['Identities'], crops, t[0::2], t[1::2]   # rows alternate: plain, mirrored


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ssim(a, b):
    return structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1)


def sets(doc):
    """The command line (--train, --test, --json) and both sets, checked to share no people."""
    ap = argparse.ArgumentParser(description=doc.split('\n')[0])
    ap.add_argument('--train', required=True)
    ap.add_argument('--test', required=True)
    ap.add_argument('--json')
    a = ap.parse_args()
    test, train = load(a.test), load(a.train)
    if set(test[0]) & set(train[0]):
        raise SystemExit('the training and test sets share people')
    print(f'test {len(test[1])} images of {len(set(test[0]))} people; train {len(train[1])} images of {len(set(train[0]))} people')
    return a, test, train


def main():
    a, (test_ids, test, test_t, _), (train_ids, train, train_t, train_tm) = sets(__doc__)

    rows = []

    def score(name, predict, items=None):
        items = range(len(test)) if items is None else items
        s = np.array([ssim(np.clip(np.rint(predict(i)), 0, 255).astype(np.uint8), test[i]) for i in items])
        rows.append({'predictor': name, 'ssim': round(float(s.mean()), 4), 'sd': round(float(s.std()), 4), 'images': len(s)})
        print(f'{name:60s} SSIM {s.mean():.3f} ± {s.std():.3f}  ({len(s)} images)', flush=True)

    mean_test = test.astype(np.float64).mean(0)
    score('mean of the test photos (the floor dfd evaluate reports)', lambda i: mean_test)

    # Training faces plain and mirrored, each with its own template.
    pool = np.concatenate([train, train[:, :, ::-1, :]]).astype(np.float32)
    pool_t = unit(np.vstack([train_t, train_tm]))
    nearest = np.argsort(-(unit(test_t) @ pool_t.T), axis=1)[:, :200]
    for k in (1, 10, 50, 200):
        score(f'mean of the {k} training faces nearest in template', lambda i, k=k: pool[nearest[i, :k]].mean(0))

    x = np.hstack([pool_t, np.ones((len(pool_t), 1), np.float32)])
    y = pool.reshape(len(pool), -1)
    w = np.linalg.solve((x.T @ x).astype(np.float64) + np.eye(x.shape[1]), (x.T @ y).astype(np.float64))
    pred = np.hstack([unit(test_t), np.ones((len(test_t), 1), np.float32)]) @ w
    score('linear map template -> pixels (ridge, lambda 1)', lambda i: pred[i].reshape(test.shape[1:]))

    ids = np.array(test_ids)
    multi = [i for i in range(len(test)) if (ids == ids[i]).sum() > 1]
    score("mean of the same person's other test photos",
          lambda i: test[[j for j in np.flatnonzero(ids == ids[i]) if j != i]].astype(np.float64).mean(0), multi)
    for sigma in (2.0, 4.0):
        score(f'the test photo itself, blurred (sigma {sigma:g} px)',
              lambda i, s=sigma: gaussian_filter(test[i].astype(np.float64), sigma=(s, s, 0)))

    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'train': a.train.split('/')[-1], 'test': a.test.split('/')[-1], 'rows': rows}, f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
