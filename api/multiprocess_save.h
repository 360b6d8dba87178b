// A step saved by several processes together (CheckpointManagerOptions::
// multiprocessing): each process saves its part as a partial step, the
// primary commits the step from all parts (Store::MergePartialSteps).
#ifndef CKPTDB_API_MULTIPROCESS_SAVE_H_
#define CKPTDB_API_MULTIPROCESS_SAVE_H_

#include "absl/status/status.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"

namespace ckptdb::internal {

// Validates the options: indices in range, a positive timeout.
absl::Status ValidateMultiprocessing(const MultiprocessingOptions& mp);

// Saves this process's part of `req` and, on the primary, commits the step
// once every process has saved its part; the others wait for that commit.
// Returns once the step is committed (or the save failed on every
// process: a part that never came, a primary that gave up).
absl::Status SaveAcrossProcesses(Store& store, StepSaveRequest req,
                                 const MultiprocessingOptions& mp);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_MULTIPROCESS_SAVE_H_
