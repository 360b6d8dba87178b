// Codecs of a step's records: the commit record (StepRecord, in the meta
// column family; its presence is the step's commit point) and the step's
// chunk list (key "c" of its column family). Pure encoding; no I/O.
#ifndef CKPTDB_SCHEMA_STEP_CODEC_H_
#define CKPTDB_SCHEMA_STEP_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/metadata.h"
#include "util/hash.h"

namespace ckptdb::internal {

// A commit record: the step's info (metrics and custom metadata included),
// the column family ("slot") holding its nodes, and the save that wrote it.
struct StepRecord {
  // The run ("" is the database's default run): in the record's key, not
  // its value.
  std::string run;
  StepInfo info;  // info.damage is not stored
  std::string column_family;
  uint64_t generation = 0;  // the save's number (its segment number)
  // Item names by their number in node keys (ItemRecord.index).
  std::vector<std::string> item_names;
};
// The sealed record under StepKey(record.run, record.info.step). Items are
// numbered in the order of info.items; item_names is not read.
std::string EncodeStepRecord(const StepRecord& record);
// DataLoss "step N commit record: ..." (bad checksum or verification, a key
// that is not a step key or names another step, damaged metrics or custom
// metadata, two items with one number).
absl::StatusOr<StepRecord> DecodeStepRecord(absl::string_view key,
                                            absl::string_view value);

// The distinct chunks a step references, sorted by hash, and which step
// and save the column family holding it belongs to (slots are reused: a
// reader checks these against the commit record).
struct ChunkList {
  std::vector<Hash128> hashes;
  int64_t step = 0;
  uint64_t generation = 0;
};
std::string EncodeChunkList(const ChunkList& list);
// DataLoss prefixed with `what`.
absl::StatusOr<ChunkList> DecodeChunkList(absl::string_view value,
                                          absl::string_view what);

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_STEP_CODEC_H_
