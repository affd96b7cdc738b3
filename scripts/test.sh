#!/usr/bin/env bash
# The project's test command:  bash scripts/test.sh [STAGE...]
#
# Installs missing Debian packages, then runs each stage (default: release,
# asan, tsan, fuzz, lint, in that order):
#   release  configure, build, ctest: every test (labels unit, integration,
#            stress, and chaos: a 60 s shmq-chaos run)
#   asan     the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     labels integration|stress|concurrent, under ThreadSanitizer
#   debug    every test, unoptimised (not in the default run)
#   fuzz     scripts/fuzz.sh: each libFuzzer target for $SHMQ_FUZZ_SECONDS (30) s
#   lint     scripts/lint.sh: clang-tidy and cppcheck, clean
# Sanitizer options (ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS) are set by the
# presets in CMakePresets.json, so `ctest --preset asan` by hand behaves the same.
# Stops at the first failure with a non-zero exit status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

known_stages=(release debug asan tsan fuzz lint)
if (($# > 0)); then
  stages=("$@")
else
  stages=(release asan tsan fuzz lint)
fi
for p in "${stages[@]}"; do
  if [[ " ${known_stages[*]} " != *" $p "* ]]; then
    echo "test.sh: unknown stage '$p'; use one of: ${known_stages[*]}" >&2
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
if [[ " ${stages[*]} " == *" tsan "* ]] && ((rnd_bits > 28)); then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    tsan_wrapper=(setarch "$(uname -m)" -R)
  else
    echo "test.sh: warning: vm.mmap_rnd_bits=$rnd_bits and setarch -R is not permitted;" \
         "TSan may fail (fix: sysctl vm.mmap_rnd_bits=28)" >&2
  fi
fi

run_stage "dependencies" bash scripts/install-deps.sh

for p in "${stages[@]}"; do
  case $p in
    fuzz) run_stage "fuzz" bash scripts/fuzz.sh "${SHMQ_FUZZ_SECONDS:-30}"; continue ;;
    lint) run_stage "lint" bash scripts/lint.sh; continue ;;
  esac
  wrapper=()
  if [[ $p == tsan ]]; then
    wrapper=("${tsan_wrapper[@]}")
  fi
  run_stage "$p: configure" cmake --preset "$p"
  # The build runs the test programs once to list their tests (gtest discovery).
  run_stage "$p: build" "${wrapper[@]}" cmake --build --preset "$p" -j2
  run_stage "$p: test" "${wrapper[@]}" ctest --preset "$p"
done

printf '\ntest.sh: PASSED %s in %ds\n' "${stages[*]}" $((SECONDS - start))
