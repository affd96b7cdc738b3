#!/usr/bin/env bash
# Fuzzes shmq for a bounded time:  bash scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Installs missing Debian packages, configures and builds the `fuzz` preset
# (clang 14, libFuzzer, ASan + UBSan), then runs each target of fuzz/ for
# SECONDS_PER_TARGET (default 30) on a temporary copy of its corpus and
# regressions (the repository is never written), in a private shmq namespace
# whose /dev/shm objects are removed afterwards. Prints executions, speed and
# coverage per target. Exits non-zero if any target crashed, hung, leaked or
# broke an invariant, and says where the input was saved and how to keep it as
# a regression test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

seconds=${1:-30}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS_PER_TARGET must be a positive whole number, not '$seconds'" >&2
  exit 2
fi
targets=(segment config control cli)

bash scripts/install-deps.sh
cmake --preset fuzz
cmake --build --preset fuzz -j2

work=$(mktemp -d /tmp/shmq-fuzz.XXXXXX)
ns="fuzz$$"
export SHMQ_FUZZ_NAMESPACE=$ns
export ASAN_OPTIONS="abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
failed=()

cleanup() {
  rm -f /dev/shm/shmq."$ns".*
  if ((${#failed[@]} == 0)); then
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# fuzz_stat NAME LOG: the value of libFuzzer's final "stat::NAME: value" line.
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }
# cov LOG PATTERN: the coverage ("cov: N") of the last line matching PATTERN.
cov() { grep -E "$2" "$1" | sed -n 's/.* cov: \([0-9]*\).*/\1/p' | tail -n 1; }

summary=()
for t in "${targets[@]}"; do
  dir="$work/$t"
  mkdir -p "$dir/corpus"
  cp "fuzz/corpus/$t"/* "$dir/corpus/"
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then cp "fuzz/regressions/$t"/* "$dir/corpus/"; fi
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$dir/")
  if [[ -f fuzz/dictionaries/$t.dict ]]; then args+=(-dict="$root/fuzz/dictionaries/$t.dict"); fi

  printf '\n==== fuzz_%s: %ss ====\n' "$t" "$seconds"
  rc=0
  # The outer timeout only guards against libFuzzer itself stalling.
  timeout $((seconds + 300)) "build/fuzz/fuzz/fuzz_$t" "${args[@]}" "$dir/corpus" >"$dir.log" 2>&1 || rc=$?

  execs=$(fuzz_stat number_of_executed_units "$dir.log")
  speed=$(fuzz_stat average_exec_per_sec "$dir.log")
  added=$(fuzz_stat new_units_added "$dir.log")
  line=$(printf '%-8s %10s execs %7s/s  cov %5s -> %-5s  new inputs %s' "$t" "${execs:-?}" "${speed:-?}" \
         "$(cov "$dir.log" 'INITED')" "$(cov "$dir.log" ' cov: ')" "${added:-?}")
  if ((rc == 0)); then
    summary+=("ok     $line")
    echo "$line"
    continue
  fi
  failed+=("$t")
  summary+=("FAILED $line")
  grep -E 'ERROR|runtime error|shmq fuzz target|SUMMARY|^ *#[0-9]+ 0x' "$dir.log" | head -n 30 || true
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$dir.log" | tail -n 1)
  cat <<MSG

fuzz_$t FAILED (exit $rc). Full log: $dir.log
Input that did it: ${artifact:-none saved (see the log)}
Reproduce:   ASAN_OPTIONS=abort_on_error=1 build/fuzz/fuzz/fuzz_$t ${artifact:-INPUT}
Once fixed, keep it as a regression test (fuzz_corpus_test replays it in every preset):
  cp ${artifact:-INPUT} fuzz/regressions/$t/<what-it-does>
  cmake --build --preset release --target fuzz_corpus_test && ctest --preset release -R fuzz
MSG
done

printf '\n==== summary (%ss per target) ====\n' "$seconds"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: FAILED: ${failed[*]}; inputs and logs kept in $work" >&2
  exit 1
fi
echo "fuzz.sh: PASSED"
