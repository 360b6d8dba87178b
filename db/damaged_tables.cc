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
// such scans. A writer refuses too, unless it asks to open around the
// damage (StoreOptions::open_around_damaged_tables: `ckptdb rm` and
// `ckptdb gc`), to delete the steps that need the tables and drop them.
#include <algorithm>
#include <optional>
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

// Each live table of `db` that RocksDB cannot open on its own (footer,
// index or properties damaged, or its size not the MANIFEST's). `env`:
// nullptr for the default.
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

void CloseRocks(std::unique_ptr<rocksdb::DB> db,
                std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  for (rocksdb::ColumnFamilyHandle* h : *handles) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles->clear();
  db->Close().PermitUncheckedError();
}

// Keeps every table of the bookkeeping families open from now on, as an
// ordinary open does: a scan that reached a table another process has
// deleted since would end early in silence. (Step data is read by Get and
// Seek, which report a table they cannot open.)
absl::Status PinBookkeepingTables(
    rocksdb::DB* db, const std::vector<std::string>& names,
    const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  rocksdb::Status s = db->SetDBOptions({{"max_open_files", "-1"}});
  for (size_t i = 0; s.ok() && i < handles.size(); ++i) {
    if (HoldsStepDataOnly(names[i])) continue;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
    }
    s = it->status();
  }
  return FromRocks(s, "loading the bookkeeping tables");
}

}  // namespace

absl::Status Store::OpenAroundDamagedTables(
    rocksdb::DBOptions dbo, bool rw, std::vector<std::string>* names,
    std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  // RocksDB's least: it still loads two tables at open, and refuses the
  // database again if one of them is the damaged one.
  dbo.max_open_files = 20;
  // A table cut short is found below, with the others.
  dbo.skip_checking_sst_file_sizes_on_db_open = true;
  // Looked at read-only first, also for a writer: a writer's open replays
  // and retires the log and writes a new MANIFEST, which must not happen
  // to a database it then refuses.
  names->clear();
  handles->clear();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      OpenRocks(/*creating=*/false, /*rw=*/false, &dbo, names, handles, &raw);
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
  if (damaged.empty() || !bookkeeping.empty() || rw) {
    CloseRocks(std::move(db), handles);
    if (damaged.empty()) return absl::DataLossError("");
    if (!bookkeeping.empty()) {
      return absl::DataLossError(absl::StrCat(
          "the damaged tables include the database's bookkeeping (",
          absl::StrJoin(bookkeeping, ", "),
          "), without which no step can be listed safely"));
    }
    s = OpenRocks(/*creating=*/false, /*rw=*/true, &dbo, names, handles, &raw);
    if (!s.ok()) {
      return FromRocks(s, "opening for writing around the damaged tables");
    }
    db.reset(raw);
  }
  if (absl::Status pinned = PinBookkeepingTables(db.get(), *names, *handles);
      !pinned.ok()) {
    CloseRocks(std::move(db), handles);
    return absl::DataLossError(pinned.message());
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

bool AnyChunkTableIn(const std::vector<DamagedTable>& tables,
                     const std::string& begin, const std::string& end) {
  return std::any_of(tables.begin(), tables.end(), [&](const DamagedTable& t) {
    return t.family == kChunksCf && t.largest_key >= begin &&
           t.smallest_key <= end;
  });
}

std::vector<DamagedTable> Store::DeadDamagedTables(uint64_t in_flight) const {
  std::vector<DamagedTable> dead;
  for (const DamagedTable& t : LiveDamagedTables()) {
    uint64_t seg, last_seg;
    uint32_t first, last;
    if (t.family != kChunksCf || !ParseChunkKey(t.smallest_key, &seg, &first) ||
        !ParseChunkKey(t.largest_key, &last_seg, &last) || seg != last_seg ||
        seg >= in_flight) {
      continue;
    }
    const std::optional<std::vector<bool>> live = LiveOrdinals(seg);
    if (!live || last >= live->size()) continue;  // unsure: keep it
    if (std::none_of(live->begin() + first, live->begin() + last + 1,
                     [](bool b) { return b; })) {
      dead.push_back(t);
    }
  }
  return dead;
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
                      "refuses it while the file is damaged (`ckptdb rm` of "
                      "the steps that need it, then `ckptdb gc`, removes "
                      "it)")});
  }
  return problems;
}

}  // namespace ckptdb::internal
