// Stored retention: each run's retention options as its CheckpointManager
// recorded them (the run's naming record, schema/meta_codec.h), replayed
// without the code that saved the run. `ckptdb gc` uses it.
#ifndef CKPTDB_API_STORED_RETENTION_H_
#define CKPTDB_API_STORED_RETENTION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/metadata.h"
#include "db/store.h"

namespace ckptdb::internal {

// One run's stored retention.
struct RunRetention {
  std::string run;      // "" for the default run
  NamingRecord record;  // as stored (default values: none stored)
  // Steps ReplayStoredRetention deleted, ascending.
  std::vector<StepInfo> deleted;
  // Whether the record holds options a replay applies: max_to_keep,
  // keep_period or keep_time_interval_secs, and no best_fn or
  // preservation policy (which are code, not stored: such a run keeps
  // every step).
  bool HasOptions() const;
  bool Replayable() const {
    return HasOptions() && !record.retention_is_custom;
  }
};

// The stored retention of the default run, then of every named run with
// steps, by name, as `store` sees the database. DataLoss naming the run
// whose record is damaged.
absl::StatusOr<std::vector<RunRetention>> ReadStoredRetention(
    const Store& store);

// Deletes, in each replayable run of `runs`, the steps its options do not
// keep, exactly as a CheckpointManager opened on that run with them would
// (one is, per run, in turn), and lists them in `deleted`. No process,
// this one included, may have the database open for writing: then
// FailedPrecondition (busy) and the runs not reached yet keep their steps.
absl::Status ReplayStoredRetention(const std::string& directory,
                                   std::vector<RunRetention>* runs);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_STORED_RETENTION_H_
