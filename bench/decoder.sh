#!/usr/bin/env bash
# Decoder training steps/s and reconstructions/s: the TorchSharp decoder + loss + the trainer's Adam
# (bench/Dfd.Bench --decoder, on src/Dfd's FaceDecoder and DecoderLoss) against the same decoder, loss and Adam in
# PyTorch (bench/decoder.py), side by side, with 2 and 1 intra-op threads; plus the cost of producing a training
# batch from a EncodedFaces (data loading), and with PROFILE=1 where the time of a step goes.
#
#   bench/decoder.sh                          # build Release, cross-check the two, time, print + write the table
#   THREADS="2 1" ROUNDS=2 bench/decoder.sh   # thread counts (one table each) and interleaved rounds (defaults)
#   ITERS=3 WARMUP=1 REPEATS=3 BATCH=32       # training: timed steps per repeat, warm-up steps, repeats, batch
#   RECON_BATCHES=1,32 RECON_ITERS=20,2 RECON_WARMUP=3,1   # reconstructions (decoder forward, eval, no autograd)
#   TRAINSET=auto|none|PATH TRAINSET_LIMIT=0  # the cached LFW training set `dfd train` wrote (~/.cache/dfd/trainsets/
#                                             # dlib-resnet-KEY.{json,templates.npy,crops.bin}); auto: use it if there
#   THP=1|0                                   # glibc malloc on transparent huge pages (as ./dfd runs), for both (default 1)
#   PROFILE=1 PROFILE_STEPS=2 bench/decoder.sh   # also per-phase, per-layer (fwd/bwd) and torch.profiler breakdowns
#   ADV=0.05 bench/decoder.sh                 # also the step with the adversarial term at that weight (the patch
#                                             # discriminator's cost), timed after the plain step in each process
#   NICE=19 ITERS=1 WARMUP=0 REPEATS=1 ROUNDS=1 THREADS=1 BATCH=4 RECON_ITERS=1,1 RECON_WARMUP=0,0 DATA_ITERS=2 \
#     TRAINSET_LIMIT=64 RESULT=bench/out/smoke-decoder.md bench/decoder.sh    # smoke test (seconds, not a measurement)
#
# A training step is the trainer's (src/Dfd/Training/Trainer.cs) without data loading and checkpoints: decoder
# forward (train mode), the full default loss (pixel L1 + SSIM + Sobel, global and inner-face, identity 1-cos through
# the frozen dlib-resnet, whose forward and backward run every step), finite checks, backward, Adam, .item()s.
# Inputs are seeded random (images 0..255, templates N(0,1)). Each round runs TorchSharp then PyTorch for every
# thread count; each process reports the median of REPEATS repeats; the table gives the median over rounds and the
# fastest repeat seen (on a shared machine others only ever slow a run down). CPU ms = process CPU time, all threads.
# Before timing, decoder.py checks that its hand-made decoder and discriminator have the C# state dicts' names and
# shapes (bench/decoder-shapes.json, which a C# test holds to FaceDecoder and PatchDiscriminator, and the dump's own
# decoder-shapes.json) and stops with the differences if not; then it loads the TorchSharp decoder's fresh weights and
# compares reconstructions, loss terms and gradients on a seeded batch of 4 (and then trains from those same weights).
# With ADV=W each process also times the step with the trainer's adversarial work (DiscriminatorConfig defaults:
# PatchDiscriminator width 32, 3 layers, hinge, DiffAugment colour + translation + cutout, its own Adam): D's view of
# the augmented reconstructions added to the loss at weight W (the decoder's backward then runs through D), and one
# D update on augmented real and detached fake. The cross-check then covers D too: TorchSharp's fresh D weights,
# DiffAugment with the same draws (decoder.py ports .NET's seeded System.Random), logits, the term, its gradient
# (DiffAugment + D backward on TorchSharp's reconstruction, then the decoder's backward of TorchSharp's gradient), D's
# loss, gradients and first Adam step.
# Writes bench/results/decoder.md (or $RESULT) and the raw JSON lines under bench/out/decoder-*/.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2 1}
ROUNDS=${ROUNDS:-2}
BATCH=${BATCH:-32}
ITERS=${ITERS:-3}
WARMUP=${WARMUP:-1}
REPEATS=${REPEATS:-3}
RECON_BATCHES=${RECON_BATCHES:-1,32}
RECON_ITERS=${RECON_ITERS:-20,2}
RECON_WARMUP=${RECON_WARMUP:-3,1}
DATA_ITERS=${DATA_ITERS:-20}
TRAINSET=${TRAINSET:-auto}
TRAINSET_LIMIT=${TRAINSET_LIMIT:-0}
PROFILE=${PROFILE:-0}
PROFILE_STEPS=${PROFILE_STEPS:-2}
ADV=${ADV:-0}
NICE=${NICE:-0}
PY=${PY:-/usr/bin/python3}
RESULT=${RESULT:-bench/results/decoder.md}
THP=${THP:-1}
# As in ./dfd: glibc hands tensors over 32 MB out as fresh mmaps and unmaps them on free, so without this every step
# faults its activations in page by page. Set for both processes alike (PyTorch allocates through glibc too).
if [ "$THP" = 1 ]; then
    case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac
else
    unset GLIBC_TUNABLES
fi

OUT=bench/out/decoder-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$(dirname "$RESULT")"

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "decoder.sh: $PY has no torch/numpy (Debian: apt-get install python3-torch; or set PY=)" >&2
    exit 1
fi

echo "building bench/Dfd.Bench (Release)" >&2
nice -n "$NICE" dotnet build bench/Dfd.Bench/Dfd.Bench.csproj -c Release -o bench/out/Dfd.Bench -v q -nologo >"$OUT/build.txt" 2>&1 \
    || { cat "$OUT/build.txt" >&2; exit 1; }
TS=bench/out/Dfd.Bench/Dfd.Bench

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(loadavg)
echo "load before: $LOAD_BEFORE" >&2
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n - 0.5) }'; then
    echo "warning: the load average (${LOAD_BEFORE%% *}) already fills the $(nproc) CPUs: the figures will be disturbed," \
         "the 2-thread ones badly (OpenMP threads spin at barriers waiting for descheduled peers)" >&2
fi
T0=$(date +%s)
# What other processes took while this ran: all CPU time the kernel counted (/proc/stat) minus this script's
# children's. The load average cannot tell: the 2-thread runs fill both cores themselves.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
ctime() { awk '{print $16+$17}' /proc/$$/stat; }
BUSY0=$(busy); CT0=$(ctime)

first_t=${THREADS%% *}
for r in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
        common=(--threads "$t" --batch "$BATCH" --train-iters "$ITERS" --train-warmup "$WARMUP" --repeats "$REPEATS"
                --recon-batches "$RECON_BATCHES" --recon-iters "$RECON_ITERS" --recon-warmup "$RECON_WARMUP"
                --data-iters "$DATA_ITERS" --trainset-limit "$TRAINSET_LIMIT")
        # The cached LFW set (hundreds of MB) is read once, in the first run; the synthetic set every time.
        ts=none; [ "$r" = 1 ] && [ "$t" = "$first_t" ] && ts=$TRAINSET
        common+=(--trainset "$ts")
        if [ "$ADV" != 0 ]; then common+=(--adv "$ADV"); fi
        ts_extra=(); py_extra=()
        if [ "$r" = 1 ] && [ "$t" = "$first_t" ]; then ts_extra+=(--dump "$OUT/dump"); py_extra+=(--csharp-dump "$OUT/dump"); fi
        if [ "$r" = 1 ] && [ "$PROFILE" = 1 ]; then
            ts_extra+=(--profile --profile-steps "$PROFILE_STEPS"); py_extra+=(--profile --profile-steps "$PROFILE_STEPS")
        fi
        echo "round $r/$ROUNDS, $t thread(s): torchsharp (load $(loadavg))" >&2
        nice -n "$NICE" "$TS" --decoder "${common[@]}" "${ts_extra[@]}" >>"$OUT/torchsharp.jsonl" 2>>"$OUT/torchsharp.stderr" \
            || { grep -v NNPACK "$OUT/torchsharp.stderr" >&2; exit 1; }
        echo "round $r/$ROUNDS, $t thread(s): pytorch (load $(loadavg))" >&2
        nice -n "$NICE" "$PY" bench/decoder.py "${common[@]}" "${py_extra[@]}" >>"$OUT/pytorch.jsonl" 2>>"$OUT/pytorch.stderr" \
            || { cat "$OUT/pytorch.stderr" >&2; exit 1; }
    done
done
T1=$(date +%s)
OTHER_CPU_S=$(awk -v b="$(( $(busy) - BUSY0 ))" -v c="$(( $(ctime) - CT0 ))" -v hz="$(getconf CLK_TCK)" 'BEGIN { v = (b - c) / hz; printf "%.1f", v < 0 ? 0 : v }')
LOAD_AFTER=$(loadavg)
echo "load after: $LOAD_AFTER" >&2
for f in torchsharp pytorch; do grep -h '^#' "$OUT/$f.stderr" | awk '!seen[$0]++' >"$OUT/$f.notes.txt"; done
grep -h -E '^# (decoder|pytorch vs|wrote|trainset|no cached)' "$OUT/torchsharp.notes.txt" "$OUT/pytorch.notes.txt" | awk '!seen[$0]++' >&2 || true
nn=$(grep -c NNPACK "$OUT/torchsharp.stderr" || true)
[ "$nn" -gt 0 ] && echo "(libtorch printed $nn 'Could not initialize NNPACK' warnings; harmless, see $OUT/torchsharp.stderr)" >&2

TS_VER=$(sed -n 's/.*Include="TorchSharp" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
LT_VER=$(sed -n 's/.*Include="libtorch-cpu-linux-x64" Version="\([^"]*\)".*/\1/p' src/Dfd/Dfd.csproj)
PY_VERS=$("$PY" -c 'import torch, numpy, platform; print(f"PyTorch {torch.__version__} (python {platform.python_version()}, numpy {numpy.__version__})")')
PY_BLAS=$("$PY" -c 'import torch, re; print(", ".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if re.search(r"/lib(blas|openblas|mkl)", l)})))' || true)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_tile' | tr '\n' ' ')
CHECK=$(grep -h '^# pytorch vs TorchSharp decoder' "$OUT/pytorch.stderr" | head -1 | sed 's/^# //' || true)
CHECK_ADV=$(grep -h '^# pytorch vs TorchSharp discriminator' "$OUT/pytorch.stderr" | head -1 | sed 's/^# //' || true)
DECODER=$(grep -h '^# decoder {' "$OUT/torchsharp.stderr" | head -1 | sed 's/^# //' || true)
WALL=$((T1 - T0))
export THP_NOTE="GLIBC_TUNABLES=${GLIBC_TUNABLES:-unset} (transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null))"
export OUT THP_NOTE THREADS ROUNDS BATCH ITERS WARMUP REPEATS RECON_ITERS RECON_WARMUP DATA_ITERS PROFILE LOAD_BEFORE LOAD_AFTER OTHER_CPU_S \
       TS_VER LT_VER PY_VERS PY_BLAS CPU FLAGS CHECK CHECK_ADV DECODER WALL NICE ADV
"$PY" - "$RESULT" <<'PYEOF'
import datetime, json, os, statistics, subprocess, sys

E = os.environ
def load(name):
    p = os.path.join(E["OUT"], name)
    return [json.loads(l) for l in open(p) if l.startswith("{")] if os.path.exists(p) else []

ts, py = load("torchsharp.jsonl"), load("pytorch.jsonl")

def summary(rows, kind, threads, batch, **match):
    rs = [r for r in rows if r.get("kind") == kind and r["threads"] == threads and r["batch"] == batch
          and all(r.get(k) == v for k, v in match.items())]
    if not rs:
        return None
    med = statistics.median(r["ms_per_batch"] for r in rs)
    best = min(r["ms_per_batch_min"] for r in rs)
    return {"ms": med, "best_ms": best, "cpu": statistics.median(r["cpu_ms_per_batch"] for r in rs), "n": len(rs),
            "rows": rs}

def f(v, d=2):
    return "–" if v is None else f"{v:.{d}f}"

threads = sorted({r["threads"] for r in ts if r.get("kind") == "train" or r.get("kind") == "recon"}, reverse=True)
batch = int(E["BATCH"])
recon_batches = sorted({r["batch"] for r in ts if r.get("kind") == "recon"})
ncpu = os.cpu_count()
lb, la = E["LOAD_BEFORE"], E["LOAD_AFTER"]
other = float(E["OTHER_CPU_S"])
# More than 5% of the machine's CPU time taken by other processes: the wall-clock figures are disturbed.
loaded = other > 0.05 * float(E["WALL"]) * ncpu
L = ["# Decoder: training steps/s and reconstructions/s, TorchSharp vs PyTorch", "",
     f"`bench/decoder.sh` on {datetime.date.today().isoformat()}: {E['ROUNDS']} interleaved round(s), training batch {batch} "
     f"({E['ITERS']} timed steps per repeat after {E['WARMUP']} warm-up step(s)), reconstructions at batch "
     f"{', '.join(map(str, recon_batches))} (iterations {E['RECON_ITERS']}), {E['REPEATS']} repeats per process; "
     f"{E['WALL']} s wall in all. *Median* = median over rounds of each process's median repeat; *best* = fastest repeat. "
     "Ratio = TorchSharp throughput / PyTorch throughput (above 1: TorchSharp faster). CPU ms = process CPU time "
     "(all threads, incl. OpenMP spin-waits) per step or batch.", "",
     f"Allocator: {E['THP_NOTE']}, for both processes.", "",
     "A training step: decoder forward in train mode, the default loss (pixel L1 + 1-SSIM + Sobel, global and inner-face "
     "box, identity 1-cos through the frozen dlib-resnet: its forward *and* backward run every step), finite-loss check, "
     "zero_grad, backward, finite-gradient check, Adam, `.item()` of every term — the per-step work of Trainer.Run "
     "minus data loading (timed separately below) and checkpoints. Reconstruction: decoder forward in eval mode, no "
     "autograd. Seeded random inputs: images 0..255, templates N(0,1).", ""]
adv = float(E["ADV"])
if adv > 0:
    L += [f"**With the adversarial term** (`ADV={E['ADV']}`): each process also times the step with the trainer's "
          "adversarial work added (rows *with adversarial term*; the plain step first, then this one): the patch "
          "discriminator of the DiscriminatorConfig defaults (three stride-2 4×4 convs 32/64/128 wide, LeakyReLU 0.2, 3×3 "
          "head; hinge loss) sees the DiffAugment'ed reconstruction (colour, translation, cutout) and its loss, times "
          f"{E['ADV']}, joins the decoder's (whose backward then runs through D and the augmentation); then one D update: "
          "D on an augmented real and an augmented detached fake batch, backward, Adam (β 0.5/0.999, lr 2e-4). TorchSharp "
          "runs the library's own PatchDiscriminator.AddGeneratorTerms and Update, as Trainer.Run does, with its seeds.", ""]
share = f"{100 * other / (float(E['WALL']) * ncpu):.1f}%"
if loaded:
    L += [f"**Other processes used {other:.1f} CPU-seconds while this ran ({share} of the {ncpu} CPUs' time; load average "
          f"{lb} before, {la} after), so these wall-clock figures are disturbed (above all with 2 threads, where OpenMP "
          "barriers wait on descheduled threads); compare the CPU ms columns, and rerun on an idle machine for the real figures.**", ""]
else:
    L += [f"Other processes used {other:.1f} CPU-seconds while this ran ({share} of the {ncpu} CPUs' time; load average "
          f"{lb} before, {la} after, raised by these runs themselves): an idle machine.", ""]
for th in threads:
    L += [f"### {th} thread{'s' if th > 1 else ''} (torch.set_num_threads({th}) in both)", "",
          "| measurement | TorchSharp | PyTorch | ratio | best TorchSharp | best PyTorch | ratio (best) | CPU ms TorchSharp / PyTorch |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("training steps/s", "train", batch, 1), ("training images/s", "train", batch, batch)]
    if adv > 0:
        rows += [("training steps/s (with adversarial term)", "train-adv", batch, 1),
                 ("training images/s (with adversarial term)", "train-adv", batch, batch)]
    rows += [(f"reconstructions/s, batch {b}", "recon", b, b) for b in recon_batches]
    for label, kind, b, per in rows:
        t, p = summary(ts, kind, th, b), summary(py, kind, th, b)
        if t is None or p is None:
            L.append(f"| {label} | {f(t and per * 1000 / t['ms'])} | {f(p and per * 1000 / p['ms'])} | – | | | | |")
            continue
        tv, pv, tb, pb = per * 1000 / t["ms"], per * 1000 / p["ms"], per * 1000 / t["best_ms"], per * 1000 / p["best_ms"]
        d = 3 if kind.startswith("train") and per == 1 else 2
        L.append(f"| {label} | {f(tv, d)} | {f(pv, d)} | {tv / pv:.2f} | {f(tb, d)} | {f(pb, d)} | {tb / pb:.2f} | "
                 f"{t['cpu']:.0f} / {p['cpu']:.0f} |")
    if adv > 0:
        # What the term adds to a step, in ms (ratio: PyTorch's extra / TorchSharp's, above 1: TorchSharp's costs less).
        ex = {}
        for impl, rs in (("ts", ts), ("py", py)):
            a_, b_ = summary(rs, "train", th, batch), summary(rs, "train-adv", th, batch)
            ex[impl] = None if a_ is None or b_ is None else (b_["ms"] - a_["ms"], b_["best_ms"] - a_["best_ms"],
                                                              b_["cpu"] - a_["cpu"], 100 * (b_["ms"] - a_["ms"]) / a_["ms"])
        t, p = ex["ts"], ex["py"]
        def r(a_, b_):
            return f"{b_ / a_:.2f}" if a_ and b_ and a_ > 0 and b_ > 0 else "–"
        L.append(f"| adversarial term's extra ms per step (% of the plain step) | "
                 f"{f(t and t[0], 0)}{f' (+{t[3]:.0f}%)' if t else ''} | {f(p and p[0], 0)}{f' (+{p[3]:.0f}%)' if p else ''} | "
                 f"{r(t and t[0], p and p[0])} | {f(t and t[1], 0)} | {f(p and p[1], 0)} | {r(t and t[1], p and p[1])} | "
                 f"{f(t and t[2], 0)} / {f(p and p[2], 0)} |")
    L.append("")

# Data loading.
drows = [r for r in ts + py if r.get("kind") == "data"]
if drows:
    L += ["### Data loading: producing one training batch", "",
          f"Time to assemble a batch of {batch} from a EncodedFaces held in memory, as Trainer.Batch does it (crops → "
          "mirrored where the epoch plan flips them → [N,3,150,150] float tensor; templates or mirror templates → "
          "[N,128]). TorchSharp runs the trainer's own code (EncodedFaces.Batch) over a synthetic set "
          "(random crops) and over the cached LFW set when there is one; PyTorch runs the numpy equivalent "
          "(fancy indexing, flip, NCHW float copy), for scale. The cache load (EncodedFaces's reader, once per run) "
          "is listed too; building the cache the first time (alignment + two encoder passes per image) is not timed here.", "",
          "| implementation | source | set size | threads | ms per batch (median) | best | CPU ms | % of a training step (same threads) | cache load s |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for impl, rows in (("TorchSharp", ts), ("PyTorch", py)):
        for src in ("synthetic", "lfw-cache"):
            for th in threads:
                rs = [r for r in rows if r.get("kind") == "data" and r.get("source") == src and r["threads"] == th]
                if not rs:
                    continue
                med = statistics.median(r["ms_per_batch"] for r in rs)
                step = summary(rows, "train", th, batch)
                share = f"{100 * med / step['ms']:.1f}%" if step else "–"
                load = next((r.get("load_s") for r in rs if "load_s" in r), None)
                L.append(f"| {impl} | {src} | {rs[0]['set_images']} | {th} | {med:.2f} | {min(r['ms_per_batch_min'] for r in rs):.2f} | "
                         f"{statistics.median(r['cpu_ms_per_batch'] for r in rs):.2f} | {share} | {f(load)} |")
    L.append("")

# Profiles.
def prof(rows, kind, th):
    return next((r for r in rows if r.get("kind") == kind and r["threads"] == th), None)

for th in threads:
    pt, pp = prof(ts, "profile-phases", th), prof(py, "profile-phases", th)
    lt, lp = prof(ts, "profile-layers", th), prof(py, "profile-layers", th)
    if not (pt or pp or lt or lp):
        continue
    L += [f"### Where the time goes, {th} thread{'s' if th > 1 else ''} (PROFILE=1, batch {batch}, mean of {(pt or pp)['steps']} step(s))", ""]
    if pt and pp:
        tt, tp = sum(pt["ms"].values()), sum(pp["ms"].values())
        L += ["Phases of the real step (stopwatch around each; CPU ops are synchronous). The data row assembles a batch "
              "(not used by the step) to set it beside the rest.", "",
              "| phase | TorchSharp ms | % | PyTorch ms | % | ratio (PyTorch/TorchSharp time) |", "|---|---:|---:|---:|---:|---:|"]
        for k in pt["ms"]:
            a, b = pt["ms"][k], pp["ms"].get(k)
            L.append(f"| {k} | {a:.1f} | {100 * a / tt:.1f} | {f(b, 1)} | {f(b and 100 * b / tp, 1)} | {f(b and a and b / a)} |")
        L.append(f"| **total** | **{tt:.0f}** | | **{tp:.0f}** | | {tp / tt:.2f} |")
        L.append("")
    if lt and lp:
        tt = sum(lt["forward_ms"].values()) + sum(lt["backward_ms"].values())
        tp = sum(lp["forward_ms"].values()) + sum(lp["backward_ms"].values())
        L += ["The step again, stage by stage: forward of each decoder stage and of the two halves of the loss, then the "
              "backward split with torch.autograd.grad (loss halves → reconstruction, then each decoder stage, last to "
              "first). No optimizer step. The stages' forward is checked against FaceDecoder.forward.", "",
              "| stage | fwd TorchSharp ms | fwd PyTorch ms | bwd TorchSharp ms | bwd PyTorch ms | fwd+bwd % TorchSharp | fwd+bwd % PyTorch |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for k in lt["forward_ms"]:
            a, b = lt["forward_ms"][k], lp["forward_ms"].get(k)
            c, d = lt["backward_ms"].get(k), lp["backward_ms"].get(k)
            L.append(f"| {k} | {a:.1f} | {f(b, 1)} | {f(c, 1)} | {f(d, 1)} | {100 * (a + (c or 0)) / tt:.1f} | "
                     f"{f(b is not None and 100 * (b + (d or 0)) / tp, 1)} |")
        L.append(f"| **total** | **{sum(lt['forward_ms'].values()):.0f}** | **{sum(lp['forward_ms'].values()):.0f}** | "
                 f"**{sum(lt['backward_ms'].values()):.0f}** | **{sum(lp['backward_ms'].values()):.0f}** | | |")
        def share(pr, total, pred):
            return 100 * sum(v for part in ("forward_ms", "backward_ms") for k, v in pr[part].items() if pred(k)) / total
        groups = [("the identity term (dlib-resnet forward + backward)", lambda k: k.startswith("loss: identity")),
                  ("the image terms (pixel, SSIM, Sobel)", lambda k: k.startswith("loss: pixel")),
                  ("the decoder (all stages)", lambda k: not k.startswith("loss:")),
                  ("the two 3x3 convs at 80² and 160² (up3, up4)", lambda k: k.startswith(("up3", "up4"))),
                  ("the residual blocks at 10² and 20²", lambda k: k.startswith("res"))]
        L += ["", "Shares of the staged step: " + "; ".join(
            f"{name} {share(lt, tt, pred):.0f}% in TorchSharp, {share(lp, tp, pred):.0f}% in PyTorch" for name, pred in groups) + ".", ""]
    ops = prof(py, "profile-ops", th)
    if ops:
        L += [f"PyTorch's torch.profiler over one full step (top ops by self CPU time; {ops['total_self_cpu_ms']:.0f} ms "
              "self CPU in all, profiler overhead included; TorchSharp has no profiler binding, hence the stopwatches):", "",
              "| op | calls | self CPU ms | % |", "|---|---:|---:|---:|"]
        for o in ops["ops"][:15]:
            L.append(f"| `{o['op']}` | {o['count']} | {o['self_cpu_ms']:.1f} | {100 * o['self_cpu_ms'] / ops['total_self_cpu_ms']:.1f} |")
        L.append("")

L += [f"- Machine: {ncpu} CPUs (os.cpu_count), {E['CPU']}; flags: {E['FLAGS'].strip()}",
      f"- Load average (1/5/15 min) before: {lb}, after: {la}" + (f"; both processes ran under nice -n {E['NICE']}" if E["NICE"] != "0" else ""),
      f"- TorchSharp {E['TS_VER']} + libtorch-cpu {E['LT_VER']}, .NET {subprocess.run(['dotnet', '--version'], capture_output=True, text=True).stdout.strip()}",
      f"- {E['PY_VERS']}, BLAS: {E['PY_BLAS'] or '?'}; torch.optim.Adam(foreach=False) (a per-parameter loop, like the trainer's hand-written Adam)",
      f"- {E['DECODER']}",
      f"- Cross-check: {E['CHECK'] or 'not run'}",
      *([f"- Cross-check of the adversarial term: {E['CHECK_ADV'] or 'not run'}",
         "- The adversarial term's gradient is checked in two halves on the same inputs, not end to end: D's input "
         "gradient is discontinuous (LeakyReLU), and a D unit whose pre-activation lies within float32 rounding of 0 "
         "takes the other slope in one library (seen: one unit of the third layer, a 22×22-pixel receptive field of one "
         "image), which moves the decoder's gradients of the term by a few % — whichever library is the one off a "
         "float64 run."] if adv > 0 else []),
      "- The gradient tolerances are loose on purpose: on that batch of 4, against a float64 run of the same graph, "
      "libtorch 2.10 (TorchSharp) gets the image terms' decoder gradients to ~1e-5 and PyTorch 1.13 to ~1e-2 (its "
      "float32 decoder backward, with or without oneDNN); the identity term's gradient through dlib-resnet is "
      "0.3–0.8% off float64 in both. Loss terms on the same reconstruction agree bit for bit.",
      f"- Raw results: {E['OUT']}/ (torchsharp.jsonl, pytorch.jsonl, *.notes.txt with the stderr breakdowns)", ""]
text = "\n".join(L)
print(text)
with open(sys.argv[1], "w") as fh:
    fh.write(text)
PYEOF
echo "wrote $RESULT" >&2
