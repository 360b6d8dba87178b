// Store: verification (every record re-read, every chunk re-hashed, chunk
// references and bookkeeping cross-checked, the block checksums of chunk
// tables that hold chunks no step uses) and statistics.
#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/metadata.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_file_reader.h"
#include "schema/chunk_codec.h"
#include "schema/meta_codec.h"
#include "schema/records.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {
namespace {

// Reads every chunk of `item` in parallel; a problem per unreadable chunk.
void VerifyChunks(const StoredItem& item, ThreadPool* pool,
                  const std::function<absl::Status(const StoredItem&, uint32_t,
                                                   size_t)>& read_chunk,
                  const std::function<void(uint64_t)>& progress,
                  VerifyReport* report) {
  struct Work {
    uint32_t node;
    uint32_t chunk;
  };
  std::vector<Work> work;
  for (uint32_t i = 0; i < item.nodes.size(); ++i) {
    for (uint32_t c = 0; c < item.nodes[i].chunks.size(); ++c) {
      work.push_back({i, c});
    }
  }
  absl::Mutex mu;
  pool->ParallelFor(work.size(), [&](size_t w) {
    const Work& wk = work[w];
    absl::Status s = read_chunk(item, wk.node, wk.chunk);
    const uint32_t size = item.nodes[wk.node].chunks[wk.chunk].size;
    absl::MutexLock l(&mu);
    if (!s.ok()) {
      report->problems.push_back({item.step, item.item,
                                  item.PathOf(wk.node).DisplayString(),
                                  std::string(s.message())});
    }
    ++report->chunks;
    report->bytes += size;
    if (progress) progress(size);
  });
}

// Every leaf's chunk is in the step's chunk list.
void CheckLeavesListed(const StoredItem& item, const std::set<Hash128>& list,
                       std::set<Hash128>* used,
                       std::vector<VerifyProblem>* problems) {
  for (uint32_t i = 0; i < item.nodes.size(); ++i) {
    for (const ChunkLocation& c : item.nodes[i].chunks) {
      used->insert(c.hash);
      if (!list.count(c.hash)) {
        problems->push_back({item.step, item.item,
                             item.PathOf(i).DisplayString(),
                             absl::StrCat("chunk ", c.hash.ToHex(),
                                          " is not in the step's chunk list")});
      }
    }
  }
}

}  // namespace

void Store::VerifyStep(int64_t step,
                       const std::shared_ptr<const StepEntry>& entry,
                       const std::function<void(uint64_t bytes)>& progress,
                       VerifyReport* report) const {
  std::vector<VerifyProblem>& problems = report->problems;
  auto chunk_list = ReadChunkList(*entry);
  if (!chunk_list.ok()) {
    problems.push_back(
        {step, "", "", std::string(chunk_list.status().message())});
  }
  const std::set<Hash128> list =
      chunk_list.ok()
          ? std::set<Hash128>(chunk_list->begin(), chunk_list->end())
          : std::set<Hash128>();
  std::set<Hash128> used;
  bool all_items_read = true;
  auto read_chunk = [&](const StoredItem& item, uint32_t node, size_t chunk) {
    return ReadChunk(item, node, chunk, &Staging(),
                     [](absl::string_view) { return absl::OkStatus(); });
  };
  for (const ItemSummary& is : entry->info.items) {
    ++report->items;
    auto item = ReadItemImpl(step, is.name);
    if (!item.ok()) {
      all_items_read = false;
      problems.push_back(
          {step, is.name, "", std::string(item.status().message())});
      continue;
    }
    VerifyChunks(*item, pool_.get(), read_chunk, progress, report);
    if (chunk_list.ok()) CheckLeavesListed(*item, list, &used, &problems);
  }
  // Every chunk of the list is in the chunk index and used by a leaf.
  for (const Hash128& h : list) {
    auto c = ReadChunkEntry(h);
    if (!c.ok()) {
      problems.push_back(
          {step, "", "",
           c.status().code() == absl::StatusCode::kNotFound
               ? absl::StrCat("chunk ", h.ToHex(),
                              " of the step's chunk list is missing from the "
                              "chunk index")
               : std::string(c.status().message())});
    }
    if (all_items_read && !used.count(h)) {
      problems.push_back({step, "", "",
                          absl::StrCat("the step's chunk list names chunk ",
                                       h.ToHex(), " that no leaf uses")});
    }
  }
}

absl::StatusOr<VerifyReport> Store::Verify(
    const std::vector<int64_t>& steps,
    const std::function<void(uint64_t bytes)>& progress) const {
  std::vector<int64_t> todo = steps;
  if (todo.empty()) {
    for (const StepInfo& s : Steps()) todo.push_back(s.step);
  }
  VerifyReport report;
  for (int64_t step : todo) {
    // One step at a time, so that saves and deletes are not held up for a
    // whole database's verification.
    absl::ReaderMutexLock db_lock(&db_mu_);
    absl::ReaderMutexLock slot_lock(&recycle_mu_);
    absl::ReaderMutexLock gc_lock(&gc_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckDb());
    auto found = FindStep(step);
    if (!found.ok() && steps.empty()) continue;  // deleted meanwhile
    CKPTDB_RETURN_IF_ERROR(found.status());
    VerifyStep(step, *found, progress, &report);
  }
  // Step problems by step, item, leaf; the bookkeeping's come last.
  std::stable_sort(report.problems.begin(), report.problems.end(),
                   [](const VerifyProblem& a, const VerifyProblem& b) {
                     return std::tie(a.step, a.item, a.path) <
                            std::tie(b.step, b.item, b.path);
                   });
  if (steps.empty()) {
    std::map<uint64_t, SegmentInfo> with_garbage;
    {
      // The bookkeeping is only consistent between saves and deletes.
      absl::MutexLock writes(&write_mu_);
      absl::ReaderMutexLock db_lock(&db_mu_);
      absl::ReaderMutexLock slot_lock(&recycle_mu_);
      CKPTDB_RETURN_IF_ERROR(CheckDb());
      VerifyBookkeeping(&report.problems, &with_garbage);
    }
    // Reading whole tables does not hold up saves.
    absl::ReaderMutexLock db_lock(&db_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckDb());
    VerifyGarbageTables(with_garbage, &report.problems);
    for (VerifyProblem& p : DamagedTableProblems()) {
      report.problems.push_back(std::move(p));
    }
  }
  return report;
}

// The chunk bookkeeping, when every step is verified: every chunk_index
// entry and segment record decodes, every chunk a step lists has an entry,
// and every entry's reference count equals the steps listing it plus the
// patches based on it (when every step's chunk list reads); the segments
// holding live and dead chunks go to VerifyGarbageTables.
void Store::VerifyBookkeeping(
    std::vector<VerifyProblem>* problems,
    std::map<uint64_t, SegmentInfo>* with_garbage) const {
  auto problem = [&](std::string message) {
    problems->push_back({-1, "", "", std::move(message)});
  };
  References refs = CollectReferences({});
  // Without every step's chunk list (an unreadable one is reported with
  // its step) the reference counts cannot be checked.
  const bool every_list = refs.unreadable_lists.empty();
  for (const auto& [run, status] : refs.unreadable_lists) {
    if (run != options_.run) {  // VerifyStep's otherwise
      problem(absl::StrCat("run '", run, "': ", status.message()));
    }
  }
  for (std::string& p : refs.index_problems) problem(std::move(p));
  std::map<Hash128, int64_t>& expected = refs.by_steps;
  const std::map<Hash128, ChunkEntry>& entries = refs.entries;
  for (const auto& [h, e] : entries) {
    if (e.base) expected[e.base->hash] += 1;
  }
  if (every_list) {
    for (const auto& [h, n] : expected) {
      auto it = entries.find(h);
      if (it == entries.end()) {
        problem(absl::StrCat("chunk ", h.ToHex(), " is referenced ", n,
                             " times but has no chunk_index entry"));
      } else if (static_cast<int64_t>(it->second.refcount) != n) {
        problem(absl::StrCat("chunk ", h.ToHex(), " has reference count ",
                             it->second.refcount, " but ", n,
                             " references exist"));
      }
    }
    for (const auto& [h, e] : entries) {
      if (!expected.count(h)) {
        problem(absl::StrCat("chunk_index entry ", h.ToHex(),
                             " is referenced by no step"));
      }
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (it->Seek(kSegmentKeyPrefix);
       it->Valid() && it->key().starts_with(kSegmentKeyPrefix); it->Next()) {
    uint64_t seg;
    if (!ParseSegmentKey(ToView(it->key()), kSegmentKeyPrefix, &seg)) continue;
    auto r = DecodeSegmentRecord(ToView(it->key()), ToView(it->value()));
    if (!r.ok()) problem(std::string(r.status().message()));
  }
  absl::Status listed = ForEachSegmentStat(
      [&](uint64_t seg, const absl::StatusOr<SegmentInfo>& si) {
        if (!si.ok()) {
          problem(std::string(si.status().message()));
        } else if (si->live_bytes > 0 && si->live_bytes < si->total_bytes) {
          (*with_garbage)[seg] = *si;
        }
      });
  if (!listed.ok()) problem(std::string(listed.message()));
}

// Chunks no step uses are read by no step's check. Where they share a
// segment with live chunks, GC compacts the segment (a damaged block would
// stop it): those tables' block checksums are checked. (GC drops a segment
// no step uses whole, without reading it.)
void Store::VerifyGarbageTables(
    const std::map<uint64_t, SegmentInfo>& with_garbage,
    std::vector<VerifyProblem>* problems) const {
  for (const auto& [seg, what] : DamagedChunkTables(SegmentsOf(with_garbage))) {
    const SegmentInfo& si = with_garbage.at(seg);
    problems->push_back(
        {-1, "", "",
         absl::StrCat("segment ", seg, " holds ",
                      si.total_bytes - si.live_bytes,
                      " bytes no step uses (of ", si.total_bytes,
                      "), and a chunk table of it fails verification (", what,
                      "); `ckptdb gc` leaves the segment as it is")});
  }
}

std::map<uint64_t, std::string> Store::DamagedChunkTables(
    const std::set<uint64_t>& segments) const {
  std::map<uint64_t, std::string> damaged;
  if (segments.empty()) return damaged;
  rocksdb::ColumnFamilyMetaData md;
  db_->GetColumnFamilyMetaData(chunks_cf_, &md);
  rocksdb::Options options(rocksdb::DBOptions(), cf_options_->chunks);
  if (options_.env) options.env = options_.env;
  for (const auto& level : md.levels) {
    for (const auto& f : level.files) {
      uint64_t first, last;
      uint32_t ordinal;
      if (!ParseChunkKey(f.smallestkey, &first, &ordinal) ||
          !ParseChunkKey(f.largestkey, &last, &ordinal)) {
        continue;  // not a chunk table (SegmentsOnDisk skips it too)
      }
      std::vector<uint64_t> held;  // of `segments`, those the file overlaps
      for (auto it = segments.lower_bound(first);
           it != segments.end() && *it <= last; ++it) {
        held.push_back(*it);
      }
      if (held.empty()) continue;
      const std::string path = f.directory + "/" + f.relative_filename;
      rocksdb::SstFileReader reader(options);
      rocksdb::Status s = reader.Open(path);
      if (s.ok()) s = reader.VerifyChecksum();
      // A file gone since the listing was compacted away (a read-only
      // view lists the files of when it opened; a writer's GC moves on).
      if (s.ok() || !std::filesystem::exists(path)) continue;
      for (uint64_t seg : held) {
        damaged.emplace(seg,
                        absl::StrCat(f.relative_filename, ": ", s.ToString()));
      }
    }
  }
  return damaged;
}

absl::Status Store::CountChunkKinds(std::array<KindBytes, 4>* by_kind) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    CKPTDB_ASSIGN_OR_RETURN(
        ChunkEntry e, DecodeChunkEntry(ToView(it->key()), ToView(it->value())));
    const auto kind = static_cast<size_t>(e.location.kind);
    if (kind >= by_kind->size()) continue;  // DecodeChunkEntry refuses these
    KindBytes& k = (*by_kind)[kind];
    ++k.chunks;
    k.decoded_bytes += e.location.size;
    k.stored_bytes += e.location.stored_size;
  }
  return FromRocks(it->status(), "cannot list the chunk index");
}

absl::StatusOr<StoreStats> Store::Stats() const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  StoreStats st;
  for (const StepInfo& s : Steps()) {
    ++st.steps;
    st.logical_bytes += s.logical_bytes;
  }
  absl::Status damaged;
  CKPTDB_RETURN_IF_ERROR(
      ForEachSegmentStat([&](uint64_t, const absl::StatusOr<SegmentInfo>& si) {
        if (!si.ok()) {
          if (damaged.ok()) damaged = si.status();
          return;
        }
        st.live_chunks += si->live_chunks;
        st.live_chunk_bytes += si->live_bytes;
        st.segment_bytes += si->total_bytes;
        st.segments.push_back(*si);
      }));
  CKPTDB_RETURN_IF_ERROR(damaged);
  CKPTDB_RETURN_IF_ERROR(CountChunkKinds(&st.by_kind));
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const auto& f : files) st.sst_bytes += f.size;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(path_, ec)) {
    if (e.is_regular_file(ec)) st.disk_bytes += e.file_size(ec);
  }
  return st;
}

}  // namespace ckptdb::internal
