#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb and runs every test:
#   1. the C++ suite (CTest: unit, integration, CLI and benchmark smoke tests);
#   2. every test binary that runs threads or processes again in a
#      ThreadSanitizer build (scripts/test-tsan.sh; less the single-threaded
#      data-volume tests);
#   3. the Python tests, when the Python package is built;
#   4. a compile-only clang build with -Wthread-safety -Werror=thread-safety
#      (checks every ABSL_GUARDED_BY / ABSL_*_LOCKS_* annotation; runs no
#      tests).
#
# scripts/test.sh --long also runs the long variants (an hour or more on 2
# cores; not in CI's 15 minutes): the C++ suite in an AddressSanitizer +
# UBSan build, the Python tests against it, every fuzz target for 10
# minutes, 5,000 power cuts, 200 writer kills and 200 kills of the crash
# loop.
set -euo pipefail
cd "$(dirname "$0")/.."
long=0
if [ "${1:-}" = "--long" ]; then long=1; fi
./scripts/install-deps.sh
jobs="$(nproc)"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure --parallel "$jobs" --timeout 900)

# ThreadSanitizer over every test binary that runs threads or processes
# (scripts/test-tsan.sh says which tests it leaves out and why).
./scripts/test-tsan.sh

# Python: Debian's interpreter and pytest, against build/python.
if [ -f build/python/ckptdb/__init__.py ]; then
  CKPTDB_BUILD_DIR="$PWD/build" /usr/bin/python3 -m pytest -q python/tests
fi

# Thread-safety analysis: clang checks the absl::Mutex annotations of the
# libraries, the CLI and the Python module. Compile only (at -O0 without
# debug information: the analysis does not depend on them, the time does).
CXX=clang++ cmake -S . -B build-tsa -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DCKPTDB_THREAD_SAFETY_ANALYSIS=ON -DCKPTDB_BUILD_TESTS=OFF \
  -DCKPTDB_BUILD_BENCH=OFF -DCKPTDB_BUILD_PYTHON=ON
cmake --build build-tsa --parallel "$jobs"

if [ "$long" = 1 ]; then
  ./scripts/test-long.sh
fi
