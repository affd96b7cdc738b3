#!/usr/bin/env bash
# The project's lint command:  bash scripts/lint.sh
#
# Installs missing Debian packages, configures the release build tree (for
# build/release/compile_commands.json; nothing is built), then runs
#   clang-tidy  with .clang-tidy on the sources of lib/ daemon/ tools/ bench/
#               fuzz/ (two at a time; every finding is an error; a source not in
#               compile_commands.json, like fuzz/libfuzzer_main.cpp, is skipped)
#   cppcheck    with .cppcheck-suppressions on lib/ daemon/ tools/ bench/ tests/ fuzz/
# and prints one summary line. Exits 1 on any finding, 0 when both are clean.
# Environment: LINT_JOBS (default 2) clang-tidy processes in parallel.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
start=$SECONDS
jobs=${LINT_JOBS:-2}

bash scripts/install-deps.sh
cmake --preset release >/dev/null
db=build/release
[[ -f $db/compile_commands.json ]] || { echo "lint.sh: no $db/compile_commands.json" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# ---- clang-tidy ---------------------------------------------------------------
# One run per source file (a file built into two targets is still checked once).
# A source the release tree does not compile (fuzz/libfuzzer_main.cpp is built
# only by the fuzz preset) has no compile command: skipped, with a message.
sources=()
while IFS= read -r f; do
  if grep -qF "\"file\": \"$root/$f\"" "$db/compile_commands.json"; then
    sources+=("$f")
  else
    echo "lint.sh: clang-tidy skips $f (not in $db/compile_commands.json)"
  fi
done < <(git ls-files 'lib/*.cpp' 'daemon/*.cpp' 'tools/*.cpp' 'bench/*.cpp' 'fuzz/*.cpp')
echo "lint.sh: clang-tidy on ${#sources[@]} files, $jobs at a time"
printf '%s\n' "${sources[@]}" |
  xargs -P "$jobs" -I{} sh -c 'log="$2/$(echo "$3" | tr / _).log"
    clang-tidy -p "$1" --quiet --header-filter="^$4/(lib|daemon|tools|bench|tests|fuzz)/" "$3" >"$log" 2>&1 ||
      echo "$3" >>"$2/failed"' sh "$db" "$out" {} "$root" || true
# The same header finding is reported once per file that includes it.
tidy_findings=$(cat "$out"/*.log | grep -E '^/.*:[0-9]+:[0-9]+: (warning|error): ' | sort -u || true)
tidy_count=$(grep -c . <<<"$tidy_findings" || true)
[[ -n $tidy_findings ]] && echo "$tidy_findings"
if [[ -f $out/failed && $tidy_count -eq 0 ]]; then
  echo "lint.sh: clang-tidy failed without a finding on: $(tr '\n' ' ' <"$out/failed")" >&2
  cat "$out"/*.log >&2
  tidy_count=1
fi

# ---- cppcheck -----------------------------------------------------------------
echo "lint.sh: cppcheck"
cppcheck_log=$out/cppcheck.txt
cppcheck_rc=0
cppcheck --enable=warning,style,performance,portability --std=c++20 --language=c++ \
  --library=posix --library=googletest --inline-suppr \
  --suppressions-list=.cppcheck-suppressions --suppress=missingIncludeSystem \
  --project="$db/compile_commands.json" -i build \
  --error-exitcode=1 --quiet -j "$jobs" \
  --template='{file}:{line}:{column}: {severity}: {message} [{id}]' 2>"$cppcheck_log" || cppcheck_rc=$?
cppcheck_findings=$(sed "s|^$root/||" "$cppcheck_log" | grep -E '^[^ ]+:[0-9]+:[0-9]+: ' | sort -u || true)
cppcheck_count=$(grep -c . <<<"$cppcheck_findings" || true)
[[ -n $cppcheck_findings ]] && echo "$cppcheck_findings"
if ((cppcheck_rc != 0 && cppcheck_count == 0)); then
  cat "$cppcheck_log" >&2
  cppcheck_count=1
fi

status=clean
((tidy_count + cppcheck_count > 0)) && status=FAILED
echo "lint.sh: $status: clang-tidy $tidy_count, cppcheck $cppcheck_count finding(s) in $((SECONDS - start)) s"
[[ $status == clean ]]
