// A RocksDB FileSystem that simulates power loss: it records every file
// write and every directory change made through it, and at a "cut" drops
// whatever no fsync covered, as a power failure does on a POSIX file
// system:
//   - file data appended after the file's last Sync/Fsync is lost (the file
//     is truncated to its synced size);
//   - a file created, linked, renamed or deleted in a directory that was not
//     fsynced afterwards is rolled back (the new name disappears, the old
//     name comes back, a deleted file returns with its synced bytes), and so
//     is a directory created since its parent's last fsync.
// The cut falls on the n-th operation after ArmCut(n): that operation and
// every later one fail with an I/O error and change nothing, as if the
// machine had stopped there. The test then closes whatever used the file
// system and calls PowerLoss(), which rewrites the directory to what a
// machine rebooting after the cut would find.
//
// Not covered: writes made without this file system (ckptdb's staging
// folders and their lock files, made with POSIX calls; they are scratch
// space no recovery reads), in-place writes through random-access files,
// and torn sectors inside a synced range (a synced byte is never damaged).
#ifndef CKPTDB_TESTS_POWER_LOSS_FS_H_
#define CKPTDB_TESTS_POWER_LOSS_FS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "rocksdb/file_system.h"

namespace ckptdb::testing {

class PowerLossFs : public rocksdb::FileSystemWrapper {
 public:
  // `trash` is a scratch directory on the same file system as the
  // databases (deleted files are parked there until their deletion is
  // durable).
  PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base, std::string trash);
  const char* Name() const override { return "ckptdb.PowerLossFs"; }

  // The `ops`-th operation from now (1 = the next) is the cut. ops <= 0:
  // no cut.
  void ArmCut(int64_t ops);
  // Whether the cut has happened.
  bool cut() const { return dead_.load(); }
  // Operations counted since the last ArmCut (to size the next one).
  int64_t ops() const { return ops_.load(); }
  // Rolls the directory back to what survives the cut (call when nothing
  // uses the file system), then starts recording afresh: everything on
  // disk now counts as durable and the file system works again. Returns
  // the number of files and directory entries changed.
  int PowerLoss();
  // Forgets the record without dropping anything (everything on disk now
  // counts as durable).
  void Checkpoint();

  // Bookkeeping shared with the file and directory wrappers.
  struct FileState {
    std::atomic<uint64_t> size{0};    // bytes written through us
    std::atomic<uint64_t> synced{0};  // bytes covered by the last Sync
  };
  rocksdb::IOStatus Tick();  // counts one operation; error after the cut
  // `size`: the file's size when the sync began.
  void Synced(FileState& f, uint64_t size);
  void DirSynced(const std::string& dir);

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname,
                                       const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname,
                              const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src,
                               const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;

 private:
  // One directory change not yet covered by an fsync of its directories.
  struct Change {
    enum Kind { kCreate, kDelete, kRename, kLink, kMkdir } kind;
    std::string path;    // created / deleted / link / rename target
    std::string from;    // rename source
    std::string parked;  // where the deleted or overwritten file waits
    std::shared_ptr<FileState> state;         // the file at `path`
    std::shared_ptr<FileState> parked_state;  // the overwritten file
    std::set<std::string> dirs;               // not yet fsynced
  };

  // Moves `path` (if it exists) into the trash; returns where, or "".
  std::string Park(const std::string& path);
  void Record(Change c);
  void Undo(const Change& c);
  static std::string Parent(const std::string& path);
  static std::string Norm(const std::string& path);

  const std::string trash_;
  std::atomic<bool> dead_{false};
  std::atomic<int64_t> ops_{0};
  std::atomic<int64_t> cut_at_{0};
  std::atomic<int64_t> parked_{0};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by path
  std::vector<Change> changes_;
};

}  // namespace ckptdb::testing

#endif  // CKPTDB_TESTS_POWER_LOSS_FS_H_
