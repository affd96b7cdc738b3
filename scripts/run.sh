#!/usr/bin/env bash
# The README's main command: installs what the build needs, builds the release
# preset, starts shmqd in a private namespace, runs the demo there (a producer
# and a consumer process exchanging messages, with a printed summary) and a short
# round-trip latency comparison (shmq-bench), then stops shmqd and removes the
# namespace. Arguments go to shmq-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shmqd shmq-demo shmq-bench

ns="demo$$"
bin=build/release
cleanup() {
  local lock="/dev/shm/shmq.$ns.shmqd.lock" pid
  pid=$(cat "$lock" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f /dev/shm/shmq."$ns".*  # segments outlive shmqd by design; this namespace was the demo's
}
trap cleanup EXIT

# Without --foreground shmqd returns once it is ready (or with its start-up error).
"$bin/daemon/shmqd" --namespace "$ns"
echo "shmqd: running in namespace '$ns' (pid $(cat "/dev/shm/shmq.$ns.shmqd.lock"))"
"$bin/tools/shmq-demo" --namespace "$ns" "$@"
echo
echo "round trips between two processes pinned to two CPUs, 64 B (shmq-bench latency; see the README):"
"$bin/bench/shmq-bench" latency --transports floor,shmq-spin,shmq-park,uds-spin,uds --sizes 64 --duration 5 2>/dev/null
