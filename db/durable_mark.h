// The durable mark: the RocksDB sequence number of the database's last
// durable write, kept outside RocksDB's own files, so that an open can tell
// a write-ahead log that lost synced writes (cut short, zeroed or deleted)
// from one a crash tore (docs/design.md, "Crash consistency").
//
// Every write ckptdb makes is synced (commits, deletes, garbage collection,
// records); after one returns, the writer records the database's latest
// sequence number in <db>/ckptdb-durable-seq. The write is durable before
// the mark, so after any crash the log recovers at least to the mark; a
// recovery that ends below it has lost writes that were durable, and the
// open says so instead of listing less.
//
// File: two 24-byte slots at offsets 0 and 4096, written in turn (pwrite,
// fdatasync), each "ckptdbSQ", the sequence number (u64 LE) and the XXH3-64
// of those 16 bytes. The mark is the largest sequence of a valid slot; a
// torn or damaged slot leaves the other, and a file with neither (or none)
// checks nothing.
#ifndef CKPTDB_DB_DURABLE_MARK_H_
#define CKPTDB_DB_DURABLE_MARK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ckptdb::internal {

class DurableMark {
 public:
  // The mark's file in database directory `db`.
  static std::string PathIn(const std::string& db);
  // The mark of database `db`; 0 when it has none (or none readable).
  static uint64_t Read(const std::string& db);

  // Opens (creating and syncing it and its directory if needed) the mark
  // of `db` for recording.
  static absl::StatusOr<std::unique_ptr<DurableMark>> OpenForWrite(
      const std::string& db);
  ~DurableMark();
  DurableMark(const DurableMark&) = delete;
  DurableMark& operator=(const DurableMark&) = delete;

  // Records `seq` durably if it is above the mark. An error leaves the
  // mark lower than the database, which is safe (it checks less).
  absl::Status Record(uint64_t seq);

 private:
  // `next_slot`: the slot the next Record writes (not the valid one).
  DurableMark(std::string path, int fd, uint64_t seq, int next_slot)
      : path_(std::move(path)), fd_(fd), seq_(seq), next_slot_(next_slot) {}

  const std::string path_;
  const int fd_;
  absl::Mutex mu_;
  uint64_t seq_ ABSL_GUARDED_BY(mu_);
  int next_slot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_DURABLE_MARK_H_
