#include "db/chunk_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "db/rocks_util.h"
#include "db/store_internal.h"
#include "rocksdb/metadata.h"
#include "rocksdb/table_properties.h"
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

// Reads the whole of `iov` (n buffers) at `offset`, through short reads
// and signals; false at the file's end or on an error.
bool PreadFully(int fd, struct iovec* iov, int n, off_t offset) {
  while (n > 0) {
    const ssize_t got = ::preadv(fd, iov, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    offset += got;
    size_t left = static_cast<size_t>(got);
    while (n > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --n;
    }
    if (n > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

// "000123.sst" of "/db/000123.sst".
std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

struct ChunkFiles::File {
  std::string path;
  uint64_t file_size = 0;  // of the file RocksDB lists under `path`
  uint64_t data_size = 0;  // its data blocks' bytes (table properties)
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
  // Entry counts come from the files' table properties: the metadata's
  // num_entries is filled for only some files after a reopen.
  std::map<std::string, std::shared_ptr<const rocksdb::TableProperties>> props;
  std::vector<std::shared_ptr<File>> table;
  for (const rocksdb::LevelMetaData& level : meta.levels) {
    for (const rocksdb::SstFileMetaData& m : level.files) {
      const std::string path = m.directory + "/" + m.relative_filename;
      auto it = known.find(path);
      if (it != known.end()) {
        table.push_back(it->second);
        continue;
      }
      if (props.empty()) props = PropertiesByName();
      auto p = props.find(BaseName(path));
      uint64_t seg_first, seg_last;
      uint32_t first, last;
      if (p == props.end() || p->second == nullptr ||
          !ParseChunkKey(m.smallestkey, &seg_first, &first) ||
          !ParseChunkKey(m.largestkey, &seg_last, &last) ||
          seg_first != seg_last || last < first ||
          p->second->num_entries != uint64_t{last} - first + 1 ||
          p->second->num_deletions != 0) {
        continue;  // not one whole range of one segment
      }
      auto f = std::make_shared<File>();
      f->path = path;
      f->file_size = m.size;
      f->data_size = p->second->data_size;
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

std::map<std::string, std::shared_ptr<const rocksdb::TableProperties>>
ChunkFiles::PropertiesByName() {
  rocksdb::TablePropertiesCollection all;
  std::map<std::string, std::shared_ptr<const rocksdb::TableProperties>> out;
  if (!db_->GetPropertiesOfAllTables(chunks_, &all).ok()) return out;
  for (auto& [path, p] : all) out[BaseName(path)] = p;
  return out;
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
  // The data blocks end where the layout says, or it is not this layout
  // (chunks sharing a block, say).
  if (at != file->data_size) return false;
  file->offsets = std::move(offsets);
  return true;
}

ChunkFiles::Batch::~Batch() {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < open_count_; ++i) ::close(open_[i].fd);
}

ChunkFiles::Place ChunkFiles::Batch::Locate(const ChunkLocation& c) {
  absl::MutexLock batch_lock(&mu_);
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
    if (open_count_ >= kMaxOpenFiles) return {};
    const int fd = ::open(file->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};  // removed since: RocksDB reads it elsewhere
    // The same name, another file (the database re-created under a view
    // that still lists the old one): leave it to RocksDB.
    struct stat st;
    if (::fstat(fd, &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != file->file_size) {
      ::close(fd);
      return {};
    }
    open_[open_count_] = {file, fd};
    it = open_index_.emplace(file.get(), open_count_++).first;
  }
  absl::MutexLock file_lock(&file->mu);  // offsets never change once laid
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
  if (!PreadFully(o.fd, iov, 2, static_cast<off_t>(place.offset))) {
    // An I/O error or a file shorter than its layout: this chunk through
    // RocksDB, which names the error; the file stays in use.
    return false;
  }
  if (std::memcmp(header, expected.data(), type_at) != 0 ||
      static_cast<unsigned char>(header[type_at]) != kTypeValue) {
    o.file->misplaced.store(true, std::memory_order_relaxed);
    files_->misplaced_reads_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  files_->direct_reads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

StoredValueReader ChunkFiles::ValueReader(Batch* batch) {
  return [batch](const ChunkLocation& c, std::string* out) {
    const Place place = batch->Locate(c);
    if (place.file < 0) return false;
    out->resize(c.stored_size);
    return batch->Read(place, c, out->data());
  };
}

std::string ChunkFiles::Batch::Describe(const Place& place) const {
  return absl::StrCat(open_[place.file].file->path, " at offset ",
                      place.offset);
}

}  // namespace ckptdb::internal
