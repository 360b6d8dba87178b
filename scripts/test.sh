#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb and runs every test: the C++
# suite (CTest, including the benchmark smoke run) and, when built, the
# ThreadSanitizer stress build and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs="$(nproc)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure --parallel "$jobs" --timeout 900)
