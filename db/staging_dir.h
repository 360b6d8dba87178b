// Staging folders. A save writes its SST files into a folder of its own
// process before they are ingested: <db>/ckptdb-staging/<pid>-<random>/,
// made by StagingDir::Create and holding a "lock" file that the creating
// Store keeps locked (flock) until it closes. Another process's staging
// folder is never touched while its lock is held; SweepStaging removes the
// folders whose lock nobody holds (their Store closed, or its process died)
// and loose files of older versions.
#ifndef CKPTDB_DB_STAGING_DIR_H_
#define CKPTDB_DB_STAGING_DIR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ckptdb::internal {

class StagingDir {
 public:
  // A new folder under <db_path>/ckptdb-staging, locked.
  static absl::StatusOr<std::unique_ptr<StagingDir>> Create(
      const std::string& db_path);
  // Unlocks and removes the folder with whatever it still holds.
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  StagingDir(std::string path, int lock_fd)
      : path_(std::move(path)), lock_fd_(lock_fd) {}
  std::string path_;
  int lock_fd_;
};

// Removes the staging folders under <db_path>/ckptdb-staging that no live
// Store holds, and loose files there. Returns how many it removed.
int SweepStaging(const std::string& db_path);

// True if `file` is inside <db_path>/ckptdb-staging (lexically, after
// normalising) and names a regular file.
bool IsStagedFile(const std::string& db_path, const std::string& file);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_STAGING_DIR_H_
