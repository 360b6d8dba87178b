// Store: the serialised end of a save (phases 6-8 of store_save.cc), for a
// save staged by this process or, received as a CommitRequest, by another:
// check that what the save found stored still is, ingest the staged files
// into an empty step slot, and write the commit batch whose synced write
// makes the step visible.
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/write_batch.h"
#include "schema/meta_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {

absl::StatusOr<StepInfo> Store::CommitStagedLocked(const CommitRequest& c) {
  CKPTDB_RETURN_IF_ERROR(CheckWritable());
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  const int64_t step = c.record.info.step;
  const std::string& run = c.record.run;
  CKPTDB_RETURN_IF_ERROR(CheckStepFree(run, step, c.replace));
  auto replaced = FindStep(run, step);
  std::map<Hash128, ChunkEntry> current;
  CKPTDB_RETURN_IF_ERROR(CheckStillStored(c, &current));

  // An empty step slot; both files go in with one atomic ingestion.
  auto acquired = AcquireSlot();
  if (!acquired.ok()) {
    needs_resume_ = true;  // the next write reopens the database first
    return acquired.status();
  }
  std::shared_ptr<CfHandle> slot = *std::move(acquired);
  Hook("after_create_cf");
  if (absl::Status s = Ingest(c, slot->handle); !s.ok()) {
    needs_resume_ = true;
    RecycleSlot(slot).IgnoreError();
    return s;
  }
  Hook("after_ingest");

  StepRecord record = c.record;
  record.column_family = slot->name;
  if (c.stamp_commit_time) record.info.commit_time_ns = NowNs();
  rocksdb::WriteBatch batch;
  if (absl::Status s =
          BuildCommitBatch(record, c, current,
                           replaced.ok() ? replaced->get() : nullptr, &batch);
      !s.ok()) {
    // The slot holds ingested files that no commit record names: an
    // orphan, emptied by the next garbage collection or open.
    AddOrphan(slot);
    return s;
  }
  Hook("before_commit");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (rocksdb::Status s = db_->Write(wo, &batch); !s.ok()) {
    // The batch may still have reached the WAL (a failed fsync): keep the
    // slot; the next open drops it if no commit record names it.
    {
      absl::MutexLock l(&steps_mu_);
      uncertain_cfs_.push_back(slot);
    }
    needs_resume_ = true;
    return FromRocksWrite(s, absl::StrCat("cannot commit step ", step));
  }
  MarkDurable();
  Hook("after_commit");

  auto entry = std::make_shared<StepEntry>();
  entry->info = record.info;
  entry->cf_name = slot->name;
  entry->generation = record.generation;
  entry->item_names = record.item_names;
  entry->cf = slot;
  {
    absl::MutexLock l(&steps_mu_);
    steps_[run][step] = entry;
  }
  if (replaced.ok() && (*replaced)->cf != nullptr) {
    RecycleSlot((*replaced)->cf).IgnoreError();
  }
  return record.info;
}

absl::Status Store::CheckStillStored(const CommitRequest& c,
                                     std::map<Hash128, ChunkEntry>* current) {
  // The chunks the save references instead of writing them: still live,
  // where the save's node records say they are.
  for (const auto& [hash, seen] : c.reused) {
    auto now = ReadChunkEntry(hash);
    if (!now.ok() && now.status().code() != absl::StatusCode::kNotFound) {
      return now.status();
    }
    if (!now.ok() || !(now->location == seen.location)) {
      return RacedError(absl::StrCat("chunk ", hash.ToHex(),
                                     " was deleted since the save found it"));
    }
    (*current)[hash] = *std::move(now);
  }
  // The chunks it wrote: not stored by another save meanwhile (two copies
  // under one hash would break the reference counts), and their patch
  // bases still live Full chunks.
  for (const auto& [hash, entry] : c.new_entries) {
    if (ReadChunkEntry(hash).ok()) {
      return RacedError(absl::StrCat("chunk ", hash.ToHex(),
                                     " was stored by another save meanwhile"));
    }
    if (!entry.base) continue;
    const Hash128& bh = entry.base->hash;
    auto base = current->count(bh) ? absl::StatusOr<ChunkEntry>(current->at(bh))
                                   : ReadChunkEntry(bh);
    if (!base.ok() || !(base->location == *entry.base)) {
      return RacedError(absl::StrCat("patch base ", bh.ToHex(),
                                     " was deleted since the save used it"));
    }
    (*current)[bh] = *std::move(base);
  }
  return absl::OkStatus();
}

absl::Status Store::Ingest(const CommitRequest& c,
                           rocksdb::ColumnFamilyHandle* slot) {
  rocksdb::IngestExternalFileOptions io;
  io.move_files = true;
  io.write_global_seqno = false;
  io.verify_checksums_before_ingest = false;
  std::vector<rocksdb::IngestExternalFileArg> args;
  if (!c.segment_files.empty()) {
    rocksdb::IngestExternalFileArg a;
    a.column_family = chunks_cf_;
    a.external_files = c.segment_files;
    a.options = io;
    args.push_back(a);
  }
  rocksdb::IngestExternalFileArg a;
  a.column_family = slot;
  a.external_files = {c.step_file};
  a.options = io;
  args.push_back(a);
  // One call: atomic across the two column families.
  rocksdb::Status s = db_->IngestExternalFiles(args);
  if (!s.ok()) {
    return FromRocksWrite(s, absl::StrCat("cannot ingest the files of step ",
                                          c.record.info.step));
  }
  return absl::OkStatus();
}

absl::Status Store::BuildCommitBatch(
    const StepRecord& record, const CommitRequest& c,
    const std::map<Hash128, ChunkEntry>& current, const StepEntry* replaced,
    rocksdb::WriteBatch* batch) {
  // One reference per distinct chunk: the new ones and the reused ones.
  std::map<Hash128, int64_t> deltas;
  for (const auto& [h, e] : c.new_entries) deltas[h] += 1;
  for (const auto& [h, e] : c.reused) deltas[h] += 1;
  if (replaced != nullptr) {
    auto old_hashes = ReadChunkList(*replaced);
    if (old_hashes.ok()) {
      for (const Hash128& h : *old_hashes) deltas[h] -= 1;
    }
  }
  // The new chunks: their segment record, and entries ApplyRefDeltas
  // creates with their first references.
  std::vector<SegmentInfo> new_segments;
  if (c.segment) {
    batch->Put(meta_cf_, SegmentKey(c.save_number),
               EncodeSegmentRecord(*c.segment));
    SegmentInfo si;  // live counts grow as the entries are created
    si.segment = c.save_number;
    si.chunks = c.segment->hashes.size();
    si.total_bytes = c.segment->total_bytes;
    new_segments.push_back(si);
  }
  CKPTDB_RETURN_IF_ERROR(
      ApplyRefDeltas(deltas, c.new_entries, current, new_segments, batch));
  batch->Put(meta_cf_, StepKey(record.run, record.info.step),
             EncodeStepRecord(record));
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
