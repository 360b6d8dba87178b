#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb, installs the Python package
# (a .pth file pointing at build/python) and runs the demo on a default
# database under the build tree (build/demo-db).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build build --parallel "$(nproc)"
./scripts/install-python.sh build
./build/tools/ckptdb demo build/demo-db
