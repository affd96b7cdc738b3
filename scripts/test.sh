#!/usr/bin/env bash
# The project's test command:  bash scripts/test.sh [PRESET...]
#
# Installs missing Debian packages, then for each preset (default: release,
# asan, tsan) configures, builds and runs ctest with that preset:
#   release  every test (labels unit, integration, stress)
#   asan     every test, under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     labels integration|stress|concurrent, under ThreadSanitizer
# Sanitizer options (ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS) are set by the
# presets in CMakePresets.json, so `ctest --preset asan` by hand behaves the same.
# Stops at the first failure with a non-zero exit status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

known_presets=(release debug asan tsan)
if (($# > 0)); then
  presets=("$@")
else
  presets=(release asan tsan)
fi
for p in "${presets[@]}"; do
  if [[ " ${known_presets[*]} " != *" $p "* ]]; then
    echo "test.sh: unknown preset '$p'; use one of: ${known_presets[*]}" >&2
    exit 2
  fi
done

start=$SECONDS

banner() {
  printf '\n==== %s ====\n' "$*"
}

# run_stage NAME COMMAND...: runs COMMAND; on failure prints the stage and exits.
run_stage() {
  local name=$1
  shift
  banner "$name"
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  if ((rc != 0)); then
    printf '\ntest.sh: FAILED at stage "%s" (exit %d) after %ds\n' "$name" "$rc" $((SECONDS - start)) >&2
    exit "$rc"
  fi
  printf -- '---- %s: ok (%ds)\n' "$name" $((SECONDS - t0))
}

# ThreadSanitizer (GCC 12) cannot map its shadow memory when the kernel
# randomizes mmap with more than 28 bits; run its programs without ASLR then.
tsan_wrapper=()
rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
if [[ " ${presets[*]} " == *" tsan "* ]] && ((rnd_bits > 28)); then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    tsan_wrapper=(setarch "$(uname -m)" -R)
  else
    echo "test.sh: warning: vm.mmap_rnd_bits=$rnd_bits and setarch -R is not permitted;" \
         "TSan may fail (fix: sysctl vm.mmap_rnd_bits=28)" >&2
  fi
fi

run_stage "dependencies" bash scripts/install-deps.sh

for p in "${presets[@]}"; do
  wrapper=()
  if [[ $p == tsan ]]; then
    wrapper=("${tsan_wrapper[@]}")
  fi
  run_stage "$p: configure" cmake --preset "$p"
  # The build runs the test programs once to list their tests (gtest discovery).
  run_stage "$p: build" "${wrapper[@]}" cmake --build --preset "$p" -j2
  run_stage "$p: test" "${wrapper[@]}" ctest --preset "$p"
done

printf '\ntest.sh: PASSED %s in %ds\n' "${presets[*]}" $((SECONDS - start))
