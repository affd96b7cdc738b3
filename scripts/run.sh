#!/usr/bin/env bash
# The README's main command: installs what the build needs, builds the release
# preset, and runs the demo (a producer and a consumer process exchanging
# messages through shmq, with a printed summary). Arguments go to shmq-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target shmq-demo
exec build/release/tools/shmq-demo "$@"
