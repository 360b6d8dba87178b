// Reading chunks (stored whole or coded) straight from the chunk table
// files: one pread per chunk (into the caller's buffer), where RocksDB's Get
// goes through its table reader (index lookup, block read into a buffer of its
// own) before the caller copies the chunk (docs/design.md, "Restore").
//
// Where a chunk lies follows from how the files are written: a chunk file
// holds one chunk per data block, uncompressed (rocks_util.cc: block_size
// 1), from offset 0. So in a file holding every ordinal [first, last] of one
// segment -- a save's file, or one that compaction rewrote without dropping
// any of them -- the offset of an ordinal is the sum of the block sizes of
// the ordinals before it, which the segment record's stored sizes give.
// Every read checks the block entry's header (the chunk's key and value
// length) before its bytes are used, and the caller checks the chunk's
// hash; a file laid out otherwise (a chunk dropped from its range, data
// blocks that end elsewhere: an older ckptdb put small chunks together) is
// read through RocksDB instead.
#ifndef CKPTDB_DB_CHUNK_FILES_H_
#define CKPTDB_DB_CHUNK_FILES_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "schema/chunk_location.h"

namespace ckptdb::internal {

// The chunk files of one open database. Thread-safe.
class ChunkFiles {
 public:
  // `db` and both column families must outlive this object.
  ChunkFiles(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
             rocksdb::ColumnFamilyHandle* meta);
  ~ChunkFiles();
  ChunkFiles(const ChunkFiles&) = delete;
  ChunkFiles& operator=(const ChunkFiles&) = delete;

  struct File;  // one chunk file: where it is and its chunks' offsets

  // Where a chunk lies: a file of the batch and the offset of the chunk's
  // block entry in it. file < 0: read it through RocksDB.
  struct Place {
    int file = -1;
    uint64_t offset = 0;
  };

  // The direct reads of one restore: its files stay open until it is
  // destroyed. Thread-safe (a restore's threads locate coded chunks' bases
  // as they decode them).
  class Batch {
   public:
    explicit Batch(ChunkFiles* files) : files_(files) {}
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

    // Where `c` can be read directly; file -1 when it cannot (not in a file
    // laid out as above, or the file is gone, or 64 files are open).
    Place Locate(const ChunkLocation& c) ABSL_LOCKS_EXCLUDED(mu_);
    // Reads the stored value of `c` (c.stored_size bytes) at `place` into
    // `dest`. False, with nothing to report, when the file does not hold
    // that chunk there (or cannot be read): the caller reads it through
    // RocksDB, which names what is wrong. True: the entry there is the
    // chunk's (key and length), but its bytes are not verified.
    bool Read(const Place& place, const ChunkLocation& c, char* dest) const;
    // "FILE at offset N", for messages.
    std::string Describe(const Place& place) const;

   private:
    // Each open file holds an fd besides RocksDB's own: a restore over very
    // many files reads the rest through RocksDB.
    static constexpr int kMaxOpenFiles = 64;

    struct Open {
      std::shared_ptr<File> file;
      int fd = -1;
    };
    ChunkFiles* const files_;
    absl::Mutex mu_;
    // The files, by first key.
    std::vector<std::shared_ptr<File>> table_ ABSL_GUARDED_BY(mu_);
    bool have_table_ ABSL_GUARDED_BY(mu_) = false;
    // Slots [0, open_count_) are filled under mu_ and never change after:
    // Read uses the slot of a Place that Locate returned, without the lock
    // (the lock Locate took orders the slot's writing before it).
    std::array<Open, kMaxOpenFiles> open_;
    int open_count_ ABSL_GUARDED_BY(mu_) = 0;
    std::map<const File*, int> open_index_ ABSL_GUARDED_BY(mu_);
  };

  // Read() of `batch` as a StoredValueReader: a chunk's stored value from
  // its file where `batch` can locate it. `batch` must outlive the result.
  static StoredValueReader ValueReader(Batch* batch);

  // Chunks read directly and chunks that turned out not to be where their
  // file's layout put them (read through RocksDB), since this object was
  // made.
  uint64_t direct_reads() const { return direct_reads_.load(); }
  uint64_t misplaced_reads() const { return misplaced_reads_.load(); }

 private:
  // The chunk files of the current version, sorted by first key; reused
  // while the column family's version is unchanged.
  std::vector<std::shared_ptr<File>> Table();
  // The chunk files' table properties, by file name.
  std::map<std::string, std::shared_ptr<const rocksdb::TableProperties>>
  PropertiesByName();
  // Fills file->offsets from its segment record; false if it cannot or the
  // file's data blocks do not end where the offsets say.
  bool Lay(File* file);

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const chunks_;
  rocksdb::ColumnFamilyHandle* const meta_;
  absl::Mutex mu_;
  uint64_t table_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<File>> table_ ABSL_GUARDED_BY(mu_);
  mutable std::atomic<uint64_t> direct_reads_{0};
  mutable std::atomic<uint64_t> misplaced_reads_{0};
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_CHUNK_FILES_H_
