// Where a chunk's bytes are: the one description of a chunk that node
// records, chunk_index entries, patches, the save planner and the readers
// share. Plain data, no FlatBuffers types (chunk_codec.h converts).
#ifndef CKPTDB_SCHEMA_CHUNK_LOCATION_H_
#define CKPTDB_SCHEMA_CHUNK_LOCATION_H_

#include <cstdint>
#include <functional>
#include <string>

#include "util/hash.h"

namespace ckptdb::internal {

// How a chunk's value in the chunks column family encodes its bytes (the
// numbering of fb::ChunkKind).
enum class ChunkKind : uint8_t {
  kFull = 0,        // the value is the bytes, verbatim
  kPatch = 1,       // a Patch record against a self-contained base chunk
  kDelta = 2,       // a Coded record: planes of the difference from a base
  kCompressed = 3,  // a Coded record: the chunk's own planes
};

// Full and Compressed chunks decode on their own, so they can be bases of
// Patch and Delta chunks (which cannot: there are no chains).
inline bool IsSelfContained(ChunkKind kind) {
  return kind == ChunkKind::kFull || kind == ChunkKind::kCompressed;
}

struct ChunkLocation {
  Hash128 hash;              // XXH3-128 of the decoded bytes: the identity
  uint64_t segment = 0;      // key in the chunks column family:
  uint32_t ordinal = 0;      //   (segment, ordinal)
  uint32_t size = 0;         // decoded size in bytes
  uint32_t stored_size = 0;  // size of the stored value
  ChunkKind kind = ChunkKind::kFull;

  friend bool operator==(const ChunkLocation& a, const ChunkLocation& b) {
    return a.hash == b.hash && a.segment == b.segment &&
           a.ordinal == b.ordinal && a.size == b.size &&
           a.stored_size == b.stored_size && a.kind == b.kind;
  }
};

// Reads chunk `c`'s stored value (c.stored_size bytes, its entry checked,
// its bytes not) into *out by a way other than RocksDB's Get -- straight
// from its file (db/chunk_files.h); false to read it through Get.
using StoredValueReader =
    std::function<bool(const ChunkLocation& c, std::string* out)>;

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_CHUNK_LOCATION_H_
