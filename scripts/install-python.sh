#!/usr/bin/env bash
# Makes the built Python package importable by Debian's python3: writes
# ckptdb.pth into its site-packages directory
# (/usr/local/lib/python3.X/dist-packages), pointing at <build>/python, where
# the CMake build assembles the package (ckptdb/*.py + the _ckptdb
# extension). Rebuilding updates what is imported; removing the .pth file
# uninstalls. Usage: scripts/install-python.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${1:-build}" && pwd)"
if [ ! -f "$build/python/ckptdb/__init__.py" ]; then
  echo "install-python.sh: $build/python/ckptdb is not built" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
site="$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')"
$SUDO mkdir -p "$site"
echo "$build/python" | $SUDO tee "$site/ckptdb.pth" >/dev/null
/usr/bin/python3 -c 'import ckptdb, sys; print("ckptdb", ckptdb.__version__, "installed for", sys.executable, "from", ckptdb.__path__[0])'
