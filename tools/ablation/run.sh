#!/usr/bin/env bash
# Loss ablation of the Deep Face Decoder: the same split, seed, decoder and step budget for every variant, one loss
# term changed at a time; each run then evaluated on the same test people. Writes docs/ablation.md.
#
#   tools/ablation/run.sh                    # all variants, 1 epoch each (330 steps of 32), 300 test people
#   EPOCHS=2 PEOPLE=890 tools/ablation/run.sh
#   VARIANTS="recipe no-identity" tools/ablation/run.sh
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
RESULT=${RESULT:-docs/ablation.md}

declare -A LOSS=(
  [recipe]=""
  [no-identity]="identity=0"
  [no-ssim]="ssim=0"
  [no-local]="pixel_local=0,sobel_local=0"
  [no-sobel]="sobel=0,sobel_local=0"
  [plus-perceptual]="perceptual=1,perceptual_local=0.5"
  [pixel-only]="pixel_local=0,sobel=0,sobel_local=0,ssim=0,identity=0"
  [ssim-2]="ssim=2"
  [wide]=""
)
# Variants that change the decoder's shape rather than the loss.
declare -A EXTRA=(
  [wide]="--widths 256,192,96,48,32"
)
ORDER=${VARIANTS:-"recipe ssim-2 wide no-identity plus-perceptual no-ssim no-local no-sobel pixel-only"}

# Build once and run from a copy: a rebuild of the tree while a run is going cannot touch the running binary.
./dfd models >/dev/null
rm -rf "$OUT/bin" && mkdir -p "$OUT" && cp -r src/Dfd.Cli/bin/Release/net10.0/linux-x64 "$OUT/bin"
export DFD_MODELS="$PWD/models"
dfd() { dotnet "$OUT/bin/Dfd.Cli.dll" "$@"; }
for v in $ORDER; do
  [ -n "${LOSS[$v]+x}" ] || { echo "unknown variant $v (known: ${!LOSS[*]})" >&2; exit 2; }
  d="$OUT/e$EPOCHS-s$SEED/$v"; mkdir -p "$d"
  if [ ! -f "$d/dfd.safetensors" ] || [ "$(python3 -c "import json,struct,sys;f=open('$d/dfd.safetensors','rb');n=struct.unpack('<Q',f.read(8))[0];print(json.loads(f.read(n))['__metadata__'].get('epochs_done'))")" != "$EPOCHS" ]; then
    echo "== train $v (${LOSS[$v]:-defaults})"
    dfd train --encoder dlib-resnet --data "lfw:$LFW" --out "$d/dfd.safetensors" --epochs "$EPOCHS" --batch 32 --lr 1e-3 \
      --seed "$SEED" --checkpoint-every 50 --resume ${LOSS[$v]:+--loss "${LOSS[$v]}"} ${EXTRA[$v]:-} 2>&1 | tr '\r' '\n' | grep -v NNPACK | grep -E "^epoch [0-9]+:|no checkpoint|resum|error|dfd " || true
  fi
  if [ ! -s "$d/eval.json" ]; then
    echo "== evaluate $v"
    dfd evaluate --decoder "$d/dfd.safetensors" --data "lfw:$LFW" --limit-people "$PEOPLE" --report "$d/report" --json > "$d/eval.json.tmp" 2>"$d/eval.log"
    mv "$d/eval.json.tmp" "$d/eval.json"
  fi
done

python3 - "$OUT/e$EPOCHS-s$SEED" "$RESULT" "$EPOCHS" "$PEOPLE" "$ORDER" <<'PY'
import json, os, sys
root, result, epochs, people, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
def rate(model, fmr=1e-3):
    for x in model["rates"]:
        if abs(x["fmr"] - fmr) < 1e-12: return x
rows = []
for v in order:
    p = os.path.join(root, v, "eval.json")
    if not os.path.exists(p): continue
    e = json.load(open(p))
    meta = e["decoder"].get("metadata", {})
    loss = json.loads(meta.get("train_config", "{}")).get("Loss", {})
    models = {m["model"]: m for m in e["results"]}
    own, cross = models.get("dlib-resnet"), models.get("mobilefacenet-casia")
    q = e["quality"]
    cell = lambda m, k: f'{100 * rate(m)[k]:.1f}%' if m else "–"
    shape = json.loads(meta.get("decoder_config", "{}")).get("BlockWidths")
    terms = ", ".join(f"{k}={v}" for k, v in loss.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v and k != "PerceptualStages")
    rows.append(f'| {v} | {terms}; widths {shape}, {int(meta.get("parameters", 0)) / 1e6:.1f} M params | {float(meta.get("train_seconds", "nan")) / 60:.0f} | {cell(own, "type_i")} | {cell(own, "type_ii")} | '
                f'{cell(cross, "type_i")} | {cell(cross, "type_ii")} | {q["ssim_mean"]:.3f} | {q["psnr_mean_db"]:.2f} |')
with open(result, "w") as f:
    f.write(f"""# Loss ablation

`tools/ablation/run.sh`: dlib-resnet decoder, split `lfw-dfd-v1`, seed 1, batch 32, lr 1e-3 (cosine), {epochs} epoch(s)
({int(epochs) * 330} steps) per variant, the default decoder shape; evaluated with `dfd evaluate --limit-people {people}`
(the first {people} test people of the split, all their images). Match rates at FMR 1e-3; type II averaged per person.
"cross" is `mobilefacenet-casia`, which never saw the decoder. Short budget: this ranks the terms early in training,
it does not predict the numbers of a full run.

| variant | loss weights | train min | own type I | own type II | cross type I | cross type II | SSIM | PSNR dB |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n")
print(open(result).read())
PY
