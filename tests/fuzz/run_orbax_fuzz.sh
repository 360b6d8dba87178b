#!/usr/bin/env bash
# Builds tests/fuzz/orbax_fuzz.cc with clang's libFuzzer and AddressSanitizer
# (only the core/ sources it needs, outside CMake), seeds a corpus from the
# real Orbax fixtures (manifests, B+tree nodes, .zarray / zarr.json with a
# chunk, _METADATA, _CHECKPOINT_METADATA) and runs it:
#
#   tests/fuzz/run_orbax_fuzz.sh [SECONDS]   (default 60; build in build-fuzz/)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN="${1:-60}"
OUT=build-fuzz
FIX=../shared/fixtures/real
mkdir -p "$OUT/corpus" "$OUT/views/ckptdb"
for h in array.h dtype.h metadata.h status.h tree.h; do
  ln -sf "$PWD/api/ckptdb/$h" "$OUT/views/ckptdb/$h"
done
SRCS="core/array.cc core/crc32c.cc core/decompress.cc core/dtype.cc
      core/json.cc core/metadata.cc core/ocdbt_format.cc core/orbax_metadata.cc
      core/tree.cc core/zarr.cc tests/fuzz/orbax_fuzz.cc"
if [ ! -x "$OUT/orbax_fuzz" ] || [ -n "$(find $SRCS core/*.h -newer "$OUT/orbax_fuzz")" ]; then
  # shellcheck disable=SC2086
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined \
    -I. -I"$OUT/views" $SRCS -o "$OUT/orbax_fuzz" \
    $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format \
        absl_flat_hash_map absl_hash) -lzstd -lz
fi
# Seeds: the first byte picks the decoder (see orbax_fuzz.cc).
seed() { { printf "\\x$(printf %02x "$1")"; cat "${@:2}"; } > "$OUT/corpus/$1-$(basename "$(dirname "$2")")-$(basename "$2")"; }
while IFS= read -r -d '' m; do seed 0 "$m"; done < <(find "$FIX" -name manifest.ocdbt -print0 | head -z -n 20)
while IFS= read -r -d '' d; do seed 1 "$d"; done < <(find "$FIX" -path '*/d/*' -size -64k -print0 | head -z -n 40)
while IFS= read -r -d '' z; do
  { printf '\x02'; cat "$z"; printf '\0'; cat "$(dirname "$z")/0"; } > "$OUT/corpus/2-$(basename "$(dirname "$z")")"
done < <(find "$FIX" -name .zarray -print0)
while IFS= read -r -d '' m; do seed 4 "$m"; done < <(find "$FIX" -name _METADATA -size -8k -print0 | head -z -n 10)
while IFS= read -r -d '' m; do seed 5 "$m"; done < <(find "$FIX" -name _CHECKPOINT_METADATA -print0 | head -z -n 10)
# Decompressed manifest and node bodies, for the envelope-wrapping cases.
/usr/bin/python3 - "$FIX" "$OUT/corpus" <<'PY'
import os, sys
sys.path.insert(0, os.path.join("tests", "orbax"))
import orbax_gen as g
fix, out = sys.argv[1], sys.argv[2]
n = 0
for root, _, files in os.walk(fix):
    for f in files:
        p = os.path.join(root, f)
        if n > 60 or os.path.getsize(p) > 65536:
            continue
        data = open(p, "rb").read()
        for magic, tag in ((g.MANIFEST_MAGIC, 6), (g.BTREE_MAGIC, 7)):
            if len(data) > 16 and int.from_bytes(data[:4], "big") == magic:
                try:
                    body = g.open_envelope(data, magic).data
                except Exception:
                    continue
                with open(os.path.join(out, f"{tag}-body-{n}"), "wb") as o:
                    o.write(bytes([tag]) + body)
                n += 1
PY
"$OUT/orbax_fuzz" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 \
  -max_len=65536 "$OUT/corpus"
