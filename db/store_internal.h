// Definitions shared by the Store's implementation files (store*.cc,
// step_slots.cc, save_files.cc, refcounts.cc); not for other folders.
#ifndef CKPTDB_DB_STORE_INTERNAL_H_
#define CKPTDB_DB_STORE_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "db/save_plan.h"
#include "db/store.h"
#include "rocksdb/db.h"
#include "rocksdb/slice.h"
#include "schema/chunk_codec.h"
#include "schema/commit_codec.h"

namespace ckptdb::internal {

// The folder of a database where saves stage their SST files.
inline constexpr char kStagingDir[] = "ckptdb-staging";
inline constexpr char kVersionString[] = "ckptdb 0.1.0";
inline constexpr uint32_t kMaxItems = 65535;

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline absl::string_view ToView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}
inline rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

// A per-thread buffer for casts and patches.
inline std::string& Staging() {
  thread_local std::string buf;
  return buf;
}

// The keys of a map of segments (DamagedChunkTables' argument).
template <typename Map>
std::set<uint64_t> SegmentsOf(const Map& by_segment) {
  std::set<uint64_t> segments;
  for (const auto& entry : by_segment) segments.insert(entry.first);
  return segments;
}

// The names, sizes and modification times of a database's CURRENT,
// MANIFEST and write-ahead-log files: every commit changes it
// (store_follow.cc).
std::string DatabaseFilesFingerprint(const std::string& path);

// A step column family handle, destroyed with the last reference.
struct Store::CfHandle {
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  std::string name;
  ~CfHandle() {
    if (db != nullptr && handle != nullptr) {
      db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
  }
};

// The SST files one save stages; removed when the save ends (ingestion
// has moved or linked them by then).
struct StagedFiles {
  std::vector<std::string> segment_files;  // one per writer
  std::string step_file;
  StagedFiles() = default;
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;
  ~StagedFiles();
};

// chunk_index entries of chunks a save found already stored, by hash.
struct ReusedChunks {
  std::map<Hash128, ChunkEntry> entries;
};

// A save whose files are written (store_save.cc): what its commit needs,
// and what the stager keeps for itself.
struct StagedSave {
  CommitRequest commit;  // op kCommit
  StagedFiles files;     // removed when the save ends
  SavePlan plan;
  ReusedChunks reused;
};

// A save that met a concurrent change (a chunk it found stored was
// deleted, another save stored a chunk it wrote, the writer changed): it is
// staged again, at most kSaveAttempts times in all.
inline constexpr int kSaveAttempts = 8;
inline constexpr char kRacedPrefix[] = "concurrent change: ";
inline absl::Status RacedError(absl::string_view what) {
  return absl::AbortedError(absl::StrCat(kRacedPrefix, what));
}
inline bool IsRaced(const absl::Status& s) {
  return s.code() == absl::StatusCode::kAborted &&
         absl::StartsWith(s.message(), kRacedPrefix);
}
// The raced error of a save whose writer went away: the save is staged
// again however often that happens, for as long as the commit timeout.
inline constexpr char kWriterChanged[] = "the writer changed: ";
inline absl::Status WriterChangedError(absl::string_view what) {
  return RacedError(absl::StrCat(kWriterChanged, what));
}
inline bool IsWriterChanged(const absl::Status& s) {
  return IsRaced(s) && absl::StrContains(s.message(), kWriterChanged);
}

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_STORE_INTERNAL_H_
