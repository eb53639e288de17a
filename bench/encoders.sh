#!/usr/bin/env bash
# Templates/s of every real encoder: the TorchSharp forward (inference mode, no autograd) and, where an ONNX export
# exists (MobileFaceNet), ONNX Runtime and the ONNX→TorchSharp interpreter on the same export. Batch 1 and 32
# (vgg16-face: 8 by default, VGG_BATCH=32 for the full batch). Also checks that the paths agree on each row's input.
#
#   bench/encoders.sh                 # build Release into bench/out/Dfd.Bench, export, time, print + write the table
#   ONLY=dlib-resnet,mobilefacenet-casia bench/encoders.sh   # a subset (the table then lists only those)
#   THREADS=1 ORT_THREADS=1 VGG_BATCH=8 QUICK=1 bench/encoders.sh   # QUICK=1: one timed call per path (smoke test)
#
# Encoders: dlib-resnet (committed weights), mobilefacenet-casia (trained weights from ../shared/models: the TorchSharp
# port loads 068.safetensors, and tools/onnx-export/export_mobilefacenet.py exports 068.ckpt to ONNX under
# bench/out/ (git-ignored; that export must never be committed), vgg16-face and resnet50-face (full size, random
# initialisation: their public weights are not on this machine, and the speed does not depend on the values).
# Writes the table to bench/results/encoders.md (or $RESULT) and the raw JSON lines under bench/out/encoders-*/.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-1}
ORT_THREADS=${ORT_THREADS:-1}
VGG_BATCH=${VGG_BATCH:-8}
ONLY=${ONLY:-dlib-resnet,mobilefacenet-casia,vgg16-face,resnet50-face}
QUICK=${QUICK:-0}
PY=${PY:-/usr/bin/python3}
CKPT=${CKPT:-../shared/models/mobilefacenet-casia/068.ckpt}
RESULT=${RESULT:-bench/results/encoders.md}

OUT=bench/out/encoders-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$(dirname "$RESULT")"

echo "building bench/Dfd.Bench (Release, into bench/out/Dfd.Bench)" >&2
dotnet build bench/Dfd.Bench/Dfd.Bench.csproj -c Release -o bench/out/Dfd.Bench -v q -nologo >"$OUT/build.txt" 2>&1 \
    || { cat "$OUT/build.txt" >&2; exit 1; }
TS=bench/out/Dfd.Bench/Dfd.Bench

MFN_ARGS=()
if [[ ",$ONLY," == *",mobilefacenet-casia,"* ]]; then
    if [ -f "$CKPT" ]; then
        # Real weights: exported into bench/out only (git-ignored), never into the tree.
        echo "exporting $CKPT to $OUT/mobilefacenet-casia.onnx" >&2
        "$PY" tools/onnx-export/export_mobilefacenet.py "$OUT/mobilefacenet-casia.onnx" --ckpt "$CKPT" 2>"$OUT/export.txt" \
            || { cat "$OUT/export.txt" >&2; exit 1; }
        MFN_ARGS=(--mobilefacenet-onnx "$OUT/mobilefacenet-casia.onnx")
    else
        echo "no $CKPT: mobilefacenet-casia without the ONNX paths" >&2
    fi
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(loadavg)
echo "load before: $LOAD_BEFORE" >&2
T0=$(date +%s)
extra=(); [ "$QUICK" = 1 ] && extra=(--quick)
"$TS" --encoders --threads "$THREADS" --ort-threads "$ORT_THREADS" --vgg-batch "$VGG_BATCH" --only "$ONLY" \
    "${MFN_ARGS[@]}" "${extra[@]}" >"$OUT/encoders.jsonl" 2>"$OUT/encoders.stderr" \
    || { grep -v NNPACK "$OUT/encoders.stderr" >&2; exit 1; }
T1=$(date +%s)
LOAD_AFTER=$(loadavg)
echo "load after: $LOAD_AFTER" >&2
grep '^#' "$OUT/encoders.stderr" >&2 || true

TS_VER=$(sed -n 's/.*Include="TorchSharp" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
LT_VER=$(sed -n 's/.*Include="libtorch-cpu-linux-x64" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
ORT_VER=$(sed -n 's/.*Include="Microsoft.ML.OnnxRuntime" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
export OUT THREADS ORT_THREADS VGG_BATCH QUICK LOAD_BEFORE LOAD_AFTER TS_VER LT_VER ORT_VER CPU
export ELAPSED=$((T1 - T0))
"$PY" - "$RESULT" <<'PYEOF'
import json, os, sys, subprocess, datetime
E = os.environ
rows = [json.loads(l) for l in open(os.path.join(E["OUT"], "encoders.jsonl")) if l.startswith("{")]
times = {(r["encoder"], r["batch"], r["path"]): r for r in rows if "path" in r}
checks = {(r["encoder"], r["batch"]): r for r in rows if "check" in r}
order = ["dlib-resnet", "mobilefacenet-casia", "vgg16-face", "resnet50-face"]
weights = {
    "dlib-resnet": "committed weights",
    "mobilefacenet-casia": "trained (068, ../shared)",
    "vgg16-face": "**random init**",
    "resnet50-face": "**random init**",
}
def cell(k):
    r = times.get(k)
    return "—" if r is None else f"{r['templates_per_s']:.2f} ({r['ms_per_batch']:.0f} ms)"
lines = ["# Encoders: templates/s, TorchSharp vs ONNX Runtime vs ONNX→TorchSharp interpreter", "",
         f"`bench/encoders.sh` on {datetime.date.today().isoformat()}"
         + (" (**QUICK=1: one timed call per path, a smoke test, not a measurement**)" if E["QUICK"] == "1" else "")
         + f". Forward only, no autograd (`torch.inference_mode()`), on seeded random pixel input (0..255) at each "
         f"encoder's own crop size. **{E['THREADS']} torch thread** (`torch.set_num_threads`) and **{E['ORT_THREADS']} ONNX Runtime "
         f"intra-op thread** (1 inter-op, sequential), because the machine is shared. Templates/s = batch / median "
         f"time per forward (ms per batch in brackets); few iterations per row, so read differences under ~15% as noise. "
         f"Timed section took {E['ELAPSED']} s.", "",
         "| encoder | weights | input | dim | batch | TorchSharp | ONNX Runtime | ONNX→TorchSharp interpreter |",
         "|---|---|---|---:|---:|---:|---:|---:|"]
check_lines = []
for enc in order:
    bs = sorted({b for (e, b, _) in times if e == enc})
    for b in bs:
        c = checks.get((enc, b), {})
        size = {"dlib-resnet": "150x150", "mobilefacenet-casia": "96x112", "vgg16-face": "224x224", "resnet50-face": "224x224"}[enc]
        bl = f"{b}" + (" (not 32: VGG at 32 takes too long here)" if enc == "vgg16-face" and b not in (1, 32) else "")
        lines.append(f"| {enc} | {weights[enc]} | {size} | {c.get('dim', '?')} | {bl} | {cell((enc, b, 'torchsharp'))} | "
                     f"{cell((enc, b, 'onnxruntime'))} | {cell((enc, b, 'interpreter'))} |")
        d = c.get("check", {})
        if d:
            s = ", ".join(f"{k}: {v:.2e}" for k, v in d.items())
            check_lines.append(f"- {enc}, batch {b}: max abs diff {s} (largest |output| {c['max_abs_output']:.3g})")
        else:
            check_lines.append(f"- {enc}, batch {b}: no second path (no ONNX export of this encoder); nothing to compare")
lines += ["", "Agreement of the paths on each row's own input (max abs difference over all template values):", ""] + check_lines
lines += ["",
          "- dlib-resnet: TorchSharp only (no ONNX export; bench/run.sh compares it with PyTorch and checks it against the face-api fixtures).",
          "- mobilefacenet-casia: the TorchSharp port (`MobileFaceNet`, BatchNorm kept separate) loads `068.safetensors`; ONNX Runtime and the "
          "interpreter run `tools/onnx-export/export_mobilefacenet.py --ckpt 068.ckpt` (BatchNorm folded into the convs by the exporter), "
          f"written under {E['OUT']}/ (git-ignored; an export of these weights must never be committed). ONNX Runtime is timed on the bench's own "
          "`InferenceSession` (fixed thread count), fed exactly as `OnnxEncoder.ForwardWithRuntime` feeds its own (Normalize, copy out, Run, "
          "copy back); `OnnxEncoder`'s session uses ORT's default thread pool, which cannot be set from outside. The interpreter row is "
          "`OnnxEncoder.ForwardWithInterpreter`.",
          "- vgg16-face and resnet50-face: full-size networks with **random initialisation** (TorchSharp's default init; their public weights are "
          "not on this machine). Speed does not depend on the weight values, but the templates mean nothing. TorchSharp only (no ONNX export)."
          + (f" VGG's large batch is {E['VGG_BATCH']}, not 32, to keep the whole table under 5 minutes: one forward of {E['VGG_BATCH']} took "
             f"{times[('vgg16-face', int(E['VGG_BATCH']), 'torchsharp')]['ms_per_batch'] / 1000:.1f} s here, so 32 would take about "
             f"{32 / int(E['VGG_BATCH']):.0f}x that per forward (VGG_BATCH=32 runs it)."
             if E["VGG_BATCH"] != "32" and ('vgg16-face', int(E['VGG_BATCH']), 'torchsharp') in times else ""),
          "- CPU ms and minor page faults per forward are in the raw JSON (`cpu_ms_per_batch`, `minor_faults_per_batch`). At the large "
          "batches the TorchSharp paths fault their big activation buffers in afresh on every forward (most: "
          + ", ".join(f"{k[0]} {k[2]} batch {k[1]} {v['minor_faults_per_batch']:.0f}" for k, v in
                      sorted(times.items(), key=lambda kv: -kv[1].get("minor_faults_per_batch", 0))[:2])
          + " per forward), which costs system time and is part of what these figures measure.",
          f"- Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs (nproc), {E['CPU']}. "
          f"Load average (1/5/15 min) before: {E['LOAD_BEFORE']}, after: {E['LOAD_AFTER']}"
          + (f". **The load exceeded the {os.cpu_count()} CPUs (a training run and a test suite shared the machine): absolute figures are "
             "depressed and noisy; compare paths within a row rather than with other tables.**"
             if max(float(E['LOAD_BEFORE'].split()[0]), float(E['LOAD_AFTER'].split()[0])) > os.cpu_count() else ""),
          f"- TorchSharp {E['TS_VER']} + libtorch-cpu {E['LT_VER']}, ONNX Runtime {E['ORT_VER']} (CPU), "
          f".NET {subprocess.run(['dotnet', '--version'], capture_output=True, text=True).stdout.strip()}. Raw results: {E['OUT']}/encoders.jsonl", ""]
text = "\n".join(lines)
print(text)
with open(sys.argv[1], "w") as f:
    f.write(text)
PYEOF
echo "wrote $RESULT" >&2
