// Codecs of the commit service's messages (schema/commit.fbs): what a
// process that staged a save sends to the process holding the database, and
// the answer. Pure encoding; no I/O. The nested records (StepRecord,
// SegmentRecord, ChunkEntry) are sealed by their own codecs and verified
// again when decoded.
#ifndef CKPTDB_SCHEMA_COMMIT_CODEC_H_
#define CKPTDB_SCHEMA_COMMIT_CODEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/chunk_codec.h"
#include "schema/meta_codec.h"
#include "schema/step_codec.h"
#include "util/hash.h"

namespace ckptdb::internal {

struct CommitRequest {
  enum class Op : uint8_t {
    kNumber = 1,
    kCommit = 2,
    kDelete = 3,
    kCollectGarbage = 4,
    kClaim = 5,
    kRelease = 6,
    kSetNaming = 7,
  };
  Op op = Op::kNumber;
  // kCommit.
  uint64_t save_number = 0;
  bool replace = false;
  // Set record.info.commit_time_ns to the time of the commit.
  bool stamp_commit_time = false;
  StepRecord record;
  std::optional<SegmentRecord> segment;
  std::map<Hash128, ChunkEntry> new_entries;
  std::map<Hash128, ChunkEntry> reused;
  std::vector<std::string> segment_files;
  std::string step_file;
  // kDelete and kSetNaming (kCommit: record.run).
  std::string run;
  std::vector<int64_t> steps;
  // kCollectGarbage.
  double gc_min_fraction = 0;
  // kClaim (kClaim and kRelease: save_number).
  std::vector<Hash128> hashes;
  // kSetNaming: the run's naming record.
  NamingRecord naming;
};

std::string EncodeCommitRequest(const CommitRequest& request);
// DataLoss "commit request: ..." for a damaged message (checksum,
// verification, a nested record that does not decode, an unknown op).
absl::StatusOr<CommitRequest> DecodeCommitRequest(absl::string_view bytes);

struct CommitReply {
  absl::Status status;
  uint64_t save_number = 0;    // for kNumber
  int64_t commit_time_ns = 0;  // for kCommit
  // kClaim: 0 if granted, else a save that holds one of the chunks; and
  // the chunks stored by now (when any is, nothing is claimed).
  uint64_t claim_holder = 0;
  std::map<Hash128, ChunkEntry> stored;
};

std::string EncodeCommitReply(const CommitReply& reply);
absl::StatusOr<CommitReply> DecodeCommitReply(absl::string_view bytes);

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_COMMIT_CODEC_H_
