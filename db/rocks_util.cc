#include "db/rocks_util.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"

namespace ckptdb::internal {
namespace {

// The soft limit on open files, for messages ("unlimited" if none).
std::string OpenFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
    return "unlimited";
  }
  return absl::StrCat(rl.rlim_cur);
}

}  // namespace

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(context, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNoSpace() || s.subcode() == rocksdb::Status::kNoSpace) {
    return absl::ResourceExhaustedError(absl::StrCat(msg, " (disk full)"));
  }
  // Before the lock check: on a read-only mount the lock file's own open
  // fails ("While open a file for lock: ...: Read-only file system").
  if (s.IsIOError() &&
      (absl::StrContains(s.ToString(), "Read-only file system") ||
       absl::StrContains(s.ToString(), "Permission denied"))) {
    return absl::PermissionDeniedError(absl::StrCat(
        msg,
        " (the file system or the folder's permissions refuse this process; "
        "a database it cannot write is read with a read-only open, e.g. "
        "CheckpointManager(..., read_only=True) or the CLI's read commands)"));
  }
  if (s.IsIOError() && (absl::StrContains(s.ToString(), "lock") ||
                        absl::StrContains(s.ToString(), "LOCK"))) {
    return absl::FailedPreconditionError(
        absl::StrCat(msg,
                     " (the database is busy: another process has it open for "
                     "writing)"));
  }
  if (s.IsIOError() && absl::StrContains(s.ToString(), "Too many open files")) {
    return absl::ResourceExhaustedError(absl::StrCat(
        msg, " (this process may open ", OpenFileLimit(),
        " files (ulimit -n), and an open database keeps each of its .sst "
        "files open: raise the limit above the number of .sst files in the "
        "database, e.g. `ulimit -n 65536` in the shell or "
        "resource.setrlimit(resource.RLIMIT_NOFILE, ...) in Python)"));
  }
  if (s.IsNotFound() || s.IsPathNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

absl::Status FromRocksWrite(const rocksdb::Status& s,
                            absl::string_view context) {
  absl::Status st = FromRocks(s, context);
  if (st.code() == absl::StatusCode::kNotFound) {
    return absl::InternalError(st.message());
  }
  return st;
}

bool DbLockHeldByAnotherProcess(const std::string& db_path) {
  const std::string lock = db_path + "/LOCK";
  const int fd = open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close(fd);
  return held;
}

rocksdb::DBOptions MakeDbOptions(const RocksTuning& tuning) {
  rocksdb::DBOptions o;
  if (tuning.env != nullptr) o.env = tuning.env;
  o.create_if_missing = false;
  o.create_missing_column_families = false;
  // Opening thousands of step column families: one table-opening thread per
  // column family, not 16 (measured 4-5x faster open here).
  o.max_file_opening_threads = 1;
  // Chunk reads go through mmap: a Get pins the mapped bytes and ckptdb
  // copies them once into the caller's buffer (see docs/design.md).
  o.allow_mmap_reads = tuning.mmap_reads;
  o.advise_random_on_open = false;
  // Every open keeps every table open. A reader (tools, a second process)
  // so that files the writer deletes later stay readable for its lifetime;
  // and every open so that each table is opened, and checked, at open:
  // RocksDB 7.8 opens a table it did not load at open on first use, and a
  // forward scan that reaches a table it then cannot open ends with an OK
  // status, as if the family ended there (store_test's DamagedTableTest:
  // writers refuse such a table). ckptdb's scans of
  // commit records, segment records and reference counts must not end
  // early in silence.
  o.max_open_files = -1;
  o.keep_log_file_num = 3;
  o.max_manifest_file_size = 16 << 20;
  o.recycle_log_file_num = 0;
  o.max_background_jobs = 2;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.paranoid_checks = true;
  // Every WAL write is synced before ckptdb reports it (commit records,
  // deletions, refcounts), so only the last record of a log can be torn by
  // a crash. Any other damage in the log must fail the open (DataLoss)
  // rather than silently drop the commits after it, as RocksDB's default
  // point-in-time recovery would.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  o.avoid_unnecessary_blocking_io = false;
  return o;
}

CfOptionSet MakeCfOptions(
    std::shared_ptr<rocksdb::CompactionFilterFactory> gc_filter) {
  CfOptionSet set;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(32 << 20);

  rocksdb::BlockBasedTableOptions small;
  small.checksum = rocksdb::kXXH3;
  small.format_version = 5;
  small.block_cache = cache;
  small.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  set.meta.table_factory.reset(rocksdb::NewBlockBasedTableFactory(small));
  set.meta.compression = rocksdb::kNoCompression;
  set.meta.write_buffer_size = 8 << 20;

  rocksdb::BlockBasedTableOptions step = small;
  step.filter_policy.reset();  // keys are read by prefix scans
  step.block_size = 16 << 10;
  set.step.table_factory.reset(rocksdb::NewBlockBasedTableFactory(step));
  set.step.compression = rocksdb::kNoCompression;
  set.step.disable_auto_compactions = true;
  set.step.write_buffer_size = 1 << 20;

  rocksdb::BlockBasedTableOptions chunks;
  // XXH3 block checksums, verified by every read that lets RocksDB parse a
  // chunk block (ChunkReadOptions: Get, so verify and coded chunks; GC's
  // compactions verify them on their own, and GC checks a segment's files
  // before it compacts them: db/store_gc.cc), so that a
  // damaged block is a Corruption status before RocksDB parses its header,
  // key and restart array (Debian's RocksDB keeps its assertions and aborted
  // on such damage while chunk tables had none: docs/design.md, "Damage").
  // Restores of whole chunks read the file directly (db/chunk_files.h) and
  // check the chunk's own XXH3-128 instead; the block checksum costs the save
  // one more pass over the bytes it writes (design.md says how much).
  // Files written before (kNoChecksum) are read as they are.
  chunks.checksum = rocksdb::kXXH3;
  chunks.format_version = 5;
  // One chunk per data block, always (block_size 1: a block is cut before
  // each entry but the first): where a chunk lies in its file follows from
  // the stored sizes of the chunks before it, and restores read it from
  // there (db/chunk_files.h). No block cache: the page cache is the cache.
  chunks.block_size = 1;
  chunks.no_block_cache = true;
  set.chunks.table_factory.reset(rocksdb::NewBlockBasedTableFactory(chunks));
  set.chunks.compression = rocksdb::kNoCompression;
  set.chunks.disable_auto_compactions = true;
  set.chunks.target_file_size_base = 1ull << 30;
  set.chunks.write_buffer_size = 4 << 20;
  set.chunks.compaction_filter_factory = std::move(gc_filter);
  return set;
}

}  // namespace ckptdb::internal
