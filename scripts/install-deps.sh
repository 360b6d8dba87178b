#!/usr/bin/env bash
# Installs every Debian package ckptdb needs to build, test, benchmark and run.
# Idempotent; run as root (or with sudo) on Debian 12 (bookworm).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake ninja-build pkg-config git
  # clang++ for the TSAN + -Wthread-safety build (scripts/test-tsan.sh)
  clang
  # storage core
  librocksdb-dev rocksdb-tools libsnappy-dev liblz4-dev libzstd-dev libbz2-dev zlib1g-dev
  libgflags-dev liburing-dev
  libflatbuffers-dev flatbuffers-compiler libxxhash-dev libabsl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libhdf5-dev borgbackup
  # the CLI's interop test (docs/format.md: ldb | xxd | flatc)
  xxd
  # python package and the numpy-based CLI tests
  python3 python3-dev python3-numpy python3-pytest pybind11-dev
  # ckptdb.flax: Flax's msgpack checkpoint format
  python3-msgpack
  # Orbax import: blosc-compressed zarr arrays (zstd and zlib are above),
  # and the importer tests' independent zstd decode
  libblosc-dev python3-zstandard
)
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
# Optional: bfloat16 for numpy (ml_dtypes); not every Debian release has it.
if apt-cache show python3-ml-dtypes >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq --no-install-recommends python3-ml-dtypes || true
fi
