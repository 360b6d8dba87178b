// Store: chunk reference counts and segment statistics.
//
// A chunk_index entry counts the committed steps whose ChunkList names the
// chunk plus the Patch chunks based on it. A commit adds one per chunk of
// the new step (and, for a replace, drops one per chunk of the old); a
// delete drops one per chunk of each step. An entry reaching zero is
// removed in the same batch, releases its patch base, and its segment's
// live count drops: garbage collection (store_gc.cc) reclaims it later.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/write_batch.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {
namespace {

struct EntryState {
  ChunkEntry entry;
  bool existed = false;  // in chunk_index before this batch
};

// Moves a segment's live counts when one of its chunks becomes live or dead.
void CountLiveness(const ChunkLocation& c, bool live, SegmentInfo* si) {
  if (live) {
    si->live_chunks += 1;
    si->live_bytes += c.stored_size;
  } else {
    si->live_chunks -= std::min<uint64_t>(si->live_chunks, 1);
    si->live_bytes -= std::min<uint64_t>(si->live_bytes, c.stored_size);
  }
}

}  // namespace

absl::Status Store::ApplyRefDeltas(
    const std::map<Hash128, int64_t>& deltas,
    const std::map<Hash128, ChunkEntry>& new_entries,
    const std::map<Hash128, ChunkEntry>& known,
    const std::vector<SegmentInfo>& new_segments,
    rocksdb::WriteBatch* batch) const {
  std::map<Hash128, EntryState> states;
  for (const auto& [h, e] : new_entries) states[h] = {e, false};
  for (const auto& [h, e] : known) states[h] = {e, true};
  auto load = [&](const Hash128& h) -> absl::StatusOr<EntryState*> {
    auto it = states.find(h);
    if (it != states.end()) return &it->second;
    EntryState& st = states[h];
    auto read = ReadChunkEntry(h);
    if (read.ok()) {
      st = {*std::move(read), true};
    } else if (read.status().code() != absl::StatusCode::kNotFound) {
      return read.status();
    } else {
      st.entry.location.hash = h;  // unknown: size 0, no references
    }
    return &st;
  };
  std::map<uint64_t, SegmentInfo> segstats;
  for (const SegmentInfo& si : new_segments) segstats[si.segment] = si;
  // A segment whose statistics record is unreadable is left alone (its
  // record stays as it is, and GC never collects it): accounting for it is
  // lost, data is not, and saves and deletes go on.
  std::set<uint64_t> unaccounted;
  auto segstat = [&](uint64_t seg) -> SegmentInfo* {
    if (auto it = segstats.find(seg); it != segstats.end()) return &it->second;
    if (unaccounted.count(seg)) return nullptr;
    auto si = ReadSegmentStat(seg);
    if (!si.ok()) {
      unaccounted.insert(seg);
      return nullptr;
    }
    return &(segstats[seg] = *si);
  };

  std::map<Hash128, int64_t> pending;
  for (const auto& [h, d] : deltas) {
    if (d != 0) pending[h] += d;
  }
  std::set<Hash128> touched;
  while (!pending.empty()) {
    auto [h, d] = *pending.begin();
    pending.erase(pending.begin());
    CKPTDB_ASSIGN_OR_RETURN(EntryState * st, load(h));
    ChunkEntry& e = st->entry;
    if (!st->existed && e.location.size == 0 && d < 0) {
      continue;  // dropping a reference to an unknown chunk: nothing to do
    }
    const bool was_live = e.refcount > 0;
    e.refcount = static_cast<uint64_t>(
        std::max<int64_t>(0, static_cast<int64_t>(e.refcount) + d));
    const bool is_live = e.refcount > 0;
    touched.insert(h);
    if (was_live == is_live) continue;
    if (e.base) pending[e.base->hash] += is_live ? 1 : -1;
    if (e.location.size > 0) {
      if (SegmentInfo* si = segstat(e.location.segment)) {
        CountLiveness(e.location, is_live, si);
      }
    }
  }

  for (const Hash128& h : touched) {
    const EntryState& st = states[h];
    if (st.entry.refcount > 0) {
      batch->Put(index_cf_, ChunkIndexKey(h), EncodeChunkEntry(st.entry));
    } else if (st.existed) {
      batch->Delete(index_cf_, ChunkIndexKey(h));
    }
  }
  for (const auto& [seg, si] : segstats) {
    batch->Put(meta_cf_, SegmentStatKey(seg), EncodeSegmentStat(si));
  }
  return absl::OkStatus();
}

Store::References Store::CollectReferences(
    const std::set<const StepEntry*>& except) const {
  References refs;
  {
    absl::ReaderMutexLock l(&steps_mu_);
    for (const auto& [run, steps] : steps_) {
      for (const auto& [step, e] : steps) {
        if (except.count(e.get())) continue;
        auto hashes = ReadChunkList(*e);
        if (!hashes.ok()) {
          refs.unreadable_lists.emplace_back(run, hashes.status());
          continue;
        }
        for (const Hash128& h : *hashes) refs.by_steps[h] += 1;
      }
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), index_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto entry = DecodeChunkEntry(ToView(it->key()), ToView(it->value()));
    if (!entry.ok()) {
      refs.index_problems.emplace_back(entry.status().message());
      continue;
    }
    refs.entries[entry->location.hash] = *std::move(entry);
  }
  if (!it->status().ok()) {
    refs.index_problems.push_back(
        absl::StrCat("cannot read chunk_index: ", it->status().ToString()));
  }
  return refs;
}

std::map<Hash128, int64_t> Store::RecountDeltas(const References& refs) {
  auto steps_of = [&](const Hash128& h) {
    auto it = refs.by_steps.find(h);
    return it == refs.by_steps.end() ? int64_t{0} : it->second;
  };
  // A Patch or Delta chunk is referenced by steps only (there are no
  // chains); its base by steps and by the coded chunks that stay live.
  // ApplyRefDeltas itself drops a base's count by one for each coded chunk
  // that dies, so that one is left out of the base's delta.
  std::map<Hash128, int64_t> target, dying_coded;
  for (const auto& [h, e] : refs.entries) {
    if (!e.base) continue;
    target[h] = steps_of(h);
    if (target[h] > 0) {
      target[e.base->hash] += 1;
    } else {
      dying_coded[e.base->hash] += 1;
    }
  }
  std::map<Hash128, int64_t> deltas;
  for (const auto& [h, e] : refs.entries) {
    int64_t want = target[h];
    if (!e.base) want += steps_of(h);
    const int64_t d = want - static_cast<int64_t>(e.refcount) + dying_coded[h];
    if (d != 0) deltas[h] = d;
  }
  return deltas;
}

absl::StatusOr<ChunkEntry> Store::ReadChunkEntry(const Hash128& hash) const {
  const std::string key = ChunkIndexKey(hash);
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &v);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("no chunk ", hash.ToHex(), " in the chunk index"));
  }
  if (!s.ok()) return FromRocks(s, "cannot read the chunk index");
  return DecodeChunkEntry(key, ToView(v));
}

absl::StatusOr<ChunkEntry> Store::LookupChunk(const Hash128& hash) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  return ReadChunkEntry(hash);
}

absl::StatusOr<std::vector<Hash128>> Store::StepChunkHashes(
    int64_t step) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  absl::ReaderMutexLock slot_lock(&recycle_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return ReadChunkList(*e);
}

absl::StatusOr<std::vector<Hash128>> Store::ReadChunkList(
    const StepEntry& entry) const {
  if (!entry.damage.ok()) return entry.damage;
  if (entry.cf == nullptr) {
    return absl::DataLossError(absl::StrCat("step ", entry.info.step,
                                            ": its column family '",
                                            entry.cf_name, "' is missing"));
  }
  rocksdb::PinnableSlice v;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), entry.cf->handle, kChunkListKey, &v);
  if (!s.ok()) {
    return FromRocks(s, absl::StrCat("step ", entry.info.step,
                                     ": cannot read its chunk list"));
  }
  CKPTDB_ASSIGN_OR_RETURN(
      ChunkList list,
      DecodeChunkList(ToView(v),
                      absl::StrCat("step ", entry.info.step, " chunk list")));
  return std::move(list.hashes);
}

absl::StatusOr<SegmentInfo> Store::ReadSegmentStat(uint64_t segment) const {
  const std::string key = SegmentStatKey(segment);
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &v);
  if (s.IsNotFound()) {
    SegmentInfo si;
    si.segment = segment;
    return si;
  }
  if (!s.ok()) return FromRocks(s, "cannot read a segment record");
  return DecodeSegmentStat(key, ToView(v));
}

absl::Status Store::ForEachSegmentStat(
    const std::function<void(uint64_t, const absl::StatusOr<SegmentInfo>&)>& fn)
    const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (it->Seek(kSegmentStatKeyPrefix);
       it->Valid() && it->key().starts_with(kSegmentStatKeyPrefix);
       it->Next()) {
    uint64_t seg;
    if (!ParseSegmentKey(ToView(it->key()), kSegmentStatKeyPrefix, &seg)) {
      continue;
    }
    fn(seg, DecodeSegmentStat(ToView(it->key()), ToView(it->value())));
  }
  if (!it->status().ok()) {
    return FromRocks(it->status(), "cannot list segments");
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
