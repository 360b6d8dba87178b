#include "db/save_plan.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "core/chunk_grid.h"

namespace ckptdb::internal {
namespace {

// Plans one array node: stored dtype, bytes, inline or chunk jobs.
void PlanArray(uint16_t item, uint32_t node, const Array& a, DType stored,
               uint32_t chunk_bytes, uint32_t inline_bytes, ArrayPlan* out,
               std::vector<ChunkJob>* jobs) {
  const int64_t n_el = a.num_elements();
  out->stored_dtype = stored;
  out->nbytes = static_cast<uint64_t>(n_el) * DTypeSize(stored);
  out->is_inline = out->nbytes <= inline_bytes;
  if (out->is_inline) {
    if (stored != a.dtype() && out->nbytes > 0) {
      out->inline_cast.resize(out->nbytes);
      CastElements(a.dtype(), a.data(), stored, out->inline_cast.data(),
                   static_cast<size_t>(n_el));
    }
    return;
  }
  out->first_job = static_cast<uint32_t>(jobs->size());
  for (uint64_t off = 0; off < out->nbytes; off += chunk_bytes) {
    ChunkJob j;
    j.item = item;
    j.node = node;
    j.offset = off;
    j.position = off / chunk_bytes;
    j.chunk.size = static_cast<uint32_t>(
        std::min<uint64_t>(chunk_bytes, out->nbytes - off));
    jobs->push_back(j);
  }
  out->num_jobs = static_cast<uint32_t>(jobs->size()) - out->first_job;
  out->num_positions = out->num_jobs;
}

// Plans a sharded array as a grid: a job for every cell of every local
// shard this process writes (replica 0), in cell order.
absl::Status PlanShardedArray(uint16_t item, uint32_t node,
                              const ShardedArray& a, DType stored,
                              uint32_t chunk_bytes, ArrayPlan* out,
                              std::vector<ChunkJob>* jobs) {
  CKPTDB_ASSIGN_OR_RETURN(std::vector<DeviceShard> devices,
                          DeviceShards(a.sharding, a.global_shape));
  CKPTDB_ASSIGN_OR_RETURN(std::vector<ProcessBox> boxes,
                          ProcessBoxes(a.sharding, a.global_shape, a.process));
  const size_t ssize = DTypeSize(stored);
  out->stored_dtype = stored;
  out->nbytes = static_cast<uint64_t>(ShapeNumElements(a.global_shape)) * ssize;
  out->is_grid = true;
  out->sharding = absl::StrCat(a.sharding.mesh.ToString(), " ",
                               PartitionSpecToString(a.sharding.spec));
  out->cell_shape = ChunkGrid::ChooseCell(a.global_shape, devices[0].box.shape,
                                          ssize, chunk_bytes);
  const ChunkGrid grid(a.global_shape, out->cell_shape);
  out->num_positions = grid.num_cells();
  out->first_job = static_cast<uint32_t>(jobs->size());
  for (uint32_t s = 0; s < a.shards.size(); ++s) {
    const Box& box = a.shards[s].box;
    auto pb = std::find_if(boxes.begin(), boxes.end(),
                           [&](const ProcessBox& p) { return p.box == box; });
    if (pb == boxes.end() || !pb->writes) continue;  // another replica's
    grid.ForEachCell(box, [&](int64_t cell) {
      const Box cb = grid.CellBox(cell);
      // The cell's first element, as an offset into the shard's buffer.
      int64_t first = 0;
      for (size_t d = 0; d < box.shape.size(); ++d) {
        first = first * box.shape[d] + (cb.start[d] - box.start[d]);
      }
      ChunkJob j;
      j.item = item;
      j.node = node;
      j.shard = s;
      j.offset = static_cast<uint64_t>(first) * ssize;
      j.position = static_cast<uint64_t>(cell);
      j.chunk.size = static_cast<uint32_t>(grid.CellElements(cell) * ssize);
      jobs->push_back(j);
    });
  }
  std::sort(jobs->begin() + out->first_job, jobs->end(),
            [](const ChunkJob& x, const ChunkJob& y) {
              return x.position < y.position;
            });
  out->num_jobs = static_cast<uint32_t>(jobs->size()) - out->first_job;
  if (out->num_jobs != grid.num_cells()) {
    out->partial = true;
    for (uint32_t k = out->first_job; k < jobs->size(); ++k) {
      out->cells.push_back(static_cast<uint32_t>((*jobs)[k].position));
    }
  }
  return absl::OkStatus();
}

absl::Status PlanItem(const SaveItem& si, uint16_t item_no,
                      uint32_t chunk_bytes, uint32_t inline_bytes,
                      SavePlan* plan) {
  ItemPlan ip;
  ip.name = si.name;
  ip.summary.name = si.name;
  FlattenTree(*si.tree, &ip.nodes);
  ip.arrays.resize(ip.nodes.size());
  if (!si.stored_dtypes.empty()) {
    size_t array_leaves = 0;
    for (const FlatNode& n : ip.nodes) {
      if (n.tree->kind() == Tree::Kind::kArray ||
          n.tree->kind() == Tree::Kind::kShardedArray) {
        ++array_leaves;
      }
    }
    if (array_leaves != si.stored_dtypes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "item '", si.name, "': ", si.stored_dtypes.size(),
          " stored dtypes given for ", array_leaves, " array leaves"));
    }
  }
  size_t next_dtype = 0;
  for (uint32_t i = 0; i < ip.nodes.size(); ++i) {
    const Tree& t = *ip.nodes[i].tree;
    if (t.kind() == Tree::Kind::kArray) {
      DType stored = t.array().dtype();
      if (!si.stored_dtypes.empty()) stored = si.stored_dtypes[next_dtype];
      ++next_dtype;
      PlanArray(item_no, i, t.array(), stored, chunk_bytes, inline_bytes,
                &ip.arrays[i], &plan->jobs);
      ++ip.summary.array_count;
      ++ip.summary.leaf_count;
      ip.summary.logical_bytes += ip.arrays[i].nbytes;
    } else if (t.kind() == Tree::Kind::kShardedArray) {
      DType stored = t.sharded()->dtype;
      if (!si.stored_dtypes.empty()) stored = si.stored_dtypes[next_dtype];
      ++next_dtype;
      absl::Status s =
          PlanShardedArray(item_no, i, *t.sharded(), stored, chunk_bytes,
                           &ip.arrays[i], &plan->jobs);
      if (!s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "item '", si.name, "' leaf '",
            PathOfNode(ip.nodes, i).DisplayString(), "': ", s.message()));
      }
      ++ip.summary.array_count;
      ++ip.summary.leaf_count;
      ip.summary.logical_bytes += ip.arrays[i].nbytes;
    } else if (t.is_leaf() && t.kind() != Tree::Kind::kNone) {
      ++ip.summary.leaf_count;
    }
  }
  ip.summary.node_count = static_cast<uint32_t>(ip.nodes.size());
  plan->logical_bytes += ip.summary.logical_bytes;
  plan->items.push_back(std::move(ip));
  return absl::OkStatus();
}

}  // namespace

std::string SavePlan::LeafKey(uint16_t item, uint32_t node) const {
  return absl::StrCat(items[item].name, std::string(1, '\0'),
                      PathOf(item, node).ToString());
}

absl::StatusOr<SavePlan> PlanSave(const std::vector<SaveItem>& items,
                                  uint32_t chunk_bytes, uint32_t inline_bytes) {
  SavePlan plan;
  plan.items.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    absl::Status s = PlanItem(items[i], static_cast<uint16_t>(i), chunk_bytes,
                              inline_bytes, &plan);
    if (!s.ok()) return s;
  }
  return plan;
}

absl::string_view ChunkBytes(const SavePlan& plan, const ChunkJob& j,
                             std::string* staging) {
  const Tree& t = *plan.node(j).tree;
  const Array& a = t.sharded() ? t.sharded()->shards[j.shard].data : t.array();
  const DType stored = plan.array(j).stored_dtype;
  if (stored == a.dtype()) {
    return absl::string_view(static_cast<const char*>(a.data()) + j.offset,
                             j.chunk.size);
  }
  const size_t ssize = DTypeSize(stored);
  const size_t first = j.offset / ssize;
  const size_t count = j.chunk.size / ssize;
  if (staging->size() < j.chunk.size) staging->resize(j.chunk.size);
  CastElements(
      a.dtype(),
      static_cast<const char*>(a.data()) + first * DTypeSize(a.dtype()), stored,
      staging->data(), count);
  return absl::string_view(staging->data(), j.chunk.size);
}

void MarkDuplicates(SavePlan* plan) {
  absl::flat_hash_map<Hash128, uint32_t> first_of;
  first_of.reserve(plan->jobs.size());
  plan->unique_jobs.clear();
  for (uint32_t i = 0; i < plan->jobs.size(); ++i) {
    auto [it, inserted] = first_of.emplace(plan->jobs[i].chunk.hash, i);
    if (inserted) {
      plan->unique_jobs.push_back(i);
    } else {
      plan->jobs[i].first = it->second;
    }
  }
}

std::vector<std::pair<size_t, size_t>> SplitNewChunks(const SavePlan& plan,
                                                      size_t max_parts,
                                                      uint64_t min_part_bytes) {
  std::vector<std::pair<size_t, size_t>> parts;
  const uint64_t total = plan.new_logical_bytes;
  const size_t n_parts = std::max<size_t>(
      1, std::min<size_t>(max_parts,
                          total / std::max<uint64_t>(1, min_part_bytes)));
  size_t begin = 0;
  uint64_t acc = 0;
  for (size_t k = 0; k < plan.new_jobs.size(); ++k) {
    acc += plan.jobs[plan.new_jobs[k]].chunk.size;
    if (parts.size() + 1 < n_parts &&
        acc >= total * (parts.size() + 1) / n_parts) {
      parts.emplace_back(begin, k + 1);
      begin = k + 1;
    }
  }
  if (begin < plan.new_jobs.size())
    parts.emplace_back(begin, plan.new_jobs.size());
  return parts;
}

void ResolveDuplicates(SavePlan* plan) {
  for (ChunkJob& j : plan->jobs) {
    if (j.first >= 0) j.chunk = plan->jobs[j.first].chunk;
  }
}

std::vector<Hash128> DistinctHashes(const SavePlan& plan) {
  std::vector<Hash128> out;
  out.reserve(plan.unique_jobs.size());
  for (uint32_t i : plan.unique_jobs) out.push_back(plan.jobs[i].chunk.hash);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ChunkLocation> NodeChunks(const SavePlan& plan, uint16_t item,
                                      uint32_t node) {
  const ArrayPlan& a = plan.items[item].arrays[node];
  std::vector<ChunkLocation> out;
  out.reserve(a.num_jobs);
  for (uint32_t k = 0; k < a.num_jobs; ++k) {
    out.push_back(plan.jobs[a.first_job + k].chunk);
  }
  return out;
}

}  // namespace ckptdb::internal
