#!/usr/bin/env bash
# Runs the Orbax reader's fuzz target (tests/fuzz/orbax_fuzz.cc); kept for
# its old users. scripts/fuzz.sh builds it and every other target.
#
#   tests/fuzz/run_orbax_fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
exec "$(dirname "$0")/../../scripts/fuzz.sh" --seconds "${1:-60}" orbax
