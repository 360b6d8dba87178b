#include "tests/power_loss_fs.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace ckptdb::testing {
namespace {

namespace fs = std::filesystem;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus PowerCut() { return IOStatus::IOError("injected: power cut"); }

// A file written through PowerLossFs: counts every operation and tracks the
// bytes written and synced.
class PowerLossFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PowerLossFile(std::unique_ptr<rocksdb::FSWritableFile> f, PowerLossFs* fs,
                std::shared_ptr<PowerLossFs::FileState> state)
      : FSWritableFileOwnerWrapper(std::move(f)),
        fs_(fs),
        state_(std::move(state)) {}

  IOStatus Append(const Slice& data, const IOOptions& o,
                  IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Append(data, o, d);
    if (s.ok()) Grow(GetFileSize(o, d));
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o,
                  const rocksdb::DataVerificationInfo& v,
                  IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Append(data, o, v, d);
    if (s.ok()) Grow(GetFileSize(o, d));
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& o, IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) {
      s = FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, d);
    }
    if (s.ok()) Grow(offset + data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v,
                            IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) {
      s = FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, v, d);
    }
    if (s.ok()) Grow(offset + data.size());
    return s;
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o,
                    IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Truncate(size, o, d);
    if (s.ok()) {
      state_->size = size;
      if (state_->synced > size) state_->synced = size;
    }
    return s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    const uint64_t size = state_->size.load();
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Sync(o, d);
    if (s.ok()) fs_->Synced(*state_, size);
    return s;
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    const uint64_t size = state_->size.load();
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSWritableFileOwnerWrapper::Fsync(o, d);
    if (s.ok()) fs_->Synced(*state_, size);
    return s;
  }
  IOStatus Close(const IOOptions& o, IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    // Close the descriptor either way (the process goes on after the cut).
    IOStatus c = FSWritableFileOwnerWrapper::Close(o, d);
    return s.ok() ? c : s;
  }

 private:
  void Grow(uint64_t size) {
    uint64_t cur = state_->size.load();
    while (size > cur && !state_->size.compare_exchange_weak(cur, size)) {
    }
  }

  PowerLossFs* fs_;
  std::shared_ptr<PowerLossFs::FileState> state_;
};

// A directory handle: an fsync makes the directory's changes durable.
class PowerLossDir : public rocksdb::FSDirectoryWrapper {
 public:
  PowerLossDir(std::unique_ptr<rocksdb::FSDirectory> d, PowerLossFs* fs,
               std::string name)
      : FSDirectoryWrapper(std::move(d)), fs_(fs), name_(std::move(name)) {}
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSDirectoryWrapper::Fsync(o, d);
    if (s.ok()) fs_->DirSynced(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(
      const IOOptions& o, IODebugContext* d,
      const rocksdb::DirFsyncOptions& options) override {
    IOStatus s = fs_->Tick();
    if (s.ok()) s = FSDirectoryWrapper::FsyncWithDirOptions(o, d, options);
    if (s.ok()) fs_->DirSynced(name_);
    return s;
  }

 private:
  PowerLossFs* fs_;
  std::string name_;
};

}  // namespace

PowerLossFs::PowerLossFs(std::shared_ptr<rocksdb::FileSystem> base,
                         std::string trash)
    : FileSystemWrapper(std::move(base)), trash_(std::move(trash)) {
  std::error_code ec;
  fs::create_directories(trash_, ec);
}

void PowerLossFs::ArmCut(int64_t ops) {
  ops_ = 0;
  cut_at_ = ops;
}

IOStatus PowerLossFs::Tick() {
  if (dead_.load()) return PowerCut();
  const int64_t n = ++ops_;
  const int64_t at = cut_at_.load();
  if (at > 0 && n >= at) {
    dead_ = true;
    return PowerCut();
  }
  return IOStatus::OK();
}

void PowerLossFs::Synced(FileState& f, uint64_t size) {
  uint64_t cur = f.synced.load();
  while (size > cur && !f.synced.compare_exchange_weak(cur, size)) {
  }
}

void PowerLossFs::DirSynced(const std::string& dir) {
  const std::string d = Norm(dir);
  std::lock_guard<std::mutex> l(mu_);
  for (Change& c : changes_) c.dirs.erase(d);
  changes_.erase(std::remove_if(changes_.begin(), changes_.end(),
                                [](const Change& c) { return c.dirs.empty(); }),
                 changes_.end());
}

std::string PowerLossFs::Norm(const std::string& path) {
  std::error_code ec;
  std::string p = fs::absolute(fs::path(path), ec).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string PowerLossFs::Parent(const std::string& path) {
  return fs::path(path).parent_path().string();
}

std::string PowerLossFs::Park(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "";
  const std::string to = trash_ + "/" + std::to_string(++parked_);
  fs::rename(path, to, ec);
  return ec ? "" : to;
}

void PowerLossFs::Record(Change c) {
  std::lock_guard<std::mutex> l(mu_);
  changes_.push_back(std::move(c));
}

IOStatus PowerLossFs::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  const std::string path = Norm(fname);
  Change c{Change::kCreate, path,          "", Park(path), nullptr,
           nullptr,         {Parent(path)}};
  std::unique_ptr<rocksdb::FSWritableFile> f;
  s = target()->NewWritableFile(fname, opts, &f, dbg);
  if (!s.ok()) {
    if (!c.parked.empty()) fs::rename(c.parked, path);
    return s;
  }
  auto state = std::make_shared<FileState>();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto old = files_.find(path);
    if (old != files_.end()) c.parked_state = old->second;
    files_[path] = state;
  }
  c.state = state;
  Record(std::move(c));
  result->reset(new PowerLossFile(std::move(f), this, state));
  return s;
}

IOStatus PowerLossFs::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> f;
  s = target()->ReopenWritableFile(fname, opts, &f, dbg);
  if (!s.ok()) return s;
  const std::string path = Norm(fname);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  std::shared_ptr<FileState> state;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::shared_ptr<FileState>& st = files_[path];
    if (!st) {  // an old file: durable as it is
      st = std::make_shared<FileState>();
      st->size = ec ? 0 : size;
      st->synced = st->size.load();
    }
    state = st;
  }
  result->reset(new PowerLossFile(std::move(f), this, state));
  return s;
}

IOStatus PowerLossFs::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  // ckptdb never recycles log files (recycle_log_file_num = 0).
  return IOStatus::NotSupported("PowerLossFs: ReuseWritableFile");
}

IOStatus PowerLossFs::NewRandomRWFile(
    const std::string& fname, const rocksdb::FileOptions& opts,
    std::unique_ptr<rocksdb::FSRandomRWFile>* result, IODebugContext* dbg) {
  IOStatus s = Tick();  // in-place writes are not tracked (see the header)
  if (!s.ok()) return s;
  return target()->NewRandomRWFile(fname, opts, result, dbg);
}

IOStatus PowerLossFs::NewDirectory(
    const std::string& name, const IOOptions& io_opts,
    std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  IOStatus s = target()->NewDirectory(name, io_opts, &d, dbg);
  if (!s.ok()) return s;
  result->reset(new PowerLossDir(std::move(d), this, name));
  return s;
}

IOStatus PowerLossFs::DeleteFile(const std::string& fname,
                                 const IOOptions& options,
                                 IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  const std::string path = Norm(fname);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return target()->DeleteFile(fname, options, dbg);  // its NotFound
  }
  Change c{Change::kDelete, path,          "", Park(path), nullptr,
           nullptr,         {Parent(path)}};
  if (c.parked.empty()) return IOStatus::IOError("cannot delete " + path);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(path);
    if (it != files_.end()) {
      c.state = it->second;
      files_.erase(it);
    }
  }
  Record(std::move(c));
  return IOStatus::OK();
}

IOStatus PowerLossFs::Truncate(const std::string& fname, size_t size,
                               const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  return target()->Truncate(fname, size, options, dbg);
}

IOStatus PowerLossFs::CreateDir(const std::string& dirname,
                                const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  s = target()->CreateDir(dirname, options, dbg);
  if (s.ok()) {
    const std::string path = Norm(dirname);
    Record(
        Change{Change::kMkdir, path, "", "", nullptr, nullptr, {Parent(path)}});
  }
  return s;
}

IOStatus PowerLossFs::CreateDirIfMissing(const std::string& dirname,
                                         const IOOptions& options,
                                         IODebugContext* dbg) {
  std::error_code ec;
  if (fs::is_directory(dirname, ec)) return IOStatus::OK();
  return CreateDir(dirname, options, dbg);
}

IOStatus PowerLossFs::DeleteDir(const std::string& dirname,
                                const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = Tick();  // an empty directory: nothing to roll back
  if (!s.ok()) return s;
  return target()->DeleteDir(dirname, options, dbg);
}

IOStatus PowerLossFs::RenameFile(const std::string& src,
                                 const std::string& target_name,
                                 const IOOptions& options,
                                 IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  const std::string from = Norm(src);
  const std::string to = Norm(target_name);
  Change c{Change::kRename,           to, from, Park(to), nullptr, nullptr,
           {Parent(to), Parent(from)}};
  s = target()->RenameFile(src, target_name, options, dbg);
  if (!s.ok()) {
    if (!c.parked.empty()) fs::rename(c.parked, to);
    return s;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto old = files_.find(to);
    if (old != files_.end()) c.parked_state = old->second;
    auto it = files_.find(from);
    c.state = it != files_.end() ? it->second : nullptr;
    if (it != files_.end()) files_.erase(it);
    if (c.state) {
      files_[to] = c.state;
    } else {
      files_.erase(to);
    }
  }
  Record(std::move(c));
  return s;
}

IOStatus PowerLossFs::LinkFile(const std::string& src,
                               const std::string& target_name,
                               const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = Tick();
  if (!s.ok()) return s;
  s = target()->LinkFile(src, target_name, options, dbg);
  if (!s.ok()) return s;
  const std::string from = Norm(src);
  const std::string to = Norm(target_name);
  Change c{Change::kLink, to, from, "", nullptr, nullptr, {Parent(to)}};
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(from);
    if (it != files_.end()) {
      c.state = it->second;
      files_[to] = it->second;
    }
  }
  Record(std::move(c));
  return s;
}

void PowerLossFs::Undo(const Change& c) {
  std::error_code ec;
  auto put_back = [&](const std::string& parked, const std::string& path,
                      const std::shared_ptr<FileState>& state) {
    if (parked.empty()) return;
    if (fs::is_directory(Parent(path), ec)) fs::rename(parked, path, ec);
    if (state) files_[path] = state;
  };
  switch (c.kind) {
    case Change::kCreate:
    case Change::kLink:
      fs::remove(c.path, ec);
      files_.erase(c.path);
      put_back(c.parked, c.path, c.parked_state);
      break;
    case Change::kDelete:
      put_back(c.parked, c.path, c.state);
      break;
    case Change::kRename:
      if (fs::exists(c.path, ec) && fs::is_directory(Parent(c.from), ec)) {
        fs::rename(c.path, c.from, ec);
      }
      files_.erase(c.path);
      if (c.state) files_[c.from] = c.state;
      put_back(c.parked, c.path, c.parked_state);
      break;
    case Change::kMkdir:
      fs::remove_all(c.path, ec);
      break;
  }
}

int PowerLossFs::PowerLoss() {
  std::lock_guard<std::mutex> l(mu_);
  int changed = 0;
  for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
    Undo(*it);
    ++changed;
  }
  for (const auto& [path, state] : files_) {
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (!ec && size > state->synced) {
      fs::resize_file(path, state->synced, ec);
      ++changed;
    }
  }
  changes_.clear();
  files_.clear();
  std::error_code ec;
  fs::remove_all(trash_, ec);
  fs::create_directories(trash_, ec);
  cut_at_ = 0;
  ops_ = 0;
  dead_ = false;
  return changed;
}

void PowerLossFs::Checkpoint() {
  std::lock_guard<std::mutex> l(mu_);
  changes_.clear();
  files_.clear();
  std::error_code ec;
  fs::remove_all(trash_, ec);
  fs::create_directories(trash_, ec);
}

}  // namespace ckptdb::testing
