// What the library's importers (api/import.cc) and tools need of a
// CheckpointManager beyond its public API: committing a step read from
// elsewhere with its own times and metadata, taking a source's step
// naming, and opening a database as a tool does (no following, the
// writer's naming record left as it is).
#ifndef CKPTDB_API_MANAGER_ACCESS_H_
#define CKPTDB_API_MANAGER_ACCESS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"

namespace ckptdb::internal {

class ManagerAccess {
 public:
  // Opens the default run of `directory` for a tool: not async; fails
  // FailedPrecondition (instead of following) while another process
  // writes it; names steps by the database's naming record without
  // rewriting it; new chunks the size of the latest step's.
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> OpenForTool(
      const std::string& directory, bool create);
  // Opens run `run` of an existing `directory` for a tool with `options`
  // (their retention): no following (FailedPrecondition while another
  // process writes), steps named and the naming record left as the run's
  // record has them. InvalidArgument for bad options or a bad run name.
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> OpenRunForTool(
      const std::string& directory, const std::string& run,
      CheckpointManagerOptions options);

  // Commits `request` (its step, name, items, times, metrics, custom
  // metadata) without save decisions or retention. AlreadyExists if the
  // step exists; FailedPrecondition if read-only or closed.
  static absl::StatusOr<StepInfo> CommitStep(CheckpointManager& manager,
                                             const StepSaveRequest& request);

  // Takes `prefix` and zero-padding `width` (0: none) as the manager's
  // step naming, and records it in the database, if the manager has no
  // steps and names steps plainly; otherwise does nothing.
  static absl::Status AdoptNaming(CheckpointManager& manager,
                                  const std::string& prefix, int width);
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_MANAGER_ACCESS_H_
