// The one place where RocksDB statuses become absl::Status, and the
// RocksDB options ckptdb uses for each column family (see docs/design.md
// for the measurements behind them).
#ifndef CKPTDB_DB_ROCKS_UTIL_H_
#define CKPTDB_DB_ROCKS_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/compaction_filter.h"
#include "rocksdb/options.h"
#include "rocksdb/status.h"

namespace ckptdb::internal {

// Maps a RocksDB status to the ckptdb error vocabulary, prefixing `context`.
// Corruption -> DataLoss, NoSpace -> ResourceExhausted, lock held by another
// process -> FailedPrecondition, NotFound -> NotFound, others -> Internal.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context);
// The same for failures while writing: a missing file or directory there is
// an I/O failure (Internal), not a missing step or database (NotFound).
absl::Status FromRocksWrite(const rocksdb::Status& s,
                            absl::string_view context);

// True if another process holds the RocksDB lock (the POSIX lock on LOCK)
// of the database at `db_path`. Locks of this process do not count.
bool DbLockHeldByAnotherProcess(const std::string& db_path);

struct RocksTuning {
  rocksdb::Env* env = nullptr;  // nullptr: the default Env
  // Read chunks through mmap (see StoreOptions::mmap_reads).
  bool mmap_reads = false;
};

// DB-wide options.
rocksdb::DBOptions MakeDbOptions(const RocksTuning& tuning);
// Column family options, built once per open database so that every step
// column family shares one table factory and one block cache.
struct CfOptionSet {
  // The meta ("default") and chunk_index column families: small records,
  // ordinary LSM with WAL.
  rocksdb::ColumnFamilyOptions meta;
  // The chunks column family: large values written by SST ingestion, never
  // auto-compacted; the GC filter runs when ckptdb compacts a segment.
  rocksdb::ColumnFamilyOptions chunks;
  // Step column families: written once by ingestion, never compacted.
  rocksdb::ColumnFamilyOptions step;
};
CfOptionSet MakeCfOptions(
    std::shared_ptr<rocksdb::CompactionFilterFactory> gc_filter);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_ROCKS_UTIL_H_
