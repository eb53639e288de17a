#!/usr/bin/env bash
# The GPU path end to end, for a Linux machine with an NVIDIA GPU (driver for CUDA 12.8) and NuGet reachable:
#   1. build the CLI and Dfd.Bench with the CUDA switch (-p:DfdTorch=cuda: libtorch-cuda-12.8-linux-x64 instead of
#      libtorch-cpu-linux-x64), into bench/out/gpu/build-cuda (the default build in bin/ and obj/ is left alone);
#   2. train the default dlib-resnet decoder for STEPS steps on LFW's training people (--device cuda), then the same
#      run, from the same cached training set, for CPU_STEPS steps with --device cpu: steps/s side by side;
#   3. reconstruct the bundled samples' templates on the GPU (dfd reconstruct --device cuda), and decode the same
#      templates from the same checkpoint on CPU and on GPU (Dfd.Bench --device-diff): the largest difference;
#   4. evaluate the GPU checkpoint on PEOPLE LFW test people (dfd evaluate --device cuda), which reconstructs them;
#   5. write bench/results/gpu.md (or $RESULT); raw outputs under bench/out/gpu/.
#
#   bench/gpu.sh                                  # the measurement: STEPS=300 CPU_STEPS=30 BATCH=32 PEOPLE=100
#   LFW=/path/to/lfw-deepfunneled bench/gpu.sh    # default ../shared/data/lfw/lfw-deepfunneled
#   TORCH=cpu bench/gpu.sh                        # no GPU: the default build, every step on the CPU, the GPU half
#                                                 # skipped (a dry run of the script; says so in the result)
#   TORCH=cpu CPU_STEPS=2 BATCH=4 LIMIT=48 PEOPLE=3 DECODER_ARGS="--widths 32,16,16,16,16 --start-width 32" \
#     RESULT=bench/out/gpu/smoke.md bench/gpu.sh  # smoke test (minutes on 2 cores; not a measurement)
#
# steps/s = steps / the seconds `dfd train --json` reports, which run from the first step to the last checkpoint
# (after the training set is aligned and encoded, which the cache keeps out of the second run).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=${TORCH:-cuda}
STEPS=${STEPS:-300}
CPU_STEPS=${CPU_STEPS:-30}
BATCH=${BATCH:-32}
PEOPLE=${PEOPLE:-100}
LFW=${LFW:-../shared/data/lfw/lfw-deepfunneled}
LIMIT=${LIMIT:-$(( STEPS * BATCH + STEPS * BATCH / 10 ))}   # enough images for STEPS steps after a few missed faces
DECODER_ARGS=${DECODER_ARGS:-}
RESULT=${RESULT:-bench/results/gpu.md}
OUT=bench/out/gpu
ART=$OUT/build-$TORCH
mkdir -p "$OUT"
[ -d "$LFW" ] || { echo "gpu.sh: $LFW: no LFW folder (set LFW=…/lfw-deepfunneled)" >&2; exit 1; }
case "$TORCH" in cuda|cpu) ;; *) echo "gpu.sh: TORCH=$TORCH: expected cuda or cpu" >&2; exit 2 ;; esac

# As ./dfd runs: large tensors on transparent huge pages (see ./dfd).
case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac

echo "gpu.sh: building with -p:DfdTorch=$TORCH into $ART …" >&2
for p in src/Dfd.Cli/Dfd.Cli.csproj bench/Dfd.Bench/Dfd.Bench.csproj; do
  dotnet build "$p" -c Release -p:DfdTorch="$TORCH" --artifacts-path "$ART" -nologo -v q -clp:ErrorsOnly >"$OUT/build-$(basename "$p" .csproj).txt" 2>&1 \
    || { cat "$OUT/build-$(basename "$p" .csproj).txt" >&2; echo "gpu.sh: build of $p with -p:DfdTorch=$TORCH failed (log above)" >&2; exit 1; }
done
DFD="dotnet $ART/bin/Dfd.Cli/release_linux-x64/Dfd.Cli.dll"
BENCH="dotnet $ART/bin/Dfd.Bench/release_linux-x64/Dfd.Bench.dll"

GPU=cuda
if [ "$TORCH" = cpu ]; then GPU=""; fi
if [ -n "$GPU" ] && ! $DFD encode --model dlib-resnet --input samples/Bill_Clinton_0001.jpg --output "$OUT/cuda-check.npy" --device cuda >/dev/null 2>"$OUT/cuda-check.txt"; then
  echo "gpu.sh: the CUDA build cannot reach a GPU: $(head -n1 "$OUT/cuda-check.txt")" >&2; exit 1
fi
gpu_name=$( { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true; } | head -n1)

num() { grep -o "\"$1\": *[-0-9.eE+]*" "$2" | head -n1 | sed 's/.*: *//'; }
train() {  # device steps out.json
  $DFD train --encoder dlib-resnet --data "lfw:$LFW" --out "$OUT/$1.safetensors" --limit "$LIMIT" --epochs 2 \
    --batch "$BATCH" --max-steps "$2" --cache "$OUT/cache" --device "$1" $DECODER_ARGS --json >"$OUT/train-$1.json" 2>"$OUT/train-$1.log" \
    || { tail -n 5 "$OUT/train-$1.log" >&2; echo "gpu.sh: training on $1 failed" >&2; exit 1; }
}
rm -f "$OUT"/{cuda,cpu}.safetensors "$OUT"/{cuda,cpu}.safetensors.ckpt   # a fresh run each time, not --resume

if [ -n "$GPU" ]; then echo "gpu.sh: training $STEPS steps on the GPU …" >&2; train cuda "$STEPS"; fi
echo "gpu.sh: training $CPU_STEPS steps on the CPU …" >&2; train cpu "$CPU_STEPS"
rate() { awk -v s="$(num steps "$OUT/train-$1.json")" -v t="$(num seconds "$OUT/train-$1.json")" 'BEGIN { printf "%.3f", s / t }'; }

# The same templates from one file on both devices: the GPU checkpoint where there is one, else the CPU one.
CKPT="$OUT/${GPU:-cpu}.safetensors.ckpt"
$DFD encode --model dlib-resnet --input samples --output "$OUT/samples.npy" --json >"$OUT/encode.json" 2>"$OUT/encode.log"
$DFD reconstruct --decoder "$CKPT" --input "$OUT/samples.npy" --output "$OUT/recon-${GPU:-cpu}" --device "${GPU:-cpu}" --json >"$OUT/reconstruct.json" 2>"$OUT/reconstruct.log"
$BENCH --device-diff --decoder "$CKPT" --templates "$OUT/samples.npy" --a cpu --b "${GPU:-cpu}" >"$OUT/device-diff.json" 2>"$OUT/device-diff.log"

echo "gpu.sh: evaluating $PEOPLE test people on ${GPU:-cpu} …" >&2
$DFD evaluate --decoder "$CKPT" --data "lfw:$LFW" --limit-people "$PEOPLE" --with-models dlib-resnet --device "${GPU:-cpu}" \
  --cache "$OUT/evalcache" --report "$OUT/eval-${GPU:-cpu}" --json >"$OUT/evaluate.json" 2>"$OUT/evaluate.log" \
  || { tail -n 5 "$OUT/evaluate.log" >&2; echo "gpu.sh: evaluation failed" >&2; exit 1; }

cpu_rate=$(rate cpu)
{
  echo "# The GPU path: training steps/s on GPU and CPU, and CPU vs GPU reconstructions"
  echo
  echo "Written by \`bench/gpu.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPU cores$( [ -n "$gpu_name" ] && echo "; GPU: $gpu_name")); build switch -p:DfdTorch=$TORCH."
  echo
  if [ -z "$GPU" ]; then
    echo "**No GPU was used (TORCH=cpu):** this run only shows the script working up to its CUDA part; the GPU column is empty."
    echo
  fi
  echo "Training: dlib-resnet decoder ($( [ -n "$DECODER_ARGS" ] && echo "$DECODER_ARGS" || echo "default shape" )), batch $BATCH, the LFW training people (first $LIMIT images), the trainer's default loss."
  echo
  echo "| device | steps | seconds | steps/s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for d in $GPU cpu; do
    echo "| $d | $(num steps "$OUT/train-$d.json") | $(num seconds "$OUT/train-$d.json" | xargs printf '%.1f') | $(rate "$d") | $(awk -v r="$(rate "$d")" -v b="$BATCH" 'BEGIN { printf "%.1f", r * b }') |"
  done
  [ -n "$GPU" ] && echo && echo "GPU over CPU: $(awk -v g="$(rate cuda)" -v c="$cpu_rate" 'BEGIN { printf "%.1f", g / c }')× the steps per second."
  echo
  echo "CPU vs ${GPU:-cpu} reconstructions of the $(num templates "$OUT/device-diff.json") sample templates from one file ($(basename "$CKPT")):"
  echo "largest difference $(num max_abs "$OUT/device-diff.json") of 255 in the decoder's float output (mean $(num mean_abs "$OUT/device-diff.json")),"
  echo "$(num max_grey_levels "$OUT/device-diff.json") grey level(s) in the saved images."
  echo
  echo "Evaluation on ${GPU:-cpu}: $(num evaluated_images "$OUT/evaluate.json") images of $(num evaluated_people "$OUT/evaluate.json") LFW test people reconstructed and scored in $(num seconds "$OUT/evaluate.json") s (report in $OUT/eval-${GPU:-cpu})."
  echo
  echo "Raw outputs: $OUT/ (train-*.json, device-diff.json, evaluate.json, reconstruct.json and their logs)."
} >"$RESULT"
cat "$RESULT"
