// Zarr arrays as TensorStore writes them for Orbax, decoded in memory (the
// chunks come through a callback, so the same code reads a folder of chunk
// files or the keys of an OCDBT database):
//
//   v2: ".zarray" JSON (shape, chunks, dtype "<f4" / "bfloat16", order C|F,
//       fill_value, compressor null | zstd | gzip | zlib | blosc, filters
//       null, dimension_separator "." | "/"); chunk "i.j.k" holds the
//       compressed C- or F-order elements of a full-size chunk.
//   v3: "zarr.json" (node_type "array", data_type "float32", chunk_grid
//       regular, chunk_key_encoding default "c/i/j" or v2 "i.j",
//       fill_value, codecs): array->bytes "bytes" (endian) or
//       "sharding_indexed" (inner chunks plus an index of (offset, nbytes)
//       u64 pairs at the end or start, itself encoded with index_codecs),
//       bytes->bytes "zstd", "gzip", "crc32c", "blosc"; "transpose" only as
//       the identity.
//
// A missing chunk (or inner chunk) is the fill value. Arrays come back
// C-order, little-endian. Errors name `what` (the array's location) and
// the chunk key; DataLoss for corrupt data, InvalidArgument for metadata
// ckptdb cannot read, Unimplemented for codecs it does not have.
#ifndef CKPTDB_CORE_ZARR_H_
#define CKPTDB_CORE_ZARR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/dtype.h"
#include "core/json.h"

namespace ckptdb::zarr {

struct ArrayMeta {
  int zarr_format = 2;
  DType dtype = DType::kFloat32;
  bool big_endian = false;
  Shape shape;
  std::vector<int64_t> chunks;
  bool fortran_order = false;  // v2 "order": "F"
  std::string fill;            // one element, little-endian
  // v2: '.' or '/' between chunk indices. v3: the key encoding's.
  char separator = '.';
  bool v3_default_keys = false;  // v3 "default": "c" + separator + indices
  json::Json compressor;         // v2: the compressor object or null
  json::Json codecs;             // v3: the codec array
};

// Parses a ".zarray" document (v2). `what` names it in errors.
absl::StatusOr<ArrayMeta> ParseZarrayV2(absl::string_view text,
                                        absl::string_view what);
// The same from an already parsed object (T5X keeps it in its msgpack).
absl::StatusOr<ArrayMeta> ZarrayV2FromJson(const json::Json& doc,
                                           absl::string_view what);
// Parses a "zarr.json" document (v3) of an array.
absl::StatusOr<ArrayMeta> ParseZarrJsonV3(absl::string_view text,
                                          absl::string_view what);

// Returns a chunk's stored bytes, or nullopt if the chunk does not exist.
using ChunkSource = std::function<absl::StatusOr<std::optional<std::string>>(
    const std::string& key)>;

// The key of the chunk at grid position `index`.
std::string ChunkKey(const ArrayMeta& meta, const std::vector<int64_t>& index);

// Reads the whole array. `max_bytes` bounds its size.
absl::StatusOr<Array> ReadArray(const ArrayMeta& meta,
                                const ChunkSource& source,
                                absl::string_view what,
                                uint64_t max_bytes = uint64_t{1} << 40);

}  // namespace ckptdb::zarr

#endif  // CKPTDB_CORE_ZARR_H_
