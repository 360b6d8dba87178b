// A RocksDB FileSystem that fails writes on demand (disk full, I/O errors),
// for fault-injection tests.
#ifndef CKPTDB_TESTS_FAULT_FS_H_
#define CKPTDB_TESTS_FAULT_FS_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace ckptdb::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultFs(std::shared_ptr<rocksdb::FileSystem> base)
      : FileSystemWrapper(std::move(base)) {}
  const char* Name() const override { return "ckptdb.FaultFs"; }

  // Writes to files whose name contains `match` may append `bytes` more
  // bytes, then fail with NoSpace (disk full). bytes < 0: no limit.
  void LimitWrites(const std::string& match, int64_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    match_ = match;
    budget_ = bytes;
  }
  void Unlimit() { LimitWrites("", -1); }
  int64_t failures() const { return failures_.load(); }

  // Returns NoSpace if an append of `n` bytes to `fname` is over budget.
  rocksdb::IOStatus Charge(const std::string& fname, size_t n) {
    std::lock_guard<std::mutex> l(mu_);
    if (budget_ < 0 || fname.find(match_) == std::string::npos) {
      return rocksdb::IOStatus::OK();
    }
    if (static_cast<int64_t>(n) > budget_) {
      budget_ = 0;
      ++failures_;
      return rocksdb::IOStatus::NoSpace("injected: no space left on device");
    }
    budget_ -= static_cast<int64_t>(n);
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;

 private:
  std::mutex mu_;
  std::string match_;
  int64_t budget_ = -1;
  std::atomic<int64_t> failures_{0};
};

class FaultFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> f, FaultFs* fs,
            std::string name)
      : FSWritableFileOwnerWrapper(std::move(f)),
        fs_(fs),
        name_(std::move(name)) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = fs_->Charge(name_, data.size());
    if (!s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, d);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = fs_->Charge(name_, data.size());
    if (!s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, v, d);
  }

 private:
  FaultFs* fs_;
  std::string name_;
};

inline rocksdb::IOStatus FaultFs::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSWritableFile> f;
  rocksdb::IOStatus s = target()->NewWritableFile(fname, opts, &f, dbg);
  if (!s.ok()) return s;
  result->reset(new FaultFile(std::move(f), this, fname));
  return s;
}

}  // namespace ckptdb::testing

#endif  // CKPTDB_TESTS_FAULT_FS_H_
