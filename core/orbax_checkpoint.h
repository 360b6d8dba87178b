// Orbax checkpoints on disk, read without Python, JAX or TensorStore: a
// step folder (its items plus _CHECKPOINT_METADATA) and a CheckpointManager
// root (its committed step folders). The C++ API behind `ckptdb import` of
// Orbax checkpoints; docs/orbax-import.md describes the layouts.
//
// A step folder holds one folder per item (named after the item: "default",
// "state", ...), or is itself an item (StandardCheckpointer's layout).
// Pytree items are read by core/orbax_item.h; an item folder holding a
// single JSON file (JsonCheckpointHandler's "metadata", the v1 API's
// "data.json") becomes the JSON value as a tree. Everything is read before
// anything is returned, so an import of a damaged checkpoint saves nothing.
#ifndef CKPTDB_CORE_ORBAX_CHECKPOINT_H_
#define CKPTDB_CORE_ORBAX_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ckptdb/tree.h"
#include "core/orbax_item.h"

namespace ckptdb::orbax {

struct Item {
  std::string name;  // empty when the folder is itself the item
  Tree tree;
};

struct Step {
  std::vector<Item> items;         // sorted by name
  bool has_step_metadata = false;  // _CHECKPOINT_METADATA was present
  int64_t init_time_ns = 0;        // 0: unknown
  int64_t commit_time_ns = 0;      // 0: unknown
  bool has_metrics = false;
  Tree metrics;
  Tree custom_metadata;  // None if none
};

// True if `dir` is an Orbax item or step folder.
bool LooksLikeOrbaxCheckpoint(const std::string& dir);

struct ReadStepOptions {
  // Read only these items of a step folder (an item folder is always
  // read); empty: every item. Default: empty.
  std::vector<std::string> items;
  // Which leaves of each item to read (ReadItemOptions::only).
  ReadItemOptions leaves;
};

// Reads a step or item folder. A folder whose name marks an unfinished
// save ("*.orbax-checkpoint-tmp*") is FailedPrecondition.
absl::StatusOr<Step> ReadStep(const std::string& dir,
                              const ReadStepOptions& options = {});

struct RootStep {
  std::string dir;
  std::string name;  // the folder's name
  int64_t step = 0;
};

struct RootListing {
  std::vector<RootStep> steps;       // by step number
  std::vector<std::string> skipped;  // "path (reason)"
  std::string prefix;                // shared step prefix ("" if none)
  int fixed_length = 0;              // shared zero-padded width, or 0
};

// The committed steps of a CheckpointManager root: folders named <step>,
// zero-padded <step> or <prefix>_<step> that are Orbax checkpoints.
// Temporary folders (*.orbax-checkpoint-tmp*) and other entries are
// skipped, and so are steps without commit_success.txt when other steps
// have one (a root copied from an object store, where Orbax marks
// committed steps so). InvalidArgument if two folders name the same step or if
// steps use different prefixes.
absl::StatusOr<RootListing> FindSteps(const std::string& root);

}  // namespace ckptdb::orbax

#endif  // CKPTDB_CORE_ORBAX_CHECKPOINT_H_
