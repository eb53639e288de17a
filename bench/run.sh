#!/usr/bin/env bash
# dlib-resnet templates/s: the TorchSharp port (bench/Dfd.Bench) against the same network in PyTorch
# (bench/dlib_resnet.py), side by side, batch 1 and batch 32 on 150x150 aligned input.
#
#   bench/run.sh                      # build Release, check both against the face-api fixtures, time, print table
#   THREADS="2 1" bench/run.sh        # intra-op thread count(s) for both, one table each (default 2)
#   ROUNDS=3 ITERS=60,4 bench/run.sh  # interleaved rounds (TorchSharp, PyTorch, ...); timed iterations per repeat
#   OPENBLAS=1 bench/run.sh           # also PyTorch with OpenBLAS in place of Debian's reference BLAS (see below)
#   PROFILE=1 bench/run.sh            # also the op-by-op breakdown at batch 32 for both (stderr log + results)
#
# Each round runs the C# bench then the Python one with the same iteration counts; each process reports the median of
# REPEATS repeats. The table gives the median over rounds and, in the last columns, the fastest repeat seen: on a
# shared machine other processes only ever make a run slower, so the best figures are the least disturbed.
# Writes the table to bench/results/dlib-resnet.md (or $RESULT) and the raw JSON lines under bench/out/.
#
# PyTorch is Debian's python3-torch (1.13) under /usr/bin/python3 (PY=...). Debian links it against libblas.so.3,
# which on this image is netlib's reference BLAS; convolutions that PyTorch does not hand to oneDNN (at batch 1: every
# layer from 64 channels on) go through im2col + that BLAS. OPENBLAS=1 fetches Debian's libopenblas0-openmp with
# `apt-get download` into bench/out/ (nothing is installed) and adds a column with LD_LIBRARY_PATH pointing at it.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
ITERS=${ITERS:-20,2}
WARMUP=${WARMUP:-5,2}
REPEATS=${REPEATS:-3}
BATCHES=${BATCHES:-1,32}
PY=${PY:-/usr/bin/python3}
OPENBLAS=${OPENBLAS:-0}
PROFILE=${PROFILE:-0}
RESULT=${RESULT:-bench/results/dlib-resnet.md}

OUT=bench/out/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$(dirname "$RESULT")"
LOG=$OUT/log.txt

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "run.sh: $PY has no torch/numpy (Debian: apt-get install python3-torch; or set PY=)" >&2
    exit 1
fi

OB_DIR=bench/out/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ "$OPENBLAS" = 1 ] && [ ! -e "$OB_DIR/libblas.so.3" ]; then
    echo "fetching libopenblas0-openmp (apt-get download, unpacked under bench/out/openblas, not installed)" >&2
    mkdir -p bench/out/deb
    (cd bench/out/deb && apt-get download libopenblas0-openmp >/dev/null)
    dpkg -x bench/out/deb/libopenblas0-openmp_*.deb bench/out/openblas
fi

echo "building bench/Dfd.Bench (Release)" >&2
dotnet build bench/Dfd.Bench/Dfd.Bench.csproj -c Release -o bench/out/Dfd.Bench -v q -nologo >"$OUT/build.txt" 2>&1 \
    || { cat "$OUT/build.txt" >&2; exit 1; }
TS=bench/out/Dfd.Bench/Dfd.Bench

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load before: $(loadavg)" | tee -a "$LOG" >&2
LOAD_BEFORE=$(loadavg)

# Interleaved: each round runs every thread count for every implementation, so that changes in the machine's load
# hit all of them alike.
for r in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
        common=(--threads "$t" --batches "$BATCHES" --iters "$ITERS" --warmup "$WARMUP" --repeats "$REPEATS")
        first=0; [ "$r" = 1 ] && [ "$t" = "${THREADS%% *}" ] && first=1
        echo "round $r/$ROUNDS, $t thread(s): torchsharp (load $(loadavg))" >&2
        extra=(); [ $first = 1 ] && extra=(--dump "$OUT/dump")
        [ $first = 1 ] && [ "$PROFILE" = 1 ] && extra+=(--profile)
        "$TS" "${common[@]}" "${extra[@]}" >>"$OUT/torchsharp.jsonl" 2>>"$OUT/torchsharp.stderr" \
            || { grep -v NNPACK "$OUT/torchsharp.stderr" >&2; exit 1; }
        echo "round $r/$ROUNDS, $t thread(s): pytorch (load $(loadavg))" >&2
        extra=(); [ $first = 1 ] && extra=(--csharp-dump "$OUT/dump")
        [ $first = 1 ] && [ "$PROFILE" = 1 ] && extra+=(--profile)
        "$PY" bench/dlib_resnet.py "${common[@]}" "${extra[@]}" >>"$OUT/pytorch.jsonl" 2>>"$OUT/pytorch.stderr" \
            || { cat "$OUT/pytorch.stderr" >&2; exit 1; }
        if [ "$OPENBLAS" = 1 ]; then
            echo "round $r/$ROUNDS, $t thread(s): pytorch+openblas (load $(loadavg))" >&2
            LD_LIBRARY_PATH="$OB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
                "$PY" bench/dlib_resnet.py "${common[@]}" >>"$OUT/pytorch-openblas.jsonl" 2>>"$OUT/pytorch-openblas.stderr" \
                || { cat "$OUT/pytorch-openblas.stderr" >&2; exit 1; }
        fi
    done
done
LOAD_AFTER=$(loadavg)
echo "load after: $LOAD_AFTER" | tee -a "$LOG" >&2
for f in torchsharp pytorch; do grep -h '^#' "$OUT/$f.stderr" | awk '!seen[$0]++' >&2; done
nn=$(grep -c NNPACK "$OUT/torchsharp.stderr" || true)
[ "$nn" -gt 0 ] && echo "(libtorch printed $nn 'Could not initialize NNPACK' warnings; harmless, see $OUT/torchsharp.stderr)" >&2

# Versions and machine.
TS_VER=$(sed -n 's/.*Include="TorchSharp" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
LT_VER=$(sed -n 's/.*Include="libtorch-cpu-linux-x64" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
PY_VERS=$("$PY" -c 'import torch, numpy, platform; print(f"PyTorch {torch.__version__} (python {platform.python_version()}, numpy {numpy.__version__})")')
PY_BLAS=$("$PY" -c 'import torch, re; print(", ".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if re.search(r"/lib(blas|openblas|mkl)", l)})))' || true)
DNN_TS=$(ONEDNN_VERBOSE=1 "$TS" --threads 1 --batches 1 --iters 1 --warmup 0 --repeats 1 2>&1 | sed -n 's/.*info,\(oneDNN v[0-9.]*\).*/\1/p' | head -1)
DNN_PY=$(DNNL_VERBOSE=1 ONEDNN_VERBOSE=1 "$PY" -c 'import torch; torch.nn.functional.conv2d(torch.rand(2,8,16,16), torch.rand(8,8,5,5))' 2>&1 | sed -n 's/.*info,\(oneDNN v[0-9.]*\).*/\1/p' | head -1)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_tile' | tr '\n' ' ')

CHECKS=$(grep -h -E '^# .*(fixtures|seeded random).*max abs diff' "$OUT/torchsharp.stderr" "$OUT/pytorch.stderr" | sort -u | sed 's/^# /  - /')
export CHECKS OUT THREADS ROUNDS ITERS WARMUP REPEATS OPENBLAS LOAD_BEFORE LOAD_AFTER TS_VER LT_VER PY_VERS PY_BLAS CPU FLAGS DNN_TS DNN_PY
"$PY" - "$RESULT" <<'PYEOF'
import json, os, statistics, sys, subprocess, datetime

def load(name):
    p = os.path.join(os.environ["OUT"], name)
    rows = [json.loads(l) for l in open(p)] if os.path.exists(p) else []
    return [r for r in rows if "templates_per_s" in r and "variant" not in r]

def summary(rows, batch, threads):
    rs = [r for r in rows if r["batch"] == batch and r["threads"] == threads]
    if not rs:
        return None
    med = statistics.median(r["ms_per_batch"] for r in rs)
    best = min(r["ms_per_batch_min"] for r in rs)
    cpu = statistics.median(r.get("cpu_ms_per_batch", float("nan")) for r in rs)
    return {"med": batch * 1000 / med, "best": batch * 1000 / best, "ms": med, "cpu": cpu, "threads": rs[0]["threads"]}

ts, py, pyob = load("torchsharp.jsonl"), load("pytorch.jsonl"), load("pytorch-openblas.jsonl")
batches = sorted({r["batch"] for r in ts})
threads = sorted({r["threads"] for r in ts}, reverse=True)
E = os.environ
lines = ["# dlib-resnet encoder: templates/s, TorchSharp port vs PyTorch", "",
         f"`bench/run.sh` on {datetime.date.today().isoformat()}: {E['ROUNDS']} interleaved round(s), iterations per repeat "
         f"{E['ITERS']} (batch {','.join(map(str, batches))}), {E['REPEATS']} repeats per process, 150x150 RGB input, "
         "forward only (inference mode), model as shipped (conv + separate scale/shift). Templates/s = batch / "
         "time per forward; *median* over rounds of each process's median repeat, *best* = fastest repeat; CPU ms = "
         "process CPU time (all threads, incl. OpenMP spin-waits) per timed forward.", ""]
for th in threads:
    lines += [f"### {th} thread{'s' if th > 1 else ''} (torch.get_num_threads() = {th} in both)", "",
              "| batch | TorchSharp templates/s | PyTorch templates/s | ratio (TorchSharp/PyTorch) | best TorchSharp | best PyTorch | ratio (best) | CPU ms/forward TorchSharp / PyTorch |"
              + (" PyTorch+OpenBLAS templates/s | ratio vs OpenBLAS (median / best) |" if pyob else ""),
              "|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if pyob else "")]
    for b in batches:
        t, p = summary(ts, b, th), summary(py, b, th)
        row = (f"| {b} | {t['med']:.1f} | {p['med']:.1f} | {t['med'] / p['med']:.2f} | {t['best']:.1f} | {p['best']:.1f} | "
               f"{t['best'] / p['best']:.2f} | {t['cpu']:.0f} / {p['cpu']:.0f} |")
        if pyob:
            o = summary(pyob, b, th)
            row += f" {o['med']:.1f} | {t['med'] / o['med']:.2f} / {t['best'] / o['best']:.2f} |"
        lines.append(row)
    lines.append("")
lines += [
          f"- Machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs (nproc), {E['CPU']}; flags: {E['FLAGS'].strip()}",
          f"- Load average (1/5/15 min) before: {E['LOAD_BEFORE']}, after: {E['LOAD_AFTER']}"
          + ("" if max(float(E['LOAD_BEFORE'].split()[0]), float(E['LOAD_AFTER'].split()[0])) <= os.cpu_count() else
             f". **The load exceeded the {os.cpu_count()} CPUs: other processes shared the cores, so wall-clock figures "
             "(above all with 2 threads, where OpenMP barriers wait on descheduled threads) are disturbed; the CPU ms "
             "column is the steadier comparison.**"),
          f"- TorchSharp {E['TS_VER']} + libtorch-cpu {E['LT_VER']} ({E['DNN_TS'] or 'oneDNN ?'}), .NET {subprocess.run(['dotnet', '--version'], capture_output=True, text=True).stdout.strip()}",
          f"- {E['PY_VERS']} ({E['DNN_PY'] or 'oneDNN ?'}), BLAS: {E['PY_BLAS'] or '?'}",
          f"- Threads (torch.set_num_threads, both): {E['THREADS']}. Raw results: {E['OUT']}/",
          "- Both implementations are checked first against the face-api fixtures (tests/Dfd.Tests/Fixtures/faceapi, "
          "max abs diff <= 1e-4) and against each other on a seeded random batch:", E["CHECKS"], ""]
text = "\n".join(lines)
print(text)
with open(sys.argv[1], "w") as f:
    f.write(text)
PYEOF
echo "wrote $RESULT" >&2
