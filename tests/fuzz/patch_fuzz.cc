// libFuzzer target: the decoders of stored chunk values (schema/chunk_codec,
// core/byte_planes): Patch with ApplyPatch, and Coded (Delta and
// Compressed chunks) with DecodePlanes.
//
// Input: a selector byte (bit 0: the value is the FlatBuffer body, sealed
// here under the chunk key; else the whole stored value; bit 1: a Coded
// value, else a Patch; bit 2: a Coded value of a Delta chunk, else of a
// Compressed one), the decoded chunk size (4 bytes little-endian, taken
// modulo 1 MiB), then the value. Patches and deltas are applied to a base
// chunk of that size.
#include <cstddef>
#include <cstdint>
#include <string>

#include "schema/chunk_codec.h"
#include "schema/records.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ckptdb::internal;
  if (size < 5) return 0;
  const uint32_t chunk_size =
      (data[1] | (uint32_t{data[2]} << 8) | (uint32_t{data[3]} << 16) |
       (uint32_t{data[4]} << 24)) %
      (1u << 20);
  const absl::string_view in = ckptdb::fuzz::AsView(data + 5, size - 5);
  const std::string key = ChunkKey(7, 3);
  const std::string value =
      (data[0] & 1) != 0 ? SealBytes(key, in) : std::string(in);
  RecordBuffer buf;
  std::string chunk(chunk_size, 'b');
  if ((data[0] & 2) != 0) {
    const ChunkKind kind =
        (data[0] & 4) != 0 ? ChunkKind::kDelta : ChunkKind::kCompressed;
    absl::StatusOr<CodedView> coded =
        DecodeCoded(key, value, kind, chunk_size, "fuzz", &buf);
    if (!coded.ok()) return 0;
    const std::string base(coded->base ? chunk_size : 0, 'c');
    (void)DecodePlanes(coded->planes, base, "fuzz", chunk.data(), chunk_size);
    return 0;
  }
  absl::StatusOr<PatchView> patch =
      DecodePatch(key, value, chunk_size, "fuzz", &buf);
  if (!patch.ok()) return 0;
  (void)ApplyPatch(*patch, "fuzz", absl::MakeSpan(chunk));
  return 0;
}
