// Store: step slots, the column families that hold steps' tree-node
// records. Creating and dropping a column family rewrites RocksDB's OPTIONS
// file (~170 ms at 1,000 families), so slots are created in batches and
// reused: a deleted step's slot is emptied and kept for a later save. The
// writer makes the next batch after the commit that took the last free slot
// (TopUpSlots), not inside a commit; RocksDB still stalls every write while
// it rewrites OPTIONS, so a commit arriving meanwhile waits for it. A
// slot's ChunkList names the step and save it holds, so that a reader with
// an older view can tell whether the slot holds the step it looks for.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/convenience.h"
#include "rocksdb/metadata.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {
namespace {

// The ChunkList of a slot, if it has a readable one.
absl::StatusOr<ChunkList> ReadSlotMarker(rocksdb::DB* db,
                                         rocksdb::ColumnFamilyHandle* cf,
                                         bool* empty) {
  // Block checksums on: the record's own checksum covers its value, but
  // RocksDB parses the block's keys and layout first (damage_test).
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, kChunkListKey, &v);
  *empty = s.IsNotFound();
  if (!s.ok()) return FromRocks(s, "cannot read a slot's chunk list");
  return DecodeChunkList(ToView(v), "chunk list");
}

}  // namespace

bool Store::SlotNamesStep(const CfHandle& cf,
                          const std::set<int64_t>& steps) const {
  bool empty;
  auto list = ReadSlotMarker(db_.get(), cf.handle, &empty);
  return list.ok() && steps.count(list->step) > 0;
}

bool Store::SlotHolds(const StepEntry& e) const {
  if (e.cf == nullptr) return false;
  if (e.generation == 0) return true;  // written before slots had markers
  bool empty;
  auto list = ReadSlotMarker(db_.get(), e.cf->handle, &empty);
  if (empty) return false;      // the slot is empty in this view
  if (!list.ok()) return true;  // damaged: listed, and reading it says so
  return list->step == e.info.step && list->generation == e.generation;
}

absl::Status Store::RecycleSlot(const std::shared_ptr<CfHandle>& cf) {
  // Readers of the step it held finish first (they hold recycle_mu_).
  absl::MutexLock l(&recycle_mu_);
  rocksdb::Status s =
      rocksdb::DeleteFilesInRange(db_.get(), cf->handle, nullptr, nullptr);
  rocksdb::ColumnFamilyMetaData md;
  db_->GetColumnFamilyMetaData(cf->handle, &md);
  if (s.ok() && md.file_count == 0 && free_slots_.size() < kMaxFreeSlots) {
    free_slots_.push_back(cf);
    return absl::OkStatus();
  }
  // Not emptied (or enough spares): drop it.
  s = db_->DropColumnFamily(cf->handle);
  if (!s.ok()) return FromRocksWrite(s, "cannot drop a step column family");
  return absl::OkStatus();
}

size_t Store::SlotBatch() const {
  size_t steps = 0;
  absl::ReaderMutexLock l(&steps_mu_);
  for (const auto& [run, run_steps] : steps_) steps += run_steps.size();
  return std::clamp<size_t>(steps / 8, 1, kMaxSlotBatch);
}

absl::Status Store::CreateSlots(size_t n) {
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) {
    names.push_back(SlotColumnFamilyName(next_save_number_.fetch_add(1)));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s =
      db_->CreateColumnFamilies(cf_options_->step, names, &handles);
  if (!s.ok()) {
    for (auto* h : handles) {
      db_->DropColumnFamily(h).PermitUncheckedError();
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    return FromRocksWrite(s, "cannot create step column families");
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    auto cf = std::make_shared<CfHandle>();
    cf->db = db_.get();
    cf->handle = handles[i];
    cf->name = names[i];
    free_slots_.push_back(std::move(cf));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Store::CfHandle>> Store::AcquireSlot() {
  // Normally TopUpSlots has made one after the previous commit.
  if (free_slots_.empty()) CKPTDB_RETURN_IF_ERROR(CreateSlots(SlotBatch()));
  std::shared_ptr<CfHandle> cf = std::move(free_slots_.back());
  free_slots_.pop_back();
  return cf;
}

void Store::TopUpSlotsLocked() {
  if (!free_slots_.empty() || read_only() || needs_resume_ || db_ == nullptr) {
    return;
  }
  // A failure here is not the caller's: the next commit creates its slot
  // itself and reports what fails then.
  CreateSlots(SlotBatch()).IgnoreError();
}

void Store::TopUpSlots() {
  absl::MutexLock w(&write_mu_);
  TopUpSlotsLocked();
}

void Store::AddOrphan(std::shared_ptr<CfHandle> cf) {
  absl::MutexLock l(&steps_mu_);
  orphan_cfs_.push_back(std::move(cf));
}

absl::Status Store::SweepOrphans(GcReport* report) {
  std::vector<std::shared_ptr<CfHandle>> orphans;
  {
    absl::MutexLock l(&steps_mu_);
    orphans.swap(orphan_cfs_);
  }
  for (auto& cf : orphans) {
    CKPTDB_RETURN_IF_ERROR(RecycleSlot(cf));
    ++report->orphan_column_families;
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
