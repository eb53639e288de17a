#!/usr/bin/env bash
# The training set at scale: a synthetic encoded set of FACES faces in the on-disk shard format (seeded random crops
# and templates, no encoder pass), 50 steps of the real trainer from it, and the time to fetch a batch.
#
#   FACES=20000 bench/scale.sh            # prints one JSON line last:
#                                         # {"faces": N, "disk_mb": …, "peak_rss_mb": …, "steps_per_s": …, "batch_ms": …}
#   STEPS=50 BATCH=32 SHARD_FACES=1024 SEED=1   # the defaults
#   DIR=/big/disk/scale KEEP=1            # where the set goes (default bench/out/scale/faces-N); KEEP=1 keeps it
#                                         # afterwards (a rerun then reuses it), otherwise it is deleted
#
# disk_mb: the set's files in MiB; peak_rss_mb: VmHWM at the end (MiB, the whole process: set build, check, training);
# steps_per_s: over the steps after the first; batch_ms: median time of EncodedFaces.Batch over 40 batches of the
# epoch plan read from the shards. Details (build and check times, the batch's p90 and max, data loading's share of a
# step, load average) on stderr; every final line is also appended to bench/out/scale.jsonl.
# A set that would not fit on the disk is refused before anything is written (300 k faces take ~20 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

FACES=${FACES:?set FACES=N, e.g. FACES=2000 bench/scale.sh}
STEPS=${STEPS:-50}
BATCH=${BATCH:-32}
SHARD_FACES=${SHARD_FACES:-1024}
SEED=${SEED:-1}
KEEP=${KEEP:-0}
DIR=${DIR:-bench/out/scale}/faces-$FACES
# As ./dfd runs training: glibc's large chunks on transparent huge pages (see ../dfd).
case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac

mkdir -p bench/out
echo "building bench/Dfd.Bench (Release)" >&2
dotnet build bench/Dfd.Bench/Dfd.Bench.csproj -c Release -o bench/out/Dfd.Bench -v q -nologo >bench/out/scale-build.txt 2>&1 \
    || { cat bench/out/scale-build.txt >&2; exit 1; }
mkdir -p "$(dirname "$DIR")"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $(df -h --output=avail "$(dirname "$DIR")" | tail -1 | tr -d ' ') free on $(df --output=target "$(dirname "$DIR")" | tail -1)" >&2
rc=0
line=$(bench/out/Dfd.Bench/Dfd.Bench --scale --faces "$FACES" --dir "$DIR" --steps "$STEPS" --batch "$BATCH" \
    --shard-faces "$SHARD_FACES" --seed "$SEED" 2> >(grep --line-buffered -v NNPACK >&2)) || rc=$?
[ "$KEEP" = 1 ] || rm -rf "$DIR"
[ $rc -eq 0 ] || exit $rc
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "$line" | tail -1 >>bench/out/scale.jsonl
echo "$line" | tail -1
