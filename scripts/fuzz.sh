#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (AddressSanitizer
# and UBSan, -DCKPTDB_FUZZ=ON, in build-fuzz/) and runs each over its seed
# corpus (tests/fuzz/corpus/<target>/) and its regression inputs
# (tests/fuzz/regressions/<target>/) for a fixed time. New inputs go to
# build-fuzz/fuzz-corpus/<target>/, crashes to build-fuzz/fuzz-crashes/.
#
#   scripts/fuzz.sh [--long] [--seconds N] [TARGET...]
#
# Default: every target, 20 s each; --long: 600 s each; CKPTDB_FUZZ_JOBS
# (default: the number of cores) targets run at once. Exits 1 if any
# target crashed, leaked, timed out or ran out of memory, printing the
# reproducer's path; copy it to tests/fuzz/regressions/<target>/ once the
# decoder is fixed (CTest's fuzz_replay.<target> then replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
ALL=(records node_tree patch npy npz flax_msgpack safetensors orbax restore)
seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --long) seconds=600 ;;
    --seconds) seconds="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
jobs="${CKPTDB_FUZZ_JOBS:-$(nproc)}"

OUT=build-fuzz
CXX=clang++ cmake -S . -B "$OUT" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCKPTDB_FUZZ=ON -DCKPTDB_BUILD_TESTS=OFF -DCKPTDB_BUILD_BENCH=OFF \
  -DCKPTDB_BUILD_PYTHON=OFF >/dev/null
cmake --build "$OUT" --parallel "$jobs" --target "${targets[@]/%/_fuzz}"

# fuzz TARGET: runs one target for $seconds; its report goes to
# $OUT/fuzz-logs/TARGET.summary, and it exits 1 if the target failed.
fuzz() {
  local t=$1 start
  local work="$OUT/fuzz-corpus/$t" crashes="$OUT/fuzz-crashes/$t"
  local log="$OUT/fuzz-logs/$t.log" summary="$OUT/fuzz-logs/$t.summary"
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  rm -f "$summary"
  local dirs=("$work" "tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
  start=$(date +%s)
  # The first folder receives new inputs; the repository's are read only.
  if "$OUT/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=25 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$crashes/" "${dirs[@]}" \
      >"$log" 2>&1; then
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $t: ok, ${execs:-?} executions in $(( $(date +%s) - start )) s" \
      >"$summary"
    return 0
  fi
  {
    echo "fuzz $t: FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|Test unit written to' "$log" | head -8 | sed 's/^/  /'
    for f in "$crashes"/*; do
      [ -e "$f" ] && echo "  reproducer: $f" \
        "(replay: $OUT/tests/fuzz/${t}_fuzz $f)"
    done
  } >"$summary"
  return 1
}

# $jobs targets at once (each libFuzzer process uses one core); reports in
# the targets' order.
failed=()
pids=()
for ((i = 0; i < ${#targets[@]}; i++)); do
  if [ "$i" -ge "$jobs" ]; then wait "${pids[$((i - jobs))]}" || true; fi
  fuzz "${targets[$i]}" &
  pids+=($!)
done
for ((i = 0; i < ${#targets[@]}; i++)); do
  t="${targets[$i]}" summary="$OUT/fuzz-logs/${targets[$i]}.summary"
  wait "${pids[$i]}" || true
  if [ -f "$summary" ] && ! grep -q FAILED "$summary"; then
    cat "$summary"
  else
    cat "$summary" 2>/dev/null || echo "fuzz $t: FAILED (no report)"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
