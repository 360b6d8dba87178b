// Per-call options for saving and restoring trees.
#ifndef CKPTDB_OPTIONS_H_
#define CKPTDB_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "ckptdb/dtype.h"
#include "ckptdb/sharding.h"
#include "ckptdb/tree.h"

namespace ckptdb {

// Orbax's SaveArgs for one leaf.
struct LeafSaveArgs {
  // Store the array converted to this dtype (e.g. float32 saved as
  // bfloat16). Default: the array's own dtype.
  std::optional<DType> dtype;
};

// Orbax's RestoreArgs for one leaf.
struct LeafRestoreArgs {
  // Restore the array converted to this dtype. Default: the saved dtype.
  // A target array whose shape and dtype equal what is restored is filled
  // in place; otherwise a new array is returned for that leaf.
  std::optional<DType> dtype;
  // Restore the leaf as this process's shards (RestoreOptions::process)
  // of the global array under this sharding: a ShardedArray leaf, reading
  // only the chunks its boxes overlap when the array was saved sharded.
  // A ShardedArray target leaf gives its own sharding. Default: none.
  std::optional<Sharding> sharding;
  // The global shape to restore. If it differs from the saved shape: with
  // strict, InvalidArgument naming the leaf and both shapes; without,
  // the array is padded with zeros or truncated (Orbax's strict=False).
  // Default: the saved shape (a ShardedArray target: its global shape).
  std::optional<Shape> global_shape;
  bool strict = true;
};

struct SaveOptions {
  // Replace an existing checkpoint (atomically). Without it, saving over an
  // existing checkpoint returns AlreadyExists and changes nothing.
  // Default: false.
  bool force = false;
  // Per-leaf arguments, keyed by leaf path ("params/layer0/kernel"); a
  // dtype applies to array leaves only (a scalar leaf keeps its type). Each
  // entry must name exactly one leaf of the tree: an entry that names none
  // (a typo) or two (paths that print alike: a key containing '/', or an
  // int key and an equal string key) makes the save InvalidArgument.
  // Default: none.
  std::map<std::string, LeafSaveArgs> save_args;
  // Arguments for array leaves without an entry in `save_args`.
  // Default: none (store as given).
  LeafSaveArgs default_save_args;
  // A user metadata tree stored with the checkpoint (arrays stored inline).
  // Default: None (nothing stored).
  Tree custom_metadata;
};

struct RestoreOptions {
  // With a target: let the target name only a subset of the saved leaves
  // (dict entries may be omitted; omitted leaves are not read).
  // Default: false (the target's structure must equal the saved one).
  bool partial_restore = false;
  // Per-leaf arguments, keyed by leaf path; each entry must name exactly
  // one restored leaf (else InvalidArgument, as for save_args; restoring
  // several items with one RestoreOptions: a leaf of any of them).
  // Default: none.
  std::map<std::string, LeafRestoreArgs> restore_args;
  // Arguments for array leaves without an entry in `restore_args`.
  LeafRestoreArgs default_restore_args;
  // Which step of a database to read when it holds several (Checkpointer
  // on a CheckpointManager database). Default: the only (or latest) step.
  std::optional<int64_t> step;
  // Which item of the step to read. Default: "default".
  std::string item = "default";
  // The process whose shards sharded leaves restore (see
  // LeafRestoreArgs::sharding). Default: a manager's own process index
  // (CheckpointManagerOptions::multiprocessing), else 0.
  std::optional<int> process;
};

}  // namespace ckptdb

#endif  // CKPTDB_OPTIONS_H_
