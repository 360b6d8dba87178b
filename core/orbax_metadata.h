// Orbax's metadata files, parsed (no I/O):
//
//   _METADATA (one per pytree item): {"tree_metadata": {"('a', 'b')":
//     {"key_metadata": [{"key": "a", "key_type": 2}, ...],
//      "value_metadata": {"value_type": "jax.Array", "skip_deserialize":
//      false, ...}}, ...}, "use_zarr3": bool, "custom_metadata": ...}.
//     key_type 1 is a sequence index, 2 a dict key; value_type is
//     "jax.Array", "np.ndarray", "scalar", "string", or an empty
//     container / None ("Dict", "List", "Tuple", "NamedTuple", "None").
//   _CHECKPOINT_METADATA (one per step): {"item_handlers": ...,
//     "metrics": {...}, "init_timestamp_nsecs": n,
//     "commit_timestamp_nsecs": n, "custom_metadata": {...}}; every field
//     optional.
//
// Errors are InvalidArgument naming the file.
#ifndef CKPTDB_CORE_ORBAX_METADATA_H_
#define CKPTDB_CORE_ORBAX_METADATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/tree.h"
#include "core/json.h"

namespace ckptdb::orbax {

struct KeyEntry {
  std::string key;
  bool sequence = false;  // key_type 1: `key` is a list index
};

struct LeafMetadata {
  std::vector<KeyEntry> path;
  std::string value_type;
  bool skip_deserialize = false;
  // Orbax's parameter name: the keys joined with '.' (its storage key).
  std::string param_name;
};

struct TreeMetadata {
  std::vector<LeafMetadata> leaves;  // in the file's order
  bool use_zarr3 = false;
  bool has_use_ocdbt = false;
  bool use_ocdbt = false;
};

struct StepMetadata {
  int64_t init_time_ns = 0;    // 0 if absent
  int64_t commit_time_ns = 0;  // 0 if absent
  bool has_metrics = false;    // a non-empty "metrics" object
  Tree metrics;
  Tree custom_metadata;  // None if absent, null or empty
};

absl::StatusOr<TreeMetadata> ParseTreeMetadata(absl::string_view text,
                                               absl::string_view what);
absl::StatusOr<StepMetadata> ParseStepMetadata(absl::string_view text,
                                               absl::string_view what);

// A JSON value as a Tree: objects become Dicts (key order kept), arrays
// Lists, integers Int (Float beyond int64), other numbers Float.
Tree JsonToTree(const json::Json& v);

// True for the value types that stand for an empty container or None.
bool IsEmptyValueType(absl::string_view value_type);
// The empty value of such a type: None, {}, [] or ().
Tree EmptyValue(absl::string_view value_type);

// Rebuilds the tree from `leaves` and their values (values[i] for
// leaves[i]): dict keys become Dicts in first-seen order, sequence keys
// Lists ordered by index (which must be 0..n-1). InvalidArgument naming
// `what` if a path is both a leaf and a container or mixes key kinds.
absl::StatusOr<Tree> BuildTree(const std::vector<LeafMetadata>& leaves,
                               std::vector<Tree> values,
                               absl::string_view what);

}  // namespace ckptdb::orbax

#endif  // CKPTDB_CORE_ORBAX_METADATA_H_
