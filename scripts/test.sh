#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb and runs every test:
#   1. the C++ suite (CTest: unit, integration, CLI and benchmark smoke tests);
#   2. the async and manager tests again in a ThreadSanitizer build;
#   3. the Python tests, when the Python package is built.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs="$(nproc)"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure --parallel "$jobs" --timeout 900)

# ThreadSanitizer: the async stress test and the manager tests.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCKPTDB_TSAN=ON -DCKPTDB_BUILD_BENCH=OFF -DCKPTDB_BUILD_PYTHON=OFF
cmake --build build-tsan --parallel "$jobs" --target async_test checkpoint_manager_test
export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/tsan.supp"
./build-tsan/tests/async_test
./build-tsan/tests/checkpoint_manager_test
unset TSAN_OPTIONS
