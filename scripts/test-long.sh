#!/usr/bin/env bash
# The long variants of the test suite (scripts/test.sh --long runs this
# after the ordinary suite; docs/design.md, "Reliability suite"):
#   1. the whole C++ suite in an AddressSanitizer + UBSan build (with
#      Debian's uninstrumented RocksDB: see tests/asan.supp and
#      tests/ubsan.supp for what is suppressed and why);
#   2. the Python tests against that build (LD_PRELOAD of the ASan runtime);
#   3. every libFuzzer target for 10 minutes (scripts/fuzz.sh --long);
#   4. 5,000 power cuts, 200 kills of the writer of three processes
#      (multiprocess_test), and 200 kills of three processes saving, deleting
#      and collecting garbage at once (crash_loop_test);
#   5. 10,000 open/save/restore/close cycles that must leak no descriptor,
#      thread or heap memory (resources_test).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCKPTDB_ASAN=ON -DCKPTDB_BUILD_BENCH=OFF
cmake --build build-asan --parallel "$jobs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:suppressions=$PWD/tests/asan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp"
(cd build-asan && ctest --output-on-failure --parallel "$jobs" --timeout 3600 \
  -E 'bench_quick|shard_bench_quick')
if [ -f build-asan/python/ckptdb/__init__.py ]; then
  # libstdc++ preloaded too: Python does not link it, and ASan's
  # __cxa_throw interceptor must find it at start-up.
  asan_rt="$(gcc -print-file-name=libasan.so)"
  stdcxx="$(gcc -print-file-name=libstdc++.so)"
  ASAN_OPTIONS="detect_leaks=0:suppressions=$PWD/tests/asan.supp" \
    LD_PRELOAD="$asan_rt $stdcxx" CKPTDB_BUILD_DIR="$PWD/build-asan" \
    /usr/bin/python3 -m pytest -q python/tests
fi
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

./scripts/fuzz.sh --long

CKPTDB_POWER_CUTS=5000 ./build/tests/power_loss_test
CKPTDB_HANDOVER_KILLS=200 ./build/tests/multiprocess_test \
  --gtest_filter='*KillingTheWriterRepeatedlyHandsOverAndLosesNothing'
CKPTDB_CRASH_KILLS=200 ./build/tests/crash_loop_test
CKPTDB_RESOURCE_CYCLES=10000 ./build/tests/resources_test
