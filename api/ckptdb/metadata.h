// What ckptdb can tell about a saved step without reading array bytes.
#ifndef CKPTDB_METADATA_H_
#define CKPTDB_METADATA_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ckptdb/array.h"
#include "ckptdb/dtype.h"
#include "ckptdb/tree.h"

namespace ckptdb {

// One item (a named tree) of a step.
struct ItemSummary {
  std::string name;
  uint32_t node_count = 0;
  uint64_t leaf_count = 0;  // leaves holding a value (arrays and scalars)
  uint64_t array_count = 0;
  uint64_t logical_bytes = 0;  // sum of the stored arrays' sizes
};

// A committed step, as listed from its commit record.
struct StepInfo {
  int64_t step = 0;
  std::string name;  // display name, e.g. "test_4" or "00000004"
  // When its save started and was committed (Unix time, ns). For
  // CheckpointManager steps both are the manager clock's time when Save was
  // called: the time Orbax's retention (keep_time_interval) uses, so that it
  // decides the same before and after a restart.
  int64_t init_time_ns = 0;
  int64_t commit_time_ns = 0;
  std::vector<ItemSummary> items;
  bool has_metrics = false;
  Tree metrics;                // the metrics tree given to Save, if any
  Tree custom_metadata;        // user metadata given to Save (None if none)
  uint64_t logical_bytes = 0;  // all items' array bytes
  uint64_t new_bytes = 0;      // chunk bytes this save wrote (after dedup)
  uint64_t chunk_count = 0;    // distinct chunks the step references
  // Non-empty if the step's commit record is damaged: the step is listed
  // (with its number only) and reading it returns DataLoss with this text.
  std::string damage;
};

// An array leaf's metadata.
struct ArrayMetadata {
  DType dtype = DType::kFloat32;         // as stored (and restored)
  DType source_dtype = DType::kFloat32;  // as given to Save
  Shape shape;
  uint64_t nbytes = 0;       // stored bytes
  uint64_t chunk_count = 0;  // 0 for arrays stored inline
  bool is_inline = false;
};

// The structure of a saved tree with each leaf's metadata: containers as
// saved (kinds, key order and types), scalar leaves with their values, array
// leaves with an ArrayMetadata.
class TreeMetadata {
 public:
  Tree::Kind kind = Tree::Kind::kNone;
  Tree scalar;                // for None / Bool / Int / Float / String leaves
  ArrayMetadata array;        // for Array leaves
  std::vector<DictKey> keys;  // for Dict
  std::vector<TreeMetadata> children;

  bool is_container() const {
    return kind == Tree::Kind::kList || kind == Tree::Kind::kTuple ||
           kind == Tree::Kind::kDict;
  }
  void ForEachLeaf(const std::function<void(const TreePath&,
                                            const TreeMetadata&)>& fn) const;
  // The same structure as a Tree whose array leaves are zero-filled arrays
  // of the saved dtype and shape (a restore target), or, when `abstract`,
  // Placeholder leaves.
  Tree ToTree(bool abstract = false) const;
  // An indented listing: "params/w  float32 (2, 3)  24 B".
  std::string DebugString() const;
};

}  // namespace ckptdb

#endif  // CKPTDB_METADATA_H_
