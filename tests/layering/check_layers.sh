#!/usr/bin/env bash
# Checks that the build enforces the layers (CMakeLists.txt): compiled
# against its view, each folder's library can include its own headers and
# those of the folders below it, and no header of a folder above it (nor,
# below api/, the public API headers beyond the value types).
# Usage: check_layers.sh CXX VIEWS_DIR GENERATED_DIR
set -uo pipefail
cxx="$1" views="$2" gen="$3"
layers=(util core schema compaction db api)
# One header of each folder.
declare -A probe=(
  [util]=util/hash.h
  [core]=core/numpy_dtype.h
  [schema]=schema/records.h
  [compaction]=compaction/chunk_gc.h
  [db]=db/store.h
  [api]=api/save_validation.h
)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0 checks=0
compiles() {  # view header
  printf '#include "%s"\n' "$2" >"$tmp/probe.cc"
  "$cxx" -std=c++17 -E -o /dev/null -I "$views/$1" -I "$gen" "$tmp/probe.cc" \
    >"$tmp/out" 2>&1
}
expect() {  # ok|fail view header
  checks=$((checks + 1))
  if compiles "$2" "$3"; then got=ok; else got=fail; fi
  if [ "$got" != "$1" ]; then
    echo "FAIL: $2 including $3: expected $1, got $got"
    sed 's/^/    /' "$tmp/out" | head -5
    failures=$((failures + 1))
  elif [ "$got" = fail ] && ! grep -q "No such file or directory" "$tmp/out"; then
    echo "FAIL: $2 including $3 failed for another reason than layering:"
    sed 's/^/    /' "$tmp/out" | head -5
    failures=$((failures + 1))
  fi
}
for ((i = 0; i < ${#layers[@]}; i++)); do
  layer="${layers[$i]}"
  for ((j = 0; j < ${#layers[@]}; j++)); do
    if ((j <= i)); then want=ok; else want=fail; fi
    expect "$want" "$layer" "${probe[${layers[$j]}]}"
  done
done
# Below api/, the public headers are only the value types.
for layer in core schema compaction db; do
  expect ok "$layer" ckptdb/tree.h
  expect fail "$layer" ckptdb/checkpoint_manager.h
done
echo "layering: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
