// Codecs of the database-level records in the meta ("default") column
// family: the header, the manager naming record, segment records and
// segment statistics. Pure encoding; no I/O. See docs/format.md.
#ifndef CKPTDB_SCHEMA_META_CODEC_H_
#define CKPTDB_SCHEMA_META_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/hash.h"

namespace ckptdb::internal {

// "ckptdb/header": written once when the database is created.
struct DbHeader {
  std::string magic;  // kDbMagic for a ckptdb database
  std::string kind;   // "checkpoint" or "manager"
  int64_t created_time_ns = 0;
  std::string created_by;
};
inline constexpr char kDbMagic[] = "ckptdb";
std::string EncodeHeader(const DbHeader& header);
// DataLoss (bad checksum, verification) prefixed with `what`. The magic is
// the caller's to check.
absl::StatusOr<DbHeader> DecodeHeader(absl::string_view value,
                                      absl::string_view what);

// A run's naming record (key NamingKey(run): "manager/naming" for the
// default run "", "naming/" + run for a named run): how the run's
// CheckpointManager names its steps and the retention options it applies,
// so that tools can apply them too.
struct NamingRecord {
  std::string step_prefix;
  int step_format_fixed_length = 0;  // 0: unset
  std::optional<int64_t> max_to_keep;
  std::optional<int64_t> keep_period;
  std::optional<int64_t> keep_time_interval_secs;
  // best_fn or a preservation policy: retention tools cannot replay.
  bool retention_is_custom = false;
  friend bool operator==(const NamingRecord& a, const NamingRecord& b) {
    return a.step_prefix == b.step_prefix &&
           a.step_format_fixed_length == b.step_format_fixed_length &&
           a.max_to_keep == b.max_to_keep && a.keep_period == b.keep_period &&
           a.keep_time_interval_secs == b.keep_time_interval_secs &&
           a.retention_is_custom == b.retention_is_custom;
  }
};
// Sealed under NamingKey(run): a record read under another run's key fails
// its checksum.
std::string EncodeNaming(absl::string_view run, const NamingRecord& naming);
// DataLoss (bad checksum, verification) prefixed "naming record of the
// default run" or "naming record of run 'RUN'".
absl::StatusOr<NamingRecord> DecodeNaming(absl::string_view run,
                                          absl::string_view value);

// "seg/" + segment: the chunks one save wrote, by ordinal.
struct SegmentRecord {
  uint64_t segment = 0;
  std::vector<Hash128> hashes;
  std::vector<uint32_t> stored_sizes;
  uint64_t total_bytes = 0;
};
std::string EncodeSegmentRecord(const SegmentRecord& record);
// DataLoss naming the segment; also when the key is not a segment key, the
// record names another segment, or its hash and size lists differ in
// length.
absl::StatusOr<SegmentRecord> DecodeSegmentRecord(absl::string_view key,
                                                  absl::string_view value);

// "segstat/" + segment: live accounting of a segment.
struct SegmentInfo {
  uint64_t segment = 0;
  uint64_t chunks = 0;
  uint64_t total_bytes = 0;
  uint64_t live_chunks = 0;
  uint64_t live_bytes = 0;
};
// Writes live_chunks, live_bytes and total_bytes.
std::string EncodeSegmentStat(const SegmentInfo& stat);
absl::StatusOr<SegmentInfo> DecodeSegmentStat(absl::string_view key,
                                              absl::string_view value);

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_META_CODEC_H_
