#!/usr/bin/env bash
# The findings of docs/analysis.md and docs/findings.md (issue 18): `dfd analyze compare` of every model whose weights are found, on the first photo of
# the first N test people of split lfw-dfd-v1 (people no shipped decoder saw), under every perturbation; then
# tools/findings/summarise.py writes docs/findings.md and copies the figures it shows into docs/findings/.
#
#   tools/findings/run.sh                     # N=24, dlib-resnet, mobilefacenet-casia, hse-faceres
#   N=8 ENCODERS=dlib-resnet,mobilefacenet-casia tools/findings/run.sh
#
# Reports (HTML, all images, JSON) go under $OUT (default ~/.cache/dfd/findings); a finished kind is kept (delete its
# JSON to run it again).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-24}
LFW=${LFW:-../shared/data/lfw/lfw-deepfunneled}
OUT=${OUT:-$HOME/.cache/dfd/findings}
ENCODERS=${ENCODERS:-dlib-resnet,mobilefacenet-casia,hse-faceres}
KINDS=${KINDS:-rotation translation scale occlusion fgsm pgd interpolate}
DOCS=${DOCS:-docs}
mkdir -p "$OUT/input"
# The inputs: the first photo of each of the first N test people, linked under their own names.
python3 - "$LFW" "$OUT/input" "$N" <<'PY'
import json, os, sys
lfw, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
people = json.load(open("splits/lfw-dfd-v1.json"))["test"][:n]
for f in os.listdir(dst): os.remove(os.path.join(dst, f))
for p in people:
    src = os.path.join(lfw, p, f"{p}_0001.jpg")
    if not os.path.exists(src): sys.exit(f"{src}: missing (is ../shared there?)")
    os.symlink(os.path.abspath(src), os.path.join(dst, f"{p}_0001.jpg"))
print(f"{len(people)} test people: {people[0]} … {people[-1]}")
PY
for k in $KINDS; do
  [ -s "$OUT/$k.json" ] && { echo "== $k: kept"; continue; }
  echo "== $k"
  if [ "$k" = interpolate ]; then
    # Two people of the inputs (the first two): the path between their templates in every model.
    inputs=($(ls "$OUT/input" | head -2 | sed "s|^|$OUT/input/|"))
  else
    inputs=(--input "$OUT/input")
  fi
  ./dfd analyze compare "${inputs[@]}" --encoders "$ENCODERS" --perturbation "$k" --show 1 --row-height 96 \
    --report "$OUT/$k" --json > "$OUT/$k.json.tmp"
  mv "$OUT/$k.json.tmp" "$OUT/$k.json"
done
python3 tools/findings/summarise.py "$OUT" "$DOCS" $KINDS
