#!/usr/bin/python3
"""Spread and detail that template -> image predictors with no network reach: the yardstick for issue 17's bars.

A decoder trained by regression (pixel, SSIM, perceptual losses) tends to the mean of the photos that share its input.
A face-recognition template is built to be the same for every photo of a person, so that mean is close to the mean of
the person's photos: these predictors measure how much face-to-face spread and how much detail such means keep.
  - the mean of the k training faces whose templates are nearest (cosine) to the test template (k = 1, 10, 50),
  - a linear map template -> pixels fitted on the training set (ridge regression),
  - the mean of n other photos of the same person (n = 1, 2, 4, 8, 16), on the training people with at least 17
    photos: as n grows this tends to what a template that knows exactly who it is, and nothing else, allows.
Spread and detail are computed as `dfd evaluate` does (src/Dfd/Evaluation/ImageMeasures.cs, Imaging/ImageQuality.cs):
  spread = per-pixel-and-channel population sd over the predicted images (rounded to 8 bits), averaged, in 0-1 units;
  detail = mean gradient energy (luma, forward differences) of the predictions over that of the originals they stand
  for, on the whole crop and on the inner-face box `dfd evaluate` reports (x 31-117, y 29-120 for dlib-resnet).
Every row also gives the originals' spread on the same images, since spread depends on which faces are in the set,
and the SSIM of each prediction against the photo it stands for (as baselines.py and `dfd evaluate`).

  /usr/bin/python3 tools/ssim-baselines/detail.py --train ~/.cache/dfd/trainsets/dlib-resnet-5ba67dd2d4754561 \
      --test ~/.cache/dfd/evalsets/dlib-resnet-af3475576ecf7a32 [--json docs/detail-baselines.json]
(the caches `dfd train` and `dfd evaluate` write; see baselines.py.) About 10 minutes on 2 cores, 4 GB; needs python3-scipy and python3-skimage (baselines.py).
"""
import collections
import json
import numpy as np

from baselines import sets, ssim, unit

INNER = (31, 29, 117, 120)  # x0, y0, x1, y1, end exclusive: Box.InnerFace of dlib-resnet's 150x150 template


def to8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def spread(ims):
    x = ims.astype(np.float64)
    return float(x.std(axis=0).mean() / 255)


def energy(ims, box=None):
    """Mean over images of the mean squared forward difference of luma (0-1), as ImageQuality.GradientEnergy."""
    x = ims.astype(np.float64)
    if box:
        x0, y0, x1, y1 = box
        x = x[:, y0:y1, x0:x1]
    y = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]) / 255
    gx = y[:, :-1, 1:] - y[:, :-1, :-1]
    gy = y[:, 1:, :-1] - y[:, :-1, :-1]
    return float((gx * gx + gy * gy).mean())


def main():
    a, (test_ids, test, test_t, _), (train_ids, train, train_t, train_tm) = sets(__doc__)
    rows = []

    def score(name, pred, orig):
        r = {'predictor': name, 'images': len(pred), 'spread': round(spread(pred), 4),
             'spread_originals': round(spread(orig), 4),
             'detail_whole': round(energy(pred) / energy(orig), 3),
             'detail_inner': round(energy(pred, INNER) / energy(orig, INNER), 3),
             'ssim': round(float(np.mean([ssim(p, o) for p, o in zip(pred, orig)])), 4)}
        rows.append(r)
        print(f"{name:58s} spread {r['spread']:.3f} (originals {r['spread_originals']:.3f})  "
              f"detail {r['detail_whole']:.3f} / {r['detail_inner']:.3f}  SSIM {r['ssim']:.3f}  ({len(pred)} images)", flush=True)

    score('the test photos themselves', test, test)
    score('the mean of the test photos, one image for all', np.broadcast_to(to8(test.astype(np.float64).mean(0)), test.shape), test)

    # Training faces plain and mirrored, each with its own template (as baselines.py).
    pool = np.concatenate([train, train[:, :, ::-1, :]])
    pool_t = unit(np.vstack([train_t, train_tm]))
    nearest = np.argsort(-(unit(test_t) @ pool_t.T), axis=1)[:, :50]
    for k in (1, 10, 50):
        pred = np.stack([to8(pool[nearest[i, :k]].astype(np.float32).mean(0)) for i in range(len(test))])
        score(f'mean of the {k} training faces nearest in template', pred, test)

    x = np.hstack([pool_t, np.ones((len(pool_t), 1), np.float32)]).astype(np.float64)
    flat = pool.reshape(len(pool), -1)
    xty = np.zeros((x.shape[1], flat.shape[1]))
    for c in range(0, flat.shape[1], 4096):  # x.T @ y in column blocks: the pool as float would take 5.7 GB
        xty[:, c:c + 4096] = x.T @ flat[:, c:c + 4096].astype(np.float64)
    w = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), xty)
    pred = to8(np.hstack([unit(test_t), np.ones((len(test_t), 1), np.float32)]) @ w).reshape(test.shape)
    score('linear map template -> pixels (ridge, lambda 1)', pred, test)

    # The same person's other photos, on training people with >= 17 photos: each of their first 17 photos is a target,
    # predicted by the mean of n of the person's other photos (the next ones in file order, cyclically).
    people = collections.defaultdict(list)
    for i, p in enumerate(train_ids):
        people[p].append(i)
    groups = [g[:17] for g in people.values() if len(g) >= 17]
    targets = np.array([i for g in groups for i in g])
    print(f'{len(groups)} training people with >= 17 photos, {len(targets)} targets', flush=True)
    score('the mean of these photos, one image for all', np.broadcast_to(to8(train[targets].astype(np.float64).mean(0)),
                                                                          train[targets].shape), train[targets])
    for n in (1, 2, 4, 8, 16):
        pred = np.stack([to8(train[[g[(j + d) % len(g)] for d in range(1, n + 1)]].astype(np.float32).mean(0))
                         for g in groups for j in range(len(g))])
        score(f"mean of {n} other photo{'s' if n > 1 else ''} of the same person", pred, train[targets])

    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'train': a.train.split('/')[-1], 'test': a.test.split('/')[-1], 'inner_box': INNER,
                       'rows': rows}, f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
