// Store: a save, as named phases. A save is *staged* (phases 1-5: no lock
// is held, so saves of several threads or processes write in parallel) and
// then *committed* (phases 6-7, serialised: store_commit.cc), here or, for
// a Store that follows another process's writer, by that writer
// (store_remote.cc sends the staged save as a CommitRequest).
//
//   1. Plan       flatten each item, place arrays inline or in chunks
//                 (save_plan.h).
//   2. Hash       every chunk (XXH3-128) in parallel, straight from the
//                 caller's memory (or a per-thread buffer when cast).
//   3. Dedup      identical chunks within the save are written once; chunks
//                 already in chunk_index are not written at all; the rest
//                 are claimed at the writer, and a chunk another save in
//                 flight is writing is awaited and reused (store_claims.cc).
//   4. Bases      a new chunk whose predecessor (same item, leaf and
//                 position in the previous save) is live may become a patch.
//   5. Write      the new chunks into segment SST files, one per writer
//                 thread, and the step's records into the step file
//                 (save_files.cc); SstFileWriter fsyncs each.
//   6. Check      what the save found stored (phase 3, 4) is still stored,
//                 where it was, and nothing it wrote was stored meanwhile;
//                 otherwise the save is staged again (kSaveAttempts).
//   7. Ingest     both files into the chunks family and an empty step slot
//                 with one IngestExternalFiles call.
//   8. Commit     one synced WriteBatch: the StepRecord, chunk_index
//                 entries and reference counts, segment records, and for a
//                 forced replace the old step's references. The step is
//                 visible from this point on.
// A crash before 8 leaves an orphan slot and an orphan segment: invisible
// (no StepRecord, no chunk_index entry points at them) and removed at the
// next open or garbage collection; staged files of a dead process are
// removed by the next writer's open or garbage collection (staging_dir.h).
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ckptdb/status.h"
#include "core/npy.h"
#include "db/rocks_util.h"
#include "db/save_plan.h"
#include "db/staging_dir.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "schema/records.h"
#include "schema/step_codec.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {

absl::StatusOr<StepInfo> Store::SaveStep(const StepSaveRequest& req) {
  CKPTDB_RETURN_IF_ERROR(ValidateRequest(req));
  const absl::Time deadline =
      absl::Now() + absl::Milliseconds(options_.commit_timeout_ms);
  for (int attempt = 1;;) {
    absl::StatusOr<StepInfo> info =
        following_.load() ? SaveThroughWriter(req) : SaveHere(req);
    if (info.ok() && req.run) {
      reload_bases_.store(true);  // patch against the committed step
    }
    if (info.ok() || !IsRaced(info.status())) return info;
    // What it found may have changed: the latest step (patch bases) too.
    reload_bases_.store(true);
    if (IsWriterChanged(info.status()) ? absl::Now() > deadline
                                       : ++attempt > kSaveAttempts) {
      return info;
    }
  }
}

absl::Status Store::ValidateRequest(const StepSaveRequest& req) const {
  if (req.step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("step must be >= 0, got ", req.step));
  }
  if (req.items.empty()) {
    return absl::InvalidArgumentError("a step needs at least one item");
  }
  if (req.items.size() > kMaxItems) {
    return absl::InvalidArgumentError(absl::StrCat(
        "too many items (", req.items.size(), ", max ", kMaxItems, ")"));
  }
  std::set<std::string> names;
  for (const SaveItem& it : req.items) {
    if (it.name.empty()) {
      return absl::InvalidArgumentError("item names must not be empty");
    }
    // Python, JSON and the CLI print it as text.
    if (!npy::IsValidUtf8(it.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("item name '", npy::EscapeInvalidUtf8(it.name),
                       "' is not valid UTF-8 text"));
    }
    if (!names.insert(it.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("item '", it.name, "' given twice"));
    }
    if (it.tree == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("item '", it.name, "' has no tree"));
    }
  }
  return absl::OkStatus();
}

namespace {

// The commit record of a planned, written save; the committer sets the
// column family (and the commit time, unless the request fixes it).
StepRecord MakeStepRecord(const StepSaveRequest& req, const SavePlan& plan,
                          int64_t init_ns, uint64_t save_number) {
  StepRecord record;
  StepInfo& info = record.info;
  info.step = req.step;
  info.name = req.name.empty() ? absl::StrCat(req.step) : req.name;
  info.init_time_ns = init_ns;
  info.commit_time_ns = req.commit_time_ns.value_or(0);
  for (const ItemPlan& ip : plan.items) {
    info.items.push_back(ip.summary);
    record.item_names.push_back(ip.name);
  }
  info.has_metrics = req.metrics != nullptr;
  if (req.metrics) info.metrics = *req.metrics;
  if (req.custom_metadata) info.custom_metadata = *req.custom_metadata;
  info.logical_bytes = plan.logical_bytes;
  for (uint32_t i : plan.new_jobs) {
    info.new_bytes += plan.jobs[i].chunk.stored_size;
  }
  info.chunk_count = plan.unique_jobs.size();
  record.generation = save_number;
  return record;
}

// What the commit needs of a staged save: its record, the new chunks (their
// segment record and index entries) and the stored chunks it references.
void DescribeCommit(const SavePlan& plan, const ReusedChunks& reused,
                    uint64_t save_number, CommitRequest* c) {
  c->op = CommitRequest::Op::kCommit;
  c->save_number = save_number;
  c->reused = reused.entries;
  if (plan.new_jobs.empty()) return;
  SegmentRecord seg;
  seg.segment = save_number;
  for (uint32_t i : plan.new_jobs) {
    const ChunkJob& j = plan.jobs[i];
    seg.hashes.push_back(j.chunk.hash);
    seg.stored_sizes.push_back(j.chunk.stored_size);
    seg.total_bytes += j.chunk.stored_size;
    ChunkEntry& e = c->new_entries[j.chunk.hash];
    e.location = j.chunk;
    e.base = j.base;  // kept only by a Patch or Delta chunk
  }
  c->segment = std::move(seg);
}

}  // namespace

absl::StatusOr<StepInfo> Store::SaveHere(const StepSaveRequest& req) {
  {
    absl::MutexLock w(&write_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckWritable());
    CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
    CKPTDB_RETURN_IF_ERROR(CheckStepFree(SaveRun(req), req.step, req.replace));
  }
  // The save's number: its new chunks' segment and the step's generation.
  const uint64_t save_number = next_save_number_.fetch_add(1);
  absl::StatusOr<std::unique_ptr<StagedSave>> staged =
      StageSave(req, save_number);
  if (!staged.ok()) {
    ReleaseClaims(save_number);
    return staged.status();
  }
  absl::StatusOr<StepInfo> info;
  {
    absl::MutexLock w(&write_mu_);
    info = CommitStagedLocked((*staged)->commit);
    claims_.Release(save_number);
    if (info.ok()) TopUpSlotsLocked();
  }
  if (info.ok()) RememberBases((*staged)->plan, (*staged)->reused);
  return info;
}

absl::Status Store::CheckStepFree(const std::string& run, int64_t step,
                                  bool replace) const {
  if (replace || !FindStep(run, step).ok()) return absl::OkStatus();
  return absl::AlreadyExistsError(
      absl::StrCat("step ", step, " already exists in ",
                   run.empty() ? "" : absl::StrCat("run '", run, "' of "), "'",
                   path_, "' (pass force to replace it)"));
}

absl::StatusOr<std::unique_ptr<StagedSave>> Store::StageSave(
    const StepSaveRequest& req, uint64_t save_number) {
  const int64_t init_ns = req.init_time_ns ? req.init_time_ns : NowNs();
  auto staged = std::make_unique<StagedSave>();
  SavePlan& plan = staged->plan;
  Hook("save_start");
  CKPTDB_ASSIGN_OR_RETURN(
      plan, PlanSave(req.items, options_.chunk_bytes, options_.inline_bytes));
  if (!req.run) CKPTDB_RETURN_IF_ERROR(CheckComplete(plan));
  HashChunks(&plan);
  Hook("after_hash");
  Hook("dedup_start");
  CKPTDB_RETURN_IF_ERROR(
      DedupAgainstIndex(&plan, save_number, &staged->reused));
  if (ClaimNewChunks(&plan, save_number, &staged->reused)) {
    // Saves committed meanwhile: patch against the latest step, as a save
    // staged after them would (a follower sees them once it refreshes).
    if (following_.load()) CKPTDB_RETURN_IF_ERROR(Refresh().status());
    reload_bases_.store(true);
  }
  CKPTDB_RETURN_IF_ERROR(ChoosePatchBases(&plan));
  Hook("dedup_done");

  CKPTDB_ASSIGN_OR_RETURN(std::string dir, StagingFolder());
  StagedFiles& files = staged->files;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckDb());
    CKPTDB_RETURN_IF_ERROR(
        WriteSegmentFiles(req, dir, save_number, &plan, &files));
    ResolveDuplicates(&plan);
    CKPTDB_RETURN_IF_ERROR(WriteStepFile(req, dir, save_number, plan, &files));
  }
  Hook("after_step_file");
  CommitRequest& c = staged->commit;
  DescribeCommit(plan, staged->reused, save_number, &c);
  c.replace = req.replace;
  c.stamp_commit_time = !req.commit_time_ns.has_value();
  c.record = MakeStepRecord(req, plan, init_ns, save_number);
  c.record.run = SaveRun(req);
  c.segment_files = files.segment_files;
  c.step_file = files.step_file;
  return staged;
}

absl::Status Store::CheckComplete(const SavePlan& plan) const {
  for (uint16_t item = 0; item < plan.items.size(); ++item) {
    const ItemPlan& ip = plan.items[item];
    for (uint32_t node = 0; node < ip.nodes.size(); ++node) {
      if (!ip.arrays[node].partial) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "item '", ip.name, "' leaf '",
          plan.PathOf(item, node).DisplayString(),
          "': this process holds only some of the sharded array's shards "
          "(its mesh places devices on other processes); save it from "
          "every process together (CheckpointManagerOptions::"
          "multiprocessing), or give this process every shard"));
    }
  }
  return absl::OkStatus();
}

void Store::HashChunks(SavePlan* plan) {
  SavePool()->ParallelFor(plan->jobs.size(), [&](size_t i) {
    ChunkJob& j = plan->jobs[i];
    absl::string_view bytes = ChunkBytes(*plan, j, &Staging());
    j.chunk.hash = HashBytes(bytes.data(), bytes.size());
  });
  MarkDuplicates(plan);
}

absl::Status Store::DedupAgainstIndex(SavePlan* plan, uint64_t segment,
                                      ReusedChunks* reused) {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  constexpr size_t kBatch = 1024;
  std::vector<std::string> keys;
  const std::vector<uint32_t>& unique = plan->unique_jobs;
  for (size_t b = 0; b < unique.size(); b += kBatch) {
    const size_t e = std::min(unique.size(), b + kBatch);
    keys.clear();
    for (size_t k = b; k < e; ++k) {
      keys.push_back(ChunkIndexKey(plan->jobs[unique[k]].chunk.hash));
    }
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(slices.size());
    std::vector<rocksdb::Status> statuses(slices.size());
    db_->MultiGet(rocksdb::ReadOptions(), index_cf_, slices.size(),
                  slices.data(), values.data(), statuses.data());
    for (size_t k = 0; k < slices.size(); ++k) {
      ChunkJob& j = plan->jobs[unique[b + k]];
      if (statuses[k].IsNotFound()) continue;
      if (!statuses[k].ok()) {
        return FromRocksWrite(statuses[k], "cannot read the chunk index");
      }
      CKPTDB_ASSIGN_OR_RETURN(ChunkEntry entry,
                              DecodeChunkEntry(keys[k], ToView(values[k])));
      if (entry.location.size != j.chunk.size) {
        return absl::DataLossError(absl::StrCat(
            "chunk index entry ", j.chunk.hash.ToHex(), " records size ",
            entry.location.size, " but a chunk with that hash has ",
            j.chunk.size, " bytes"));
      }
      j.chunk = entry.location;
      reused->entries[j.chunk.hash] = std::move(entry);
    }
  }
  AssignNewChunks(plan, segment, [&](const Hash128& h) {
    return reused->entries.count(h) > 0;
  });
  return absl::OkStatus();
}

absl::Status Store::ChoosePatchBases(SavePlan* plan) {
  if ((options_.patch_max_fraction <= 0 && !options_.delta_chunks) ||
      plan->new_jobs.empty()) {
    return absl::OkStatus();
  }
  absl::MutexLock b(&bases_mu_);
  CKPTDB_RETURN_IF_ERROR(LoadPrevBases());
  for (uint32_t i : plan->new_jobs) {
    ChunkJob& j = plan->jobs[i];
    auto it = prev_bases_.find(plan->LeafKey(j.item, j.node));
    if (it == prev_bases_.end()) continue;
    if (j.position >= it->second.size()) continue;
    const ChunkLocation& base = it->second[j.position];
    if (base.size != j.chunk.size || !IsSelfContained(base.kind)) continue;
    auto live = LookupChunk(base.hash);
    if (!live.ok() || live->location.segment != base.segment ||
        live->location.ordinal != base.ordinal ||
        !IsSelfContained(live->location.kind)) {
      continue;  // the base is gone: store the chunk whole
    }
    j.base = base;
  }
  return absl::OkStatus();
}

absl::Status Store::LoadPrevBases() {
  if (!reload_bases_.exchange(false)) return absl::OkStatus();
  prev_bases_.clear();
  std::shared_ptr<const StepEntry> latest;
  {
    absl::ReaderMutexLock l(&steps_mu_);
    auto run = steps_.find(options_.run);
    if (run != steps_.end()) {
      for (const auto& [step, e] : run->second) {
        if (latest == nullptr ||
            e->info.commit_time_ns >= latest->info.commit_time_ns) {
          latest = e;
        }
      }
    }
  }
  if (latest == nullptr) return absl::OkStatus();
  for (const std::string& item : latest->item_names) {
    auto stored = ReadItemImpl(latest->info.step, item);
    if (!stored.ok()) continue;  // no predecessor: chunks are stored whole
    for (uint32_t i = 0; i < stored->nodes.size(); ++i) {
      const StoredNode& n = stored->nodes[i];
      if (n.kind != Tree::Kind::kArray || n.chunks.empty() || n.is_partial()) {
        continue;
      }
      std::vector<ChunkLocation>& bases = prev_bases_[absl::StrCat(
          item, std::string(1, '\0'), stored->PathOf(i).ToString())];
      bases.assign(n.chunks.size(), ChunkLocation());
      for (size_t k = 0; k < n.chunks.size(); ++k) {
        const ChunkLocation& c = n.chunks[k];
        if (IsSelfContained(c.kind)) {
          bases[k] = c;
          continue;
        }
        auto entry = LookupChunk(c.hash);
        if (entry.ok() && entry->base) bases[k] = *entry->base;
      }
    }
  }
  return absl::OkStatus();
}

void Store::RememberBases(const SavePlan& plan, const ReusedChunks& reused) {
  absl::MutexLock b(&bases_mu_);
  reload_bases_.store(false);
  prev_bases_.clear();
  for (uint16_t item = 0; item < plan.items.size(); ++item) {
    const ItemPlan& ip = plan.items[item];
    for (uint32_t node = 0; node < ip.nodes.size(); ++node) {
      const ArrayPlan& a = ip.arrays[node];
      if (a.num_jobs == 0) continue;
      std::vector<ChunkLocation>& bases = prev_bases_[plan.LeafKey(item, node)];
      bases.assign(a.num_positions, ChunkLocation());
      for (uint32_t k = 0; k < a.num_jobs; ++k) {
        const ChunkJob& j = plan.jobs[a.first_job + k];
        const ChunkJob& f = j.first >= 0 ? plan.jobs[j.first] : j;
        ChunkLocation& base = bases[j.position];
        if (IsSelfContained(f.chunk.kind)) {
          base = f.chunk;
        } else if (f.is_new && f.base) {
          base = *f.base;
        } else if (auto e = reused.entries.find(f.chunk.hash);
                   e != reused.entries.end() && e->second.base) {
          base = *e->second.base;
        }
      }
    }
  }
}

}  // namespace ckptdb::internal
