// How a chunk's value in the chunks column family holds its bytes, both
// ways: choosing the kind of a new chunk (Full, Patch, Delta or Compressed;
// docs/format.md, "chunks column family") and decoding a stored value back
// into verified bytes. Used by the save's file writer (save_files.cc) and
// the readers (store_read.cc).
#ifndef CKPTDB_DB_CHUNK_CODING_H_
#define CKPTDB_DB_CHUNK_CODING_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/byte_planes.h"
#include "db/save_plan.h"
#include "rocksdb/db.h"
#include "schema/chunk_location.h"

namespace ckptdb::internal {

// Which encodings a save may use (from StoreOptions).
struct ChunkCoding {
  double patch_max_fraction = 0.5;
  uint32_t patch_page_bytes = 4096;
  bool delta_chunks = true;
  bool compress_chunks = true;
};

// A Delta chunk is stored when its sample predicts, and its encoding
// achieves, at most this fraction of the chunk's size; a Compressed chunk
// likewise. 0.8 rather than 0.9 for deltas: a chunk that has drifted from
// its base becomes the next base sooner (W5 stored 0.654x instead of
// 0.761x), and deltas of unrelated random values (about 0.85) are no longer
// paid for in save time (docs/design.md, "Delta and compressed chunks").
inline constexpr double kDeltaMaxFraction = 0.8;
inline constexpr double kCompressedMaxFraction = 0.8;
// zstd's level for byte planes (1: its fastest regular level; measured in
// docs/design.md, "Delta chunks").
inline constexpr int kPlaneZstdLevel = 1;

// Codes `bytes` (elements of `width` bytes) as byte planes, of its
// difference from `base_bytes` when that is not empty, if the sample
// predicts and the encoding achieves at most `max_fraction` of its size
// (the store's test for a Delta or Compressed chunk); false otherwise.
bool CodePlanesWithin(absl::string_view bytes, absl::string_view base_bytes,
                      int width, double max_fraction, CodedPlanes* out);

// How chunk values are read through RocksDB: with its block checksums
// verified (a damaged block is Corruption, not parsed) and without filling
// its block cache; every chunk's XXH3-128 is checked as well.
rocksdb::ReadOptions ChunkReadOptions();

// Chooses how job `j`'s chunk `bytes` (elements of `width` bytes) is stored,
// stored under `key`: as a Patch or Delta of j->base (read by `read_base`
// when given and it can, else from `chunks`, and verified first; dropped
// when it is unreadable or neither pays), as a
// Compressed chunk, or Full. Sets j->chunk.kind and stored_size; *value is
// the value to write unless the chunk is Full (then `bytes` verbatim).
void CodeChunk(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
               const ChunkCoding& coding, int width, absl::string_view bytes,
               absl::string_view key, ChunkJob* j, std::string* value,
               const StoredValueReader* read_base = nullptr);

// The verified bytes of chunk `c`, whose stored value is `value` under
// `key`: `value` itself for a Full chunk, otherwise decoded into `direct`
// (c.size bytes: the reader's destination, so that restore writes each
// byte once) or, when it is null, into `scratch`. A Patch or Delta chunk's
// base is read by `read_base` when given and it can, else from `chunks`;
// the decoded bytes' hash covers it. DataLoss
// prefixed with `what()` (called only then) for a wrong size, a content
// hash mismatch, a missing or corrupt base, or an undecodable value; then
// `direct` holds no meaningful bytes.
absl::StatusOr<absl::string_view> DecodeChunk(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
    const ChunkLocation& c, absl::string_view key, absl::string_view value,
    absl::FunctionRef<std::string()> what, std::string* scratch,
    char* direct = nullptr, const StoredValueReader* read_base = nullptr);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_CHUNK_CODING_H_
