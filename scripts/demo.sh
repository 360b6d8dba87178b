#!/usr/bin/env bash
# Installs the Debian packages, builds ckptdb and runs the demo on a default
# database under the build tree (build/demo-db).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --parallel "$(nproc)"
./build/tools/ckptdb demo build/demo-db
