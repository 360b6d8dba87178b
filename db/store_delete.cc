// Store: deleting steps. One synced WriteBatch removes the commit records
// and drops one reference per chunk of each step; then the steps' slots are
// emptied for reuse. Space comes back with garbage collection.
#include <set>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/write_batch.h"
#include "schema/records.h"

namespace ckptdb::internal {

absl::Status Store::DeleteSteps(const std::vector<int64_t>& steps) {
  return DeleteStepsOf(options_.run, steps);
}

absl::Status Store::DeleteStepsOf(const std::string& run,
                                  const std::vector<int64_t>& steps) {
  if (following_.load()) return DeleteThroughWriter(run, steps);
  return DeleteRunSteps(run, steps);
}

absl::Status Store::DeleteRunSteps(const std::string& run,
                                   const std::vector<int64_t>& steps) {
  absl::MutexLock w(&write_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckWritable());
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  std::vector<std::shared_ptr<const StepEntry>> entries;
  std::set<int64_t> seen;
  for (int64_t step : steps) {
    if (!seen.insert(step).second) continue;
    CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(run, step));
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  std::map<Hash128, int64_t> deltas;
  std::set<const StepEntry*> deleted;
  bool list_lost = false;
  for (const auto& e : entries) {
    auto hashes = ReadChunkList(*e);
    if (hashes.ok()) {
      for (const Hash128& h : *hashes) deltas[h] -= 1;
    } else {
      list_lost = true;
    }
    deleted.insert(e.get());
    batch.Delete(meta_cf_, StepKey(run, e->info.step));
  }
  if (list_lost) {
    // A step whose chunk list is unreadable is still deleted, and every
    // reference count is recounted from the steps that stay. Without all
    // of theirs (or with a damaged chunk index), its chunks keep one
    // reference too many: space, never data, is lost.
    const References refs = CollectReferences(deleted);
    if (refs.unreadable_lists.empty() && refs.index_problems.empty()) {
      deltas = RecountDeltas(refs);
    }
  }
  CKPTDB_RETURN_IF_ERROR(ApplyRefDeltas(deltas, {}, {}, {}, &batch));
  Hook("before_delete_commit");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    needs_resume_ = true;
    return FromRocksWrite(s, "cannot delete steps");
  }
  MarkDurable();
  Hook("after_delete_commit");
  {
    absl::MutexLock l(&steps_mu_);
    for (const auto& e : entries) steps_[run].erase(e->info.step);
  }
  for (const auto& e : entries) {
    if (e->cf != nullptr && !RecycleSlot(e->cf).ok()) {
      // The step is gone; its slot is an orphan that the next open or
      // garbage collection recycles.
      AddOrphan(e->cf);
    }
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
