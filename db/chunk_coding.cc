#include "db/chunk_coding.h"

#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "core/byte_planes.h"
#include "db/rocks_util.h"
#include "db/store_internal.h"
#include "schema/chunk_codec.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

// A per-thread buffer for a decoded base chunk (distinct from the callers'
// scratch and from Staging(), which holds the chunk being saved).
std::string& BaseBuffer() {
  thread_local std::string buf;
  return buf;
}

// Per-thread aligned copies of a chunk's record and of its base's (reused:
// fresh memory is slow to fault in).
RecordBuffer& ValueRecord() {
  thread_local RecordBuffer buf;
  return buf;
}
RecordBuffer& BaseRecord() {
  thread_local RecordBuffer buf;
  return buf;
}
// A per-thread buffer for a base chunk's stored value read from its file.
std::string& BaseValue() {
  thread_local std::string buf;
  return buf;
}

}  // namespace

bool CodePlanesWithin(absl::string_view bytes, absl::string_view base_bytes,
                      int width, double max_fraction, CodedPlanes* out) {
  const PlanePlan plan = PlanPlanes(bytes, base_bytes, width);
  return plan.predicted_fraction <= max_fraction &&
         EncodePlanes(bytes, base_bytes, plan, kPlaneZstdLevel,
                      static_cast<size_t>(max_fraction * bytes.size()), out);
}

rocksdb::ReadOptions ChunkReadOptions() {
  rocksdb::ReadOptions ro;
  // Block checksums verified before RocksDB parses a block (chunk tables
  // written before they had them are read unverified; every chunk's
  // XXH3-128 is checked as well: db/rocks_util.cc says why both).
  ro.verify_checksums = true;
  ro.fill_cache = false;
  return ro;
}

namespace {

absl::Status CheckHash(const ChunkLocation& c, absl::string_view bytes,
                       absl::string_view what) {
  if (bytes.size() != c.size) {
    return absl::DataLossError(
        absl::StrCat(what, " has ", bytes.size(), " bytes, expected ", c.size));
  }
  if (HashBytes(bytes.data(), bytes.size()) != c.hash) {
    return absl::DataLossError(
        absl::StrCat(what, " is corrupt: content hash mismatch"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::string_view> Decode(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
    const ChunkLocation& c, absl::string_view key, absl::string_view value,
    absl::string_view what, std::string* scratch, char* direct,
    RecordBuffer* buf, bool verify, const StoredValueReader* read_base);

// The bytes of self-contained chunk `base`, in `pinned`, BaseValue() or
// `decoded`: read by `read_base` when given and it can, else through
// RocksDB; checked against its hash when `verify` (otherwise the caller
// checks what it decodes from them, and names the base only if that fails).
absl::StatusOr<absl::string_view> ReadBase(rocksdb::DB* db,
                                           rocksdb::ColumnFamilyHandle* chunks,
                                           const ChunkLocation& base,
                                           absl::string_view what,
                                           rocksdb::PinnableSlice* pinned,
                                           std::string* decoded, bool verify,
                                           const StoredValueReader* read_base) {
  const std::string where =
      absl::StrCat(what, ": its base chunk (segment ", base.segment,
                   ", ordinal ", base.ordinal, ")");
  if (!IsSelfContained(base.kind)) {
    return absl::DataLossError(absl::StrCat(where, " is not self-contained"));
  }
  const std::string key = ChunkKey(base.segment, base.ordinal);
  if (read_base != nullptr && (*read_base)(base, &BaseValue())) {
    return Decode(db, chunks, base, key, BaseValue(), where, decoded,
                  /*direct=*/nullptr, &BaseRecord(), verify, nullptr);
  }
  rocksdb::Status s = db->Get(ChunkReadOptions(), chunks, key, pinned);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat(where, " is missing"));
  }
  if (!s.ok()) return FromRocks(s, where);
  return Decode(db, chunks, base, key, ToView(*pinned), where, decoded,
                /*direct=*/nullptr, &BaseRecord(), verify, nullptr);
}

// Codes `bytes` as byte planes: of its difference from `base_bytes` (a
// Delta chunk of `base`) or, without a base, of itself (a Compressed
// chunk), if the sample predicts and the encoding achieves at most
// `max_fraction` of its size.
bool EncodePlaneChunk(absl::string_view bytes, absl::string_view base_bytes,
                      const std::optional<ChunkLocation>& base, int width,
                      double max_fraction, absl::string_view key,
                      std::string* value) {
  thread_local CodedPlanes coded;
  if (!CodePlanesWithin(bytes, base_bytes, width, max_fraction, &coded)) {
    return false;
  }
  *value = EncodeCoded(coded, base, key);
  return true;
}

// Tries a Patch, then a Delta of j->base; the kind used, or kFull.
ChunkKind CodeAgainstBase(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
                          const ChunkCoding& coding, int width,
                          absl::string_view bytes, absl::string_view key,
                          const ChunkLocation& base, std::string* value,
                          const StoredValueReader* read_base) {
  rocksdb::PinnableSlice pinned;
  // Code only against verified bytes.
  auto base_bytes = ReadBase(db, chunks, base, "base", &pinned, &BaseBuffer(),
                             /*verify=*/true, read_base);
  if (!base_bytes.ok()) return ChunkKind::kFull;
  if (coding.patch_max_fraction > 0 &&
      EncodePatch(bytes, *base_bytes, base, coding.patch_page_bytes,
                  coding.patch_max_fraction, key, value)) {
    return ChunkKind::kPatch;
  }
  if (coding.delta_chunks && EncodePlaneChunk(bytes, *base_bytes, base, width,
                                              kDeltaMaxFraction, key, value)) {
    return ChunkKind::kDelta;
  }
  return ChunkKind::kFull;
}

// The base's bytes as a Patch starts from them: exactly the chunk's size.
absl::Status CheckBaseSize(const ChunkLocation& c, const ChunkLocation& base,
                           absl::string_view bytes, absl::string_view what) {
  if (bytes.size() == c.size) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      what, ": its base chunk (segment ", base.segment, ", ordinal ",
      base.ordinal, ") has ", bytes.size(), " bytes, expected ", c.size));
}

// DecodeChunk with the messages prefixed by `what`.
absl::StatusOr<absl::string_view> Decode(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
    const ChunkLocation& c, absl::string_view key, absl::string_view value,
    absl::string_view what, std::string* scratch, char* direct,
    RecordBuffer* buf, bool verify, const StoredValueReader* read_base) {
  rocksdb::PinnableSlice pinned;
  absl::string_view base;
  std::optional<ChunkLocation> base_location;
  if (c.kind == ChunkKind::kFull) {
    if (verify) CKPTDB_RETURN_IF_ERROR(CheckHash(c, value, what));
    return value;
  }
  if (direct == nullptr) {
    scratch->resize(c.size);
    direct = scratch->data();
  }
  const absl::string_view out(direct, c.size);
  switch (c.kind) {
    case ChunkKind::kPatch: {
      CKPTDB_ASSIGN_OR_RETURN(PatchView patch,
                              DecodePatch(key, value, c.size, what, buf));
      base_location = patch.base;
      CKPTDB_ASSIGN_OR_RETURN(
          base, ReadBase(db, chunks, patch.base, what, &pinned, &BaseBuffer(),
                         false, read_base));
      CKPTDB_RETURN_IF_ERROR(CheckBaseSize(c, patch.base, base, what));
      std::memcpy(direct, base.data(), c.size);
      CKPTDB_RETURN_IF_ERROR(
          ApplyPatch(patch, what, absl::MakeSpan(direct, c.size)));
      break;
    }
    case ChunkKind::kDelta:
    case ChunkKind::kCompressed: {
      CKPTDB_ASSIGN_OR_RETURN(
          CodedView coded, DecodeCoded(key, value, c.kind, c.size, what, buf));
      base_location = coded.base;
      if (coded.base) {
        CKPTDB_ASSIGN_OR_RETURN(base,
                                ReadBase(db, chunks, *coded.base, what, &pinned,
                                         &BaseBuffer(), false, read_base));
      }
      CKPTDB_RETURN_IF_ERROR(
          DecodePlanes(coded.planes, base, what, direct, c.size));
      break;
    }
    default:
      return absl::DataLossError(absl::StrCat(what, ": unknown chunk kind ",
                                              static_cast<int>(c.kind)));
  }
  if (!verify) return out;
  absl::Status s = CheckHash(c, out, what);
  // The base is checked only now (its bytes were used unchecked, and the
  // result's hash covers them): name it when it is what is wrong.
  if (!s.ok() && base_location && !CheckHash(*base_location, base, "").ok()) {
    return absl::DataLossError(
        absl::StrCat(what, ": its base chunk (segment ", base_location->segment,
                     ", ordinal ", base_location->ordinal, ") is corrupt"));
  }
  CKPTDB_RETURN_IF_ERROR(s);
  return out;
}

}  // namespace

void CodeChunk(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
               const ChunkCoding& coding, int width, absl::string_view bytes,
               absl::string_view key, ChunkJob* j, std::string* value,
               const StoredValueReader* read_base) {
  j->chunk.kind = ChunkKind::kFull;
  if (j->base) {
    j->chunk.kind = CodeAgainstBase(db, chunks, coding, width, bytes, key,
                                    *j->base, value, read_base);
    if (j->chunk.kind == ChunkKind::kFull) j->base.reset();
  }
  if (j->chunk.kind == ChunkKind::kFull && coding.compress_chunks &&
      EncodePlaneChunk(bytes, absl::string_view(), std::nullopt, width,
                       kCompressedMaxFraction, key, value)) {
    j->chunk.kind = ChunkKind::kCompressed;
  }
  j->chunk.stored_size = j->chunk.kind == ChunkKind::kFull
                             ? j->chunk.size
                             : static_cast<uint32_t>(value->size());
}

absl::StatusOr<absl::string_view> DecodeChunk(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
    const ChunkLocation& c, absl::string_view key, absl::string_view value,
    absl::FunctionRef<std::string()> what, std::string* scratch, char* direct,
    const StoredValueReader* read_base) {
  // Messages are built only on error: every one starts where `what` ends.
  auto bytes = Decode(db, chunks, c, key, value, "", scratch, direct,
                      &ValueRecord(), true, read_base);
  if (bytes.ok()) return bytes;
  return absl::Status(bytes.status().code(),
                      absl::StrCat(what(), bytes.status().message()));
}

}  // namespace ckptdb::internal
