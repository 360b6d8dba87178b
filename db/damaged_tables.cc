// Store: a read-only open around table files RocksDB cannot open.
//
// Every open loads every table (max_open_files = -1, db/rocks_util.cc), so
// one table whose footer, index or properties are damaged refuses the
// whole database. A reader then opens it again with tables loaded on first
// use, and finds each live table RocksDB cannot open by opening it on its
// own (SstFileReader). If every such table holds step data (the chunks
// family, or a step slot), the view stays open: steps that do not need the
// table restore, those that do fail with DataLoss naming it, and Verify
// names the table. A damaged table of the bookkeeping (commit records,
// segment records, the chunk index) still refuses the database: RocksDB
// 7.8 ends a forward scan at a table it cannot open with an OK status
// (docs/design.md, "Damage"), and listings and reference counts come from
// such scans. A writer always refuses: GC and deletes must see every table.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

// Whether a table of `family` holds step data only (no scan of it decides
// what a listing or a reference count says).
bool HoldsStepDataOnly(const std::string& family) {
  return family == kChunksCf || absl::StartsWith(family, kSlotCfPrefix) ||
         absl::StartsWith(family, kStepCfPrefix);
}

}  // namespace

std::vector<DamagedTable> FindUnopenableTables(rocksdb::DB* db,
                                               rocksdb::Env* env) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  rocksdb::Options options;
  if (env != nullptr) options.env = env;
  std::vector<DamagedTable> damaged;
  for (const rocksdb::LiveFileMetaData& f : files) {
    // Opening reads the footer, the index and the properties: what RocksDB
    // reads of every table at open. Data blocks are checked when read.
    const std::string path = f.db_path + f.name;
    uint64_t size = 0;
    rocksdb::Status s = options.env->GetFileSize(path, &size);
    if (s.ok() && size != f.size) {
      s = rocksdb::Status::Corruption(absl::StrCat(
          "the file has ", size, " bytes, the database recorded ", f.size));
    }
    rocksdb::SstFileReader reader(options);
    if (s.ok()) s = reader.Open(path);
    if (s.ok()) continue;
    std::string file = f.name;
    if (!file.empty() && file[0] == '/') file.erase(0, 1);
    damaged.push_back({file, f.column_family_name, s.ToString(), f.smallestkey,
                       f.largestkey});
  }
  return damaged;
}

absl::Status Store::OpenAroundDamagedTables(
    rocksdb::DBOptions dbo, bool rw, std::vector<std::string>* names,
    std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  // RocksDB's least: it still loads two tables at open, and refuses the
  // database again if one of them is the damaged one.
  dbo.max_open_files = 20;
  // A table cut short is found below, with the others.
  dbo.skip_checking_sst_file_sizes_on_db_open = true;
  names->clear();
  handles->clear();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      OpenRocks(/*creating=*/false, rw, &dbo, names, handles, &raw);
  // (RocksDB loads two tables at open even so: the damaged one, maybe.)
  if (!s.ok()) return absl::DataLossError("");
  std::unique_ptr<rocksdb::DB> db(raw);
  std::vector<DamagedTable> damaged = FindUnopenableTables(db.get(), dbo.env);
  std::vector<std::string> bookkeeping;
  for (const DamagedTable& t : damaged) {
    if (!HoldsStepDataOnly(t.family)) {
      bookkeeping.push_back(
          absl::StrCat(t.file, " of family '", t.family, "'"));
    }
  }
  if (damaged.empty() || !bookkeeping.empty()) {
    for (rocksdb::ColumnFamilyHandle* h : *handles) {
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    handles->clear();
    db->Close().PermitUncheckedError();
    if (damaged.empty()) return absl::DataLossError("");
    return absl::DataLossError(
        absl::StrCat("the damaged tables include the database's bookkeeping (",
                     absl::StrJoin(bookkeeping, ", "),
                     "), without which no step can be listed safely"));
  }
  db_ = std::move(db);
  damaged_tables_ = std::move(damaged);
  return absl::OkStatus();
}

std::vector<DamagedTable> Store::LiveDamagedTables() const {
  std::vector<DamagedTable> live;
  if (damaged_tables_.empty()) return live;
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const DamagedTable& t : damaged_tables_) {
    for (const rocksdb::LiveFileMetaData& f : files) {
      if (f.name == "/" + t.file) live.push_back(t);
    }
  }
  return live;
}

std::string Store::DamagedChunkTableIn(const std::string& begin,
                                       const std::string& end) const {
  for (const DamagedTable& t : LiveDamagedTables()) {
    if (t.family == kChunksCf && t.largest_key >= begin &&
        t.smallest_key <= end) {
      return t.file;
    }
  }
  return "";
}

std::vector<VerifyProblem> Store::DamagedTableProblems() const {
  std::vector<VerifyProblem> problems;
  for (const DamagedTable& t : damaged_tables_) {
    std::string holds;
    if (t.family == kChunksCf) {
      holds =
          "chunks (a step that cannot read one of them around the damage is "
          "named above)";
    } else {
      std::vector<std::string> steps;
      absl::MutexLock l(&steps_mu_);
      for (const auto& [run, run_steps] : steps_) {
        for (const auto& [step, entry] : run_steps) {
          if (entry->cf_name == t.family) {
            steps.push_back(run.empty() ? absl::StrCat(step)
                                        : absl::StrCat(run, ":", step));
          }
        }
      }
      holds = steps.empty() ? std::string("no listed step's tree")
                            : absl::StrCat("the tree of step ",
                                           absl::StrJoin(steps, ", "));
    }
    problems.push_back(
        {-1, "", "",
         absl::StrCat("table file ", t.file, " (family '", t.family,
                      "') cannot be opened: ", t.error, ". It holds ", holds,
                      ". The database opens read-only around it; a writer "
                      "refuses it while the file is damaged (`ckptdb rm "
                      "--gc` of the steps that need it removes it)")});
  }
  return problems;
}

}  // namespace ckptdb::internal
