#!/usr/bin/env bash
# Builds and runs the whole test suite, then prints one closing line: "N passed, N failed, N skipped".
# Tests that need ../shared skip themselves where it is absent.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Transparent huge pages for glibc's large malloc chunks: ~3x faster training steps (see ../dfd).
case ":${GLIBC_TUNABLES:-}:" in *glibc.malloc.hugetlb*) ;; *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;; esac
# The browser test of `dfd serve` drives Debian's headless Chromium (the system's; nothing is downloaded). Install it
# where it is missing and apt is at hand as root (CI); elsewhere that one test skips and says why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "run.sh: installing chromium for the browser test (apt-get install -y chromium)" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } >/dev/null 2>&1 \
    || echo "run.sh: could not install chromium; the browser test will skip" >&2
fi
# A native crash of the test host (a libtorch use-after-free, seen twice in ~8 full runs on 2026-12-06, both times on a
# heavily loaded machine, at the same libtorch instruction) aborts the run without a failed test. --blame names the test
# that was running; the run is then made once more, and both are reported. Failed tests are never rerun.
run_once() {
  results="$(mktemp -d)"
  dotnet test "$root/tests/Dfd.Tests/Dfd.Tests.csproj" -c Release -nologo --blame \
    --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@" 2>&1 | tee "$results/console.log"
  rc=${PIPESTATUS[0]}
  aborted=0
  grep -q "Test host process crashed\|Test Run Aborted" "$results/console.log" && aborted=1
}
summary() {
  trx="$results/results.trx"
  if [ -f "$trx" ]; then
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
    get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
    skipped=$(( ${total:-0} - ${executed:-0} ))
    echo "${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
  else
    echo "0 passed, 1 failed"
    [ $rc -eq 0 ] && rc=1
  fi
}
run_once "$@"
if [ $aborted = 1 ]; then
  seq=$(find "$results" -name 'Sequence*.xml' | head -1)
  last=$([ -n "$seq" ] && grep -o 'Name="[^"]*"' "$seq" | tail -1)
  echo "run.sh: the test host crashed (native), running: ${last:-unknown}; the whole run once more" >&2
  rm -rf "$results"
  run_once "$@"
  [ $aborted = 1 ] && echo "run.sh: the test host crashed again" >&2 && [ $rc -eq 0 ] && rc=1
fi
summary
rm -rf "$results"
exit $rc
