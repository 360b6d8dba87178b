// The pure part of a save: which nodes, which chunks, which of them are new.
// No I/O; the store's save phases (store_save.cc) fill in hashes, what is
// already stored and where new chunks go. Unit-tested in
// tests/save_plan_test.cc.
#ifndef CKPTDB_DB_SAVE_PLAN_H_
#define CKPTDB_DB_SAVE_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/metadata.h"
#include "ckptdb/tree.h"
#include "db/store.h"
#include "schema/chunk_location.h"
#include "schema/flat_tree.h"

namespace ckptdb::internal {

// How an array node is stored.
struct ArrayPlan {
  DType stored_dtype = DType::kFloat32;
  uint64_t nbytes = 0;  // stored bytes
  bool is_inline = false;
  uint32_t first_job = 0;  // its chunks: jobs [first_job, first_job + num_jobs)
  uint32_t num_jobs = 0;
  std::string inline_cast;  // inline bytes after a save-cast
  // A sharded array: stored as a grid of cells of this shape; the jobs are
  // the cells this process writes, by cell number (`cells`, when they are
  // not every cell: a partial record of a multi-process save).
  bool is_grid = false;
  Shape cell_shape;
  bool partial = false;
  std::vector<uint32_t> cells;
  std::string sharding;  // the saving mesh and spec, for display
  // Chunk positions (patch bases): jobs, or cells of a grid.
  uint64_t num_positions = 0;
};

struct ItemPlan {
  std::string name;
  std::vector<FlatNode> nodes;    // preorder
  std::vector<ArrayPlan> arrays;  // by node (used for array nodes)
  ItemSummary summary;
};

// One chunk of one array.
struct ChunkJob {
  uint16_t item = 0;
  uint32_t node = 0;      // preorder position in its item
  uint64_t offset = 0;    // in the stored bytes (of its shard, if sharded)
  uint32_t shard = 0;     // a sharded array's local shard holding the chunk
  uint64_t position = 0;  // chunk number in the array, or cell number
  // hash and size from planning and hashing; segment, ordinal, stored_size
  // and kind once the chunk is found stored or written.
  ChunkLocation chunk;
  int64_t first = -1;   // an earlier job of this save with the same hash
  bool is_new = false;  // written by this save
  // The previous save's Full chunk at the same position, to patch against.
  std::optional<ChunkLocation> base;
};

struct SavePlan {
  std::vector<ItemPlan> items;
  std::vector<ChunkJob> jobs;
  uint64_t logical_bytes = 0;
  // The first job of each distinct hash (MarkDuplicates).
  std::vector<uint32_t> unique_jobs;
  // Jobs whose chunks this save writes, by ordinal (AssignNewChunks).
  std::vector<uint32_t> new_jobs;
  uint64_t new_logical_bytes = 0;

  const FlatNode& node(const ChunkJob& j) const {
    return items[j.item].nodes[j.node];
  }
  const ArrayPlan& array(const ChunkJob& j) const {
    return items[j.item].arrays[j.node];
  }
  TreePath PathOf(uint16_t item, uint32_t node) const {
    return PathOfNode(items[item].nodes, node);
  }
  // "item\0path": identifies a leaf across saves (patch bases).
  std::string LeafKey(uint16_t item, uint32_t node) const;
};

// Flattens every item, resolves each array's stored dtype and inline or
// chunked placement, and cuts chunked arrays into jobs of `chunk_bytes`.
// InvalidArgument if an item's stored_dtypes does not have one entry per
// array leaf.
absl::StatusOr<SavePlan> PlanSave(const std::vector<SaveItem>& items,
                                  uint32_t chunk_bytes, uint32_t inline_bytes);

// The bytes of a job's chunk as stored: borrowed from the caller's array,
// or cast into `staging`.
absl::string_view ChunkBytes(const SavePlan& plan, const ChunkJob& job,
                             std::string* staging);

// After hashing: fills unique_jobs and points every later job with the same
// hash at the first (deduplication within the save).
void MarkDuplicates(SavePlan* plan);

// Unique jobs for which `is_stored` is false become the new chunks of
// `segment`, numbered in job order; fills new_jobs and new_logical_bytes.
template <typename IsStored>
void AssignNewChunks(SavePlan* plan, uint64_t segment,
                     const IsStored& is_stored) {
  uint32_t next_ordinal = 0;
  for (uint32_t i : plan->unique_jobs) {
    ChunkJob& j = plan->jobs[i];
    if (is_stored(j.chunk.hash)) continue;
    j.is_new = true;
    j.chunk.segment = segment;
    j.chunk.ordinal = next_ordinal++;
    j.chunk.stored_size = j.chunk.size;
    j.chunk.kind = ChunkKind::kFull;
    plan->new_logical_bytes += j.chunk.size;
    plan->new_jobs.push_back(i);
  }
}

// Splits new_jobs into at most `max_parts` contiguous ranges [begin, end) of
// about equal bytes, none (but a single one) under `min_part_bytes`.
std::vector<std::pair<size_t, size_t>> SplitNewChunks(const SavePlan& plan,
                                                      size_t max_parts,
                                                      uint64_t min_part_bytes);

// Copies where each duplicate's first job was stored into the duplicate.
void ResolveDuplicates(SavePlan* plan);

// The distinct hashes the save references, sorted (the step's ChunkList).
std::vector<Hash128> DistinctHashes(const SavePlan& plan);

// The chunk locations of an array node, in order.
std::vector<ChunkLocation> NodeChunks(const SavePlan& plan, uint16_t item,
                                      uint32_t node);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_SAVE_PLAN_H_
