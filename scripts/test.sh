#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb and runs every test:
#   1. the C++ suite (CTest: unit, integration, CLI and benchmark smoke tests,
#      fuzz targets over their corpora and 4 s of random mutations each);
#   2. every test binary that runs threads or processes again in a clang
#      ThreadSanitizer build (scripts/test-tsan.sh; less the single-threaded
#      data-volume tests), compiled with -Wthread-safety
#      -Werror=thread-safety, which checks every ABSL_GUARDED_BY /
#      ABSL_*_LOCKS_* annotation of the libraries, the CLI and the Python
#      module;
#   3. the Python tests, when the Python package is built.
#
# The main build is RelWithDebInfo with line tables only (-g1): backtraces
# and sanitizer reports keep file and line, and the compile is about 30%
# shorter than at -g (scripts/demo.sh builds build/ the same way, so the
# two commands share one build).
#
# scripts/test.sh --long also runs the long variants (an hour or more on 2
# cores; not in CI's 15 minutes): the C++ suite in an AddressSanitizer +
# UBSan build, the Python tests against it, every fuzz target for 10
# minutes, 5,000 power cuts, 200 writer kills and 200 kills of the crash
# loop, and 10,000 resource cycles.
set -euo pipefail
cd "$(dirname "$0")/.."
long=0
if [ "${1:-}" = "--long" ]; then long=1; fi
./scripts/install-deps.sh
jobs="$(nproc)"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure --parallel "$jobs" --timeout 900)

# ThreadSanitizer over every test binary that runs threads or processes
# (scripts/test-tsan.sh says which tests it leaves out and why), and the
# thread-safety analysis of everything.
./scripts/test-tsan.sh

# Python: Debian's interpreter and pytest, against build/python.
if [ -f build/python/ckptdb/__init__.py ]; then
  CKPTDB_BUILD_DIR="$PWD/build" /usr/bin/python3 -m pytest -q python/tests
fi

if [ "$long" = 1 ]; then
  ./scripts/test-long.sh
fi
