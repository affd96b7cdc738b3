#!/usr/bin/env bash
# The README's main command: installs what the build needs, builds the release
# preset, starts shmqd in a private namespace (waiting with `shmq-cli
# wait-ready` until it serves), runs the demo there (a producer
# and a consumer process exchanging messages, with a printed summary) and a short
# round-trip latency comparison (shmq-bench), then stops shmqd and removes the
# namespace. Arguments go to shmq-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shmqd shmq-cli shmq-demo shmq-bench

ns="demo$$"
bin=build/release
log=$(mktemp /tmp/shmqd-demo.XXXXXX.log)
shmqd_pid=
cleanup() {
  if [[ -n $shmqd_pid ]] && kill -TERM "$shmqd_pid" 2>/dev/null; then
    wait "$shmqd_pid" || true  # SIGTERM: shmqd stops at once
  fi
  rm -f /dev/shm/shmq."$ns".* "$log"  # segments outlive shmqd by design; this namespace was the demo's
}
trap cleanup EXIT

"$bin/daemon/shmqd" --namespace "$ns" --foreground 2>"$log" &
shmqd_pid=$!
# Returns once shmqd answers on its control socket (exit 6 if not within 10 s).
if ! "$bin/tools/shmq-cli" --namespace "$ns" wait-ready --timeout 10000; then
  cat "$log" >&2
  exit 1
fi
"$bin/tools/shmq-demo" --namespace "$ns" "$@"
echo
echo "round trips between two processes pinned to two CPUs, 64 B (shmq-bench latency; see the README):"
"$bin/bench/shmq-bench" latency --transports floor,shmq-spin,shmq-park,uds-spin,uds --sizes 64 --duration 5 2>/dev/null
