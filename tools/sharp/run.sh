#!/usr/bin/env bash
# Run sharp-v2: dlib-resnet's sharp decoder (issue 25), as started on 2026-12-06; the recipe and why each part is
# there: docs/ablation-sharp.md. Warm-started from the shipped regression decoder (its tensors; the file's metadata
# was relabelled, 051594a8… → 593caefc…, with the same tensors). Always passes --resume: run it again to continue
# from RUN/dfd-dlib-resnet-lfw-sharp.safetensors.ckpt (written every 50 steps); sample sheets at every checkpoint.
#   nohup tools/sharp/run.sh >> "${RUN:-$HOME/.cache/dfd/runs/sharp-v2}/train.log" 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${RUN:-$HOME/.cache/dfd/runs/sharp-v2}"
LFW="${LFW:-../shared/data/lfw/lfw-deepfunneled}"
mkdir -p "$RUN"
# --init reads a copy in the run folder, so a later change of the shipped file does not stop --resume.
[ -f "$RUN/init-shipped.safetensors" ] || cp models/dfd-dlib-resnet-lfw.safetensors "$RUN/init-shipped.safetensors"
exec ./dfd train --encoder dlib-resnet --data "lfw:$LFW" --split splits/lfw-dfd-v1.json \
  --out "$RUN/dfd-dlib-resnet-lfw-sharp.safetensors" --init "$RUN/init-shipped.safetensors" \
  --widths 256,128,64,32,32 --noise-blocks 3 --ema 0.998 \
  --loss pixel=0.5,pixel_local=0.5,sobel=0,sobel_local=0,ssim=0.25,perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,identity=0.5,identity_person=12,adv=1 \
  --feature-matching 1 --spectral-norm --r1 1 --r1-every 4 --disc-scales 2 --diffaug translation,cutout \
  --epochs 6 --batch 32 --lr 2e-4 --seed 25 --checkpoint-every 50 --resume
