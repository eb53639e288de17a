#!/usr/bin/env bash
# dlib-resnet's sharp decoder (issue 25), as trained on 2026-12-06/07; every run and why: docs/ablation-sharp.md.
# The shipped file (models/dfd-dlib-resnet-lfw-sharp.safetensors) is the end of this chain, run by default:
#   sharp-v2:  --init the shipped regression decoder, top widened to 32 channels, noise in 3 blocks, EMA 0.998,
#              spectral-norm discriminator with R1 and DiffAugment; a cosine planned over 6 epochs, stopped after the
#              first (--max-steps 330).
#   sharp-v15: --init sharp-v2's file; + identity_warped=24, colour=10, --ema-norms; 1 epoch, seed 30.
#   sharp-v16: sharp-v15's checkpoint carried on for a schedule of 4 epochs.
#   sharp-v20: --init sharp-v16's file; + apart=2; a cosine planned over 4 epochs, stopped after the second
#              (--max-steps 660), seed 31: the shipped file.
#   STAGES=all adds the runs that were not shipped:
#   sharp-v17: --init sharp-v16's file; + apart=4; 1 epoch, seed 31; sharp-v18: its checkpoint carried on for a
#             schedule of 3 epochs (shipped in session 18: whole-image detail 0.591).
#   sharp-v3: --init sharp-v2's file; a discriminator that learns (no spectral norm, R1 or DiffAugment, D lr 8e-4),
#             adv 1.5, feature matching 2; stopped after 1 of 4 epochs (--max-steps 330);
#   sharp-v4: --init sharp-v3's file; the same discriminator, adv 0.5, feature matching 1; 2 epochs;
#   sharp-v5: --init sharp-v2's file, sharp-v4's setting; 1 epoch.
#   sharp-v6…v9: sharp-v5 with one change each (session 16): v6 identity_warped=12; v7 v6 + --freeze-blocks 3;
#             v8 v6 + pixel_low=4; v9 identity_warped=24 + colour=10; v10 identity_warped=48, colour=30, adv 0.35,
#             feature matching 0.7; v11 v9 + --ema-norms (the same weights as v9, its statistics measured).
#   sharp-v12…v14 (session 17): below.
# Each stage resumes (--resume; a checkpoint every 50 steps, a sample sheet at each): run the script again to go on.
#   nohup tools/sharp/run.sh >> "${RUN:-$HOME/.cache/dfd/runs/sharp}/train.log" 2>&1 &
# SEED_OFFSET=N adds N to every stage's seed: the issue's second seed of the chain (in its own RUN folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN="${RUN:-$HOME/.cache/dfd/runs/sharp}"
LFW="${LFW:-../shared/data/lfw/lfw-deepfunneled}"
mkdir -p "$RUN"
seed() { echo $(($1 + ${SEED_OFFSET:-0})); }
# --init reads a copy in the run folder, so a later change of the shipped file does not stop --resume.
[ -f "$RUN/init-shipped.safetensors" ] || cp models/dfd-dlib-resnet-lfw.safetensors "$RUN/init-shipped.safetensors"
common=(--encoder dlib-resnet --data "lfw:$LFW" --split splits/lfw-dfd-v1.json --widths 256,128,64,32,32 --noise-blocks 3
  --ema 0.998 --batch 32 --lr 2e-4 --disc-scales 2 --checkpoint-every 50 --resume)
loss=pixel=0.5,pixel_local=0.5,sobel=0,sobel_local=0,ssim=0.25,perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,identity=0.5,identity_person=12
learns=(--disc-lr 8e-4 --diffaug none)   # no --spectral-norm, no --r1
out() { echo "$RUN/$1/dfd-dlib-resnet-lfw-sharp.safetensors"; }
[ -f "$(out v2)" ] || ./dfd train "${common[@]}" --out "$(out v2)" --init "$RUN/init-shipped.safetensors" \
  --loss "$loss,adv=1" --feature-matching 1 --spectral-norm --r1 1 --r1-every 4 --diffaug translation,cutout \
  --epochs 6 --max-steps 330 --seed "$(seed 25)"
gentle=(--feature-matching 1 --spectral-norm --r1 1 --r1-every 4 --diffaug translation,cutout --ema-norms)
./dfd train "${common[@]}" --out "$(out v15)" --init "$(out v2)" --loss "$loss,identity_warped=24,colour=10,adv=1" \
  "${gentle[@]}" --epochs 1 --seed "$(seed 30)"
# A checkpoint copied into the next run's folder carries a run on (discriminator, average, optimisers and all) for a
# longer schedule; --epochs is not part of a checkpoint's settings.
mkdir -p "$RUN/v16"; [ -f "$(out v16).ckpt" ] || [ -f "$(out v16)" ] || cp "$(out v15).ckpt" "$(out v16).ckpt"
./dfd train "${common[@]}" --out "$(out v16)" --init "$(out v2)" --loss "$loss,identity_warped=24,colour=10,adv=1" \
  "${gentle[@]}" --epochs 4 --seed "$(seed 30)"
# --max-steps counts from where a run resumes: the finished file, not --resume, ends this stage (as v2's).
[ -f "$(out v20)" ] || ./dfd train "${common[@]}" --out "$(out v20)" --init "$(out v16)" \
  --loss "$loss,identity_warped=24,colour=10,adv=1,apart=2" "${gentle[@]}" --epochs 4 --max-steps 660 --seed "$(seed 31)"
[ "${STAGES:-shipped}" = all ] || exit 0
./dfd train "${common[@]}" --out "$(out v17)" --init "$(out v16)" --loss "$loss,identity_warped=24,colour=10,adv=1,apart=4" \
  "${gentle[@]}" --epochs 1 --seed "$(seed 31)"
mkdir -p "$RUN/v18"; [ -f "$(out v18).ckpt" ] || [ -f "$(out v18)" ] || cp "$(out v17).ckpt" "$(out v18).ckpt"
./dfd train "${common[@]}" --out "$(out v18)" --init "$(out v16)" --loss "$loss,identity_warped=24,colour=10,adv=1,apart=4" \
  "${gentle[@]}" --epochs 3 --seed "$(seed 31)"
[ -f "$(out v3)" ] || ./dfd train "${common[@]}" --out "$(out v3)" --init "$(out v2)" \
  --loss "$loss,adv=1.5" --feature-matching 2 "${learns[@]}" --epochs 4 --max-steps 330 --seed "$(seed 26)"
# v2 and v3 stop at --max-steps, which counts from where a run resumes: their finished file, not --resume, ends them.
# v4 and v5 run their whole schedule, and --resume of a finished run does nothing.
./dfd train "${common[@]}" --out "$(out v4)" --init "$(out v3)" --loss "$loss,adv=0.5" --feature-matching 1 "${learns[@]}" \
  --epochs 2 --seed "$(seed 27)"
./dfd train "${common[@]}" --out "$(out v5)" --init "$(out v2)" --loss "$loss,adv=0.5" --feature-matching 1 "${learns[@]}" \
  --epochs 1 --seed "$(seed 28)"
sharp5() { ./dfd train "${common[@]}" --init "$(out v2)" "${learns[@]}" --epochs 1 --seed "$(seed 28)" "$@"; }
sharp5 --out "$(out v6)" --loss "$loss,identity_warped=12,adv=0.5" --feature-matching 1
sharp5 --out "$(out v7)" --loss "$loss,identity_warped=12,adv=0.5" --freeze-blocks 3 --feature-matching 1
sharp5 --out "$(out v8)" --loss "$loss,identity_warped=12,pixel_low=4,adv=0.5" --feature-matching 1
sharp5 --out "$(out v9)" --loss "$loss,identity_warped=24,colour=10,adv=0.5" --feature-matching 1
sharp5 --out "$(out v10)" --loss "$loss,identity_warped=48,colour=30,adv=0.35" --feature-matching 0.7
sharp5 --out "$(out v11)" --loss "$loss,identity_warped=24,colour=10,adv=0.5" --ema-norms --feature-matching 1
# Session 17: v12 v11's checkpoint carried on for a second epoch (the cosine then spans two); v13 v11 + warp_shrink=0.4;
# v14 v11 with seed 29.
mkdir -p "$RUN/v12"; [ -f "$(out v12).ckpt" ] || [ -f "$(out v12)" ] || cp "$(out v11).ckpt" "$(out v12).ckpt"
sharp5 --out "$(out v12)" --loss "$loss,identity_warped=24,colour=10,adv=0.5" --ema-norms --feature-matching 1 --epochs 2
sharp5 --out "$(out v13)" --loss "$loss,identity_warped=24,warp_shrink=0.4,colour=10,adv=0.5" --ema-norms --feature-matching 1
sharp5 --out "$(out v14)" --loss "$loss,identity_warped=24,colour=10,adv=0.5" --ema-norms --feature-matching 1 --seed "$(seed 29)"
