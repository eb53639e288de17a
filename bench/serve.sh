#!/usr/bin/env bash
# dfd serve under load: slider latency (one client; perturb → encode → decode → two PNGs → JSON, timed end to end over
# HTTP on 127.0.0.1) and CLIENTS clients sending perturb requests back to back for SECONDS (bench/Dfd.Bench --serve,
# ServeBench.cs). Traffic goes only to 127.0.0.1, in bounded loops. Exit status 1 if any request failed.
#
#   bench/serve.sh                                  # build Release, run, print + write bench/results/serve.md
#   REQUESTS=60 CLIENTS=8 SECONDS_=60 bench/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-60}
CLIENTS=${CLIENTS:-8}
SECS=${SECONDS_:-60}
RESULT=${RESULT:-bench/results/serve.md}
OUT=bench/out/serve-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$(dirname "$RESULT")"
case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac
dotnet build bench/Dfd.Bench/Dfd.Bench.csproj -c Release -nologo -v q -clp:ErrorsOnly >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
dotnet bench/Dfd.Bench/bin/Release/net10.0/linux-x64/Dfd.Bench.dll --serve --requests "$REQUESTS" --clients "$CLIENTS" --seconds "$SECS" \
  > "$OUT/serve.jsonl" 2> "$OUT/log.txt" || rc=$?
cat "$OUT/log.txt" >&2
python3 - "$OUT/serve.jsonl" "$RESULT" "$load_before" "$(nproc)" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
s = next(r for r in rows if r["part"] == "slider"); l = next(r for r in rows if r["part"] == "load")
md = f"""# dfd serve: slider latency and {l['clients']} clients

`bench/serve.sh` on {datetime.date.today()}: dlib-resnet with its shipped decoder, a real Kestrel server on 127.0.0.1,
driven over HTTP from the same process; {sys.argv[4]} CPUs, libtorch with 2 threads, one worker thread for all model work.
Load average before: {sys.argv[3]}; after the slider part: {s['load']}; after the load part: {l['load']}
(above {sys.argv[4]}: other processes shared the CPUs, and the figures are slower than on an idle machine).

**Slider update** (one client, {s['requests']} perturb requests one after another, rotation/shift/scale moving as a
dragged slider; each timed from send to the whole JSON answer, which holds the perturbed crop and its reconstruction as PNGs):

| median | p90 | min | max |
|---:|---:|---:|---:|
| {s['median_ms']:.1f} ms | {s['p90_ms']:.1f} ms | {s['min_ms']:.1f} ms | {s['max_ms']:.1f} ms |

Parts of one update, in-process, timed after the HTTP requests (median ms; at another moment of the other processes'
load, so compare them with each other rather than with the figures above): """ + ", ".join(f"{k} {v}" for k, v in s["parts_median_ms"].items()) + f"""

**{l['clients']} clients for {l['seconds']} s** (each its own X-Dfd-Client id, perturb requests back to back):

| requests | failed | per second | per client | median latency | p95 | max |
|---:|---:|---:|---|---:|---:|---:|
| {l['requests']} | {l['failed']} | {l['per_second']:.1f} | {min(l['per_client'])}–{max(l['per_client'])} | {l['median_ms']:.0f} ms | {l['p95_ms']:.0f} ms | {l['max_ms']:.0f} ms |
""" + ("" if not l["failures"] else "\nFailures: " + "; ".join(l["failures"]) + "\n")
open(sys.argv[2], "w").write(md)
print(md)
PY
exit $rc
