#!/usr/bin/env bash
# The README's grid: originals / regression decoder / sharp decoder, each row labelled with the decoder that drew it,
# for the same 16 LFW test faces and for the bundled samples/ photos.
#
# usage: tools/readme-grid/run.sh [--encoder E] [--lfw DIR] [--sharp FILE|none] [--out DIR]
#   --encoder  whose shipped decoders draw the rows, default dlib-resnet (the README's); another encoder's grids are
#              named grid-E-lfw.png, grid-E-samples.png
#   --lfw      LFW (deep-funneled) folder, default ../shared/data/lfw/lfw-deepfunneled
#   --sharp    the sharp decoder, default models/dfd-E-lfw-sharp.safetensors where it exists; none: regression only
#   --out      where the two grids go, default docs/ (readme-grid-lfw.png, readme-grid-samples.png for dlib-resnet)
# The 16 faces: the test people of splits/lfw-dfd-v1.json with at least 2 photos in the folder, sorted by name
# (ordinal), the first 16; each person's first photo by file name. DFD overrides the command (default ./dfd).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
lfw=../shared/data/lfw/lfw-deepfunneled
encoder=dlib-resnet
sharp=
out=docs
while [ $# -gt 0 ]; do
  case "$1" in
    --encoder) encoder="$2"; shift 2 ;;
    --lfw) lfw="$2"; shift 2 ;;
    --sharp) sharp="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "readme-grid: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
dfd=(${DFD:-./dfd})
regression=models/dfd-$encoder-lfw.safetensors
sharp="${sharp:-models/dfd-$encoder-lfw-sharp.safetensors}"
name=readme-grid; [ "$encoder" = dlib-resnet ] || name="grid-$encoder"
[ -f "$regression" ] || { echo "readme-grid: $regression: no shipped decoder for $encoder" >&2; exit 1; }
[ -d "$lfw" ] || { echo "readme-grid: $lfw: LFW folder not found (give --lfw DIR)" >&2; exit 1; }
decoders="$regression"
if [ "$sharp" != none ] && [ -f "$sharp" ]; then decoders="$regression,$sharp"
elif [ "$sharp" != none ]; then echo "readme-grid: $sharp not found: regression decoder only" >&2; fi

work="$root/out/readme-grid"
rm -rf "$work"; mkdir -p "$work/lfw-faces"
# The fixed rule, in Python for the JSON: first 16 test people (ordinal order) with ≥ 2 photos, first photo of each.
python3 - "$lfw" splits/lfw-dfd-v1.json "$work/lfw-faces" <<'PY'
import json, os, shutil, sys
lfw, split, dst = sys.argv[1:4]
people = sorted(json.load(open(split))["test"], key=lambda s: s.encode())
chosen = []
for p in people:
    d = os.path.join(lfw, p)
    photos = sorted(f for f in os.listdir(d) if f.lower().endswith(".jpg")) if os.path.isdir(d) else []
    if len(photos) >= 2:
        chosen.append(os.path.join(d, photos[0]))
    if len(chosen) == 16:
        break
if len(chosen) < 16:
    sys.exit(f"readme-grid: only {len(chosen)} test people with 2 photos in {lfw}")
for i, f in enumerate(chosen):
    shutil.copy(f, os.path.join(dst, f"{i:02d}-{os.path.basename(f)}"))   # the prefix keeps the rule's order
print("\n".join(os.path.basename(f) for f in chosen))
PY

"${dfd[@]}" reconstruct --decoder "$decoders" --input "$work/lfw-faces" --output "$work/lfw"
"${dfd[@]}" reconstruct --decoder "$decoders" --input samples --output "$work/samples"
mkdir -p "$out"
cp "$work/lfw/grid.png" "$out/$name-lfw.png"
cp "$work/samples/grid.png" "$out/$name-samples.png"
echo "readme-grid: $out/$name-lfw.png, $out/$name-samples.png (decoders: $decoders)"
