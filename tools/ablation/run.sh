#!/usr/bin/env bash
# Loss ablation of the Deep Face Decoder: the same split, seed, decoder and step budget for every variant, one loss
# term changed at a time; each run then evaluated on the same test people. Writes docs/ablation.md.
#
#   tools/ablation/run.sh                    # all variants, 1 epoch each (330 steps of 32), 300 test people
#   EPOCHS=2 PEOPLE=890 tools/ablation/run.sh
#   VARIANTS="recipe no-identity" tools/ablation/run.sh
#   SEED=2 VARIANTS="recipe perceptual-deep" tools/ablation/run.sh   # a second seed: adds the run-to-run spread table
#   SET=sharp tools/ablation/run.sh          # issue 17's set: each variant fine-tunes the shipped decoder for 1 epoch
#                                            # on its own recipe plus one change; table in docs/ablation-sharp.md
#
# Runs are resumable: a killed script picks up where it stopped (dfd train --resume; finished evaluations are kept).
# Everything goes under $OUT (default ~/.cache/dfd/ablation); only the table is written into the repository.
# One training at a time: the machine has two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=${EPOCHS:-1}
PEOPLE=${PEOPLE:-300}
SEED=${SEED:-1}
LFW=${LFW:-../shared/data/lfw/lfw-deepfunneled}
OUT=${OUT:-$HOME/.cache/dfd/ablation}
SET=${SET:-loss}
if [ "$SET" = sharp ]; then
  # Fine-tunes of the shipped decoder: every variant starts from its weights, with its last stage's loss (BASE) and lr,
  # so a row shows what one change adds to today's faces. Shape changes (wide, shuffle) cannot start from it.
  INIT=${INIT:-models/dfd-dlib-resnet-lfw.safetensors}
  BASE=${BASE:-ssim=1,perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,identity_person=12}
  LR=${LR:-3e-4}
  RESULT=${RESULT:-docs/ablation-sharp.md}
  TAG=ft-e$EPOCHS
else
  INIT=${INIT:-}; BASE=${BASE:-}; LR=${LR:-1e-3}
  RESULT=${RESULT:-docs/ablation.md}
  TAG=e$EPOCHS
fi

declare -A LOSS=(
  [recipe]=""
  [no-identity]="identity=0"
  [no-ssim]="ssim=0"
  [no-local]="pixel_local=0,sobel_local=0"
  [no-sobel]="sobel=0,sobel_local=0"
  [plus-perceptual]="perceptual=1,perceptual_local=0.5"
  [perceptual-deep]="perceptual=1,perceptual_local=0.5,stage_from=3,stages=3"
  [identity-1]="identity=1"
  [deep-identity-1]="perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,identity=1"
  [deep-no-ssim]="perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,ssim=0"
  [deep-centred]="perceptual=1,perceptual_local=0.5,stage_from=3,stages=3,identity_centred=1"
  [pixel-only]="pixel_local=0,sobel=0,sobel_local=0,ssim=0,identity=0"
  [ssim-2]="ssim=2"
  [wide]=""
  [adv]="adv=0.05"
  [adv-fm]="adv=0.05"
  [frequency]="frequency=1"
  [augment]=""
  [shuffle]=""
  [sharp]="adv=0.05,frequency=1"
  [adv-strong]="adv=0.5"
  [adv-1]="adv=1"
  [frequency-20]="frequency=20"
)
# Variants that change the decoder's shape rather than the loss.
declare -A EXTRA=(
  [wide]="--widths 256,192,96,48,32"
  [adv-fm]="--feature-matching 1"
  [augment]="--augment on"
  [shuffle]="--shuffle-blocks 2"
  [sharp]="--augment on --shuffle-blocks 2 --feature-matching 1"
  [adv-strong]="--feature-matching 1"
  [adv-1]="--feature-matching 1"
)
# In the fine-tune set the decoder's shape is the shipped one's: no pixel shuffle in sharp.
[ "$SET" = sharp ] && EXTRA[sharp]="--augment on --feature-matching 1"
# Issue 17's variants (sharper, more individual faces): run with VARIANTS="recipe adv adv-fm frequency augment shuffle sharp".
SHARP="recipe sharp adv-strong frequency-20 adv-1 adv frequency augment adv-fm"
ALL="recipe ssim-2 wide no-identity plus-perceptual perceptual-deep identity-1 deep-identity-1 deep-no-ssim deep-centred no-ssim no-local no-sobel pixel-only"
[ "$SET" = sharp ] && ALL=$SHARP
ORDER=${VARIANTS:-$ALL}

# Build once and run from a copy: a rebuild of the tree while a run is going cannot touch the running binary.
# BIN: a copy made beforehand (e.g. while another training still runs), used as it is.
if [ -z "${BIN:-}" ]; then
  ./dfd models >/dev/null
  rm -rf "$OUT/bin" && mkdir -p "$OUT" && cp -r src/Dfd.Cli/bin/Release/net10.0/linux-x64 "$OUT/bin"
  BIN="$OUT/bin"
fi
export DFD_MODELS="$PWD/models"
# Transparent huge pages for glibc's large malloc chunks: ~3x faster training steps (see ../../dfd).
case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac
dfd() { dotnet "$BIN/Dfd.Cli.dll" "$@"; }
for v in $ORDER; do
  [ -n "${LOSS[$v]+x}" ] || { echo "unknown variant $v (known: ${!LOSS[*]})" >&2; exit 2; }
  d="$OUT/$TAG-s$SEED/$v"; mkdir -p "$d"
  loss=$(IFS=,; x=($BASE ${LOSS[$v]}); echo "${x[*]}")
  if [ ! -f "$d/dfd.safetensors" ] || [ "$(python3 -c "import json,struct,sys;f=open('$d/dfd.safetensors','rb');n=struct.unpack('<Q',f.read(8))[0];print(json.loads(f.read(n))['__metadata__'].get('epochs_done'))")" != "$EPOCHS" ]; then
    echo "== train $v (${loss:-defaults}${INIT:+, from $INIT})"
    dfd train --encoder dlib-resnet --data "lfw:$LFW" --out "$d/dfd.safetensors" --epochs "$EPOCHS" --batch 32 --lr "$LR" \
      --seed "$SEED" --checkpoint-every 50 --resume ${INIT:+--init "$INIT"} ${loss:+--loss "$loss"} ${EXTRA[$v]:-} 2>&1 | tr '\r' '\n' | grep -v NNPACK | grep -E "^epoch [0-9]+:|no checkpoint|resum|error|dfd " || true
  fi
  if [ ! -s "$d/eval.json" ]; then
    echo "== evaluate $v"
    dfd evaluate --decoder "$d/dfd.safetensors" --data "lfw:$LFW" --limit-people "$PEOPLE" --report "$d/report" --json > "$d/eval.json.tmp" 2>"$d/eval.log"
    mv "$d/eval.json.tmp" "$d/eval.json"
  fi
done

# The main table: seed 1's finished variants (this seed's where seed 1 has none); other seeds go into its spread table.
main="$OUT/$TAG-s1"; [ -d "$main" ] || main="$OUT/$TAG-s$SEED"
python3 tools/ablation/table.py "$main" "$RESULT" "$EPOCHS" "$PEOPLE" "$ALL"
