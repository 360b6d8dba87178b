// Store: garbage collection. Deleting a step only drops references; this
// removes what no step references any more:
//   1. find the segments to collect: on disk but entirely dead (or never
//      committed), or with at least min_garbage_fraction of dead bytes;
//   2. publish which ordinals of them are live to the compaction filter
//      (compaction/chunk_gc.h), drop entirely dead SST files, compact the
//      segments' key ranges (the filter drops dead chunks);
//   3. record the result (segment records, statistics) in one synced batch.
// A segment to compact has its table files' block checksums verified
// first, outside the database (SstFileReader): a damaged one is left as it
// is and reported (GcReport::damaged_segments), because a compaction that
// meets a damaged block stops the database's writes until it is reopened,
// and would meet it again at every collection.
// Readers hold gc_mu_ shared while they read chunks; step 2 holds it
// exclusively.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "compaction/chunk_gc.h"
#include "db/rocks_util.h"
#include "db/staging_dir.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/convenience.h"
#include "rocksdb/metadata.h"
#include "rocksdb/write_batch.h"
#include "schema/meta_codec.h"
#include "schema/records.h"

namespace ckptdb::internal {

struct Store::GcCandidates {
  std::set<uint64_t> on_disk;             // segments with chunks on disk
  std::map<uint64_t, SegmentInfo> stats;  // readable statistics
  uint64_t in_flight = 0;      // segments from here on belong to running saves
  std::vector<uint64_t> dead;  // drop whole
  std::vector<uint64_t> partial;     // compact, keeping live chunks
  std::vector<std::string> damaged;  // segments left as they are: why
  // Tables RocksDB cannot open whose chunks are all dead: dropped whole.
  std::vector<DamagedTable> dead_tables;
  std::shared_ptr<GcPlan> plan = std::make_shared<GcPlan>();
  // Statistics of dead segments whose files are already gone.
  bool stale_records = false;
  bool empty() const {
    return dead.empty() && partial.empty() && dead_tables.empty() &&
           !stale_records;
  }
};

namespace {

std::set<uint64_t> SegmentsOnDisk(rocksdb::DB* db,
                                  rocksdb::ColumnFamilyHandle* chunks) {
  std::set<uint64_t> on_disk;
  rocksdb::ColumnFamilyMetaData md;
  db->GetColumnFamilyMetaData(chunks, &md);
  for (const auto& level : md.levels) {
    for (const auto& f : level.files) {
      uint64_t s1, s2;
      uint32_t o;
      if (ParseChunkKey(f.smallestkey, &s1, &o) &&
          ParseChunkKey(f.largestkey, &s2, &o)) {
        for (uint64_t s = s1; s <= s2 && s - s1 < 1000000; ++s) {
          on_disk.insert(s);
        }
      }
    }
  }
  return on_disk;
}

bool WorthCompacting(const SegmentInfo& si, double min_fraction) {
  const uint64_t garbage =
      si.total_bytes - std::min(si.total_bytes, si.live_bytes);
  return garbage > 0 && si.total_bytes > 0 &&
         static_cast<double>(garbage) / si.total_bytes >=
             std::max(min_fraction, 1e-12);
}

}  // namespace

std::optional<std::vector<bool>> Store::LiveOrdinals(uint64_t segment) const {
  const std::string key = SegmentKey(segment);
  rocksdb::PinnableSlice v;
  if (!db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &v).ok()) {
    return std::nullopt;  // without the list, keep the segment whole
  }
  auto record = DecodeSegmentRecord(key, ToView(v));
  if (!record.ok() || record->hashes.empty()) return std::nullopt;
  std::vector<std::string> keys;
  for (const Hash128& h : record->hashes) keys.push_back(ChunkIndexKey(h));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  db_->MultiGet(rocksdb::ReadOptions(), index_cf_, slices.size(), slices.data(),
                values.data(), statuses.data());
  // A chunk is live while its chunk_index entry points here.
  std::vector<bool> live(keys.size(), false);
  for (size_t k = 0; k < keys.size(); ++k) {
    if (statuses[k].IsNotFound()) continue;
    if (!statuses[k].ok()) return std::nullopt;  // unsure: keep everything
    auto entry = DecodeChunkEntry(keys[k], ToView(values[k]));
    if (!entry.ok()) return std::nullopt;
    live[k] =
        entry->location.segment == segment && entry->location.ordinal == k;
  }
  return live;
}

absl::StatusOr<Store::GcCandidates> Store::FindGcCandidates(
    const GcOptions& options) {
  GcCandidates c;
  c.on_disk = SegmentsOnDisk(db_.get(), chunks_cf_);
  std::set<uint64_t> unreadable;  // never collected: liveness is unknown
  CKPTDB_RETURN_IF_ERROR(ForEachSegmentStat(
      [&](uint64_t seg, const absl::StatusOr<SegmentInfo>& si) {
        if (si.ok()) {
          c.stats[seg] = *si;
        } else {
          unreadable.insert(seg);
        }
      }));
  c.in_flight = next_save_number_.load();
  std::map<uint64_t, std::vector<bool>> to_compact;  // with their live chunks
  for (uint64_t seg : c.on_disk) {
    if (seg >= c.in_flight || unreadable.count(seg)) continue;
    auto it = c.stats.find(seg);
    // No statistics: written by a save that never committed.
    if (it == c.stats.end() || it->second.live_chunks == 0) {
      c.dead.push_back(seg);
      c.plan->live[seg] = {};
      continue;
    }
    if (!WorthCompacting(it->second, options.min_garbage_fraction)) continue;
    std::optional<std::vector<bool>> live = LiveOrdinals(seg);
    if (live) to_compact[seg] = *std::move(live);
  }
  // A segment with a dead damaged table is compacted at a later
  // collection, once the table is gone.
  c.dead_tables = DeadDamagedTables(c.in_flight);
  for (const DamagedTable& t : c.dead_tables) {
    uint64_t seg;
    uint32_t ordinal;
    if (ParseChunkKey(t.smallest_key, &seg, &ordinal)) to_compact.erase(seg);
  }
  const std::map<uint64_t, std::string> damaged =
      DamagedChunkTables(SegmentsOf(to_compact));
  for (auto& [seg, live] : to_compact) {
    if (auto d = damaged.find(seg); d != damaged.end()) {
      c.damaged.push_back(absl::StrCat(
          "segment ", seg, " is damaged, its garbage not collected (",
          d->second,
          "); `ckptdb verify` names it and every step with a damaged chunk"));
      continue;
    }
    c.plan->live[seg] = std::move(live);
    c.partial.push_back(seg);
  }
  c.stale_records = std::any_of(c.stats.begin(), c.stats.end(), [&](auto& kv) {
    return kv.first < c.in_flight && !c.on_disk.count(kv.first) &&
           kv.second.live_chunks == 0;
  });
  return c;
}

absl::Status Store::DropSegments(const GcCandidates& c) {
  // Chunks are about to disappear from disk: wait for reads in progress (a
  // reader holds gc_mu_ shared and has checked its step still exists).
  absl::MutexLock gc_lock(&gc_mu_);
  gc_filter_->Publish(c.plan);
  Hook("gc_plan_published");
  rocksdb::Status s;
  for (uint64_t seg : c.dead) {
    const std::string begin = ChunkKey(seg, 0);
    const std::string end = ChunkKey(seg, UINT32_MAX);
    rocksdb::Slice b(begin), e(end);
    s = rocksdb::DeleteFilesInRange(db_.get(), chunks_cf_, &b, &e);
    if (!s.ok()) break;
  }
  for (const DamagedTable& t : c.dead_tables) {
    if (!s.ok()) break;
    rocksdb::Slice b(t.smallest_key), e(t.largest_key);
    s = rocksdb::DeleteFilesInRange(db_.get(), chunks_cf_, &b, &e);
  }
  std::vector<uint64_t> to_compact = c.dead;
  to_compact.insert(to_compact.end(), c.partial.begin(), c.partial.end());
  // A table RocksDB cannot open goes only whole, above: compacting it
  // would fail and stop the database's writes.
  const std::vector<DamagedTable> damaged = LiveDamagedTables();
  for (uint64_t seg : to_compact) {
    if (!s.ok()) break;
    const std::string begin = ChunkKey(seg, 0);
    const std::string end = ChunkKey(seg, UINT32_MAX);
    if (AnyChunkTableIn(damaged, begin, end)) continue;
    rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForce;
    cro.exclusive_manual_compaction = false;
    s = db_->CompactRange(cro, chunks_cf_, &b, &e);
  }
  gc_filter_->Publish(nullptr);
  if (!s.ok()) return FromRocks(s, "garbage collection failed");
  return absl::OkStatus();
}

absl::Status Store::RecordGc(const GcCandidates& c, GcReport* report) {
  rocksdb::WriteBatch batch;
  // Records of dead segments whose files are already gone (a GC that
  // crashed between its compaction and this batch).
  for (const auto& [seg, si] : c.stats) {
    if (seg < c.in_flight && !c.on_disk.count(seg) && si.live_chunks == 0) {
      batch.Delete(meta_cf_, SegmentKey(seg));
      batch.Delete(meta_cf_, SegmentStatKey(seg));
    }
  }
  for (uint64_t seg : c.dead) {
    auto it = c.stats.find(seg);
    if (it != c.stats.end()) report->bytes_reclaimed += it->second.total_bytes;
    batch.Delete(meta_cf_, SegmentKey(seg));
    batch.Delete(meta_cf_, SegmentStatKey(seg));
    ++report->segments_dropped;
  }
  for (uint64_t seg : c.partial) {
    SegmentInfo si = c.stats.at(seg);
    report->bytes_reclaimed += si.total_bytes - si.live_bytes;
    si.total_bytes = si.live_bytes;  // the dead chunks' bytes are gone
    batch.Put(meta_cf_, SegmentStatKey(seg), EncodeSegmentStat(si));
    ++report->segments_compacted;
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) return FromRocks(s, "cannot record garbage collection");
  MarkDurable();
  return absl::OkStatus();
}

absl::StatusOr<GcReport> Store::CollectGarbage(const GcOptions& options) {
  if (following_.load()) return CollectGarbageThroughWriter(options);
  absl::MutexLock w(&write_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckWritable());
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  GcReport report;
  CKPTDB_RETURN_IF_ERROR(SweepOrphans(&report));
  SweepStaging(path_);
  CKPTDB_ASSIGN_OR_RETURN(GcCandidates candidates, FindGcCandidates(options));
  report.damaged_segments = candidates.damaged;
  if (candidates.empty()) return report;
  if (absl::Status s = DropSegments(candidates); !s.ok()) {
    needs_resume_ = true;
    return s;
  }
  Hook("gc_compacted");
  if (absl::Status s = RecordGc(candidates, &report); !s.ok()) {
    needs_resume_ = true;
    return s;
  }
  return report;
}

}  // namespace ckptdb::internal
