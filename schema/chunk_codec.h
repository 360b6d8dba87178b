// Codecs of the chunk records: chunk_index entries (ChunkEntry), Patch
// chunk values and Coded (Delta and Compressed) chunk values. Pure encoding; no
// I/O. See docs/format.md.
#ifndef CKPTDB_SCHEMA_CHUNK_CODEC_H_
#define CKPTDB_SCHEMA_CHUNK_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "chunk_generated.h"
#include "common_generated.h"
#include "core/byte_planes.h"
#include "schema/chunk_location.h"

namespace ckptdb::internal {

fb::ChunkRef ToChunkRef(const ChunkLocation& c);
ChunkLocation FromChunkRef(const fb::ChunkRef& r);

// A chunk_index entry: where the chunk is, the Full chunk a Patch chunk is
// based on, and its reference count (committed steps listing it plus Patch
// chunks based on it).
struct ChunkEntry {
  ChunkLocation location;  // location.hash is the entry's key
  std::optional<ChunkLocation> base;
  uint64_t refcount = 0;
};

// The sealed value of `entry` under its key ChunkIndexKey(location.hash).
std::string EncodeChunkEntry(const ChunkEntry& entry);
// DataLoss naming the chunk for a bad checksum, a record that fails
// verification, or a malformed key.
absl::StatusOr<ChunkEntry> DecodeChunkEntry(absl::string_view key,
                                            absl::string_view value);

// A Patch chunk: the pages of a Full base chunk of the same size that
// differ, with their new bytes.
//
// Encodes `bytes` as a Patch of `base_bytes` (same size, the bytes of
// `base`) under chunks-family key `key` when at most `max_fraction` of its
// `page`-byte pages differ; returns false (and leaves `out` alone)
// otherwise.
bool EncodePatch(absl::string_view bytes, absl::string_view base_bytes,
                 const ChunkLocation& base, uint32_t page, double max_fraction,
                 absl::string_view key, std::string* out);

// A decoded Patch; views into the RecordBuffer it was decoded from.
struct PatchView {
  ChunkLocation base;
  uint32_t page_bytes = 0;
  const flatbuffers::Vector<uint32_t>* pages = nullptr;
  absl::string_view data;
};

class RecordBuffer;
// Decodes the Patch value of a chunk of `size` decoded bytes. DataLoss
// prefixed with `what`: bad checksum or verification, or "invalid patch"
// (no base, a base that is not Full or of another size, no pages or data,
// page size 0).
absl::StatusOr<PatchView> DecodePatch(absl::string_view key,
                                      absl::string_view value, uint32_t size,
                                      absl::string_view what,
                                      RecordBuffer* buf);
// Applies `patch` to `chunk`, which holds the base chunk's bytes. DataLoss
// prefixed with `what`: "patch page out of range", "patch data truncated".
absl::Status ApplyPatch(const PatchView& patch, absl::string_view what,
                        absl::Span<char> chunk);

// A Coded chunk: byte planes (core/byte_planes.h) of the chunk, or, with
// `base`, of its difference from that self-contained chunk of the same
// size (a Delta chunk; otherwise a Compressed one). The sealed value under
// chunks-family key `key`.
std::string EncodeCoded(const CodedPlanes& planes,
                        const std::optional<ChunkLocation>& base,
                        absl::string_view key);

// A decoded Coded value; views into the RecordBuffer it was decoded from.
struct CodedView {
  std::optional<ChunkLocation> base;
  PlanesView planes;
};

// Decodes the Coded value of a chunk of `kind` (kDelta or kCompressed) and
// `size` decoded bytes. DataLoss prefixed with `what`: bad checksum or
// verification, or "invalid coded chunk" (a Delta without a self-contained
// base of its size, a Compressed chunk with a base or a difference, no
// planes).
absl::StatusOr<CodedView> DecodeCoded(absl::string_view key,
                                      absl::string_view value, ChunkKind kind,
                                      uint32_t size, absl::string_view what,
                                      RecordBuffer* buf);

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_CHUNK_CODEC_H_
