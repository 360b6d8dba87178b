#!/usr/bin/env bash
# ThreadSanitizer over every C++ test binary that runs threads or several
# processes (scripts/test.sh runs this; docs/design.md, "Reliability
# suite"). Builds them in build-tsan/ (-DCKPTDB_TSAN=ON) and runs them in
# two lanes at once (one per core), each binary's output in
# build-tsan/tsan-logs/<binary>.log, printed if it fails. Exits non-zero if
# any binary fails or TSAN reports anything (halt_on_error: the first report
# ends the process, a forked child's included, and fails its test).
#
# Left out, with the reason:
#   - single-threaded tests (codecs, trees, importers, the CLI), and the
#     whole-binary runs that only push data volume through one thread (the
#     --gtest_filter exclusions below say which and why);
#   - the Python tests (Debian's Python is not built with TSAN).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

binaries=(async_test checkpoint_manager_test checkpointer_test
  many_writers_test multiprocess_test sharded_save_test crash_test
  crash_loop_test fault_test runs_test power_loss_test save_priority_test
  chunk_files_test)

# Compiled by clang with its thread-safety analysis on (-Wthread-safety
# -Werror=thread-safety): the same compile checks every ABSL_GUARDED_BY and
# ABSL_*_LOCKS_* annotation, so the CLI and the Python module (which run no
# TSAN test) are built here too, for the analysis only. -O1 -g1 (line
# tables only): TSAN's reports keep file and line, and the build, the
# longest step of the test command, compiles faster than at -O2 -g.
checked_only=(ckptdb_cli ckptdb_python bench_save_cpp)
if [ -f build-tsan/CMakeCache.txt ] &&
  ! grep -q '^CMAKE_CXX_COMPILER:.*clang' build-tsan/CMakeCache.txt; then
  rm -rf build-tsan # configured by an earlier version with g++
fi
CXX=clang++ cmake -S . -B build-tsan -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCKPTDB_TSAN=ON -DCKPTDB_THREAD_SAFETY_ANALYSIS=ON \
  -DCKPTDB_BUILD_BENCH=OFF -DCKPTDB_BUILD_PYTHON=ON
cmake --build build-tsan --parallel "$jobs" \
  --target "${binaries[@]}" "${checked_only[@]}"

# die_after_fork=0: the multi-process tests fork from a process that has
# threads (RocksDB's thread pools outlive a binary's earlier tests) and the
# children start threads; TSAN would kill them, and still checks them so.
export TSAN_OPTIONS="halt_on_error=1 die_after_fork=0 suppressions=$PWD/tests/tsan.supp"
# Fewer rounds of the loops than the ordinary build runs: each is the same
# code again, 5-10x slower under TSAN.
export CKPTDB_CRASH_KILLS=8 CKPTDB_POWER_CUTS=50 CKPTDB_HANDOVER_KILLS=10
logs=build-tsan/tsan-logs
rm -rf "$logs"
mkdir -p "$logs"

# run BINARY [GTEST_FILTER]: runs one binary, its output in its log.
run() {
  local name=$1 filter=${2:-*} start=$SECONDS
  if ./build-tsan/tests/"$name" --gtest_filter="$filter" \
      >"$logs/$name.log" 2>&1; then
    echo "tsan: $name passed in $((SECONDS - start)) s"
  else
    echo "tsan: $name FAILED after $((SECONDS - start)) s; its output:"
    cat "$logs/$name.log"
    return 1
  fi
}

lane1() {
  run multiprocess_test &&
    # The patch and space-reclaiming tests push ~100 MiB through one
    # thread (4 minutes under TSAN, nothing concurrent in them).
    run checkpoint_manager_test '-PatchTest.*:*.DeletingAndCompactingReclaimsSpace:*.UnchangedArraysAreStoredOnceAcrossSteps' &&
    run crash_loop_test &&
    run fault_test &&
    run sharded_save_test &&
    # Restores reading chunk files directly on both cores.
    run chunk_files_test
}
lane2() {
  run async_test &&
    # Only its two threaded tests: the rest are single-threaded API tests.
    run checkpointer_test '*.ForcedReplaceIsAtomicForConcurrentReaders:*.ThreadsRacingToCreateOneCheckpointGetBusy' &&
    # One crash point each of save, retention's delete and GC (every point
    # forks the same single-threaded writer; the normal build runs all 11).
    run crash_test '*after_ingest:*before_delete_commit:*gc_compacted:WalDamageTest.*' &&
    # Four processes saving 100 MiB through the writer (77 s under TSAN):
    # crash_loop_test runs three such processes under TSAN.
    run many_writers_test '-*.FourWritersAndAReaderLoseNothing' &&
    run runs_test &&
    run power_loss_test &&
    run save_priority_test
}

start=$SECONDS
lane1 &
pid1=$!
lane2 &
pid2=$!
status=0
wait "$pid1" || status=1
wait "$pid2" || status=1
echo "tsan: ${#binaries[@]} binaries in $((SECONDS - start)) s"
exit "$status"
