#include "db/staging_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "db/store_internal.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

constexpr char kLockName[] = "lock";

uint64_t RandomTag() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

bool RecentlyModified(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  return !ec && fs::file_time_type::clock::now() - t < std::chrono::minutes(1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<StagingDir>> StagingDir::Create(
    const std::string& db_path) {
  std::error_code ec;
  const fs::path root = fs::absolute(fs::path(db_path) / kStagingDir, ec);
  if (!ec) fs::create_directories(root, ec);
  const fs::path dir =
      root / absl::StrCat(getpid(), "-", absl::Hex(RandomTag()));
  if (!ec) fs::create_directory(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a staging folder in '", root.string(),
                     "' (saving needs write access to the database folder): ",
                     ec.message()));
  }
  // The lock file appears under its name already locked (a sweeper that
  // finds a folder without one leaves it alone for a minute).
  const std::string lock = (dir / kLockName).string();
  const std::string fresh = lock + ".new";
  const int fd = open(fresh.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0 ||
      rename(fresh.c_str(), lock.c_str()) != 0) {
    if (fd >= 0) close(fd);
    fs::remove_all(dir, ec);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock '", lock, "'"));
  }
  return std::unique_ptr<StagingDir>(new StagingDir(dir.string(), fd));
}

StagingDir::~StagingDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  close(lock_fd_);
}

int SweepStaging(const std::string& db_path) {
  std::error_code ec;
  const fs::path root = fs::path(db_path) / kStagingDir;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory(ec)) {
      removed += fs::remove(e.path(), ec) ? 1 : 0;  // an older version's
      continue;
    }
    // flock locks belong to open files, not processes: this probe never
    // disturbs a lock this process holds through another descriptor.
    const std::string lock = (e.path() / kLockName).string();
    const int fd = open(lock.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);  // its Store is alive
      continue;
    }
    if (fd < 0 && RecentlyModified(e.path())) continue;  // being created
    // Unlocked, or no lock file (its creator died before making it, or
    // this is a folder of an older version).
    fs::remove_all(e.path(), ec);
    if (fd >= 0) close(fd);
    ++removed;
  }
  return removed;
}

bool IsStagedFile(const std::string& db_path, const std::string& file) {
  std::error_code ec;
  const fs::path root =
      fs::weakly_canonical(fs::path(db_path) / kStagingDir, ec);
  const fs::path f = fs::weakly_canonical(fs::path(file), ec);
  const std::string r = root.string() + "/";
  return absl::StartsWith(f.string(), r) &&
         f.string().find("/../") == std::string::npos &&
         fs::is_regular_file(fs::symlink_status(f, ec));
}

}  // namespace ckptdb::internal
