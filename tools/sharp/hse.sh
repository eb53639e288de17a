#!/usr/bin/env bash
# hse-faceres's sharp decoder (issue 25): dlib-resnet's recipe (tools/sharp/run.sh, docs/ablation-sharp.md) in one
# stage. From the shipped regression decoder: the top widened to 32 channels, noise in the last 3 blocks,
# spectral-norm two-scale discriminator with R1 and DiffAugment, and the losses of dlib-resnet's shipped stage
# (identity_warped 24, colour 10, adv 1, apart 2) on the perceptual stages of hse-faceres's own regression decoder.
# One epoch is 330 steps of ~16 s on the 2-core machine without oneDNN (5,484 and 5,250 s; docs/performance.md), so the
# average of the weights decays at 0.995 rather than dlib-resnet's 0.998: after 330 steps 0.998 would still hold half
# the start. The shipped file (models/dfd-hse-faceres-lfw-sharp.safetensors, hse-sharp-v1 e2) is one epoch of a
# one-epoch cosine (e1/) carried on under a two-epoch cosine ($RUN/dfd-hse-faceres-lfw-sharp.safetensors).
# Resumes (--resume; a checkpoint every 50 steps and a sample sheet with it): run the script again to go on.
#   nohup tools/sharp/hse.sh >> "${RUN:-$HOME/.cache/dfd/runs/hse-sharp}/train.log" 2>&1 &
# DFD=path/to/Dfd.Cli.dll runs a copy of the built command (so a rebuild of the checkout does not touch a run).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${RUN:-$HOME/.cache/dfd/runs/hse-sharp}"
LFW="${LFW:-../shared/data/lfw/lfw-deepfunneled}"
mkdir -p "$RUN"
dfd() { if [ -n "${DFD:-}" ]; then GLIBC_TUNABLES=glibc.malloc.hugetlb=1 dotnet "$DFD" "$@"; else ./dfd "$@"; fi; }
[ -f "$RUN/init-shipped.safetensors" ] || cp models/dfd-hse-faceres-lfw.safetensors "$RUN/init-shipped.safetensors"
loss=pixel=0.5,pixel_local=0.5,sobel=0,sobel_local=0,ssim=0.25,perceptual=1,perceptual_local=0.5,stage_from=3,stages=2
loss=$loss,identity=0.5,identity_person=12,identity_warped=24,colour=10,adv=1,apart=2
train() {
  dfd train --encoder hse-faceres --data "lfw:$LFW" --split splits/lfw-dfd-v1.json \
    --widths 256,192,128,64,32,32 --noise-blocks 3 --ema 0.995 --ema-norms --batch 32 --lr 2e-4 \
    --disc-scales 2 --feature-matching 1 --spectral-norm --r1 1 --r1-every 4 --diffaug translation,cutout \
    --loss "$loss" --init "$RUN/init-shipped.safetensors" --seed "${SEED:-40}" --checkpoint-every 50 --resume "$@"
}
e1="$RUN/e1/dfd-hse-faceres-lfw-sharp.safetensors" final="$RUN/dfd-hse-faceres-lfw-sharp.safetensors"
mkdir -p "$RUN/e1"
# A checkpoint copied into the next run's place carries a run on (discriminator, average, optimisers and all) for a
# longer schedule; --epochs is not part of a checkpoint's settings.
[ -f "$final.ckpt" ] || [ -f "$final" ] || train --out "$e1" --epochs 1
[ -f "$final.ckpt" ] || [ -f "$final" ] || cp "$e1.ckpt" "$final.ckpt"
train --out "$final" --epochs 2
