// Pure encoding and decoding of ckptdb's keys and records; no I/O.
//
// Every record value is a FlatBuffer followed by an 8-byte trailer: the
// little-endian XXH3-64 of the FlatBuffer bytes, seeded with XXH3-64 of the
// record's key. Decoding checks the trailer, copies the bytes into aligned
// memory, runs the FlatBuffers Verifier with the record type's identifier,
// and checks the format version, before any accessor touches the bytes.
// See docs/format.md for every key and record.
#ifndef CKPTDB_SCHEMA_RECORDS_H_
#define CKPTDB_SCHEMA_RECORDS_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "chunk_generated.h"
#include "flatbuffers/flatbuffers.h"
#include "meta_generated.h"
#include "node_generated.h"
#include "step_generated.h"
#include "util/hash.h"

namespace ckptdb::internal {

// The record format version this build writes and reads.
inline constexpr uint16_t kFormatVersion = 1;

// File identifiers of the record types.
inline constexpr char kNodeIdent[] = "CKND";
inline constexpr char kStepIdent[] = "CKST";
inline constexpr char kChunkEntryIdent[] = "CKCE";
inline constexpr char kPatchIdent[] = "CKPA";
inline constexpr char kCodedIdent[] = "CKCD";
inline constexpr char kHeaderIdent[] = "CKDB";
inline constexpr char kSegmentIdent[] = "CKSG";
inline constexpr char kSegmentStatIdent[] = "CKSS";
inline constexpr char kNamingIdent[] = "CKNM";
inline constexpr char kChunkListIdent[] = "CKCL";
inline constexpr char kCommitRequestIdent[] = "CKCQ";
inline constexpr char kCommitReplyIdent[] = "CKCR";

// Column family names.
inline constexpr char kMetaCf[] = "default";
inline constexpr char kChunksCf[] = "chunks";
inline constexpr char kChunkIndexCf[] = "chunk_index";
inline constexpr char kStepCfPrefix[] = "step-";
inline constexpr char kSlotCfPrefix[] = "slot-";

// ---- keys -----------------------------------------------------------------

void PutBigEndian64(std::string* out, uint64_t v);
void PutBigEndian32(std::string* out, uint32_t v);
void PutBigEndian16(std::string* out, uint16_t v);
uint64_t GetBigEndian64(const char* p);
uint32_t GetBigEndian32(const char* p);
uint16_t GetBigEndian16(const char* p);

// Meta column family.
inline constexpr char kHeaderKey[] = "ckptdb/header";
// The naming and retention record of the default run; a named run's is
// "naming/" + run (NamingKey). Neither starts like a step key.
inline constexpr char kNamingKey[] = "manager/naming";
inline constexpr char kRunNamingKeyPrefix[] = "naming/";
inline constexpr char kStepKeyPrefix[] = "step/";
inline constexpr char kSegmentKeyPrefix[] = "seg/";
inline constexpr char kSegmentStatKeyPrefix[] = "segstat/";
// A step's commit record: "step/" + u64 step for the database's default
// run (run ""), "run/" + run + "/" + u64 step for a named run. Run names
// are 1-128 characters of [A-Za-z0-9._-] (ValidRunName), so the first '/'
// after "run/" ends the name.
inline constexpr char kRunStepKeyPrefix[] = "run/";
bool ValidRunName(absl::string_view run);
// Runs the library keeps for itself start with '~', which no user run name
// has: the partial steps of a multi-process save, one run per process,
// "~p<process>." + run (PartialRunName). Listings leave them out.
inline constexpr char kPartialRunMark = '~';
bool ValidStoredRunName(absl::string_view run);
std::string PartialRunName(absl::string_view run, int process);
bool IsPartialRunOf(absl::string_view name, absl::string_view run);
std::string NamingKey(absl::string_view run);
std::string StepKey(int64_t step);
std::string StepKey(absl::string_view run, int64_t step);
// Default-run keys only.
bool ParseStepKey(absl::string_view key, int64_t* step);
// Either form.
bool ParseRunStepKey(absl::string_view key, std::string* run, int64_t* step);
std::string SegmentKey(uint64_t segment);
std::string SegmentStatKey(uint64_t segment);
bool ParseSegmentKey(absl::string_view key, absl::string_view prefix,
                     uint64_t* segment);

// chunk_index column family: the hash, hi then lo, big-endian (16 bytes).
std::string ChunkIndexKey(const Hash128& hash);
bool ParseChunkIndexKey(absl::string_view key, Hash128* hash);

// chunks column family: segment (u64 BE) + ordinal (u32 BE), 12 bytes.
inline constexpr size_t kChunkKeySize = 12;
std::string ChunkKey(uint64_t segment, uint32_t ordinal);
bool ParseChunkKey(absl::string_view key, uint64_t* segment, uint32_t* ordinal);

// Step column family: "c" holds the ChunkList; "n" + item (u16 BE) +
// preorder index (u32 BE) holds a node.
inline constexpr char kChunkListKey[] = "c";
inline constexpr size_t kNodeKeySize = 7;
std::string NodeKey(uint16_t item, uint32_t index);
std::string NodeKeyPrefix(uint16_t item);
bool ParseNodeKey(absl::string_view key, uint16_t* item, uint32_t* index);

// Step column families are "slots": "slot-<n>", created in batches and
// reused after their step is deleted (creating and dropping column families
// rewrites RocksDB's OPTIONS file, which costs ~170 ms at 1,000 families).
// The StepRecord names the slot holding each step.
std::string SlotColumnFamilyName(uint64_t n);
// True for "slot-<n>" (and the "step-<step>-<gen>" names of early
// databases); *number is n (or gen).
bool ParseSlotColumnFamilyName(absl::string_view name, uint64_t* number);

// ---- record envelope ------------------------------------------------------

inline constexpr size_t kTrailerSize = 8;

// FlatBuffer bytes of a finished builder plus the checksum trailer.
std::string SealRecord(absl::string_view key,
                       const flatbuffers::FlatBufferBuilder& fbb);
std::string SealBytes(absl::string_view key, absl::string_view body);

// Aligned storage for a record being decoded; reuse it across records.
class RecordBuffer {
 public:
  const uint8_t* data() const {
    return reinterpret_cast<const uint8_t*>(words_.data());
  }
  size_t size() const { return size_; }
  void Assign(absl::string_view bytes);

 private:
  std::vector<uint64_t> words_;
  size_t size_ = 0;
};

// Checks the trailer and copies the FlatBuffer bytes into `buf`. DataLoss
// (prefixed with `what`) on a short value or checksum mismatch.
absl::Status UnsealRecord(absl::string_view key, absl::string_view value,
                          absl::string_view what, RecordBuffer* buf);

// Unseals, verifies and returns the root of a record of type T. The result
// points into `buf`.
template <typename T>
absl::StatusOr<const T*> DecodeRecord(absl::string_view key,
                                      absl::string_view value,
                                      const char* identifier,
                                      absl::string_view what,
                                      RecordBuffer* buf) {
  absl::Status s = UnsealRecord(key, value, what, buf);
  if (!s.ok()) return s;
  flatbuffers::Verifier verifier(buf->data(), buf->size(), /*max_depth=*/64,
                                 /*max_tables=*/100000000,
                                 /*check_alignment=*/true);
  if (!verifier.VerifyBuffer<T>(identifier)) {
    return absl::DataLossError(
        absl::StrCat(what, ": record failed FlatBuffers verification (",
                     "expected identifier ", identifier, ")"));
  }
  const T* root = flatbuffers::GetRoot<T>(buf->data());
  const uint16_t version = root->format_version();
  if (version == 0) {
    return absl::DataLossError(
        absl::StrCat(what, ": record has no format version"));
  }
  if (version > kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": record format version ", version,
                     " was written by a newer ckptdb (this build reads up to ",
                     kFormatVersion, ")"));
  }
  return root;
}

// Element `i` of a verified vector of scalars or structs, copied out. The
// FlatBuffers builder aligns a struct vector only to the struct's size
// (ChunkRef: 40 bytes), and Debian's Verifier (2.0.8) checks a vector's
// alignment only to 4 bytes, so the 8-byte fields of [long], [Hash128] and
// [ChunkRef] elements may sit at 4 mod 8: reading them through the
// accessors would be a misaligned load (found by tests/fuzz/).
template <typename T>
T LoadElement(const flatbuffers::Vector<T>* v, size_t i) {
  T out;
  std::memcpy(&out, v->Data() + i * sizeof(T), sizeof(T));
  return out;
}
template <typename T>
T LoadElement(const flatbuffers::Vector<const T*>* v, size_t i) {
  T out;
  std::memcpy(static_cast<void*>(&out), v->Data() + i * sizeof(T), sizeof(T));
  return out;
}

// ---- conversions ----------------------------------------------------------

inline fb::Hash128 ToFb(const Hash128& h) { return fb::Hash128(h.hi, h.lo); }
inline Hash128 FromFb(const fb::Hash128& h) { return Hash128{h.hi(), h.lo()}; }

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_RECORDS_H_
