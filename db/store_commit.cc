// Store: the end of a save: ingesting the staged files, and the commit
// batch whose synced write makes the step visible.
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/save_plan.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/write_batch.h"
#include "schema/meta_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {

absl::Status Store::Ingest(int64_t step, const StagedFiles& files,
                           rocksdb::ColumnFamilyHandle* slot) {
  rocksdb::IngestExternalFileOptions io;
  io.move_files = true;
  io.write_global_seqno = false;
  io.verify_checksums_before_ingest = false;
  std::vector<rocksdb::IngestExternalFileArg> args;
  if (!files.segment_files.empty()) {
    rocksdb::IngestExternalFileArg a;
    a.column_family = chunks_cf_;
    a.external_files = files.segment_files;
    a.options = io;
    args.push_back(a);
  }
  rocksdb::IngestExternalFileArg a;
  a.column_family = slot;
  a.external_files = {files.step_file};
  a.options = io;
  args.push_back(a);
  // One call: atomic across the two column families.
  rocksdb::Status s = db_->IngestExternalFiles(args);
  if (!s.ok())
    return FromRocksWrite(
        s, absl::StrCat("cannot ingest the files of step ", step));
  return absl::OkStatus();
}

absl::Status Store::BuildCommitBatch(const StepRecord& record, uint64_t segment,
                                     const SavePlan& plan,
                                     const ReusedChunks& reused,
                                     const StepEntry* replaced,
                                     rocksdb::WriteBatch* batch) {
  std::map<Hash128, int64_t> deltas;
  for (const Hash128& h : DistinctHashes(plan)) deltas[h] += 1;
  if (replaced != nullptr) {
    auto old_hashes = ReadChunkList(*replaced);
    if (old_hashes.ok()) {
      for (const Hash128& h : *old_hashes) deltas[h] -= 1;
    }
  }
  // The new chunks: their segment record, and entries ApplyRefDeltas
  // creates with their first references.
  std::vector<SegmentInfo> new_segments;
  std::map<Hash128, ChunkEntry> new_entries;
  if (!plan.new_jobs.empty()) {
    SegmentRecord seg;
    seg.segment = segment;
    for (uint32_t i : plan.new_jobs) {
      const ChunkJob& j = plan.jobs[i];
      seg.hashes.push_back(j.chunk.hash);
      seg.stored_sizes.push_back(j.chunk.stored_size);
      seg.total_bytes += j.chunk.stored_size;
      ChunkEntry& e = new_entries[j.chunk.hash];
      e.location = j.chunk;
      if (j.chunk.kind == ChunkKind::kPatch) e.base = j.base;
    }
    batch->Put(meta_cf_, SegmentKey(segment), EncodeSegmentRecord(seg));
    SegmentInfo si;  // live counts grow as the entries are created
    si.segment = segment;
    si.chunks = plan.new_jobs.size();
    si.total_bytes = seg.total_bytes;
    new_segments.push_back(si);
  }
  CKPTDB_RETURN_IF_ERROR(
      ApplyRefDeltas(deltas, new_entries, reused.entries, new_segments, batch));
  batch->Put(meta_cf_, StepKey(record.info.step), EncodeStepRecord(record));
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
