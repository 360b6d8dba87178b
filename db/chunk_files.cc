#include "db/chunk_files.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "db/rocks_util.h"
#include "db/store_internal.h"
#include "rocksdb/metadata.h"
#include "schema/meta_codec.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

// A data block of a chunk file, as RocksDB's block-based table (format 5,
// no compression) writes one entry alone in a block:
//   entry:   varint32 shared (0), varint32 key length (the 12-byte chunk
//            key plus RocksDB's 8-byte sequence and type), varint32 value
//            length, the key, the value
//   then the restart array (one u32) and its count (u32), and the block
//   trailer (compression type byte, u32 checksum).
constexpr uint32_t kInternalKeyBytes = kChunkKeySize + 8;
constexpr uint32_t kBlockTailBytes = 4 + 4 + 5;
constexpr unsigned char kTypeValue = 1;  // RocksDB's ValueType for a Put

uint32_t VarintLength(uint32_t v) {
  uint32_t n = 1;
  while (v >= 128) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Bytes of an entry before its value.
uint32_t HeaderBytes(uint32_t value_bytes) {
  return 2 + VarintLength(value_bytes) + kInternalKeyBytes;
}

// The header an entry of chunk `c` must have, up to (not including) the
// sequence number; *type_at is where the value type byte is.
std::string ExpectedHeader(const ChunkLocation& c, uint32_t* type_at) {
  std::string h;
  h.push_back(0);
  h.push_back(static_cast<char>(kInternalKeyBytes));
  uint32_t v = c.stored_size;
  while (v >= 128) {
    h.push_back(static_cast<char>((v & 127) | 128));
    v >>= 7;
  }
  h.push_back(static_cast<char>(v));
  h += ChunkKey(c.segment, c.ordinal);
  *type_at = static_cast<uint32_t>(h.size());
  return h;
}

}  // namespace

struct ChunkFiles::File {
  std::string path;
  uint64_t segment = 0;
  uint32_t first = 0;  // ordinals [first, last], every one of them
  uint32_t last = 0;

  absl::Mutex mu;
  bool laid ABSL_GUARDED_BY(mu) = false;  // offsets filled, or cannot be
  // Offset of each ordinal's block entry; empty: the file is read through
  // RocksDB.
  std::vector<uint64_t> offsets ABSL_GUARDED_BY(mu);
  // A read found an entry where the layout put none: read through RocksDB.
  std::atomic<bool> misplaced{false};
};

ChunkFiles::ChunkFiles(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
                       rocksdb::ColumnFamilyHandle* meta)
    : db_(db), chunks_(chunks), meta_(meta) {}

ChunkFiles::~ChunkFiles() = default;

std::vector<std::shared_ptr<ChunkFiles::File>> ChunkFiles::Table() {
  absl::MutexLock lock(&mu_);
  uint64_t version = 0;
  const bool versioned = db_->GetIntProperty(
      chunks_, rocksdb::DB::Properties::kCurrentSuperVersionNumber, &version);
  // Version numbers restart with each open; this object lives for one.
  if (versioned && version == table_version_ && !table_.empty()) {
    return table_;
  }
  std::map<std::string, std::shared_ptr<File>> known;
  for (auto& f : table_) known[f->path] = f;
  rocksdb::ColumnFamilyMetaData meta;
  db_->GetColumnFamilyMetaData(chunks_, &meta);
  std::vector<std::shared_ptr<File>> table;
  for (const rocksdb::LevelMetaData& level : meta.levels) {
    for (const rocksdb::SstFileMetaData& m : level.files) {
      const std::string path = m.directory + "/" + m.relative_filename;
      auto it = known.find(path);
      if (it != known.end()) {
        table.push_back(it->second);
        continue;
      }
      uint64_t seg_first, seg_last;
      uint32_t first, last;
      if (!ParseChunkKey(m.smallestkey, &seg_first, &first) ||
          !ParseChunkKey(m.largestkey, &seg_last, &last) ||
          seg_first != seg_last || last < first ||
          m.num_entries != uint64_t{last} - first + 1 || m.num_deletions != 0) {
        continue;  // not one whole range of one segment
      }
      auto f = std::make_shared<File>();
      f->path = path;
      f->segment = seg_first;
      f->first = first;
      f->last = last;
      table.push_back(std::move(f));
    }
  }
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) {
    return std::tie(a->segment, a->first) < std::tie(b->segment, b->first);
  });
  table_ = table;
  table_version_ = versioned ? version : 0;
  return table;
}

bool ChunkFiles::Lay(File* file) {
  absl::MutexLock lock(&file->mu);
  if (file->laid) return !file->offsets.empty();
  file->laid = true;
  const std::string key = SegmentKey(file->segment);
  rocksdb::PinnableSlice v;
  if (!db_->Get(rocksdb::ReadOptions(), meta_, key, &v).ok()) return false;
  auto record = DecodeSegmentRecord(key, ToView(v));
  if (!record.ok() || record->stored_sizes.size() <= file->last) return false;
  std::vector<uint64_t> offsets;
  offsets.reserve(file->last - file->first + 1);
  uint64_t at = 0;
  for (uint32_t o = file->first; o <= file->last; ++o) {
    offsets.push_back(at);
    const uint32_t value = record->stored_sizes[o];
    at += HeaderBytes(value) + uint64_t{value} + kBlockTailBytes;
  }
  file->offsets = std::move(offsets);
  return true;
}

ChunkFiles::Batch::~Batch() {
  for (const Open& o : open_) ::close(o.fd);
}

ChunkFiles::Place ChunkFiles::Batch::Locate(const ChunkLocation& c) {
  // Each open file holds an fd besides RocksDB's own: a restore over very
  // many files reads the rest through RocksDB.
  constexpr size_t kMaxOpenFiles = 256;
  if (c.kind != ChunkKind::kFull) return {};
  if (!have_table_) {
    table_ = files_->Table();
    have_table_ = true;
  }
  auto after = std::upper_bound(
      table_.begin(), table_.end(), std::make_pair(c.segment, c.ordinal),
      [](const std::pair<uint64_t, uint32_t>& k, const auto& f) {
        return k < std::make_pair(f->segment, f->first);
      });
  if (after == table_.begin()) return {};
  const std::shared_ptr<File>& file = *(after - 1);
  if (file->segment != c.segment || c.ordinal > file->last ||
      file->misplaced.load(std::memory_order_relaxed) ||
      !files_->Lay(file.get())) {
    return {};
  }
  auto it = open_index_.find(file.get());
  if (it == open_index_.end()) {
    if (open_.size() >= kMaxOpenFiles) return {};
    const int fd = ::open(file->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};  // removed since: RocksDB reads it elsewhere
    open_.push_back({file, fd});
    it = open_index_.emplace(file.get(), static_cast<int>(open_.size() - 1))
             .first;
  }
  absl::MutexLock lock(&file->mu);  // offsets never change once laid
  return {it->second, file->offsets[c.ordinal - file->first]};
}

bool ChunkFiles::Batch::Read(const Place& place, const ChunkLocation& c,
                             char* dest) const {
  const Open& o = open_[place.file];
  uint32_t type_at;
  const std::string expected = ExpectedHeader(c, &type_at);
  const uint32_t header_bytes = HeaderBytes(c.stored_size);
  char header[32];
  struct iovec iov[2] = {{header, header_bytes}, {dest, c.stored_size}};
  const uint64_t want = uint64_t{header_bytes} + c.stored_size;
  ssize_t got = ::preadv(o.fd, iov, 2, static_cast<off_t>(place.offset));
  // A regular file's read ends early only at its end or on a signal.
  uint64_t done = got < 0 ? 0 : static_cast<uint64_t>(got);
  while (got >= 0 && done < want && done >= header_bytes) {
    got = ::pread(o.fd, dest + (done - header_bytes), want - done,
                  static_cast<off_t>(place.offset + done));
    if (got > 0) done += static_cast<uint64_t>(got);
    if (got == 0) break;
  }
  if (done < want || std::memcmp(header, expected.data(), type_at) != 0 ||
      static_cast<unsigned char>(header[type_at]) != kTypeValue) {
    o.file->misplaced.store(true, std::memory_order_relaxed);
    files_->misplaced_reads_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  files_->direct_reads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::string ChunkFiles::Batch::Describe(const Place& place) const {
  return absl::StrCat(open_[place.file].file->path, " at offset ",
                      place.offset);
}

}  // namespace ckptdb::internal
