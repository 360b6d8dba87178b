// Store: following another writer. RocksDB lets one process write a
// database; a Store opened with follow_if_busy that finds another writer
// (a process, or another Store of this process) opens the database
// read-only instead and follows it: Refresh() reopens the view when the
// database's files changed, so that the follower sees every commit.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "db/writer_claims.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

// "busy": another writer holds the database, or is creating it.
bool IsBusy(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         absl::StrContains(s.message(), "busy");
}

// A read-only open that may succeed if retried: the writer is still
// creating the database, or is between two files of a change.
bool MayPass(const absl::Status& s) {
  return IsBusy(s) || s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kNotFound;
}

}  // namespace

std::string DatabaseFilesFingerprint(const std::string& path) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    std::string name = e.path().filename().string();
    if (name != "CURRENT" && !absl::StartsWith(name, "MANIFEST-") &&
        !absl::EndsWith(name, ".log")) {
      continue;
    }
    struct stat st;
    if (stat(e.path().c_str(), &st) != 0) continue;  // just deleted
    files.push_back(absl::StrCat(name, ":", st.st_size, ":", st.st_mtim.tv_sec,
                                 ".", st.st_mtim.tv_nsec));
  }
  std::sort(files.begin(), files.end());
  std::string out;
  for (const std::string& f : files) absl::StrAppend(&out, f, "\n");
  return out;
}

absl::StatusOr<std::unique_ptr<Store>> Store::OpenOrFollow(
    const std::string& path, const StoreOptions& options) {
  StoreOptions reader = options;
  reader.mode = StoreOptions::Mode::kReadOnly;
  reader.create_if_missing = false;
  absl::Status last;
  // The writer may exit (this Store then writes) or still be creating the
  // database (the read-only open then waits): a few rounds, ~2 s at most.
  for (int attempt = 0; attempt < 20; ++attempt) {
    absl::StatusOr<std::unique_ptr<Store>> writer =
        OpenAs(path, options, /*following=*/false);
    if (writer.ok() || !IsBusy(writer.status())) return writer;
    absl::StatusOr<std::unique_ptr<Store>> follower =
        OpenAs(path, reader, /*following=*/true);
    if (follower.ok() || !MayPass(follower.status())) return follower;
    last = follower.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + 10 * attempt));
  }
  return last;
}

absl::StatusOr<bool> Store::BecomeWriter() {
  if (!following_.load()) return !read_only();
  absl::MutexLock w(&write_mu_);
  if (AnotherWriterHolds(path_, /*own_claim=*/"")) return false;
  absl::StatusOr<std::string> claim = ClaimWriter(path_);
  if (!claim.ok()) return false;  // another Store of this process writes
  absl::MutexLock l(&db_mu_);
  CloseDb();
  mode_.store(StoreOptions::Mode::kReadWrite);
  absl::Status s = OpenDbSettled();
  if (s.ok()) {
    writer_claim_ = *std::move(claim);
    following_.store(false);
    StartCommitService();
    return true;
  }
  // Someone else won the race, or the open failed: follow again.
  ReleaseWriter(*claim);
  CloseDb();
  mode_.store(StoreOptions::Mode::kReadOnly);
  CKPTDB_RETURN_IF_ERROR(OpenDbSettled());
  if (IsBusy(s)) return false;
  return s;
}

absl::StatusOr<bool> Store::Refresh() {
  if (!read_only()) return false;
  absl::MutexLock w(&write_mu_);
  if (db_ != nullptr && DatabaseFilesFingerprint(path_) == view_fingerprint_) {
    return false;
  }
  absl::MutexLock l(&db_mu_);
  CloseDb();
  CKPTDB_RETURN_IF_ERROR(OpenDbSettled());
  return true;
}

}  // namespace ckptdb::internal
