// Store: reading an item's tree (its node records, each verified and
// checked against its place in the tree) and its arrays' bytes (each chunk
// re-hashed before use).
#include <atomic>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ckptdb/status.h"
#include "core/chunk_grid.h"
#include "db/chunk_coding.h"
#include "db/chunk_files.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "schema/chunk_codec.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {
namespace {

// "step S item 'I' leaf 'P': chunk K of N (segment G, ordinal O)".
std::string ChunkWhere(const StoredItem& item, uint32_t node, size_t chunk) {
  const StoredNode& n = item.nodes[node];
  const ChunkLocation& c = n.chunks[chunk];
  return absl::StrCat(item.Describe(node), ": chunk ", chunk + 1, " of ",
                      n.chunks.size(), " (segment ", c.segment, ", ordinal ",
                      c.ordinal, ")");
}

// A per-thread buffer for a coded chunk's stored value read from its file
// (distinct from Staging(), into which it is decoded when it has no
// destination of its own).
std::string& CodedValue() {
  thread_local std::string buf;
  return buf;
}

// Reads chunk `chunk` of `node`, stored whole, from `place` in its file and
// hands it to `consume`. Nothing when the file does not hold it there (the
// caller reads it through RocksDB, which names what is wrong); DataLoss
// when it does but the bytes do not match the chunk's hash: the
// block is damaged, and RocksDB is not asked to parse it (docs/design.md,
// "Reliability suite", Damage).
//
// The chunk is read into this thread's staging buffer, not straight into
// its destination: a read into memory the kernel has not written to
// before ran 15x slower here (a VM's first kernel write to a page;
// docs/design.md, "Restore"), and the hash then reads the chunk from the
// cache.
std::optional<absl::Status> ReadFromFile(
    const StoredItem& item, uint32_t node, size_t chunk,
    const ChunkFiles::Batch& files, const ChunkFiles::Place& place,
    const std::function<absl::Status(absl::string_view bytes)>& consume) {
  const ChunkLocation& c = item.nodes[node].chunks[chunk];
  std::string& staging = Staging();
  if (staging.size() < c.stored_size) staging.resize(c.stored_size);
  if (c.stored_size != c.size || !files.Read(place, c, staging.data())) {
    return std::nullopt;
  }
  const absl::string_view bytes(staging.data(), c.size);
  if (HashBytes(bytes.data(), bytes.size()) != c.hash) {
    return absl::DataLossError(
        absl::StrCat(ChunkWhere(item, node, chunk),
                     " is corrupt: content hash mismatch (read from ",
                     files.Describe(place), ")"));
  }
  return consume(bytes);
}

}  // namespace

absl::StatusOr<StoredItem> Store::ReadItem(int64_t step,
                                           absl::string_view item) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  absl::ReaderMutexLock slot_lock(&recycle_mu_);
  return ReadItemImpl(step, item);
}

absl::StatusOr<StoredItem> Store::ReadItemImpl(const std::string& run,
                                               int64_t step,
                                               absl::string_view item) const {
  CKPTDB_ASSIGN_OR_RETURN(auto entry, FindStep(run, step));
  if (!entry->damage.ok()) return entry->damage;
  int item_no = -1;
  for (size_t i = 0; i < entry->item_names.size(); ++i) {
    if (entry->item_names[i] == item) item_no = static_cast<int>(i);
  }
  if (item_no < 0) {
    return absl::NotFoundError(absl::StrCat(
        "step ", step, " has no item '", item,
        "' (items: ", absl::StrJoin(entry->item_names, ", "), ")"));
  }
  const ItemSummary* summary = nullptr;
  for (const ItemSummary& s : entry->info.items) {
    if (s.name == item) summary = &s;
  }
  if (entry->cf == nullptr) {
    return absl::DataLossError(
        absl::StrCat("step ", step, ": its column family '", entry->cf_name,
                     "' is missing from the database"));
  }
  // Node records carry their own checksum (checked per record, so a
  // corrupt record is named precisely), and RocksDB's block checksums stay
  // on too: RocksDB parses a block's keys and layout before any record is
  // seen, and a damaged block read unverified tripped an assertion in
  // Debian's RocksDB (tests/integration/damage_test.cc). The blocks are
  // small; the bulk data's blocks (chunks) are covered in chunk_coding.cc.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), entry->cf->handle));
  const std::string prefix = NodeKeyPrefix(static_cast<uint16_t>(item_no));
  RecordBuffer buf;
  TreeAssembler tree;
  uint32_t next = 0;  // the preorder position expected next
  auto describe = [&] {
    return absl::StrCat("step ", step, " item '", item, "' node #", next, " (",
                        tree.NextPlace(), ")");
  };
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next(), ++next) {
    uint16_t key_item;
    uint32_t index;
    if (!ParseNodeKey(ToView(it->key()), &key_item, &index) || index != next) {
      return absl::DataLossError(absl::StrCat(
          describe(), ": tree-node record missing or corrupt key"));
    }
    if (next > 0 && tree.Complete()) {
      return absl::DataLossError(absl::StrCat(
          describe(), ": more tree-node records than the tree holds"));
    }
    StoredNode node;
    uint32_t child_count = 0;
    CKPTDB_RETURN_IF_ERROR(
        DecodeNodeRecord(ToView(it->key()), ToView(it->value()), index,
                         describe, &buf, &node, &child_count));
    CKPTDB_RETURN_IF_ERROR(tree.Add(std::move(node), child_count, describe));
  }
  if (!it->status().ok()) {
    // A damaged block holds this record and possibly the next ones.
    return FromRocks(
        it->status(),
        absl::StrCat(describe(), " and the records after it: ", "cannot read"));
  }
  if (next == 0) {
    return absl::DataLossError(absl::StrCat("step ", step, " item '", item,
                                            "': no tree-node records"));
  }
  if (!tree.Complete() || (summary && summary->node_count != next)) {
    return absl::DataLossError(absl::StrCat(
        describe(), ": tree-node record missing (the item has ", next,
        " records",
        summary ? absl::StrCat(", its commit record says ", summary->node_count)
                : "",
        ")"));
  }
  StoredItem out;
  out.step = step;
  out.generation = entry->generation;
  out.step_name = entry->info.name;
  out.item = std::string(item);
  out.nodes = tree.Release();
  return out;
}

absl::Status Store::ReadChunk(
    const StoredItem& item, uint32_t node, size_t chunk, std::string* scratch,
    const std::function<absl::Status(absl::string_view bytes)>& consume,
    char* direct, const StoredValueReader* read_base) const {
  const StoredNode& n = item.nodes[node];
  const ChunkLocation& c = n.chunks[chunk];
  auto where = [&] { return ChunkWhere(item, node, chunk); };
  const std::string key = ChunkKey(c.segment, c.ordinal);
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db_->Get(ChunkReadOptions(), chunks_cf_, key, &v);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat(where(), " is missing"));
  }
  if (s.IsCorruption() && s.getState() != nullptr) {
    // A damaged block (its checksum, where RocksDB names file and offset).
    return absl::DataLossError(
        absl::StrCat(where(), " is corrupt: ", s.getState()));
  }
  if (!s.ok()) return FromRocks(s, where());
  return DecodeStoredChunk(item, node, chunk, key, ToView(v), scratch, consume,
                           direct, read_base);
}

absl::Status Store::DecodeStoredChunk(
    const StoredItem& item, uint32_t node, size_t chunk, absl::string_view key,
    absl::string_view value, std::string* scratch,
    const std::function<absl::Status(absl::string_view bytes)>& consume,
    char* direct, const StoredValueReader* read_base) const {
  const ChunkLocation& c = item.nodes[node].chunks[chunk];
  CKPTDB_ASSIGN_OR_RETURN(absl::string_view bytes,
                          DecodeChunk(
                              db_.get(), chunks_cf_, c, key, value,
                              [&] { return ChunkWhere(item, node, chunk); },
                              scratch, direct, read_base));
  return consume(bytes);
}

Store::DirectReadStats Store::direct_read_stats() const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (chunk_files_ == nullptr) return {};
  return {chunk_files_->direct_reads(), chunk_files_->misplaced_reads()};
}

absl::Status Store::CheckStillCommitted(const StoredItem& item) const {
  auto e = FindStep(item.step);
  if (!e.ok() || (*e)->generation != item.generation) {
    return absl::NotFoundError(
        absl::StrCat("step ", item.step,
                     " was deleted or replaced while it was being read"));
  }
  return absl::OkStatus();
}

absl::Status Store::ReadArrays(const StoredItem& item,
                               const std::vector<ArrayRead>& reads) const {
  // A box of an array stored in consecutive chunks: read it whole, then
  // copy the box (only grid arrays are read box by box).
  std::vector<ArrayRead> direct = reads;
  std::vector<Array> whole(reads.size());
  for (size_t r = 0; r < reads.size(); ++r) {
    if (reads[r].node >= item.nodes.size() ||
        item.nodes[reads[r].node].kind != Tree::Kind::kArray) {
      return absl::InvalidArgumentError("ReadArrays: not an array node");
    }
    const StoredNode& n = item.nodes[reads[r].node];
    if (n.is_partial()) {
      return absl::InvalidArgumentError(
          absl::StrCat(item.Describe(reads[r].node),
                       ": a part of an uncommitted multi-process save"));
    }
    if (!reads[r].box || n.is_inline || n.is_grid ||
        *reads[r].box == WholeBox(n.shape)) {
      continue;
    }
    whole[r] = Array::Allocate(reads[r].dest_dtype, n.shape);
    direct[r].box.reset();
    direct[r].dest = whole[r].mutable_data();
  }
  CKPTDB_RETURN_IF_ERROR(ReadArraysDirect(item, direct));
  for (size_t r = 0; r < reads.size(); ++r) {
    if (whole[r].num_elements() == 0) continue;
    const Box all = WholeBox(whole[r].shape());
    Box region;
    if (!IntersectBoxes(*reads[r].box, all, &region)) continue;
    CopyBoxElements(reads[r].dest_dtype, whole[r].data(), all,
                    reads[r].dest_dtype, reads[r].dest, *reads[r].box, region);
  }
  return absl::OkStatus();
}

absl::Status Store::ReadArraysDirect(
    const StoredItem& item, const std::vector<ArrayRead>& reads) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  // The step's chunks stay on disk while gc_mu_ is held, if the step still
  // exists now (deletion precedes collection).
  absl::ReaderMutexLock gc_lock(&gc_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckStillCommitted(item));
  struct Work {
    uint32_t read;
    uint32_t chunk;
  };
  std::vector<Work> work;
  std::vector<Box> dest_boxes(reads.size());
  std::vector<Box> regions(reads.size());
  for (uint32_t r = 0; r < reads.size(); ++r) {
    const ArrayRead& rd = reads[r];
    const StoredNode& n = item.nodes[rd.node];
    const Box all = WholeBox(n.shape);
    dest_boxes[r] = rd.box ? *rd.box : all;
    if (!IntersectBoxes(dest_boxes[r], all, &regions[r]) && !n.shape.empty()) {
      continue;  // the box lies outside the stored array
    }
    if (n.shape.empty()) regions[r] = all;
    if (n.is_inline) {
      CopyBoxElements(n.dtype, n.inline_data.data(), all, rd.dest_dtype,
                      rd.dest, dest_boxes[r], regions[r]);
    } else if (n.is_grid) {
      ChunkGrid(n.shape, n.chunk_shape).ForEachCell(regions[r], [&](int64_t c) {
        work.push_back({r, static_cast<uint32_t>(c)});
      });
    } else {
      for (uint32_t c = 0; c < n.chunks.size(); ++c) work.push_back({r, c});
    }
  }
  // Chunks are read from their files (db/chunk_files.h), stored whole or
  // coded; any the files do not hold where expected, through RocksDB.
  // A Patch's or Delta's base is read from its file too: RocksDB would also
  // verify its block checksum, one more pass over a whole chunk (the decoded
  // chunk's hash covers the base).
  std::optional<ChunkFiles::Batch> files;
  std::vector<ChunkFiles::Place> places(work.size());
  StoredValueReader bases_from_files;
  if (chunk_files_ != nullptr) {
    files.emplace(chunk_files_.get());
    for (size_t w = 0; w < work.size(); ++w) {
      const StoredNode& n = item.nodes[reads[work[w].read].node];
      places[w] = files->Locate(n.chunks[work[w].chunk]);
    }
    bases_from_files = ChunkFiles::ValueReader(&*files);
  }
  const StoredValueReader* read_base = files ? &bases_from_files : nullptr;
  absl::Mutex err_mu;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  pool_->ParallelFor(work.size(), [&](size_t w) {
    if (failed.load(std::memory_order_relaxed)) return;
    const uint32_t r = work[w].read;
    const ArrayRead& rd = reads[r];
    const StoredNode& n = item.nodes[rd.node];
    const uint32_t c = work[w].chunk;
    char* direct = DirectDestination(n, c, rd);
    auto place = [&](absl::string_view bytes) {
      if (bytes.data() != direct) {
        CopyChunk(n, c, bytes, rd, dest_boxes[r], regions[r]);
      }
      return absl::OkStatus();
    };
    std::optional<absl::Status> read;
    if (places[w].file >= 0 && n.chunks[c].kind == ChunkKind::kFull) {
      read = ReadFromFile(item, rd.node, c, *files, places[w], place);
    } else if (places[w].file >= 0) {
      // Stored coded: its value from the file (the record's own checksum
      // and the decoded bytes' hash check it), then decoded in place.
      std::string& value = CodedValue();
      value.resize(n.chunks[c].stored_size);
      if (files->Read(places[w], n.chunks[c], value.data())) {
        read = DecodeStoredChunk(
            item, rd.node, c,
            ChunkKey(n.chunks[c].segment, n.chunks[c].ordinal), value,
            &Staging(), place, direct, read_base);
      }
    }
    absl::Status s = read ? *std::move(read)
                          : ReadChunk(item, rd.node, c, &Staging(), place,
                                      direct, read_base);
    if (!s.ok()) {
      absl::MutexLock l(&err_mu);
      if (first_error.ok()) first_error = s;
      failed.store(true);
    }
  });
  return first_error;
}

char* Store::DirectDestination(const StoredNode& n, uint32_t c,
                               const ArrayRead& rd) {
  // A grid cell's bytes are a box, not a run, of the destination.
  if (n.is_grid || n.dtype != rd.dest_dtype) return nullptr;
  return static_cast<char*>(rd.dest) + static_cast<uint64_t>(c) * n.chunk_bytes;
}

void Store::CopyChunk(const StoredNode& n, uint32_t c, absl::string_view bytes,
                      const ArrayRead& rd, const Box& dest_box,
                      const Box& region) {
  const size_t ssize = DTypeSize(n.dtype);
  if (!n.is_grid) {
    const uint64_t first_el = static_cast<uint64_t>(c) * n.chunk_bytes / ssize;
    char* dest =
        static_cast<char*>(rd.dest) + first_el * DTypeSize(rd.dest_dtype);
    CastElements(n.dtype, bytes.data(), rd.dest_dtype, dest,
                 bytes.size() / ssize);
    return;
  }
  const Box cell = ChunkGrid(n.shape, n.chunk_shape).CellBox(c);
  Box part;
  if (!IntersectBoxes(cell, region, &part)) return;
  CopyBoxElements(n.dtype, bytes.data(), cell, rd.dest_dtype, rd.dest, dest_box,
                  part);
}

}  // namespace ckptdb::internal
