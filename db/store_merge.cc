// Store: the commit of a multi-process save. Every process saved its part
// of the step as a partial step in a hidden run of its own (SaveStep with
// a PartialRunName run): the primary's whole tree, everyone's cells of the
// sharded arrays it writes. The merge writes the primary's node records
// with each sharded array's grid completed from every partial step, and
// commits a record whose chunks are the union of theirs, each gaining a
// reference (as a fork does): no array byte is read or written. The caller
// deletes the partial steps afterwards.
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "core/chunk_grid.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {
namespace {

// Every cell of grid node `node` of `items[primary]`, gathered from the
// same node of every process's partial item.
absl::StatusOr<std::vector<ChunkLocation>> GatherCells(
    const std::vector<StoredItem>& items, size_t primary, uint32_t node) {
  const StoredNode& want = items[primary].nodes[node];
  const ChunkGrid grid(want.shape, want.chunk_shape);
  std::vector<ChunkLocation> cells(grid.num_cells());
  std::vector<bool> have(grid.num_cells(), false);
  for (size_t p = 0; p < items.size(); ++p) {
    const StoredNode& n = items[p].nodes[node];
    if (n.kind != Tree::Kind::kArray || !n.is_grid || n.shape != want.shape ||
        n.dtype != want.dtype || n.chunk_shape != want.chunk_shape) {
      return absl::FailedPreconditionError(absl::StrCat(
          items[primary].Describe(node), ": process ", p,
          " saved a different array there (shape, dtype or sharding differ "
          "from the primary's)"));
    }
    for (size_t k = 0; k < n.chunks.size(); ++k) {
      const size_t cell = n.is_partial() ? n.cells[k] : k;
      if (have[cell] && cells[cell].hash != n.chunks[k].hash) {
        return absl::FailedPreconditionError(
            absl::StrCat(items[primary].Describe(node),
                         ": processes saved "
                         "different bytes for the cell ",
                         grid.CellBox(cell).ToString()));
      }
      cells[cell] = n.chunks[k];
      have[cell] = true;
    }
  }
  for (size_t cell = 0; cell < have.size(); ++cell) {
    if (!have[cell]) {
      return absl::FailedPreconditionError(absl::StrCat(
          items[primary].Describe(node), ": no process saved the cell ",
          grid.CellBox(cell).ToString(),
          " (do the processes' meshes and shards agree?)"));
    }
  }
  return cells;
}

// The node record of a completed grid array.
std::string EncodeMergedNode(uint16_t item, uint32_t index, const StoredNode& n,
                             const std::vector<ChunkLocation>& chunks,
                             flatbuffers::FlatBufferBuilder* fbb) {
  const Tree leaf =
      Tree::FromArray(Array::BorrowConst(n.source_dtype, n.shape, nullptr));
  FlatNode fn;
  fn.tree = &leaf;
  fn.parent = n.parent;
  fn.has_key = n.has_key;
  fn.key_is_index = n.key_is_index;
  fn.key = &n.key;
  fn.index = n.index;
  ArrayPlacement placement;
  placement.stored_dtype = n.dtype;
  placement.nbytes = n.nbytes;
  placement.chunk_bytes = n.chunk_bytes;
  placement.chunks = &chunks;
  placement.chunk_shape = &n.chunk_shape;
  placement.sharding = &n.sharding;
  return EncodeNodeRecord(item, index, fn, &placement, fbb);
}

}  // namespace

absl::StatusOr<StepInfo> Store::MergePartialSteps(const MergeRequest& req) {
  if (req.partial_runs.empty() || req.primary >= req.partial_runs.size()) {
    return absl::InvalidArgumentError("MergePartialSteps: no primary");
  }
  return CommitWithoutData(
      options_.run, req.step, req.replace,
      [&](uint64_t number) { return StageMerge(req, number); });
}

absl::StatusOr<std::unique_ptr<StagedSave>> Store::StageMerge(
    const MergeRequest& req, uint64_t number) {
  auto staged = std::make_unique<StagedSave>();
  CommitRequest& c = staged->commit;
  CKPTDB_ASSIGN_OR_RETURN(std::string dir, StagingFolder());
  staged->files.step_file =
      (std::filesystem::path(dir) /
       absl::StrCat("merge-", req.step, "-", number, ".sst"))
          .string();
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  absl::ReaderMutexLock slot_lock(&recycle_mu_);
  std::vector<std::shared_ptr<const StepEntry>> parts;
  std::set<Hash128> hashes;
  uint64_t new_bytes = 0;
  for (size_t p = 0; p < req.partial_runs.size(); ++p) {
    auto e = FindStep(req.partial_runs[p], req.step);
    if (!e.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "process ", p, " has not saved its part of step ", req.step));
    }
    if (!(*e)->damage.ok()) return (*e)->damage;
    if (!SlotHolds(**e)) {
      return RacedError(absl::StrCat("process ", p, "'s part of step ",
                                     req.step, " is not readable yet"));
    }
    CKPTDB_ASSIGN_OR_RETURN(std::vector<Hash128> list, ReadChunkList(**e));
    hashes.insert(list.begin(), list.end());
    new_bytes += (*e)->info.new_bytes;
    parts.push_back(*std::move(e));
  }
  for (const Hash128& h : hashes) {
    CKPTDB_ASSIGN_OR_RETURN(c.reused[h], ReadChunkEntry(h));
  }
  const StepEntry& primary = *parts[req.primary];
  // (item, node) -> the completed record of a grid array.
  std::map<std::pair<uint16_t, uint32_t>, std::string> merged;
  flatbuffers::FlatBufferBuilder fbb(1024);
  for (size_t i = 0; i < primary.item_names.size(); ++i) {
    std::vector<StoredItem> items;
    for (size_t p = 0; p < parts.size(); ++p) {
      CKPTDB_ASSIGN_OR_RETURN(
          StoredItem item,
          ReadItemImpl(req.partial_runs[p], req.step, primary.item_names[i]));
      items.push_back(std::move(item));
    }
    const std::vector<StoredNode>& nodes = items[req.primary].nodes;
    for (size_t p = 0; p < items.size(); ++p) {
      if (items[p].nodes.size() != nodes.size()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "step ", req.step, " item '", primary.item_names[i], "': process ",
            p, " saved a tree of ", items[p].nodes.size(),
            " nodes, the primary one of ", nodes.size()));
      }
    }
    for (uint32_t k = 0; k < nodes.size(); ++k) {
      if (nodes[k].kind != Tree::Kind::kArray || !nodes[k].is_grid) continue;
      CKPTDB_ASSIGN_OR_RETURN(std::vector<ChunkLocation> cells,
                              GatherCells(items, req.primary, k));
      const uint16_t item = static_cast<uint16_t>(i);
      merged[{item, k}] = EncodeMergedNode(item, k, nodes[k], cells, &fbb);
    }
  }
  const std::vector<Hash128> all(hashes.begin(), hashes.end());
  CKPTDB_RETURN_IF_ERROR(CopyStepRecords(primary, req.step, number,
                                         staged->files.step_file,
                                         RecordChanges{&all, &merged}));
  c.op = CommitRequest::Op::kCommit;
  c.save_number = number;
  c.replace = req.replace;
  c.stamp_commit_time = !req.commit_time_ns.has_value();
  c.record.run = options_.run;
  c.record.info = primary.info;
  c.record.info.commit_time_ns = req.commit_time_ns.value_or(0);
  c.record.info.new_bytes = new_bytes;
  c.record.info.chunk_count = hashes.size();
  c.record.generation = number;
  c.record.item_names = primary.item_names;
  c.step_file = staged->files.step_file;
  return staged;
}

}  // namespace ckptdb::internal
