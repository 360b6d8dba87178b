// Orbax checkpoints for `ckptdb import`: recognising a step, item or
// CheckpointManager root folder, and turning a step read by
// core/orbax_checkpoint.h into a save request (one ckptdb item per Orbax
// item, with the step's metrics, times and custom metadata).
#ifndef CKPTDB_TOOLS_CLI_ORBAX_H_
#define CKPTDB_TOOLS_CLI_ORBAX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/orbax_checkpoint.h"
#include "db/store.h"

namespace ckptdb::cli {

// True if `dir` is an Orbax step or item folder.
bool DirLooksLikeOrbax(const std::string& dir);

// The save request for an Orbax step. A folder that is itself an item
// becomes item `item_name`; named items keep their names. `step` must
// outlive the request (it points at the step's metrics).
absl::StatusOr<internal::StepSaveRequest> OrbaxSaveRequest(
    const orbax::Step& step, int64_t number, const std::string& name,
    const std::string& item_name);

// Number of items and total array bytes of a step, for messages.
uint64_t OrbaxArrayBytes(const orbax::Step& step);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_ORBAX_H_
