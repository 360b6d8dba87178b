// Store: the save, delete and garbage-collection protocols.
//
// Save (one step, all items):
//   1. Flatten each item's tree into nodes in preorder; plan every array's
//      chunks (arrays up to `inline_bytes` are stored in their node).
//   2. Hash every chunk (XXH3-128) in parallel, straight from the caller's
//      memory (or from a per-thread staging buffer when SaveArgs cast it).
//   3. Deduplicate: identical chunks within the save are written once;
//      chunks whose hash is already in chunk_index are not written at all.
//   4. Write the new chunks, in order, into one SST file (the step's
//      segment) and the step's records (ChunkList, nodes) into another, with
//      SstFileWriter; both are fsynced by Finish.
//   5. Create the step's column family and ingest both files with one
//      IngestExternalFiles call (atomic across the two families).
//   6. Commit: one synced WriteBatch puts the StepRecord, the chunk_index
//      entries (new ones, and reference counts of reused ones), the segment
//      records, and -- for a forced replace -- drops the old step's
//      references. The step is visible from this point on.
//   A crash before 6 leaves an orphan column family and an orphan segment:
//   invisible (no StepRecord, no chunk_index entry points at them) and
//   removed at the next open or garbage collection.
//
// Delete: one synced WriteBatch removes the StepRecords and drops one
// reference per chunk of each step (entries reaching zero are removed, and
// their segments' live counts drop); then the column families are dropped.
//
// Garbage collection: see compaction/chunk_gc.h.
#include "db/store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ckptdb/status.h"
#include "compaction/chunk_gc.h"
#include "db/rocks_util.h"
#include "db/thread_pool.h"
#include "db/tree_validate.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/utilities/options_util.h"
#include "rocksdb/write_batch.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[] = "ckptdb";
constexpr char kStagingDir[] = "ckptdb-staging";
constexpr char kVersionString[] = "ckptdb 0.1.0";
constexpr uint32_t kMaxItems = 65535;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::string_view ToView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// ---- trees <-> FlatBuffers nodes -----------------------------------------

fb::KeyKind KeyKindOf(bool has_key, bool is_index, const DictKey& key) {
  if (!has_key) return fb::KeyKind_Root;
  if (is_index) return fb::KeyKind_Index;
  return key.is_int() ? fb::KeyKind_Int : fb::KeyKind_Str;
}

struct NodeFields {
  uint32_t index = 0;
  uint32_t parent = 0;
  fb::KeyKind key_kind = fb::KeyKind_Root;
  const std::string* key_str = nullptr;
  int64_t key_int = 0;
  const Tree* tree = nullptr;
  uint32_t child_count = 0;
  // Array leaves.
  DType stored_dtype = DType::kFloat32;
  uint64_t nbytes = 0;
  uint32_t chunk_bytes = 0;
  const void* inline_bytes = nullptr;  // null: chunked
  const std::vector<fb::ChunkRef>* chunks = nullptr;
};

flatbuffers::Offset<fb::Node> BuildNode(flatbuffers::FlatBufferBuilder* fbb,
                                        const NodeFields& f) {
  const Tree& t = *f.tree;
  flatbuffers::Offset<flatbuffers::String> key_str;
  if (f.key_str != nullptr) key_str = fbb->CreateString(*f.key_str);
  flatbuffers::Offset<flatbuffers::String> str_value;
  if (t.kind() == Tree::Kind::kString) {
    str_value = fbb->CreateString(t.string_value());
  }
  flatbuffers::Offset<fb::ArrayInfo> array;
  if (t.kind() == Tree::Kind::kArray) {
    const Array& a = t.array();
    auto shape = fbb->CreateVector(a.shape());
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> inline_data;
    flatbuffers::Offset<flatbuffers::Vector<const fb::ChunkRef*>> chunks;
    if (f.inline_bytes != nullptr || f.nbytes == 0) {
      inline_data = fbb->CreateVector(
          static_cast<const uint8_t*>(f.inline_bytes), f.nbytes);
    } else {
      chunks = fbb->CreateVectorOfStructs(*f.chunks);
    }
    fb::ArrayInfoBuilder ab(*fbb);
    ab.add_dtype(static_cast<uint8_t>(f.stored_dtype));
    ab.add_source_dtype(static_cast<uint8_t>(a.dtype()));
    ab.add_shape(shape);
    ab.add_nbytes(f.nbytes);
    ab.add_chunk_bytes(f.chunk_bytes);
    if (!inline_data.IsNull()) ab.add_inline_data(inline_data);
    if (!chunks.IsNull()) ab.add_chunks(chunks);
    array = ab.Finish();
  }
  fb::NodeBuilder nb(*fbb);
  nb.add_index(f.index);
  nb.add_parent(f.parent);
  nb.add_key_kind(f.key_kind);
  if (!key_str.IsNull()) nb.add_key_str(key_str);
  nb.add_key_int(f.key_int);
  nb.add_kind(static_cast<fb::NodeKind>(t.kind()));
  nb.add_child_count(f.child_count);
  if (t.kind() == Tree::Kind::kBool || t.kind() == Tree::Kind::kInt ||
      t.kind() == Tree::Kind::kFloat) {
    nb.add_scalar(t.kind() == Tree::Kind::kFloat
                      ? static_cast<int64_t>(t.float_bits())
                  : t.kind() == Tree::Kind::kBool ? int64_t{t.bool_value()}
                                                  : t.int_value());
  }
  if (!str_value.IsNull()) nb.add_str_value(str_value);
  if (!array.IsNull()) nb.add_array(array);
  return nb.Finish();
}

// A small tree (metrics, custom metadata) as nodes in preorder, arrays
// inline.
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Node>>>
BuildInlineTree(flatbuffers::FlatBufferBuilder* fbb, const Tree& root) {
  std::vector<flatbuffers::Offset<fb::Node>> out;
  struct Item {
    const Tree* t;
    uint32_t parent;
    bool has_key;
    bool is_index;
    const DictKey* key;
    int64_t index;
  };
  std::vector<Item> stack{{&root, 0, false, false, nullptr, 0}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    NodeFields f;
    f.index = static_cast<uint32_t>(out.size());
    f.parent = it.parent;
    static const DictKey kEmpty;
    f.key_kind = KeyKindOf(it.has_key, it.is_index, it.key ? *it.key : kEmpty);
    if (f.key_kind == fb::KeyKind_Str) f.key_str = &it.key->str();
    if (f.key_kind == fb::KeyKind_Int) f.key_int = it.key->int_value();
    if (f.key_kind == fb::KeyKind_Index) f.key_int = it.index;
    f.tree = it.t;
    f.child_count = static_cast<uint32_t>(it.t->size());
    if (it.t->kind() == Tree::Kind::kArray) {
      f.stored_dtype = it.t->array().dtype();
      f.nbytes = it.t->array().nbytes();
      f.inline_bytes = it.t->array().data();
    }
    out.push_back(BuildNode(fbb, f));
    const uint32_t me = f.index;
    for (size_t i = it.t->size(); i-- > 0;) {
      const bool dict = it.t->kind() == Tree::Kind::kDict;
      stack.push_back({&it.t->children()[i], me, true, !dict,
                       dict ? &it.t->keys()[i] : nullptr,
                       static_cast<int64_t>(i)});
    }
  }
  return fbb->CreateVector(out);
}

// Decodes one verified fb::Node into a StoredNode (no structural checks
// against its parent; the caller does those).
absl::Status DecodeNode(const fb::Node* n, StoredNode* out,
                        const std::function<std::string()>& what) {
  if (n->kind() > fb::NodeKind_MAX) {
    return absl::DataLossError(
        absl::StrCat(what(), ": unknown node kind ", n->kind()));
  }
  out->kind = static_cast<Tree::Kind>(n->kind());
  out->parent = n->parent();
  switch (n->key_kind()) {
    case fb::KeyKind_Root:
      out->has_key = false;
      break;
    case fb::KeyKind_Str:
      out->has_key = true;
      out->key = DictKey(n->key_str() ? n->key_str()->str() : std::string());
      break;
    case fb::KeyKind_Int:
      out->has_key = true;
      out->key = DictKey(static_cast<int64_t>(n->key_int()));
      break;
    case fb::KeyKind_Index:
      out->has_key = true;
      out->key_is_index = true;
      out->index = n->key_int();
      break;
    default:
      return absl::DataLossError(
          absl::StrCat(what(), ": unknown key kind ", n->key_kind()));
  }
  switch (out->kind) {
    case Tree::Kind::kNone:
      out->scalar = Tree::None();
      break;
    case Tree::Kind::kBool:
      out->scalar = Tree::Bool(n->scalar() != 0);
      break;
    case Tree::Kind::kInt:
      out->scalar = Tree::Int(n->scalar());
      break;
    case Tree::Kind::kFloat:
      out->scalar = Tree::FloatFromBits(static_cast<uint64_t>(n->scalar()));
      break;
    case Tree::Kind::kString:
      out->scalar =
          Tree::String(n->str_value() ? n->str_value()->str() : std::string());
      break;
    case Tree::Kind::kArray: {
      const fb::ArrayInfo* a = n->array();
      if (a == nullptr) {
        return absl::DataLossError(
            absl::StrCat(what(), ": array node without array info"));
      }
      if (!IsValidDType(a->dtype()) || !IsValidDType(a->source_dtype())) {
        return absl::DataLossError(
            absl::StrCat(what(), ": invalid dtype ", a->dtype()));
      }
      out->dtype = static_cast<DType>(a->dtype());
      out->source_dtype = static_cast<DType>(a->source_dtype());
      if (a->shape()) out->shape.assign(a->shape()->begin(), a->shape()->end());
      const int64_t n_el = ShapeNumElements(out->shape);
      if (n_el < 0 || static_cast<uint64_t>(n_el) >
                          (uint64_t{1} << 62) / DTypeSize(out->dtype)) {
        return absl::DataLossError(absl::StrCat(what(), ": invalid shape ",
                                                ShapeToString(out->shape)));
      }
      out->nbytes = a->nbytes();
      if (out->nbytes != static_cast<uint64_t>(n_el) * DTypeSize(out->dtype)) {
        return absl::DataLossError(absl::StrCat(
            what(), ": byte size ", out->nbytes, " does not match shape ",
            ShapeToString(out->shape), " of ", DTypeName(out->dtype)));
      }
      out->chunk_bytes = a->chunk_bytes();
      if (a->inline_data() != nullptr) {
        out->is_inline = true;
        if (a->inline_data()->size() != out->nbytes) {
          return absl::DataLossError(absl::StrCat(
              what(), ": inline data has ", a->inline_data()->size(),
              " bytes, expected ", out->nbytes));
        }
        out->inline_data.assign(
            reinterpret_cast<const char*>(a->inline_data()->data()),
            a->inline_data()->size());
      } else {
        out->is_inline = false;
        uint64_t total = 0;
        if (a->chunks() != nullptr) {
          if (out->chunk_bytes == 0 ||
              out->chunk_bytes % DTypeSize(out->dtype) != 0) {
            return absl::DataLossError(absl::StrCat(
                what(), ": invalid chunk size ", out->chunk_bytes));
          }
          out->chunks.reserve(a->chunks()->size());
          for (const fb::ChunkRef* c : *a->chunks()) {
            StoredChunk sc;
            sc.hash = FromFb(c->hash());
            sc.segment = c->segment();
            sc.ordinal = c->ordinal();
            sc.size = c->size();
            sc.stored_size = c->stored_size();
            sc.kind = c->kind();
            const bool last = out->chunks.size() + 1 == a->chunks()->size();
            if (sc.size == 0 || sc.size > out->chunk_bytes ||
                (!last && sc.size != out->chunk_bytes) ||
                sc.kind > fb::ChunkKind_MAX) {
              return absl::DataLossError(absl::StrCat(
                  what(), ": invalid chunk reference #", out->chunks.size()));
            }
            total += sc.size;
            out->chunks.push_back(sc);
          }
        }
        if (total != out->nbytes) {
          return absl::DataLossError(absl::StrCat(what(), ": chunks hold ",
                                                  total, " bytes, expected ",
                                                  out->nbytes));
        }
      }
      break;
    }
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
    case Tree::Kind::kDict:
      break;
    default:
      return absl::DataLossError(
          absl::StrCat(what(), ": unexpected node kind ", n->kind()));
  }
  return absl::OkStatus();
}

// Rebuilds a small tree stored inline (metrics, custom metadata).
absl::StatusOr<Tree> DecodeInlineTree(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Node>>* nodes,
    absl::string_view what) {
  if (nodes == nullptr || nodes->size() == 0) return Tree::None();
  std::vector<StoredNode> stored(nodes->size());
  for (uint32_t i = 0; i < nodes->size(); ++i) {
    CKPTDB_RETURN_IF_ERROR(DecodeNode(nodes->Get(i), &stored[i], [&] {
      return absl::StrCat(what, " node #", i);
    }));
    if (i > 0) {
      if (stored[i].parent >= i) {
        return absl::DataLossError(absl::StrCat(what, ": bad parent"));
      }
      stored[stored[i].parent].children.push_back(i);
    }
  }
  std::function<Tree(uint32_t)> build = [&](uint32_t i) -> Tree {
    const StoredNode& n = stored[i];
    switch (n.kind) {
      case Tree::Kind::kArray: {
        Array a = Array::Allocate(n.dtype, n.shape);
        if (n.nbytes)
          std::memcpy(a.mutable_data(), n.inline_data.data(), n.nbytes);
        return Tree(std::move(a));
      }
      case Tree::Kind::kList:
      case Tree::Kind::kTuple: {
        std::vector<Tree> c;
        for (uint32_t k : n.children) c.push_back(build(k));
        return n.kind == Tree::Kind::kList ? Tree::List(std::move(c))
                                           : Tree::Tuple(std::move(c));
      }
      case Tree::Kind::kDict: {
        Tree d = Tree::Dict();
        for (uint32_t k : n.children) d.InsertNew(stored[k].key, build(k));
        return d;
      }
      default:
        return n.scalar;
    }
  };
  return build(0);
}

std::string ChunkEntryValue(absl::string_view key, uint64_t segment,
                            uint32_t ordinal, uint32_t size,
                            uint32_t stored_size, uint8_t kind,
                            const fb::ChunkRef* base, uint64_t refcount) {
  flatbuffers::FlatBufferBuilder fbb(128);
  fb::ChunkEntryBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_segment(segment);
  b.add_ordinal(ordinal);
  b.add_size(size);
  b.add_stored_size(stored_size);
  b.add_kind(static_cast<fb::ChunkKind>(kind));
  if (base != nullptr) b.add_base(base);
  b.add_refcount(refcount);
  fbb.Finish(b.Finish(), kChunkEntryIdent);
  return SealRecord(key, fbb);
}

std::string SegmentStatValue(absl::string_view key, const SegmentInfo& s) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fb::SegmentStatBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_live_chunks(s.live_chunks);
  b.add_live_bytes(s.live_bytes);
  b.add_total_bytes(s.total_bytes);
  fbb.Finish(b.Finish(), kSegmentStatIdent);
  return SealRecord(key, fbb);
}

}  // namespace

// Decoded chunk_index entry, and its new state within a commit batch.
struct ChunkEntryState {
  bool loaded = false;
  bool existed = false;  // present in chunk_index before this batch
  uint64_t segment = 0;
  uint32_t ordinal = 0;
  uint32_t size = 0;
  uint32_t stored_size = 0;
  uint8_t kind = 0;
  bool has_base = false;
  fb::ChunkRef base;
  int64_t refcount = 0;
};

namespace {

absl::Status DecodeChunkEntry(absl::string_view key, absl::string_view value,
                              ChunkEntryState* out) {
  RecordBuffer buf;
  const Hash128 h = [&] {
    Hash128 x;
    ParseChunkIndexKey(key, &x);
    return x;
  }();
  CKPTDB_ASSIGN_OR_RETURN(
      const fb::ChunkEntry* e,
      DecodeRecord<fb::ChunkEntry>(
          key, value, kChunkEntryIdent,
          absl::StrCat("chunk index entry ", h.ToHex()), &buf));
  out->loaded = true;
  out->existed = true;
  out->segment = e->segment();
  out->ordinal = e->ordinal();
  out->size = e->size();
  out->stored_size = e->stored_size();
  out->kind = e->kind();
  out->has_base = e->base() != nullptr;
  if (out->has_base) out->base = *e->base();
  out->refcount = static_cast<int64_t>(e->refcount());
  return absl::OkStatus();
}

// Thread-local staging buffer for casts and patches.
std::string& Staging() {
  thread_local std::string buf;
  return buf;
}

}  // namespace

// ---- StoredItem -----------------------------------------------------------

TreePath StoredItem::PathOf(uint32_t index) const {
  std::vector<uint32_t> chain;
  for (uint32_t i = index; i < nodes.size();) {
    chain.push_back(i);
    if (i == 0 || !nodes[i].has_key) break;
    i = nodes[i].parent;
  }
  TreePath p;
  for (size_t k = chain.size(); k-- > 0;) {
    const StoredNode& n = nodes[chain[k]];
    if (!n.has_key) continue;
    p = n.key_is_index ? p.Child(n.index) : p.Child(n.key);
  }
  return p;
}

std::string StoredItem::Describe(uint32_t index) const {
  return absl::StrCat("step ", step, " item '", item, "' leaf '",
                      PathOf(index).DisplayString(), "'");
}

TreeMetadata StoredItem::ToMetadata(uint32_t index) const {
  const StoredNode& n = nodes[index];
  TreeMetadata m;
  m.kind = n.kind;
  if (n.kind == Tree::Kind::kArray) {
    m.array.dtype = n.dtype;
    m.array.source_dtype = n.source_dtype;
    m.array.shape = n.shape;
    m.array.nbytes = n.nbytes;
    m.array.chunk_count = n.chunks.size();
    m.array.is_inline = n.is_inline;
  } else if (!m.is_container()) {
    m.scalar = n.scalar;
  }
  for (uint32_t c : n.children) {
    if (n.kind == Tree::Kind::kDict) m.keys.push_back(nodes[c].key);
    m.children.push_back(ToMetadata(c));
  }
  return m;
}

// ---- Store: open ----------------------------------------------------------

struct Store::CfHandle {
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  std::string name;
  ~CfHandle() {
    if (db != nullptr && handle != nullptr) {
      db->DestroyColumnFamilyHandle(handle);
    }
  }
};

Store::Store(std::string path, StoreOptions options)
    : path_(std::move(path)), options_(std::move(options)) {}

Store::~Store() {
  CloseDb();
  ReleaseWriterSlot();
}

namespace {
// Databases this process has open (or is opening) for writing, by absolute
// path: a second writer in the same process is told "busy" at once, even
// while the first is still creating the database (before RocksDB's LOCK
// exists, which is what tells other processes).
std::mutex writers_mu;
std::set<std::string>& Writers() {
  static auto* writers = new std::set<std::string>();
  return *writers;
}
}  // namespace

absl::Status Store::ClaimWriterSlot() {
  std::error_code ec;
  std::string key = fs::absolute(path_, ec).lexically_normal().string();
  if (ec) key = path_;
  while (key.size() > 1 && key.back() == '/') key.pop_back();
  std::lock_guard<std::mutex> l(writers_mu);
  if (!Writers().insert(key).second) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path_,
                     "' is busy: another writer in this process has it open"));
  }
  writer_key_ = key;
  return absl::OkStatus();
}

void Store::ReleaseWriterSlot() {
  if (writer_key_.empty()) return;
  std::lock_guard<std::mutex> l(writers_mu);
  Writers().erase(writer_key_);
  writer_key_.clear();
}

void Store::CloseDb() {
  {
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    steps_.clear();
    orphan_cfs_.clear();
    uncertain_cfs_.clear();
  }
  free_slots_.clear();
  prev_bases_.clear();
  prev_loaded_ = false;
  if (db_ != nullptr) {
    // Open() returned its own handle objects, the default family's too;
    // destroying DefaultColumnFamily() itself is refused (harmless).
    for (auto* h : fixed_handles_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    fixed_handles_.clear();
    meta_cf_ = chunks_cf_ = index_cf_ = nullptr;
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const std::string& path, const StoreOptions& options) {
  if (!IsPowerOfTwo(options.chunk_bytes) || options.chunk_bytes < 4096 ||
      options.chunk_bytes > (64u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_bytes must be a power of two between 4 KiB and 64 MiB, got ",
        options.chunk_bytes));
  }
  if (options.inline_bytes > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inline_bytes must be at most 1 MiB, got ", options.inline_bytes));
  }
  if (!(options.patch_max_fraction >= 0 && options.patch_max_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("patch_max_fraction must be in [0, 1], got ",
                     options.patch_max_fraction));
  }
  if (!IsPowerOfTwo(options.patch_page_bytes) ||
      options.patch_page_bytes < 64 ||
      options.patch_page_bytes > options.chunk_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "patch_page_bytes must be a power of two between 64 and chunk_bytes, "
        "got ",
        options.patch_page_bytes));
  }
  if (path.empty()) {
    return absl::InvalidArgumentError("database path is empty");
  }
  std::unique_ptr<Store> store(new Store(path, options));
  if (options.mode == StoreOptions::Mode::kReadWrite) {
    CKPTDB_RETURN_IF_ERROR(store->ClaimWriterSlot());
  }
  CKPTDB_RETURN_IF_ERROR(store->OpenDbSettled());
  return store;
}

absl::Status Store::OpenDbSettled() {
  for (int attempt = 0;; ++attempt) {
    view_lagged_ = false;
    CKPTDB_RETURN_IF_ERROR(OpenDb());
    // A reopen sees the writer's files (they are ingested before the commit
    // record is written); give up after ~1 s of back-to-back saves.
    if (!view_lagged_ || attempt >= 20) return absl::OkStatus();
    CloseDb();
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + 2 * attempt));
  }
}

// True when the database holds nothing in its default column family
// (opened read-only, so nothing is written to find out).
bool Store::DefaultFamilyIsEmpty(const rocksdb::DBOptions& dbo) const {
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o(dbo, rocksdb::ColumnFamilyOptions());
  if (!rocksdb::DB::OpenForReadOnly(o, path_, &raw).ok()) return false;
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    empty = !it->Valid() && it->status().ok();
  }  // iterators pin the column family: gone before the close
  db->Close().PermitUncheckedError();
  return empty;
}

rocksdb::Status Store::OpenRocks(
    bool creating, bool rw, rocksdb::DBOptions* dbo,
    std::vector<std::string>* names,
    std::vector<rocksdb::ColumnFamilyHandle*>* handles, rocksdb::DB** raw) {
  if (creating) {
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec) {
      return rocksdb::Status::Aborted(absl::StrCat("cannot create directory '",
                                                   path_, "': ", ec.message()));
    }
    *names = {kMetaCf, kChunksCf, kChunkIndexCf};
    dbo->create_if_missing = true;
    dbo->create_missing_column_families = true;
  } else {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(*dbo, path_, names);
    if (!s.ok()) return s;
    const bool has_chunks =
        std::find(names->begin(), names->end(), kChunksCf) != names->end();
    const bool has_index =
        std::find(names->begin(), names->end(), kChunkIndexCf) != names->end();
    if (!has_chunks || !has_index) {
      if (names->size() == 1 && rw && options_.create_if_missing &&
          DefaultFamilyIsEmpty(*dbo)) {
        // A database whose creation was interrupted (nothing but an empty
        // default family): finish it below. Someone else's RocksDB, with
        // data in it, is never touched.
        *names = {kMetaCf, kChunksCf, kChunkIndexCf};
        dbo->create_missing_column_families = true;
      } else {
        return rocksdb::Status::Aborted(absl::StrCat(
            "'", path_,
            "' is a RocksDB database but not a ckptdb database (no '",
            kChunksCf, "' column family)"));
      }
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const std::string& name : *names) {
    if (name == kMetaCf || name == kChunkIndexCf) {
      descs.emplace_back(name, cf_options_->meta);
    } else if (name == kChunksCf) {
      descs.emplace_back(name, cf_options_->chunks);
    } else {
      descs.emplace_back(name, cf_options_->step);
    }
  }
  rocksdb::Status s;
  switch (options_.mode) {
    case StoreOptions::Mode::kReadWrite:
      s = rocksdb::DB::Open(*dbo, path_, descs, handles, raw);
      break;
    case StoreOptions::Mode::kReadOnly:
      s = rocksdb::DB::OpenForReadOnly(*dbo, path_, descs, handles, raw);
      break;
    case StoreOptions::Mode::kSecondary: {
      std::string secondary = options_.secondary_path;
      if (secondary.empty()) {
        char tmpl[] = "/tmp/ckptdb-secondary-XXXXXX";
        const char* d = mkdtemp(tmpl);
        if (d == nullptr) {
          return rocksdb::Status::IOError(
              "cannot create a secondary directory");
        }
        secondary = d;
      }
      rocksdb::DBOptions sec = *dbo;
      sec.max_open_files = -1;
      s = rocksdb::DB::OpenAsSecondary(sec, path_, secondary, descs, handles,
                                       raw);
      break;
    }
  }
  return s;
}

absl::Status Store::OpenDb() {
  const bool rw = options_.mode == StoreOptions::Mode::kReadWrite;
  std::error_code ec;
  const bool exists = fs::exists(path_, ec);
  bool creating = false;
  if (!exists) {
    if (!options_.create_if_missing || !rw) {
      return absl::NotFoundError(
          absl::StrCat("no ckptdb database at '", path_, "'"));
    }
    creating = true;
  } else {
    if (!fs::is_directory(path_, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path_,
                       "' exists and is not a directory (not a ckptdb "
                       "database)"));
    }
    const fs::path current = fs::path(path_) / "CURRENT";
    // Only the files RocksDB writes first when it creates a database (its
    // info LOG, then LOCK; CURRENT comes last).
    auto only_startup_files = [&] {
      bool any = false;
      for (const auto& e : fs::directory_iterator(path_, ec)) {
        const std::string name = e.path().filename().string();
        if (name != "LOG" && name != "LOCK" &&
            !absl::StartsWith(name, "LOG.old")) {
          return false;
        }
        any = true;
      }
      return any;
    };
    // Another process creating the database: wait (up to ~1 s) until it
    // holds the lock or has written CURRENT.
    for (int wait = 0;
         wait < 100 && !fs::exists(current, ec) &&
         !DbLockHeldByAnotherProcess(path_) && only_startup_files();
         ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!fs::exists(current, ec)) {
      if (DbLockHeldByAnotherProcess(path_)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "database '", path_, "' is busy: another process is creating it"));
      }
      const bool interrupted_creation = only_startup_files();
      bool empty = true;
      bool rocks_files = false;
      for (const auto& e : fs::directory_iterator(path_, ec)) {
        empty = false;
        const std::string name = e.path().filename().string();
        if (absl::StartsWith(name, "MANIFEST-") ||
            absl::EndsWith(name, ".sst") || name == "IDENTITY" ||
            absl::StartsWith(name, "OPTIONS-")) {
          rocks_files = true;
        }
      }
      if (rocks_files) {
        return absl::DataLossError(absl::StrCat(
            "database at '", path_,
            "' is damaged: its CURRENT file is missing (the directory was "
            "truncated or partly deleted)"));
      }
      if ((!empty && !interrupted_creation) || !options_.create_if_missing ||
          !rw) {
        return empty ? absl::NotFoundError(
                           absl::StrCat("no ckptdb database at '", path_,
                                        "' (the directory is empty)"))
                     : absl::FailedPreconditionError(absl::StrCat(
                           "'", path_,
                           "' is not a ckptdb database (no RocksDB CURRENT "
                           "file); refusing to use it"));
      }
      creating = true;
    }
  }

  gc_filter_ = std::make_shared<ChunkGcFilterFactory>();
  cf_options_ = std::make_unique<CfOptionSet>(MakeCfOptions(gc_filter_));
  RocksTuning tuning;
  tuning.env = options_.env;
  tuning.read_only = !rw;
  tuning.mmap_reads = options_.mmap_reads;
  rocksdb::DBOptions dbo = MakeDbOptions(tuning);

  // A reader racing the writer can find the MANIFEST naming a file or a
  // column family the writer has just deleted: it retries with a fresh view.
  std::vector<std::string> names;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  for (int attempt = 0;; ++attempt) {
    names.clear();
    handles.clear();
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = OpenRocks(creating, rw, &dbo, &names, &handles, &raw);
    if (s.ok()) {
      db_.reset(raw);
      break;
    }
    // A torn MANIFEST tail heals within microseconds; lasting corruption
    // is reported after a few tries.
    const bool transient =
        !rw && attempt < (s.IsCorruption() ? 8 : 50) &&
        (s.IsCorruption() || s.IsIOError() || s.IsPathNotFound() ||
         (s.IsInvalidArgument() &&
          s.ToString().find("Column family not found") != std::string::npos));
    if (!transient) {
      if (s.code() == rocksdb::Status::kAborted) {
        return absl::FailedPreconditionError(
            s.getState() != nullptr ? s.getState() : s.ToString());
      }
      if (s.IsCorruption()) {
        return absl::DataLossError(
            absl::StrCat("cannot open database '", path_,
                         "': its files are damaged (RocksDB: ", s.ToString(),
                         "); nothing was changed"));
      }
      return FromRocks(s, absl::StrCat("cannot open database '", path_, "'"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + 5 * attempt));
  }

  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < handles.size(); ++i) by_name[names[i]] = handles[i];
  meta_cf_ = by_name[kMetaCf];
  chunks_cf_ = by_name[kChunksCf];
  index_cf_ = by_name[kChunkIndexCf];
  fixed_handles_ = {meta_cf_, chunks_cf_, index_cf_};

  // Step column families: owned by CfHandles from here on.
  std::map<std::string, std::shared_ptr<CfHandle>> step_cfs;
  for (auto& [name, h] : by_name) {
    if (name == kMetaCf || name == kChunksCf || name == kChunkIndexCf) {
      continue;
    }
    auto cf = std::make_shared<CfHandle>();
    cf->db = db_.get();
    cf->handle = h;
    cf->name = name;
    step_cfs[name] = cf;
  }

  // Header.
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_cf_, kHeaderKey, &value);
  if (s.IsNotFound()) {
    // Only an empty database may receive a header: never adopt someone
    // else's RocksDB.
    bool empty;
    {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
      it->SeekToFirst();
      empty = !it->Valid();
    }  // iterators pin the column families: gone before any close
    if (!empty || !rw || !options_.create_if_missing) {
      step_cfs.clear();
      CloseDb();
      if (empty && step_cfs.empty()) {
        // Another process is creating it right now.
        return absl::UnavailableError(
            absl::StrCat("database '", path_,
                         "' is being created (no header yet); "
                         "retry"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "'", path_, "' is not a ckptdb database (no header record)"));
    }
    flatbuffers::FlatBufferBuilder fbb;
    auto magic = fbb.CreateString(kMagic);
    auto kind = fbb.CreateString(options_.create_kind);
    auto by = fbb.CreateString(kVersionString);
    fb::DbHeaderBuilder hb(fbb);
    hb.add_format_version(kFormatVersion);
    hb.add_magic(magic);
    hb.add_kind(kind);
    hb.add_created_time_ns(NowNs());
    hb.add_created_by(by);
    fbb.Finish(hb.Finish(), kHeaderIdent);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db_->Put(wo, meta_cf_, kHeaderKey, SealRecord(kHeaderKey, fbb));
    if (!s.ok()) return FromRocks(s, "cannot write the database header");
    kind_ = options_.create_kind;
  } else if (!s.ok()) {
    return FromRocks(s, "cannot read the database header");
  } else {
    RecordBuffer buf;
    CKPTDB_ASSIGN_OR_RETURN(
        const fb::DbHeader* h,
        DecodeRecord<fb::DbHeader>(
            kHeaderKey, ToView(value), kHeaderIdent,
            absl::StrCat("database '", path_, "' header"), &buf));
    if (h->magic() == nullptr || h->magic()->str() != kMagic) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path_, "' is not a ckptdb database (bad magic)"));
    }
    kind_ = h->kind() ? h->kind()->str() : "manager";
  }
  value.Reset();
  s = db_->Get(rocksdb::ReadOptions(), meta_cf_, kNamingKey, &value);
  if (s.ok()) {
    RecordBuffer buf;
    auto n = DecodeRecord<fb::Naming>(kNamingKey, ToView(value), kNamingIdent,
                                      "step naming record", &buf);
    if (n.ok()) {
      const fb::Naming* r = *n;
      ManagerRecord m;
      m.step_prefix = r->step_prefix() ? r->step_prefix()->str() : "";
      m.step_format_fixed_length = r->step_format_fixed_length();
      auto opt = [](int64_t v) {
        return v < 0 ? std::nullopt : std::optional<int64_t>(v);
      };
      m.max_to_keep = opt(r->max_to_keep());
      m.keep_period = opt(r->keep_period());
      m.keep_time_interval_secs = opt(r->keep_time_interval_secs());
      m.retention_is_custom = r->retention_is_custom();
      std::lock_guard<std::mutex> l(record_mu_);
      manager_record_ = m;
    }
  }

  // Steps.
  std::map<int64_t, std::shared_ptr<const StepEntry>> steps;
  uint64_t max_segment = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
    RecordBuffer buf;
    for (it->Seek(kStepKeyPrefix);
         it->Valid() && it->key().starts_with(kStepKeyPrefix); it->Next()) {
      int64_t step;
      if (!ParseStepKey(ToView(it->key()), &step)) continue;
      auto decoded = DecodeRecord<fb::StepRecord>(
          ToView(it->key()), ToView(it->value()), kStepIdent,
          absl::StrCat("step ", step, " commit record"), &buf);
      if (!decoded.ok()) {
        // One damaged record must not make every other step unreadable:
        // the step is listed as damaged and reading it reports why.
        auto e = std::make_shared<StepEntry>();
        e->info.step = step;
        e->info.name = absl::StrCat(step);
        e->info.damage = std::string(decoded.status().message());
        e->damage = decoded.status();
        steps[step] = std::move(e);
        continue;
      }
      const fb::StepRecord* r = *decoded;
      auto e = std::make_shared<StepEntry>();
      e->info.step = r->step();
      e->info.name = r->name() ? r->name()->str() : absl::StrCat(step);
      e->info.init_time_ns = r->init_time_ns();
      e->info.commit_time_ns = r->commit_time_ns();
      e->info.logical_bytes = r->logical_bytes();
      e->info.new_bytes = r->new_bytes();
      e->info.chunk_count = r->chunk_count();
      e->info.has_metrics = r->has_metrics();
      if (r->has_metrics()) {
        CKPTDB_ASSIGN_OR_RETURN(
            e->info.metrics,
            DecodeInlineTree(r->metrics(),
                             absl::StrCat("step ", step, " metrics")));
      }
      CKPTDB_ASSIGN_OR_RETURN(
          e->info.custom_metadata,
          DecodeInlineTree(r->custom_metadata(),
                           absl::StrCat("step ", step, " custom metadata")));
      if (r->items()) {
        for (const fb::ItemRecord* ir : *r->items()) {
          ItemSummary is;
          is.name = ir->name() ? ir->name()->str() : "";
          is.node_count = ir->node_count();
          is.leaf_count = ir->leaf_count();
          is.array_count = ir->array_count();
          is.logical_bytes = ir->logical_bytes();
          if (ir->index() >= e->item_names.size()) {
            e->item_names.resize(ir->index() + 1);
          }
          e->item_names[ir->index()] = is.name;
          e->info.items.push_back(std::move(is));
        }
      }
      e->cf_name = r->column_family() ? r->column_family()->str() : "";
      e->generation = r->generation();
      max_segment = std::max(max_segment, e->generation);
      auto cf = step_cfs.find(e->cf_name);
      if (cf != step_cfs.end()) {
        e->cf = cf->second;
      }
      if (!rw && !SlotHolds(*e)) {
        // A reader may see a commit record (WAL) whose ingested files its
        // MANIFEST view predates (the slot is empty, or still holds the
        // step it held before): that step is not visible yet.
        view_lagged_ = true;
        continue;
      }
      steps[step] = std::move(e);
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), "cannot list steps");
    }
    for (it->Seek(kSegmentKeyPrefix);
         it->Valid() && it->key().starts_with(kSegmentKeyPrefix); it->Next()) {
      uint64_t seg;
      if (ParseSegmentKey(ToView(it->key()), kSegmentKeyPrefix, &seg)) {
        max_segment = std::max(max_segment, seg);
      }
    }
  }
  std::set<std::string> referenced;
  for (auto& [step, e] : steps) referenced.insert(e->cf_name);
  std::set<int64_t> damaged;  // steps whose commit record is unreadable
  for (auto& [step, e] : steps) {
    if (!e->damage.ok()) damaged.insert(step);
  }
  std::vector<std::shared_ptr<CfHandle>> orphans;
  for (auto& [name, cf] : step_cfs) {
    uint64_t n;
    if (ParseSlotColumnFamilyName(name, &n)) {
      max_segment = std::max(max_segment, n);
    }
    if (referenced.count(name)) continue;
    if (!damaged.empty() && SlotNamesStep(*cf, damaged)) {
      continue;  // may hold a damaged step's data: keep it for recovery
    }
    orphans.push_back(cf);
  }
  {
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(chunks_cf_, &md);
    for (const auto& level : md.levels) {
      for (const auto& f : level.files) {
        uint64_t seg;
        uint32_t ord;
        if (ParseChunkKey(f.largestkey, &seg, &ord)) {
          max_segment = std::max(max_segment, seg);
        }
      }
    }
  }
  next_segment_.store(max_segment + 1);
  {
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    steps_ = std::move(steps);
    orphan_cfs_ = std::move(orphans);
  }

  int threads = options_.num_threads;
  if (threads < 0) {
    threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
  }
  pool_ = std::make_unique<ThreadPool>(threads);

  if (rw) {
    const fs::path staging = fs::path(path_) / kStagingDir;
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create '", staging.string(), "': ", ec.message()));
    }
    GcReport report;
    CKPTDB_RETURN_IF_ERROR(SweepOrphans(&report));
  }
  return absl::OkStatus();
}

absl::Status Store::SweepOrphans(GcReport* report) {
  std::vector<std::shared_ptr<CfHandle>> orphans;
  {
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    orphans.swap(orphan_cfs_);
  }
  for (auto& cf : orphans) {
    CKPTDB_RETURN_IF_ERROR(RecycleSlot(cf));
    ++report->orphan_column_families;
  }
  return absl::OkStatus();
}

bool Store::SlotNamesStep(const CfHandle& cf,
                          const std::set<int64_t>& steps) const {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;
  rocksdb::PinnableSlice v;
  if (!db_->Get(ro, cf.handle, kChunkListKey, &v).ok()) return false;
  RecordBuffer buf;
  auto cl = DecodeRecord<fb::ChunkList>(kChunkListKey, ToView(v),
                                        kChunkListIdent, "chunk list", &buf);
  return cl.ok() && steps.count((*cl)->step()) > 0;
}

bool Store::SlotHolds(const StepEntry& e) const {
  if (e.cf == nullptr) return false;
  if (e.generation == 0) return true;  // written before slots had markers
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;  // records carry their own checksums
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db_->Get(ro, e.cf->handle, kChunkListKey, &v);
  if (s.IsNotFound()) return false;  // the slot is empty in this view
  if (!s.ok()) return true;          // damaged: listed, and reading it says so
  RecordBuffer buf;
  auto cl = DecodeRecord<fb::ChunkList>(kChunkListKey, ToView(v),
                                        kChunkListIdent, "chunk list", &buf);
  if (!cl.ok()) return true;  // damaged: listed, and reading it says so
  return (*cl)->step() == e.info.step && (*cl)->generation() == e.generation;
}

absl::Status Store::RecycleSlot(const std::shared_ptr<CfHandle>& cf) {
  // Readers of the step it held finish first (they hold recycle_mu_).
  std::unique_lock<SharedMutex> l(recycle_mu_);
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

absl::StatusOr<std::shared_ptr<Store::CfHandle>> Store::AcquireSlot() {
  if (free_slots_.empty()) {
    // Create several at once: each create rewrites the OPTIONS file.
    size_t steps;
    {
      std::shared_lock<std::shared_mutex> l(steps_mu_);
      steps = steps_.size();
    }
    const size_t batch = std::clamp<size_t>(steps / 8, 1, 16);
    std::vector<std::string> names;
    for (size_t i = 0; i < batch; ++i) {
      names.push_back(SlotColumnFamilyName(next_segment_.fetch_add(1)));
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
  }
  std::shared_ptr<CfHandle> cf = std::move(free_slots_.back());
  free_slots_.pop_back();
  return cf;
}

// ---- Store: listing -------------------------------------------------------

std::vector<StepInfo> Store::Steps() const {
  std::shared_lock<std::shared_mutex> l(steps_mu_);
  std::vector<StepInfo> out;
  out.reserve(steps_.size());
  for (const auto& [step, e] : steps_) out.push_back(e->info);
  return out;
}

bool Store::HasStep(int64_t step) const {
  std::shared_lock<std::shared_mutex> l(steps_mu_);
  return steps_.count(step) > 0;
}

absl::StatusOr<std::shared_ptr<const Store::StepEntry>> Store::FindStep(
    int64_t step) const {
  std::shared_lock<std::shared_mutex> l(steps_mu_);
  auto it = steps_.find(step);
  if (it == steps_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no step ", step, " in '", path_, "'",
        steps_.empty()
            ? " (it holds no steps)"
            : absl::StrCat(" (steps: ", steps_.begin()->first,
                           steps_.size() > 1
                               ? absl::StrCat(" .. ", steps_.rbegin()->first)
                               : "",
                           ")")));
  }
  return it->second;
}

absl::StatusOr<StepInfo> Store::Step(int64_t step) const {
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return e->info;
}

namespace {
std::mutex& GlobalHookMu() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::function<void(absl::string_view)>& GlobalHook() {
  static auto* hook = new std::function<void(absl::string_view)>;
  return *hook;
}
}  // namespace

void SetGlobalTestHook(std::function<void(absl::string_view)> hook) {
  std::lock_guard<std::mutex> l(GlobalHookMu());
  GlobalHook() = std::move(hook);
}

void Store::Hook(absl::string_view point) const {
  if (options_.test_hook) options_.test_hook(point);
  std::function<void(absl::string_view)> global;
  {
    std::lock_guard<std::mutex> l(GlobalHookMu());
    global = GlobalHook();
  }
  if (global) global(point);
}

absl::Status Store::SetManagerRecord(const ManagerRecord& record) {
  std::lock_guard<std::mutex> w(write_mu_);
  if (read_only()) return absl::OkStatus();
  if (GetManagerRecord() == record) return absl::OkStatus();
  flatbuffers::FlatBufferBuilder fbb;
  auto p = fbb.CreateString(record.step_prefix);
  fb::NamingBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_step_prefix(p);
  b.add_step_format_fixed_length(record.step_format_fixed_length);
  b.add_max_to_keep(record.max_to_keep.value_or(-1));
  b.add_keep_period(record.keep_period.value_or(-1));
  b.add_keep_time_interval_secs(record.keep_time_interval_secs.value_or(-1));
  b.add_retention_is_custom(record.retention_is_custom);
  fbb.Finish(b.Finish(), kNamingIdent);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s =
      db_->Put(wo, meta_cf_, kNamingKey, SealRecord(kNamingKey, fbb));
  if (!s.ok()) return FromRocks(s, "cannot write the manager record");
  std::lock_guard<std::mutex> l(record_mu_);
  manager_record_ = record;
  return absl::OkStatus();
}

Store::ManagerRecord Store::GetManagerRecord() const {
  std::lock_guard<std::mutex> l(record_mu_);
  return manager_record_;
}

uint64_t Store::gc_dropped_chunks() const { return gc_filter_->dropped(); }

absl::StatusOr<std::string> Store::StepColumnFamily(int64_t step) const {
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return e->cf_name;
}

absl::StatusOr<std::vector<Hash128>> Store::StepChunkHashes(
    int64_t step) const {
  std::shared_lock<SharedMutex> db_lock(db_mu_);
  std::shared_lock<SharedMutex> slot_lock(recycle_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return ReadChunkList(*e);
}

absl::StatusOr<Store::ChunkLookup> Store::LookupChunk(
    const Hash128& hash) const {
  std::shared_lock<SharedMutex> db_lock(db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  const std::string key = ChunkIndexKey(hash);
  rocksdb::PinnableSlice v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &v);
  if (s.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("no chunk ", hash.ToHex(), " in the chunk index"));
  }
  if (!s.ok()) return FromRocks(s, "cannot read the chunk index");
  ChunkEntryState st;
  CKPTDB_RETURN_IF_ERROR(DecodeChunkEntry(key, ToView(v), &st));
  ChunkLookup out;
  out.segment = st.segment;
  out.ordinal = st.ordinal;
  out.size = st.size;
  out.stored_size = st.stored_size;
  out.kind = st.kind;
  out.refcount = static_cast<uint64_t>(st.refcount);
  return out;
}

// ---- Store: save ----------------------------------------------------------

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
    if (!names.insert(it.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("item '", it.name, "' given twice"));
    }
    if (it.tree == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("item '", it.name, "' has no tree"));
    }
    if (!req.trees_validated) {
      CKPTDB_RETURN_IF_ERROR(ValidateSaveTree(*it.tree, it.options, it.name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StepInfo> Store::SaveStep(const StepSaveRequest& request) {
  std::lock_guard<std::mutex> w(write_mu_);
  return SaveStepLocked(request);
}

namespace {

struct FlatNode {
  const Tree* tree = nullptr;
  uint16_t item = 0;
  uint32_t index = 0;  // preorder index within its item
  uint32_t parent = 0;
  bool has_key = false;
  bool is_index = false;
  const DictKey* key = nullptr;
  int64_t seq_index = 0;
  // Arrays.
  DType stored_dtype = DType::kFloat32;
  uint64_t nbytes = 0;
  bool is_inline = false;
  uint32_t first_job = 0;
  uint32_t num_jobs = 0;
  std::string inline_cast;  // inline bytes after a save-cast
};

struct ChunkJob {
  uint32_t node = 0;  // global FlatNode index
  uint64_t offset = 0;
  uint32_t size = 0;
  Hash128 hash;
  int64_t first = -1;  // earlier job with the same hash
  bool is_new = false;
  uint64_t segment = 0;
  uint32_t ordinal = 0;
  uint32_t stored_size = 0;
  uint8_t kind = fb::ChunkKind_Full;
  // A Full chunk of the previous save at the same position, to patch.
  bool has_base = false;
  StoredChunk base;
};

// Encodes `bytes` as a Patch of `base` (the same size) when at most
// `max_fraction` of its pages differ; returns false otherwise.
bool MakePatch(absl::string_view bytes, absl::string_view base_bytes,
               const StoredChunk& base, uint32_t page, double max_fraction,
               const std::string& key, std::string* out) {
  if (bytes.size() != base_bytes.size()) return false;
  const size_t n_pages = (bytes.size() + page - 1) / page;
  const size_t max_pages = static_cast<size_t>(max_fraction * n_pages);
  std::vector<uint32_t> pages;
  for (size_t p = 0; p < n_pages; ++p) {
    const size_t off = p * page;
    const size_t len = std::min<size_t>(page, bytes.size() - off);
    if (std::memcmp(bytes.data() + off, base_bytes.data() + off, len) != 0) {
      if (pages.size() == max_pages) return false;
      pages.push_back(static_cast<uint32_t>(p));
    }
  }
  thread_local flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.Clear();
  uint8_t* data = nullptr;
  size_t data_len = 0;
  for (uint32_t p : pages) {
    data_len += std::min<size_t>(page, bytes.size() - size_t{p} * page);
  }
  auto data_vec = fbb.CreateUninitializedVector(data_len, &data);
  for (uint32_t p : pages) {
    const size_t off = size_t{p} * page;
    const size_t len = std::min<size_t>(page, bytes.size() - off);
    std::memcpy(data, bytes.data() + off, len);
    data += len;
  }
  auto pages_vec = fbb.CreateVector(pages);
  const fb::ChunkRef base_ref(ToFb(base.hash), base.segment, base.ordinal,
                              base.size, base.stored_size, fb::ChunkKind_Full);
  fb::PatchBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_base(&base_ref);
  b.add_page_bytes(page);
  b.add_pages(pages_vec);
  b.add_data(data_vec);
  fbb.Finish(b.Finish(), kPatchIdent);
  *out = SealRecord(key, fbb);
  return true;
}

TreePath FlatPath(const std::vector<FlatNode>& nodes, size_t begin,
                  uint32_t global) {
  std::vector<const FlatNode*> chain;
  for (uint32_t i = global;;) {
    chain.push_back(&nodes[i]);
    if (!nodes[i].has_key) break;
    i = static_cast<uint32_t>(begin + nodes[i].parent);
  }
  TreePath p;
  for (size_t k = chain.size(); k-- > 0;) {
    const FlatNode* n = chain[k];
    if (!n->has_key) continue;
    p = n->is_index ? p.Child(n->seq_index) : p.Child(*n->key);
  }
  return p;
}

// The bytes of a chunk as stored: borrowed from the caller, or cast into
// `staging`.
absl::string_view ChunkBytes(const FlatNode& n, const ChunkJob& j,
                             std::string* staging) {
  const Array& a = n.tree->array();
  if (n.stored_dtype == a.dtype()) {
    return absl::string_view(static_cast<const char*>(a.data()) + j.offset,
                             j.size);
  }
  const size_t ssize = DTypeSize(n.stored_dtype);
  const size_t first = j.offset / ssize;
  const size_t count = j.size / ssize;
  if (staging->size() < j.size) staging->resize(j.size);
  CastElements(
      a.dtype(),
      static_cast<const char*>(a.data()) + first * DTypeSize(a.dtype()),
      n.stored_dtype, staging->data(), count);
  return absl::string_view(staging->data(), j.size);
}

}  // namespace

// After a failed write RocksDB stops accepting writes; DB::Resume() in 7.8
// can leave ingestion broken (an assertion in ExternalSstFileIngestionJob
// seen here), so the store reopens the database instead: recovery from
// disk, which also drops what the failed save left behind.
absl::Status Store::ResumeIfNeeded() {
  if (!needs_resume_ && db_ != nullptr) return absl::OkStatus();
  std::unique_lock<SharedMutex> l(db_mu_);
  CloseDb();
  absl::Status s = OpenDb();
  if (!s.ok()) {
    CloseDb();
    return absl::UnavailableError(absl::StrCat(
        "the database stopped writing after a failed write and cannot "
        "reopen yet (free disk space and retry): ",
        s.message()));
  }
  needs_resume_ = false;
  return absl::OkStatus();
}

absl::Status Store::CheckDb() const {
  if (db_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "database '", path_,
        "' is closed after a failed write; the next save reopens it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepInfo> Store::SaveStepLocked(const StepSaveRequest& req) {
  if (read_only()) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path_, "' is open read-only"));
  }
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  CKPTDB_RETURN_IF_ERROR(ValidateRequest(req));
  std::shared_ptr<const StepEntry> old;
  {
    std::shared_lock<std::shared_mutex> l(steps_mu_);
    auto it = steps_.find(req.step);
    if (it != steps_.end()) old = it->second;
  }
  if (old != nullptr && !req.replace) {
    return absl::AlreadyExistsError(
        absl::StrCat("step ", req.step, " already exists in '", path_,
                     "' (pass force to replace it)"));
  }
  const int64_t init_ns = req.init_time_ns ? req.init_time_ns : NowNs();
  const uint64_t segment = next_segment_.fetch_add(1);
  const uint32_t chunk_bytes = options_.chunk_bytes;

  Hook("save_start");
  // 1. Flatten every item into preorder nodes; plan chunks.
  std::vector<FlatNode> nodes;
  std::vector<size_t> item_begin;
  std::vector<ChunkJob> jobs;
  std::vector<ItemSummary> summaries;
  uint64_t logical_bytes = 0;
  for (size_t item = 0; item < req.items.size(); ++item) {
    const SaveItem& si = req.items[item];
    const size_t begin = nodes.size();
    item_begin.push_back(begin);
    ItemSummary summary;
    summary.name = si.name;
    struct Pending {
      const Tree* t;
      uint32_t parent;
      bool has_key;
      bool is_index;
      const DictKey* key;
      int64_t index;
    };
    std::vector<Pending> stack{{si.tree, 0, false, false, nullptr, 0}};
    while (!stack.empty()) {
      Pending p = stack.back();
      stack.pop_back();
      FlatNode n;
      n.tree = p.t;
      n.item = static_cast<uint16_t>(item);
      n.index = static_cast<uint32_t>(nodes.size() - begin);
      n.parent = p.parent;
      n.has_key = p.has_key;
      n.is_index = p.is_index;
      n.key = p.key;
      n.seq_index = p.index;
      const uint32_t global = static_cast<uint32_t>(nodes.size());
      nodes.push_back(n);
      FlatNode& fn = nodes.back();
      const Tree& t = *p.t;
      // ValidateRequest has checked the tree (ValidateSaveTree): no
      // Placeholders, shapes valid, data present, containers well formed.
      if (t.kind() == Tree::Kind::kArray) {
        const Array& a = t.array();
        const int64_t n_el = a.num_elements();
        DType stored = a.dtype();
        if (si.options != nullptr) {
          const LeafSaveArgs* args = &si.options->default_save_args;
          if (!si.options->save_args.empty()) {
            auto f = si.options->save_args.find(
                FlatPath(nodes, begin, global).ToString());
            if (f != si.options->save_args.end()) args = &f->second;
          }
          if (args->dtype.has_value()) stored = *args->dtype;
        }
        fn.stored_dtype = stored;
        fn.nbytes = static_cast<uint64_t>(n_el) * DTypeSize(stored);
        fn.is_inline = fn.nbytes <= options_.inline_bytes;
        if (fn.is_inline && stored != a.dtype() && fn.nbytes > 0) {
          fn.inline_cast.resize(fn.nbytes);
          CastElements(a.dtype(), a.data(), stored, fn.inline_cast.data(),
                       static_cast<size_t>(n_el));
        }
        if (!fn.is_inline) {
          fn.first_job = static_cast<uint32_t>(jobs.size());
          for (uint64_t off = 0; off < fn.nbytes; off += chunk_bytes) {
            ChunkJob j;
            j.node = global;
            j.offset = off;
            j.size = static_cast<uint32_t>(
                std::min<uint64_t>(chunk_bytes, fn.nbytes - off));
            jobs.push_back(j);
          }
          fn.num_jobs = static_cast<uint32_t>(jobs.size()) - fn.first_job;
        }
        ++summary.array_count;
        ++summary.leaf_count;
        summary.logical_bytes += fn.nbytes;
      } else if (t.is_leaf() && t.kind() != Tree::Kind::kNone) {
        ++summary.leaf_count;
      }
      const uint32_t me = fn.index;
      for (size_t i = t.size(); i-- > 0;) {
        const bool dict = t.kind() == Tree::Kind::kDict;
        stack.push_back({&t.children()[i], me, true, !dict,
                         dict ? &t.keys()[i] : nullptr,
                         static_cast<int64_t>(i)});
      }
    }
    summary.node_count = static_cast<uint32_t>(nodes.size() - begin);
    logical_bytes += summary.logical_bytes;
    summaries.push_back(std::move(summary));
  }

  // 2. Hash every chunk, in parallel.
  pool_->ParallelFor(jobs.size(), [&](size_t i) {
    ChunkJob& j = jobs[i];
    absl::string_view bytes = ChunkBytes(nodes[j.node], j, &Staging());
    j.hash = HashBytes(bytes.data(), bytes.size());
  });
  Hook("after_hash");

  // 3. Deduplicate within the save and against chunk_index.
  Hook("dedup_start");
  absl::flat_hash_map<Hash128, uint32_t> first_of;
  std::vector<uint32_t> unique_jobs;
  for (uint32_t i = 0; i < jobs.size(); ++i) {
    auto [it, inserted] = first_of.emplace(jobs[i].hash, i);
    if (inserted) {
      unique_jobs.push_back(i);
    } else {
      jobs[i].first = it->second;
    }
  }
  std::map<Hash128, ChunkEntryState> entries;  // existing entries we reuse
  {
    constexpr size_t kBatch = 1024;
    std::vector<std::string> keys;
    for (size_t b = 0; b < unique_jobs.size(); b += kBatch) {
      const size_t e = std::min(unique_jobs.size(), b + kBatch);
      keys.clear();
      for (size_t k = b; k < e; ++k) {
        keys.push_back(ChunkIndexKey(jobs[unique_jobs[k]].hash));
      }
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<rocksdb::PinnableSlice> values(slices.size());
      std::vector<rocksdb::Status> statuses(slices.size());
      db_->MultiGet(rocksdb::ReadOptions(), index_cf_, slices.size(),
                    slices.data(), values.data(), statuses.data());
      for (size_t k = 0; k < slices.size(); ++k) {
        ChunkJob& j = jobs[unique_jobs[b + k]];
        if (statuses[k].IsNotFound()) continue;
        if (!statuses[k].ok()) {
          return FromRocksWrite(statuses[k], "cannot read the chunk index");
        }
        ChunkEntryState st;
        CKPTDB_RETURN_IF_ERROR(
            DecodeChunkEntry(keys[k], ToView(values[k]), &st));
        if (st.size != j.size) {
          return absl::DataLossError(absl::StrCat(
              "chunk index entry ", j.hash.ToHex(), " records size ", st.size,
              " but a chunk with that hash has ", j.size, " bytes"));
        }
        j.segment = st.segment;
        j.ordinal = st.ordinal;
        j.stored_size = st.stored_size;
        j.kind = st.kind;
        entries[j.hash] = st;
      }
    }
  }
  uint32_t next_ordinal = 0;
  uint64_t new_logical = 0;
  std::vector<uint32_t> new_jobs;
  for (uint32_t i : unique_jobs) {
    ChunkJob& j = jobs[i];
    if (entries.count(j.hash)) continue;
    j.is_new = true;
    j.segment = segment;
    j.ordinal = next_ordinal++;
    j.stored_size = j.size;
    j.kind = fb::ChunkKind_Full;
    new_logical += j.size;
    new_jobs.push_back(i);
  }
  // Patch candidates: the previous save's chunk at the same item, leaf and
  // position (its Full base when it is a patch), if still live.
  std::vector<std::string> leaf_keys(nodes.size());
  auto leaf_key = [&](uint32_t g) -> const std::string& {
    if (leaf_keys[g].empty()) {
      const FlatNode& n = nodes[g];
      leaf_keys[g] =
          absl::StrCat(req.items[n.item].name, std::string(1, '\0'),
                       FlatPath(nodes, item_begin[n.item], g).ToString());
    }
    return leaf_keys[g];
  };
  if (options_.patch_max_fraction > 0 && !new_jobs.empty()) {
    CKPTDB_RETURN_IF_ERROR(LoadPrevBases());
    for (uint32_t i : new_jobs) {
      ChunkJob& j = jobs[i];
      auto it = prev_bases_.find(leaf_key(j.node));
      if (it == prev_bases_.end()) continue;
      const size_t index = j.offset / chunk_bytes;
      if (index >= it->second.size()) continue;
      const StoredChunk& base = it->second[index];
      if (base.size != j.size || base.kind != fb::ChunkKind_Full) continue;
      auto live = LookupChunk(base.hash);
      if (!live.ok() || live->segment != base.segment ||
          live->ordinal != base.ordinal || live->kind != fb::ChunkKind_Full) {
        continue;  // the base is gone: store the chunk whole
      }
      j.has_base = true;
      j.base = base;
    }
  }

  Hook("dedup_done");
  // 4. Write the segment file and the step file.
  const fs::path staging = fs::path(path_) / kStagingDir;
  // The new chunks are written by up to one writer per core, each into its
  // own SST file holding a contiguous range of ordinals (the files do not
  // overlap, so all of them still land in the bottommost level): the
  // user-space copy and block checksum of SstFileWriter and the kernel's
  // copy into the page cache then use both cores.
  std::vector<std::pair<size_t, size_t>> parts;  // [begin, end) of new_jobs
  {
    constexpr uint64_t kMinPartBytes = 32 << 20;
    const size_t max_parts = static_cast<size_t>(pool_->num_workers()) + 1;
    const size_t n_parts = std::max<size_t>(
        1, std::min<size_t>(max_parts, new_logical / kMinPartBytes));
    size_t begin = 0;
    uint64_t acc = 0;
    for (size_t k = 0; k < new_jobs.size(); ++k) {
      acc += jobs[new_jobs[k]].size;
      if (parts.size() + 1 < n_parts &&
          acc >= new_logical * (parts.size() + 1) / n_parts) {
        parts.emplace_back(begin, k + 1);
        begin = k + 1;
      }
    }
    if (begin < new_jobs.size()) parts.emplace_back(begin, new_jobs.size());
  }
  std::vector<std::string> seg_files;
  for (size_t p = 0; p < parts.size(); ++p) {
    seg_files.push_back(
        (staging / absl::StrCat("segment-", segment, "-", p, ".sst")).string());
  }
  const std::string step_file =
      (staging / absl::StrCat("step-", req.step, "-", segment, ".sst"))
          .string();
  auto cleanup_files = [&] {
    std::error_code ec;
    for (const std::string& f : seg_files) fs::remove(f, ec);
    fs::remove(step_file, ec);
  };
  rocksdb::EnvOptions env_options;
  rocksdb::Options chunk_opts(rocksdb::DBOptions(), cf_options_->chunks);
  if (options_.env) chunk_opts.env = options_.env;
  if (!parts.empty()) {
    std::vector<rocksdb::Status> statuses(parts.size());
    // A new chunk whose bytes no longer hash to what deduplication planned
    // (a borrowed array changed during the save) would poison chunk_index
    // for every later save: the save fails instead.
    std::vector<int64_t> changed(parts.size(), -1);
    pool_->ParallelFor(parts.size(), [&](size_t p) {
      // Keep the written pages cached: a restore soon after reads them.
      rocksdb::SstFileWriter writer(env_options, chunk_opts, chunks_cf_,
                                    /*invalidate_page_cache=*/false);
      rocksdb::Status s = writer.Open(seg_files[p]);
      std::string& buf = Staging();
      std::string patch;
      rocksdb::ReadOptions ro;
      ro.verify_checksums = false;
      ro.fill_cache = false;
      for (size_t k = parts[p].first; k < parts[p].second && s.ok(); ++k) {
        ChunkJob& j = jobs[new_jobs[k]];
        absl::string_view bytes = ChunkBytes(nodes[j.node], j, &buf);
        const std::string key = ChunkKey(segment, j.ordinal);
        if (j.has_base) {
          rocksdb::PinnableSlice base;
          rocksdb::Status bs = db_->Get(
              ro, chunks_cf_, ChunkKey(j.base.segment, j.base.ordinal), &base);
          // Patch only against verified bytes.
          if (bs.ok() && base.size() == j.base.size &&
              HashBytes(base.data(), base.size()) == j.base.hash &&
              MakePatch(bytes, ToView(base), j.base, options_.patch_page_bytes,
                        options_.patch_max_fraction, key, &patch)) {
            j.kind = fb::ChunkKind_Patch;
            j.stored_size = static_cast<uint32_t>(patch.size());
            s = writer.Put(key, patch);
          } else {
            j.has_base = false;
          }
        }
        if (!j.has_base) s = writer.Put(key, ToSlice(bytes));
        // Hashing after the write: equal means what was written is what
        // was planned (bytes that changed and changed back aside).
        if (s.ok() && HashBytes(bytes.data(), bytes.size()) != j.hash) {
          changed[p] = new_jobs[k];
          s = rocksdb::Status::Aborted("array changed during the save");
        }
      }
      if (s.ok()) s = writer.Finish();
      statuses[p] = s;
    });
    for (size_t p = 0; p < parts.size(); ++p) {
      if (changed[p] >= 0) {
        cleanup_files();
        const FlatNode& n = nodes[jobs[changed[p]].node];
        return absl::AbortedError(absl::StrCat(
            "step ", req.step, " item '", req.items[n.item].name, "' leaf '",
            FlatPath(nodes, item_begin[n.item], jobs[changed[p]].node)
                .DisplayString(),
            "': its bytes changed while the save was writing them (a "
            "borrowed array must stay unchanged until its save finishes); "
            "nothing was saved"));
      }
    }
    for (const rocksdb::Status& s : statuses) {
      if (!s.ok()) {
        cleanup_files();
        return FromRocksWrite(
            s, absl::StrCat("cannot write chunks of step ", req.step));
      }
    }
    Hook("after_segment_file");
  }
  uint64_t new_bytes = 0;  // stored bytes written (patches are small)
  for (uint32_t i : new_jobs) new_bytes += jobs[i].stored_size;
  for (ChunkJob& j : jobs) {
    if (j.first >= 0) {
      const ChunkJob& f = jobs[j.first];
      j.segment = f.segment;
      j.ordinal = f.ordinal;
      j.stored_size = f.stored_size;
      j.kind = f.kind;
    }
  }

  std::vector<Hash128> step_hashes;
  step_hashes.reserve(first_of.size());
  for (const auto& [h, i] : first_of) step_hashes.push_back(h);
  std::sort(step_hashes.begin(), step_hashes.end());
  {
    rocksdb::Options step_opts(rocksdb::DBOptions(), cf_options_->step);
    if (options_.env) step_opts.env = options_.env;
    rocksdb::SstFileWriter writer(env_options, step_opts, nullptr,
                                  /*invalidate_page_cache=*/false);
    rocksdb::Status s = writer.Open(step_file);
    flatbuffers::FlatBufferBuilder fbb(1024);
    if (s.ok()) {
      std::vector<fb::Hash128> hs;
      hs.reserve(step_hashes.size());
      for (const Hash128& h : step_hashes) hs.push_back(ToFb(h));
      auto vec = fbb.CreateVectorOfStructs(hs);
      fb::ChunkListBuilder b(fbb);
      b.add_format_version(kFormatVersion);
      b.add_hashes(vec);
      b.add_step(req.step);
      b.add_generation(segment);
      fbb.Finish(b.Finish(), kChunkListIdent);
      s = writer.Put(kChunkListKey, SealRecord(kChunkListKey, fbb));
    }
    std::vector<fb::ChunkRef> refs;
    std::string key;
    for (size_t g = 0; g < nodes.size() && s.ok(); ++g) {
      const FlatNode& n = nodes[g];
      NodeFields f;
      f.index = n.index;
      f.parent = n.parent;
      f.key_kind = KeyKindOf(n.has_key, n.is_index, n.key ? *n.key : DictKey());
      if (f.key_kind == fb::KeyKind_Str) f.key_str = &n.key->str();
      if (f.key_kind == fb::KeyKind_Int) f.key_int = n.key->int_value();
      if (f.key_kind == fb::KeyKind_Index) f.key_int = n.seq_index;
      f.tree = n.tree;
      f.child_count = static_cast<uint32_t>(n.tree->size());
      if (n.tree->kind() == Tree::Kind::kArray) {
        f.stored_dtype = n.stored_dtype;
        f.nbytes = n.nbytes;
        f.chunk_bytes = chunk_bytes;
        if (n.is_inline) {
          f.inline_bytes = n.inline_cast.empty() ? n.tree->array().data()
                                                 : n.inline_cast.data();
        } else {
          refs.clear();
          for (uint32_t k = 0; k < n.num_jobs; ++k) {
            const ChunkJob& j = jobs[n.first_job + k];
            refs.emplace_back(ToFb(j.hash), j.segment, j.ordinal, j.size,
                              j.stored_size,
                              static_cast<fb::ChunkKind>(j.kind));
          }
          f.chunks = &refs;
        }
      }
      fbb.Clear();
      auto node = BuildNode(&fbb, f);
      fb::NodeRecordBuilder rb(fbb);
      rb.add_format_version(kFormatVersion);
      rb.add_node(node);
      fbb.Finish(rb.Finish(), kNodeIdent);
      key = NodeKey(n.item, n.index);
      s = writer.Put(key, SealRecord(key, fbb));
    }
    if (s.ok()) s = writer.Finish();
    if (!s.ok()) {
      cleanup_files();
      return FromRocksWrite(
          s, absl::StrCat("cannot write the records of step ", req.step));
    }
  }
  Hook("after_step_file");

  // 5. Take an empty step column family and ingest both files atomically.
  auto acquired = AcquireSlot();
  if (!acquired.ok()) {
    cleanup_files();
    needs_resume_ = true;  // the next write reopens the database first
    return acquired.status();
  }
  std::shared_ptr<CfHandle> cf = *std::move(acquired);
  const std::string cf_name = cf->name;
  rocksdb::ColumnFamilyHandle* raw_cf = cf->handle;
  rocksdb::Status s;
  auto abandon = [&](const rocksdb::Status& st,
                     absl::string_view what) -> absl::Status {
    needs_resume_ = true;
    RecycleSlot(cf).IgnoreError();
    cleanup_files();
    return FromRocksWrite(st, absl::StrCat(what, " of step ", req.step));
  };
  Hook("after_create_cf");
  {
    std::vector<rocksdb::IngestExternalFileArg> args;
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;
    io.write_global_seqno = false;
    io.verify_checksums_before_ingest = false;
    if (!new_jobs.empty()) {
      rocksdb::IngestExternalFileArg a;
      a.column_family = chunks_cf_;
      a.external_files = seg_files;
      a.options = io;
      args.push_back(a);
    }
    rocksdb::IngestExternalFileArg a;
    a.column_family = raw_cf;
    a.external_files = {step_file};
    a.options = io;
    args.push_back(a);
    s = db_->IngestExternalFiles(args);
    if (!s.ok()) return abandon(s, "cannot ingest the files");
  }
  Hook("after_ingest");

  // 6. Commit.
  rocksdb::WriteBatch batch;
  std::map<Hash128, int64_t> deltas;
  for (const Hash128& h : step_hashes) deltas[h] += 1;
  if (old != nullptr) {
    auto old_hashes = ReadChunkList(*old);
    if (old_hashes.ok()) {
      for (const Hash128& h : *old_hashes) deltas[h] -= 1;
    }
  }
  std::map<uint64_t, SegmentInfo> segstats;
  if (!new_jobs.empty()) {
    SegmentInfo& si = segstats[segment];
    si.segment = segment;
    si.chunks = new_jobs.size();
    si.total_bytes = new_bytes;
    si.live_chunks = 0;  // counted as ApplyRefDeltas creates the entries
    si.live_bytes = 0;
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<fb::Hash128> hs;
    std::vector<uint32_t> sizes;
    for (uint32_t i : new_jobs) {
      hs.push_back(ToFb(jobs[i].hash));
      sizes.push_back(jobs[i].stored_size);
    }
    auto hv = fbb.CreateVectorOfStructs(hs);
    auto sv = fbb.CreateVector(sizes);
    fb::SegmentRecordBuilder b(fbb);
    b.add_format_version(kFormatVersion);
    b.add_segment(segment);
    b.add_hashes(hv);
    b.add_stored_sizes(sv);
    b.add_total_bytes(new_bytes);
    fbb.Finish(b.Finish(), kSegmentIdent);
    const std::string k = SegmentKey(segment);
    batch.Put(meta_cf_, k, SealRecord(k, fbb));
  }
  // Seed the states of new chunks so ApplyRefDeltas creates their entries.
  std::map<Hash128, ChunkEntryState> seeded;
  for (uint32_t i : new_jobs) {
    ChunkEntryState st;
    st.loaded = true;
    st.existed = false;
    st.segment = segment;
    st.ordinal = jobs[i].ordinal;
    st.size = jobs[i].size;
    st.stored_size = jobs[i].stored_size;
    st.kind = jobs[i].kind;
    if (jobs[i].kind == fb::ChunkKind_Patch) {
      const StoredChunk& b = jobs[i].base;
      st.has_base = true;
      st.base = fb::ChunkRef(ToFb(b.hash), b.segment, b.ordinal, b.size,
                             b.stored_size, fb::ChunkKind_Full);
    }
    seeded[jobs[i].hash] = st;
  }
  for (auto& [h, st] : entries) seeded[h] = st;
  if (absl::Status st = ApplyRefDeltas(deltas, &batch, &seeded, &segstats);
      !st.ok()) {
    // The slot holds ingested files that no commit record names: an
    // orphan, emptied by the next garbage collection or open.
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    orphan_cfs_.push_back(cf);
    return st;
  }
  for (auto& [seg, st] : segstats) {
    const std::string k = SegmentStatKey(seg);
    batch.Put(meta_cf_, k, SegmentStatValue(k, st));
  }

  StepInfo info;
  info.step = req.step;
  info.name = req.name.empty() ? absl::StrCat(req.step) : req.name;
  info.init_time_ns = init_ns;
  info.commit_time_ns = req.commit_time_ns.value_or(NowNs());
  info.items = summaries;
  info.has_metrics = req.metrics != nullptr;
  if (req.metrics) info.metrics = *req.metrics;
  if (req.custom_metadata) info.custom_metadata = *req.custom_metadata;
  info.logical_bytes = logical_bytes;
  info.new_bytes = new_bytes;
  info.chunk_count = step_hashes.size();
  {
    flatbuffers::FlatBufferBuilder fbb(1024);
    auto name = fbb.CreateString(info.name);
    auto cfn = fbb.CreateString(cf_name);
    std::vector<flatbuffers::Offset<fb::ItemRecord>> items;
    for (size_t i = 0; i < summaries.size(); ++i) {
      auto iname = fbb.CreateString(summaries[i].name);
      fb::ItemRecordBuilder ib(fbb);
      ib.add_name(iname);
      ib.add_index(static_cast<uint16_t>(i));
      ib.add_node_count(summaries[i].node_count);
      ib.add_leaf_count(summaries[i].leaf_count);
      ib.add_array_count(summaries[i].array_count);
      ib.add_logical_bytes(summaries[i].logical_bytes);
      items.push_back(ib.Finish());
    }
    auto iv = fbb.CreateVector(items);
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Node>>>
        metrics, custom;
    if (req.metrics) metrics = BuildInlineTree(&fbb, *req.metrics);
    if (req.custom_metadata &&
        req.custom_metadata->kind() != Tree::Kind::kNone) {
      custom = BuildInlineTree(&fbb, *req.custom_metadata);
    }
    fb::StepRecordBuilder b(fbb);
    b.add_format_version(kFormatVersion);
    b.add_step(req.step);
    b.add_name(name);
    b.add_column_family(cfn);
    b.add_init_time_ns(init_ns);
    b.add_commit_time_ns(info.commit_time_ns);
    b.add_items(iv);
    b.add_has_metrics(info.has_metrics);
    if (!metrics.IsNull()) b.add_metrics(metrics);
    if (!custom.IsNull()) b.add_custom_metadata(custom);
    b.add_logical_bytes(logical_bytes);
    b.add_new_bytes(new_bytes);
    b.add_chunk_count(info.chunk_count);
    b.add_generation(segment);
    fbb.Finish(b.Finish(), kStepIdent);
    const std::string k = StepKey(req.step);
    batch.Put(meta_cf_, k, SealRecord(k, fbb));
  }
  Hook("before_commit");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db_->Write(wo, &batch);
  if (!s.ok()) {
    // The batch may still have reached the WAL (a failed fsync): keep the
    // column family; the next open drops it if no commit record names it.
    {
      std::unique_lock<std::shared_mutex> l(steps_mu_);
      uncertain_cfs_.push_back(cf);
    }
    cleanup_files();
    needs_resume_ = true;
    return FromRocksWrite(s, absl::StrCat("cannot commit step ", req.step));
  }
  Hook("after_commit");

  // This save is now the predecessor of the next one.
  prev_bases_.clear();
  prev_loaded_ = true;
  for (uint32_t g = 0; g < nodes.size(); ++g) {
    const FlatNode& n = nodes[g];
    if (n.tree->kind() != Tree::Kind::kArray || n.num_jobs == 0) continue;
    std::vector<StoredChunk>& bases = prev_bases_[leaf_key(g)];
    bases.resize(n.num_jobs);
    for (uint32_t k = 0; k < n.num_jobs; ++k) {
      const ChunkJob& j = jobs[n.first_job + k];
      const ChunkJob& f = j.first >= 0 ? jobs[j.first] : j;
      StoredChunk& b = bases[k];
      if (f.kind == fb::ChunkKind_Full) {
        b = StoredChunk{f.hash, f.segment,     f.ordinal,
                        f.size, f.stored_size, fb::ChunkKind_Full};
      } else if (f.is_new) {
        b = f.base;
      } else if (auto e = entries.find(f.hash);
                 e != entries.end() && e->second.has_base) {
        const fb::ChunkRef& r = e->second.base;
        b = StoredChunk{FromFb(r.hash()), r.segment(),     r.ordinal(),
                        r.size(),         r.stored_size(), fb::ChunkKind_Full};
      }
    }
  }

  auto entry = std::make_shared<StepEntry>();
  entry->info = info;
  entry->cf_name = cf_name;
  entry->generation = segment;
  for (const ItemSummary& is : summaries) entry->item_names.push_back(is.name);
  entry->cf = cf;
  {
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    steps_[req.step] = entry;
  }
  if (old != nullptr && old->cf != nullptr) {
    RecycleSlot(old->cf).IgnoreError();
  }
  return info;
}

absl::Status Store::LoadPrevBases() {
  if (prev_loaded_) return absl::OkStatus();
  prev_loaded_ = true;
  std::shared_ptr<const StepEntry> latest;
  {
    std::shared_lock<std::shared_mutex> l(steps_mu_);
    for (const auto& [step, e] : steps_) {
      if (latest == nullptr ||
          e->info.commit_time_ns >= latest->info.commit_time_ns) {
        latest = e;
      }
    }
  }
  if (latest == nullptr) return absl::OkStatus();
  for (const std::string& item : latest->item_names) {
    auto stored = ReadItemImpl(latest->info.step, item);
    if (!stored.ok()) continue;  // no predecessor: chunks are stored whole
    for (uint32_t i = 0; i < stored->nodes.size(); ++i) {
      const StoredNode& n = stored->nodes[i];
      if (n.kind != Tree::Kind::kArray || n.chunks.empty()) continue;
      std::vector<StoredChunk>& bases = prev_bases_[absl::StrCat(
          item, std::string(1, '\0'), stored->PathOf(i).ToString())];
      bases.resize(n.chunks.size());
      for (size_t k = 0; k < n.chunks.size(); ++k) {
        const StoredChunk& c = n.chunks[k];
        if (c.kind == fb::ChunkKind_Full) {
          bases[k] = c;
          continue;
        }
        const std::string key = ChunkIndexKey(c.hash);
        rocksdb::PinnableSlice v;
        ChunkEntryState st;
        if (db_->Get(rocksdb::ReadOptions(), index_cf_, key, &v).ok() &&
            DecodeChunkEntry(key, ToView(v), &st).ok() && st.has_base) {
          bases[k] = StoredChunk{FromFb(st.base.hash()), st.base.segment(),
                                 st.base.ordinal(),      st.base.size(),
                                 st.base.stored_size(),  fb::ChunkKind_Full};
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Store::ApplyRefDeltas(
    const std::map<Hash128, int64_t>& deltas, rocksdb::WriteBatch* batch,
    std::map<Hash128, ChunkEntryState>* states_ptr,
    std::map<uint64_t, SegmentInfo>* segstats) {
  std::map<Hash128, ChunkEntryState>& states = *states_ptr;
  std::map<Hash128, int64_t> pending;
  for (const auto& [h, d] : deltas) {
    if (d != 0) pending[h] += d;
  }
  std::set<Hash128> touched;
  auto load = [&](const Hash128& h) -> absl::StatusOr<ChunkEntryState*> {
    ChunkEntryState& st = states[h];
    if (st.loaded) return &st;
    const std::string key = ChunkIndexKey(h);
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), index_cf_, key, &v);
    if (s.IsNotFound()) {
      st.loaded = true;
      st.existed = false;
      st.refcount = 0;
      return &st;
    }
    if (!s.ok()) return FromRocks(s, "cannot read the chunk index");
    CKPTDB_RETURN_IF_ERROR(DecodeChunkEntry(key, ToView(v), &st));
    return &st;
  };
  // A segment whose statistics record is unreadable is left alone (its
  // record stays as it is, and GC never collects it): accounting for it is
  // lost, data is not, and saves and deletes go on.
  std::set<uint64_t> unaccounted;
  auto segstat = [&](uint64_t seg) -> SegmentInfo* {
    auto it = segstats->find(seg);
    if (it != segstats->end()) return &it->second;
    if (unaccounted.count(seg)) return nullptr;
    auto si = ReadSegmentStat(seg);
    if (!si.ok()) {
      unaccounted.insert(seg);
      return nullptr;
    }
    SegmentInfo* slot = &(*segstats)[seg];
    *slot = *si;
    return slot;
  };
  while (!pending.empty()) {
    auto [h, d] = *pending.begin();
    pending.erase(pending.begin());
    CKPTDB_ASSIGN_OR_RETURN(ChunkEntryState * st, load(h));
    const bool was_live = st->refcount > 0;
    if (!st->existed && st->size == 0 && d < 0) {
      continue;  // dropping a reference to an unknown chunk: nothing to do
    }
    st->refcount = std::max<int64_t>(0, st->refcount + d);
    const bool is_live = st->refcount > 0;
    touched.insert(h);
    if (was_live != is_live) {
      if (st->has_base) {
        pending[FromFb(st->base.hash())] += is_live ? 1 : -1;
      }
      if (st->size > 0) {
        SegmentInfo* si = segstat(st->segment);
        if (si == nullptr) {
          // unaccounted segment
        } else if (is_live) {
          si->live_chunks += 1;
          si->live_bytes += st->stored_size;
        } else {
          si->live_chunks -= std::min<uint64_t>(si->live_chunks, 1);
          si->live_bytes -= std::min<uint64_t>(si->live_bytes, st->stored_size);
        }
      }
    }
  }
  for (const Hash128& h : touched) {
    const ChunkEntryState& st = states[h];
    const std::string key = ChunkIndexKey(h);
    if (st.refcount > 0) {
      batch->Put(
          index_cf_, key,
          ChunkEntryValue(key, st.segment, st.ordinal, st.size, st.stored_size,
                          st.kind, st.has_base ? &st.base : nullptr,
                          static_cast<uint64_t>(st.refcount)));
    } else if (st.existed) {
      batch->Delete(index_cf_, key);
    }
  }
  return absl::OkStatus();
}

namespace {
absl::StatusOr<SegmentInfo> DecodeSegmentStat(uint64_t segment,
                                              absl::string_view key,
                                              absl::string_view value) {
  RecordBuffer buf;
  CKPTDB_ASSIGN_OR_RETURN(
      const fb::SegmentStat* st,
      DecodeRecord<fb::SegmentStat>(
          key, value, kSegmentStatIdent,
          absl::StrCat("segment ", segment, " statistics"), &buf));
  SegmentInfo si;
  si.segment = segment;
  si.live_chunks = st->live_chunks();
  si.live_bytes = st->live_bytes();
  si.total_bytes = st->total_bytes();
  return si;
}
}  // namespace

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
  return DecodeSegmentStat(segment, key, ToView(v));
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
    fn(seg, DecodeSegmentStat(seg, ToView(it->key()), ToView(it->value())));
  }
  if (!it->status().ok())
    return FromRocks(it->status(), "cannot list segments");
  return absl::OkStatus();
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
  RecordBuffer buf;
  CKPTDB_ASSIGN_OR_RETURN(
      const fb::ChunkList* cl,
      DecodeRecord<fb::ChunkList>(
          kChunkListKey, ToView(v), kChunkListIdent,
          absl::StrCat("step ", entry.info.step, " chunk list"), &buf));
  std::vector<Hash128> out;
  if (cl->hashes()) {
    out.reserve(cl->hashes()->size());
    for (const fb::Hash128* h : *cl->hashes()) out.push_back(FromFb(*h));
  }
  return out;
}

// ---- Store: delete --------------------------------------------------------

absl::Status Store::DeleteSteps(const std::vector<int64_t>& steps) {
  std::lock_guard<std::mutex> w(write_mu_);
  if (read_only()) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path_, "' is open read-only"));
  }
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  std::vector<std::shared_ptr<const StepEntry>> entries;
  std::set<int64_t> seen;
  for (int64_t step : steps) {
    if (!seen.insert(step).second) continue;
    CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  std::map<Hash128, int64_t> deltas;
  for (const auto& e : entries) {
    // A step whose chunk list is unreadable is still deleted; its chunks
    // then keep one reference too many (space, never data, is lost).
    auto hashes = ReadChunkList(*e);
    if (hashes.ok()) {
      for (const Hash128& h : *hashes) deltas[h] -= 1;
    }
    batch.Delete(meta_cf_, StepKey(e->info.step));
  }
  std::map<Hash128, ChunkEntryState> states;
  std::map<uint64_t, SegmentInfo> segstats;
  CKPTDB_RETURN_IF_ERROR(ApplyRefDeltas(deltas, &batch, &states, &segstats));
  for (auto& [seg, st] : segstats) {
    const std::string k = SegmentStatKey(seg);
    batch.Put(meta_cf_, k, SegmentStatValue(k, st));
  }
  Hook("before_delete_commit");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    needs_resume_ = true;
    return FromRocksWrite(s, "cannot delete steps");
  }
  Hook("after_delete_commit");
  {
    std::unique_lock<std::shared_mutex> l(steps_mu_);
    for (const auto& e : entries) steps_.erase(e->info.step);
  }
  for (const auto& e : entries) {
    if (e->cf != nullptr && !RecycleSlot(e->cf).ok()) {
      // The step is gone; its column family is an orphan that the next
      // open or garbage collection recycles.
      std::unique_lock<std::shared_mutex> l(steps_mu_);
      orphan_cfs_.push_back(e->cf);
    }
  }
  return absl::OkStatus();
}

// ---- Store: read ----------------------------------------------------------

absl::StatusOr<StoredItem> Store::ReadItem(int64_t step,
                                           absl::string_view item) const {
  std::shared_lock<SharedMutex> db_lock(db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  std::shared_lock<SharedMutex> slot_lock(recycle_mu_);
  return ReadItemImpl(step, item);
}

absl::StatusOr<StoredItem> Store::ReadItemImpl(int64_t step,
                                               absl::string_view item) const {
  CKPTDB_ASSIGN_OR_RETURN(auto entry, FindStep(step));
  if (!entry->damage.ok()) return entry->damage;
  int item_index = -1;
  for (size_t i = 0; i < entry->item_names.size(); ++i) {
    if (entry->item_names[i] == item) item_index = static_cast<int>(i);
  }
  if (item_index < 0) {
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
  StoredItem out;
  out.step = step;
  out.generation = entry->generation;
  out.step_name = entry->info.name;
  out.item = std::string(item);
  if (summary) out.nodes.reserve(summary->node_count);
  // Node records carry their own checksum (checked per record below, so a
  // corrupt record is named precisely); RocksDB's block checksum would
  // report a whole block instead.
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, entry->cf->handle));
  const std::string prefix = NodeKeyPrefix(static_cast<uint16_t>(item_index));
  RecordBuffer buf;
  // Containers whose children are still being read, innermost last, with
  // the number of children their records declare.
  std::vector<std::pair<uint32_t, uint32_t>> open;
  auto expected_parent = [&]() -> int64_t {
    while (!open.empty() &&
           out.nodes[open.back().first].children.size() >= open.back().second) {
      open.pop_back();
    }
    return open.empty() ? int64_t{-1} : static_cast<int64_t>(open.back().first);
  };
  // Where the next node sits, from the structure read so far: its exact
  // path when its parent is a sequence, else "child #k of <parent>".
  auto describe = [&](uint32_t index) {
    std::string where;
    const int64_t p = index == 0 ? -1 : expected_parent();
    if (index == 0) {
      where = "the root";
    } else if (p < 0) {
      where = "beyond the tree";
    } else {
      const StoredNode& parent = out.nodes[p];
      const TreePath pp = out.PathOf(static_cast<uint32_t>(p));
      if (parent.kind == Tree::Kind::kDict) {
        where = absl::StrCat("entry #", parent.children.size(), " of dict '",
                             pp.DisplayString(), "'");
      } else {
        where = absl::StrCat(
            "'",
            pp.Child(static_cast<int64_t>(parent.children.size())).ToString(),
            "'");
      }
    }
    return absl::StrCat("step ", step, " item '", item, "' node #", index, " (",
                        where, ")");
  };
  uint32_t expected = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    uint16_t item_no;
    uint32_t index;
    if (!ParseNodeKey(ToView(it->key()), &item_no, &index) ||
        index != expected) {
      return absl::DataLossError(absl::StrCat(
          describe(expected), ": tree-node record missing or corrupt key"));
    }
    const int64_t parent_index = index == 0 ? -1 : expected_parent();
    if (index > 0 && parent_index < 0) {
      return absl::DataLossError(absl::StrCat(
          describe(index), ": more tree-node records than the tree holds"));
    }
    // The description is built only for an error (it walks the path).
    auto decoded = DecodeRecord<fb::NodeRecord>(
        ToView(it->key()), ToView(it->value()), kNodeIdent, "", &buf);
    if (!decoded.ok()) {
      return absl::Status(
          decoded.status().code(),
          absl::StrCat(describe(index), decoded.status().message()));
    }
    const fb::NodeRecord* r = *decoded;
    if (r->node() == nullptr || r->node()->index() != index) {
      return absl::DataLossError(
          absl::StrCat(describe(index), ": node record has the wrong index"));
    }
    StoredNode n;
    CKPTDB_RETURN_IF_ERROR(
        DecodeNode(r->node(), &n, [&] { return describe(index); }));
    if (index == 0) {
      if (n.has_key) {
        return absl::DataLossError(
            absl::StrCat(describe(0), ": the root has a key"));
      }
    } else {
      StoredNode& parent = out.nodes[parent_index];
      const bool parent_dict = parent.kind == Tree::Kind::kDict;
      if (n.parent != parent_index || !n.has_key ||
          parent_dict == n.key_is_index ||
          (n.key_is_index &&
           n.index != static_cast<int64_t>(parent.children.size()))) {
        return absl::DataLossError(absl::StrCat(
            describe(index), ": record does not fit its place in the tree"));
      }
      parent.children.push_back(index);
    }
    const uint32_t child_count = r->node()->child_count();
    const bool container = n.kind == Tree::Kind::kList ||
                           n.kind == Tree::Kind::kTuple ||
                           n.kind == Tree::Kind::kDict;
    out.nodes.push_back(std::move(n));
    if (container && child_count > 0) open.emplace_back(index, child_count);
    ++expected;
  }
  if (!it->status().ok()) {
    return FromRocks(it->status(),
                     absl::StrCat(describe(expected), ": cannot read"));
  }
  if (out.nodes.empty()) {
    return absl::DataLossError(absl::StrCat("step ", step, " item '", item,
                                            "': no tree-node records"));
  }
  if (expected_parent() >= 0 ||
      (summary && summary->node_count != out.nodes.size())) {
    return absl::DataLossError(absl::StrCat(
        describe(expected), ": tree-node record missing (the item has ",
        out.nodes.size(), " records",
        summary ? absl::StrCat(", its commit record says ", summary->node_count)
                : "",
        ")"));
  }
  return out;
}

absl::Status Store::ReadChunk(
    const StoredItem& item, uint32_t node, size_t chunk_index,
    std::string* scratch,
    const std::function<absl::Status(absl::string_view bytes)>& consume) const {
  const StoredNode& n = item.nodes[node];
  const StoredChunk& c = n.chunks[chunk_index];
  auto where = [&] {
    return absl::StrCat(item.Describe(node), ": chunk ", chunk_index + 1,
                        " of ", n.chunks.size(), " (segment ", c.segment,
                        ", ordinal ", c.ordinal, ")");
  };
  rocksdb::ReadOptions ro;
  // The chunk's XXH3-128 is checked below; RocksDB's block checksum would
  // only read the bytes a second time.
  ro.verify_checksums = false;
  ro.fill_cache = false;
  rocksdb::PinnableSlice v;
  rocksdb::Status s =
      db_->Get(ro, chunks_cf_, ChunkKey(c.segment, c.ordinal), &v);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat(where(), " is missing"));
  }
  if (!s.ok()) return FromRocks(s, where());
  if (c.kind == fb::ChunkKind_Full) {
    if (v.size() != c.size) {
      return absl::DataLossError(absl::StrCat(where(), " has ", v.size(),
                                              " bytes, expected ", c.size));
    }
    if (HashBytes(v.data(), v.size()) != c.hash) {
      return absl::DataLossError(
          absl::StrCat(where(), " is corrupt: content hash mismatch"));
    }
    return consume(ToView(v));
  }
  // Patch: base chunk + replaced pages.
  RecordBuffer buf;
  const std::string key = ChunkKey(c.segment, c.ordinal);
  CKPTDB_ASSIGN_OR_RETURN(
      const fb::Patch* p,
      DecodeRecord<fb::Patch>(key, ToView(v), kPatchIdent,
                              absl::StrCat(where(), " patch"), &buf));
  if (p->base() == nullptr || p->page_bytes() == 0 || p->pages() == nullptr ||
      p->data() == nullptr || p->base()->size() != c.size ||
      p->base()->kind() != fb::ChunkKind_Full) {
    return absl::DataLossError(absl::StrCat(where(), ": invalid patch"));
  }
  const fb::ChunkRef& base = *p->base();
  rocksdb::PinnableSlice bv;
  s = db_->Get(ro, chunks_cf_, ChunkKey(base.segment(), base.ordinal()), &bv);
  if (s.IsNotFound()) {
    return absl::DataLossError(
        absl::StrCat(where(), ": its base chunk (segment ", base.segment(),
                     ", ordinal ", base.ordinal(), ") is missing"));
  }
  if (!s.ok()) return FromRocks(s, where());
  if (bv.size() != base.size() ||
      HashBytes(bv.data(), bv.size()) != FromFb(base.hash())) {
    return absl::DataLossError(
        absl::StrCat(where(), ": its base chunk is corrupt"));
  }
  scratch->assign(bv.data(), bv.size());
  const uint32_t page = p->page_bytes();
  size_t data_off = 0;
  for (uint32_t pg : *p->pages()) {
    const uint64_t off = static_cast<uint64_t>(pg) * page;
    if (off >= c.size) {
      return absl::DataLossError(
          absl::StrCat(where(), ": patch page out of range"));
    }
    const size_t len = std::min<uint64_t>(page, c.size - off);
    if (data_off + len > p->data()->size()) {
      return absl::DataLossError(
          absl::StrCat(where(), ": patch data truncated"));
    }
    std::memcpy(scratch->data() + off, p->data()->data() + data_off, len);
    data_off += len;
  }
  if (HashBytes(scratch->data(), scratch->size()) != c.hash) {
    return absl::DataLossError(
        absl::StrCat(where(), " is corrupt: content hash mismatch"));
  }
  return consume(*scratch);
}

absl::Status Store::CheckStillCommitted(const StoredItem& item) const {
  auto e = FindStep(item.step);
  if (!e.ok() || (*e)->generation != item.generation) {
    return absl::NotFoundError(
        absl::StrCat("step ", item.step,
                     " was deleted or replaced while it was being "
                     "read"));
  }
  return absl::OkStatus();
}

absl::Status Store::ReadArrays(const StoredItem& item,
                               const std::vector<ArrayRead>& reads) const {
  std::shared_lock<SharedMutex> db_lock(db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  // The step's chunks stay on disk while gc_mu_ is held, if the step still
  // exists now (deletion precedes collection).
  std::shared_lock<SharedMutex> gc_lock(gc_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckStillCommitted(item));
  struct Work {
    uint32_t read;
    uint32_t chunk;
  };
  std::vector<Work> work;
  for (uint32_t r = 0; r < reads.size(); ++r) {
    const ArrayRead& rd = reads[r];
    if (rd.node >= item.nodes.size() ||
        item.nodes[rd.node].kind != Tree::Kind::kArray) {
      return absl::InvalidArgumentError("ReadArrays: not an array node");
    }
    const StoredNode& n = item.nodes[rd.node];
    if (n.is_inline) {
      const size_t count = n.nbytes / DTypeSize(n.dtype);
      CastElements(n.dtype, n.inline_data.data(), rd.dest_dtype, rd.dest,
                   count);
      continue;
    }
    for (uint32_t c = 0; c < n.chunks.size(); ++c) work.push_back({r, c});
  }
  std::mutex err_mu;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  pool_->ParallelFor(work.size(), [&](size_t w) {
    if (failed.load(std::memory_order_relaxed)) return;
    const ArrayRead& rd = reads[work[w].read];
    const StoredNode& n = item.nodes[rd.node];
    const uint32_t c = work[w].chunk;
    const size_t ssize = DTypeSize(n.dtype);
    const uint64_t first_el = static_cast<uint64_t>(c) * n.chunk_bytes / ssize;
    char* dest =
        static_cast<char*>(rd.dest) + first_el * DTypeSize(rd.dest_dtype);
    absl::Status s =
        ReadChunk(item, rd.node, c, &Staging(), [&](absl::string_view bytes) {
          CastElements(n.dtype, bytes.data(), rd.dest_dtype, dest,
                       bytes.size() / ssize);
          return absl::OkStatus();
        });
    if (!s.ok()) {
      std::lock_guard<std::mutex> l(err_mu);
      if (first_error.ok()) first_error = s;
      failed.store(true);
    }
  });
  return first_error;
}

// ---- Store: garbage collection --------------------------------------------

absl::StatusOr<GcReport> Store::CollectGarbage(const GcOptions& options) {
  std::lock_guard<std::mutex> w(write_mu_);
  if (read_only()) {
    return absl::FailedPreconditionError(
        absl::StrCat("database '", path_, "' is open read-only"));
  }
  CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
  GcReport report;
  CKPTDB_RETURN_IF_ERROR(SweepOrphans(&report));

  // Segments present on disk, and what the records say about them.
  std::set<uint64_t> on_disk;
  {
    rocksdb::ColumnFamilyMetaData md;
    db_->GetColumnFamilyMetaData(chunks_cf_, &md);
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
  }
  std::map<uint64_t, SegmentInfo> stats;
  std::set<uint64_t> unreadable;  // never collected: liveness is unknown
  CKPTDB_RETURN_IF_ERROR(ForEachSegmentStat(
      [&](uint64_t seg, const absl::StatusOr<SegmentInfo>& si) {
        if (si.ok()) {
          stats[seg] = *si;
        } else {
          unreadable.insert(seg);
        }
      }));
  const uint64_t in_flight = next_segment_.load();
  auto plan = std::make_shared<GcPlan>();
  std::vector<uint64_t> dead, partial;
  for (uint64_t seg : on_disk) {
    if (seg >= in_flight || unreadable.count(seg)) continue;
    auto it = stats.find(seg);
    if (it == stats.end()) {
      dead.push_back(seg);  // written by a save that never committed
      plan->live[seg] = {};
      continue;
    }
    const SegmentInfo& si = it->second;
    if (si.live_chunks == 0) {
      dead.push_back(seg);
      plan->live[seg] = {};
      continue;
    }
    const uint64_t garbage =
        si.total_bytes - std::min(si.total_bytes, si.live_bytes);
    if (garbage == 0 || si.total_bytes == 0 ||
        static_cast<double>(garbage) / si.total_bytes <
            std::max(options.min_garbage_fraction, 1e-12)) {
      continue;
    }
    // Which ordinals are still live: their chunk_index entry points here.
    const std::string key = SegmentKey(seg);
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &v);
    if (!s.ok()) continue;  // without the list, keep the segment whole
    RecordBuffer buf;
    auto rec = DecodeRecord<fb::SegmentRecord>(
        key, ToView(v), kSegmentIdent, absl::StrCat("segment ", seg), &buf);
    if (!rec.ok() || (*rec)->hashes() == nullptr) continue;
    std::vector<bool> live((*rec)->hashes()->size(), false);
    std::vector<std::string> keys;
    for (const fb::Hash128* h : *(*rec)->hashes()) {
      keys.push_back(ChunkIndexKey(FromFb(*h)));
    }
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(slices.size());
    std::vector<rocksdb::Status> statuses(slices.size());
    db_->MultiGet(rocksdb::ReadOptions(), index_cf_, slices.size(),
                  slices.data(), values.data(), statuses.data());
    bool ok = true;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (statuses[k].IsNotFound()) continue;
      ChunkEntryState st;
      if (!statuses[k].ok() ||
          !DecodeChunkEntry(keys[k], ToView(values[k]), &st).ok()) {
        ok = false;  // unsure: keep everything
        break;
      }
      live[k] = st.segment == seg && st.ordinal == k;
    }
    if (!ok) continue;
    plan->live[seg] = std::move(live);
    partial.push_back(seg);
  }
  const bool stale = std::any_of(stats.begin(), stats.end(), [&](auto& kv) {
    return kv.first < in_flight && !on_disk.count(kv.first) &&
           kv.second.live_chunks == 0;
  });
  if (dead.empty() && partial.empty() && !stale) return report;

  // Chunks are about to disappear from disk: wait for reads in progress
  // (a reader holds gc_mu_ shared and has checked its step still exists).
  std::unique_lock<SharedMutex> gc_lock(gc_mu_);
  gc_filter_->Publish(plan);
  Hook("gc_plan_published");
  rocksdb::Status s;
  for (uint64_t seg : dead) {
    const std::string begin = ChunkKey(seg, 0);
    const std::string end = ChunkKey(seg, UINT32_MAX);
    rocksdb::Slice b(begin), e(end);
    s = rocksdb::DeleteFilesInRange(db_.get(), chunks_cf_, &b, &e);
    if (!s.ok()) break;
  }
  std::vector<uint64_t> to_compact = dead;
  to_compact.insert(to_compact.end(), partial.begin(), partial.end());
  for (uint64_t seg : to_compact) {
    if (!s.ok()) break;
    const std::string begin = ChunkKey(seg, 0);
    const std::string end = ChunkKey(seg, UINT32_MAX);
    rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForce;
    cro.exclusive_manual_compaction = false;
    s = db_->CompactRange(cro, chunks_cf_, &b, &e);
  }
  gc_filter_->Publish(nullptr);
  gc_lock.unlock();
  if (!s.ok()) {
    needs_resume_ = true;
    return FromRocks(s, "garbage collection failed");
  }
  Hook("gc_compacted");

  rocksdb::WriteBatch batch;
  // Records of dead segments whose files are already gone (a GC that
  // crashed between its compaction and this batch).
  for (const auto& [seg, si] : stats) {
    if (seg < in_flight && !on_disk.count(seg) && si.live_chunks == 0) {
      batch.Delete(meta_cf_, SegmentKey(seg));
      batch.Delete(meta_cf_, SegmentStatKey(seg));
    }
  }
  for (uint64_t seg : dead) {
    auto it = stats.find(seg);
    if (it != stats.end()) report.bytes_reclaimed += it->second.total_bytes;
    batch.Delete(meta_cf_, SegmentKey(seg));
    batch.Delete(meta_cf_, SegmentStatKey(seg));
    ++report.segments_dropped;
  }
  for (uint64_t seg : partial) {
    SegmentInfo si = stats[seg];
    report.bytes_reclaimed += si.total_bytes - si.live_bytes;
    si.total_bytes = si.live_bytes;
    const std::string k = SegmentStatKey(seg);
    batch.Put(meta_cf_, k, SegmentStatValue(k, si));
    ++report.segments_compacted;
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db_->Write(wo, &batch);
  if (!s.ok()) {
    needs_resume_ = true;
    return FromRocks(s, "cannot record garbage collection");
  }
  return report;
}

// ---- Store: verify, stats, reload -----------------------------------------

absl::StatusOr<std::vector<VerifyProblem>> Store::Verify(
    const std::vector<int64_t>& steps,
    const std::function<void(uint64_t bytes)>& progress) const {
  std::vector<int64_t> todo = steps;
  if (todo.empty()) {
    for (const StepInfo& s : Steps()) todo.push_back(s.step);
  }
  std::vector<VerifyProblem> problems;
  std::mutex mu;
  for (int64_t step : todo) {
    // One step at a time, so that saves and deletes are not held up for a
    // whole database's verification.
    std::shared_lock<SharedMutex> db_lock(db_mu_);
    std::shared_lock<SharedMutex> slot_lock(recycle_mu_);
    std::shared_lock<SharedMutex> gc_lock(gc_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckDb());
    auto found = FindStep(step);
    if (!found.ok() && steps.empty()) continue;  // deleted meanwhile
    CKPTDB_RETURN_IF_ERROR(found.status());
    const std::shared_ptr<const StepEntry>& entry = *found;
    auto chunk_list = ReadChunkList(*entry);
    if (!chunk_list.ok()) {
      problems.push_back(
          {step, "", "", std::string(chunk_list.status().message())});
    }
    for (const ItemSummary& is : entry->info.items) {
      auto item = ReadItemImpl(step, is.name);
      if (!item.ok()) {
        problems.push_back(
            {step, is.name, "", std::string(item.status().message())});
        continue;
      }
      struct Work {
        uint32_t node;
        uint32_t chunk;
      };
      std::vector<Work> work;
      for (uint32_t i = 0; i < item->nodes.size(); ++i) {
        for (uint32_t c = 0; c < item->nodes[i].chunks.size(); ++c) {
          work.push_back({i, c});
        }
      }
      std::vector<char> bad(item->nodes.size(), 0);
      pool_->ParallelFor(work.size(), [&](size_t w) {
        const Work& wk = work[w];
        absl::Status s =
            ReadChunk(*item, wk.node, wk.chunk, &Staging(),
                      [](absl::string_view) { return absl::OkStatus(); });
        std::lock_guard<std::mutex> l(mu);
        if (!s.ok()) {
          problems.push_back({step, is.name,
                              item->PathOf(wk.node).DisplayString(),
                              std::string(s.message())});
        }
        if (progress) progress(item->nodes[wk.node].chunks[wk.chunk].size);
      });
    }
  }
  if (steps.empty()) {
    // The bookkeeping is only consistent between saves and deletes.
    std::unique_lock<std::mutex> writes(write_mu_, std::defer_lock);
    if (!read_only()) writes.lock();
    std::shared_lock<SharedMutex> db_lock(db_mu_);
    std::shared_lock<SharedMutex> slot_lock(recycle_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckDb());
    VerifyBookkeeping(&problems);
  }
  return problems;
}

// The chunk bookkeeping, when every step is verified: every chunk_index
// entry and segment record decodes, every chunk a step lists has an entry,
// and every entry's reference count equals the steps listing it plus the
// patches based on it.
void Store::VerifyBookkeeping(std::vector<VerifyProblem>* problems) const {
  auto problem = [&](std::string message) {
    problems->push_back({-1, "", "", std::move(message)});
  };
  std::map<Hash128, int64_t> expected;
  {
    std::shared_lock<std::shared_mutex> l(steps_mu_);
    for (const auto& [step, e] : steps_) {
      auto hashes = ReadChunkList(*e);
      if (!hashes.ok()) continue;  // reported with the step
      for (const Hash128& h : *hashes) expected[h] += 1;
    }
  }
  std::map<Hash128, ChunkEntryState> entries;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), index_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Hash128 h;
      if (!ParseChunkIndexKey(ToView(it->key()), &h)) {
        problem(absl::StrCat("chunk_index has a malformed key of ",
                             it->key().size(), " bytes"));
        continue;
      }
      ChunkEntryState st;
      absl::Status s =
          DecodeChunkEntry(ToView(it->key()), ToView(it->value()), &st);
      if (!s.ok()) {
        problem(std::string(s.message()));
        continue;
      }
      if (st.has_base) expected[FromFb(st.base.hash())] += 1;
      entries[h] = st;
    }
    if (!it->status().ok()) {
      problem(
          absl::StrCat("cannot read chunk_index: ", it->status().ToString()));
    }
  }
  for (const auto& [h, n] : expected) {
    auto it = entries.find(h);
    if (it == entries.end()) {
      problem(absl::StrCat("chunk ", h.ToHex(), " is referenced ", n,
                           " times but has no chunk_index entry"));
    } else if (it->second.refcount != n) {
      problem(absl::StrCat("chunk ", h.ToHex(), " has reference count ",
                           it->second.refcount, " but ", n,
                           " references exist"));
    }
  }
  for (const auto& [h, st] : entries) {
    if (!expected.count(h)) {
      problem(absl::StrCat("chunk_index entry ", h.ToHex(),
                           " is referenced by no step"));
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  RecordBuffer buf;
  for (it->Seek(kSegmentKeyPrefix);
       it->Valid() && it->key().starts_with(kSegmentKeyPrefix); it->Next()) {
    uint64_t seg;
    if (!ParseSegmentKey(ToView(it->key()), kSegmentKeyPrefix, &seg)) continue;
    auto r = DecodeRecord<fb::SegmentRecord>(
        ToView(it->key()), ToView(it->value()), kSegmentIdent,
        absl::StrCat("segment ", seg), &buf);
    if (!r.ok()) problem(std::string(r.status().message()));
  }
  absl::Status listed =
      ForEachSegmentStat([&](uint64_t, const absl::StatusOr<SegmentInfo>& si) {
        if (!si.ok()) problem(std::string(si.status().message()));
      });
  if (!listed.ok()) problem(std::string(listed.message()));
}

absl::StatusOr<StoreStats> Store::Stats() const {
  std::shared_lock<SharedMutex> db_lock(db_mu_);
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
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const auto& f : files) st.sst_bytes += f.size;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(path_, ec)) {
    if (e.is_regular_file(ec)) st.disk_bytes += e.file_size(ec);
  }
  return st;
}

absl::Status Store::Reload() {
  std::lock_guard<std::mutex> w(write_mu_);
  if (options_.mode == StoreOptions::Mode::kReadWrite) {
    return ResumeIfNeeded();
  }
  std::unique_lock<SharedMutex> l(db_mu_);
  CloseDb();
  return OpenDbSettled();
}

}  // namespace ckptdb::internal
