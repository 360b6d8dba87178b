// Store: opening a database (creating it, or recovering what interrupted
// saves left), reopening after a failed write, and following a writer.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "compaction/chunk_gc.h"
#include "db/chunk_files.h"
#include "db/durable_mark.h"
#include "db/rocks_util.h"
#include "db/staging_dir.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "db/writer_claims.h"
#include "rocksdb/metadata.h"
#include "schema/records.h"
#include "schema/step_codec.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

// Only the files RocksDB writes first when it creates a database (its info
// LOG, then LOCK; CURRENT comes last).
bool OnlyStartupFiles(const std::string& path) {
  std::error_code ec;
  bool any = false;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name != "LOG" && name != "LOCK" && !absl::StartsWith(name, "LOG.old")) {
      return false;
    }
    any = true;
  }
  return any;
}

// A directory without CURRENT: what it holds.
struct DirContents {
  bool empty = true;
  bool rocks_files = false;  // MANIFEST, tables, IDENTITY, OPTIONS
};
DirContents ListContents(const std::string& path) {
  std::error_code ec;
  DirContents c;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    c.empty = false;
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, "MANIFEST-") || absl::EndsWith(name, ".sst") ||
        name == "IDENTITY" || absl::StartsWith(name, "OPTIONS-")) {
      c.rocks_files = true;
    }
  }
  return c;
}

}  // namespace

absl::Status Store::OpenDbSettled() {
  if (read_only()) view_fingerprint_ = DatabaseFilesFingerprint(path_);
  unheld_is_damage_ = false;
  reopen_error_ = absl::OkStatus();
  for (int attempt = 0;; ++attempt) {
    view_lagged_ = false;
    absl::Status s = OpenDb();
    // A view refused by the durable mark tries again: a writer that held
    // the database may have let go between the view's open and its check.
    if (!s.ok() && mark_refused_ && read_only() && attempt < 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (!s.ok()) return FailedReopen(s);
    // A reopen sees the writer's files (they are ingested before the commit
    // record is written); give up after ~1 s of back-to-back saves.
    if (!view_lagged_ || attempt >= 20) return absl::OkStatus();
    CloseDb();
    // Without a writer nothing is being saved: a commit record whose files
    // the table files do not hold is damage, listed as such (damage_test).
    if (!AnotherWriterHolds(path_, writer_claim_)) {
      unheld_is_damage_ = true;
      absl::Status again = OpenDb();
      unheld_is_damage_ = false;
      return again.ok() ? again : FailedReopen(again);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + 2 * attempt));
  }
}

absl::StatusOr<bool> Store::CheckDirectory(bool rw) const {
  std::error_code ec;
  if (!fs::exists(path_, ec)) {
    if (!options_.create_if_missing || !rw) {
      return absl::NotFoundError(
          absl::StrCat("no ckptdb database at '", path_, "'"));
    }
    return true;
  }
  if (!fs::is_directory(path_, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", path_, "' exists and is not a directory (not a ckptdb database)"));
  }
  const fs::path current = fs::path(path_) / "CURRENT";
  // Another process creating the database: wait (up to ~1 s) until it
  // holds the lock or has written CURRENT.
  for (int wait = 0;
       wait < 100 && !fs::exists(current, ec) &&
       !AnotherWriterHolds(path_, writer_claim_) && OnlyStartupFiles(path_);
       ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (fs::exists(current, ec)) return false;
  if (AnotherWriterHolds(path_, writer_claim_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database '", path_, "' is busy: another writer is creating it"));
  }
  const bool interrupted_creation = OnlyStartupFiles(path_);
  const DirContents contents = ListContents(path_);
  if (contents.rocks_files) {
    return absl::DataLossError(absl::StrCat(
        "database at '", path_,
        "' is damaged: its CURRENT file is missing (the directory was "
        "truncated or partly deleted)"));
  }
  if (interrupted_creation && (!options_.create_if_missing || !rw)) {
    // Only LOG and LOCK after ~1 s: a creator slower than that (a loaded
    // machine) or one that died; a writer with `create` finishes it.
    return absl::FailedPreconditionError(absl::StrCat(
        "database '", path_,
        "' is busy: another writer is creating it (or died creating it)"));
  }
  if ((!contents.empty && !interrupted_creation) ||
      !options_.create_if_missing || !rw) {
    if (contents.empty) {
      return absl::NotFoundError(absl::StrCat("no ckptdb database at '", path_,
                                              "' (the directory is empty)"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("'", path_,
                     "' is not a ckptdb database (no RocksDB CURRENT file); "
                     "refusing to use it"));
  }
  return true;
}

// True when the database holds nothing in its default column family
// (opened read-only, so nothing is written to find out).
bool Store::DefaultFamilyIsEmpty(const rocksdb::DBOptions& dbo) const {
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o(dbo, rocksdb::ColumnFamilyOptions());
  if (!rocksdb::DB::OpenForReadOnly(o, path_, &raw).ok()) return false;
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    empty = !it->Valid() && it->status().ok();
  }  // iterators pin the column family: gone before the close
  db->Close().PermitUncheckedError();
  return empty;
}

rocksdb::Status Store::OpenRocks(
    bool creating, bool rw, rocksdb::DBOptions* dbo,
    std::vector<std::string>* names,
    std::vector<rocksdb::ColumnFamilyHandle*>* handles, rocksdb::DB** raw) {
  if (creating) {
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec) {
      return rocksdb::Status::Aborted(absl::StrCat("cannot create directory '",
                                                   path_, "': ", ec.message()));
    }
    *names = {kMetaCf, kChunksCf, kChunkIndexCf};
    dbo->create_if_missing = true;
    dbo->create_missing_column_families = true;
  } else {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(*dbo, path_, names);
    if (!s.ok()) return s;
    const bool has_chunks =
        std::find(names->begin(), names->end(), kChunksCf) != names->end();
    const bool has_index =
        std::find(names->begin(), names->end(), kChunkIndexCf) != names->end();
    if (!has_chunks || !has_index) {
      const bool only_fixed_families =
          std::all_of(names->begin(), names->end(), [](const std::string& n) {
            return n == kMetaCf || n == kChunksCf || n == kChunkIndexCf;
          });
      if (fs::exists(DurableMark::PathIn(path_))) {
        // The mark is written once the families exist (OpenDurableMark):
        // this MANIFEST lost them. Checked first, so that nothing below
        // takes the database for an interrupted creation and re-creates
        // its families empty.
        return rocksdb::Status::Corruption(
            absl::StrCat("its MANIFEST lists no '", kChunksCf,
                         "' column family, though ckptdb wrote the directory (",
                         "ckptdb-durable-seq is there)"));
      } else if (only_fixed_families &&
                 AnotherWriterHolds(path_, writer_claim_)) {
        // A writer is creating it (its column families come one by one):
        // busy, for a writer and a reader (OpenOrFollow retries it).
        const std::string msg = absl::StrCat(
            "database '", path_, "' is busy: another writer is creating it");
        return rw ? rocksdb::Status::Aborted(msg) : rocksdb::Status::Busy(msg);
      } else if (names->size() == 1 && rw && options_.create_if_missing &&
                 DefaultFamilyIsEmpty(*dbo)) {
        // A database whose creation was interrupted (nothing but an empty
        // default family): finish it below. Someone else's RocksDB, with
        // data in it, is never touched.
        *names = {kMetaCf, kChunksCf, kChunkIndexCf};
        dbo->create_missing_column_families = true;
      } else {
        return rocksdb::Status::Aborted(absl::StrCat(
            "'", path_,
            "' is a RocksDB database but not a ckptdb database (no '",
            kChunksCf, "' column family)"));
      }
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const std::string& name : *names) {
    if (name == kMetaCf || name == kChunkIndexCf) {
      descs.emplace_back(name, cf_options_->meta);
    } else if (name == kChunksCf) {
      descs.emplace_back(name, cf_options_->chunks);
    } else {
      descs.emplace_back(name, cf_options_->step);
    }
  }
  StoreOptions::Mode mode = mode_.load();
  // A writer's look before it opens (OpenAroundDamagedTables) is read-only.
  if (!rw && mode == StoreOptions::Mode::kReadWrite) {
    mode = StoreOptions::Mode::kReadOnly;
  }
  switch (mode) {
    case StoreOptions::Mode::kReadWrite:
      return rocksdb::DB::Open(*dbo, path_, descs, handles, raw);
    case StoreOptions::Mode::kReadOnly:
      return rocksdb::DB::OpenForReadOnly(*dbo, path_, descs, handles, raw);
    case StoreOptions::Mode::kSecondary: {
      std::string secondary = options_.secondary_path;
      if (secondary.empty()) {
        char tmpl[] = "/tmp/ckptdb-secondary-XXXXXX";
        const char* d = mkdtemp(tmpl);
        if (d == nullptr) {
          return rocksdb::Status::IOError(
              "cannot create a secondary directory");
        }
        secondary = d;
      }
      rocksdb::DBOptions sec = *dbo;
      sec.max_open_files = -1;
      return rocksdb::DB::OpenAsSecondary(sec, path_, secondary, descs, handles,
                                          raw);
    }
  }
  return rocksdb::Status::InvalidArgument("unknown open mode");
}

absl::Status Store::OpenRocksRetrying(
    bool creating, bool rw, std::vector<std::string>* names,
    std::vector<rocksdb::ColumnFamilyHandle*>* handles) {
  gc_filter_ = std::make_shared<ChunkGcFilterFactory>();
  cf_options_ = std::make_unique<CfOptionSet>(MakeCfOptions(gc_filter_));
  damaged_tables_.clear();  // of an earlier open
  RocksTuning tuning;
  tuning.env = options_.env;
  tuning.mmap_reads = options_.mmap_reads;
  rocksdb::DBOptions dbo = MakeDbOptions(tuning);
  // A reader racing the writer can find the MANIFEST naming a file or a
  // column family the writer has just deleted: it retries with a fresh view.
  // Past its first two tries only while someone is at work on the files: a
  // writer holds the database, held it during this open, or the files
  // changed since its first failure (listed only then: an open that works
  // lists nothing). A failure in files nobody touches is what is there: a
  // missing file is then damage, reported at once.
  std::optional<std::string> files_at_failure;
  bool writer_seen = false;
  auto others_at_work = [&] {
    writer_seen = writer_seen || AnotherWriterHolds(path_, writer_claim_);
    return writer_seen || DatabaseFilesFingerprint(path_) != *files_at_failure;
  };
  for (int attempt = 0;; ++attempt) {
    names->clear();
    handles->clear();
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = OpenRocks(creating, rw, &dbo, names, handles, &raw);
    if (s.ok()) {
      db_.reset(raw);
      return absl::OkStatus();
    }
    if (!files_at_failure) files_at_failure = DatabaseFilesFingerprint(path_);
    // A torn MANIFEST tail heals within microseconds; lasting corruption
    // is reported after a few tries.
    // Another writer created a column family since they were listed (it
    // may have closed since): list them again, reader or writer.
    const bool families_grew =
        s.IsInvalidArgument() &&
        s.ToString().find("Column families not opened") != std::string::npos;
    const bool transient =
        (families_grew && attempt < 50) ||
        (!rw && attempt < (s.IsCorruption() ? 8 : 50) &&
         (s.IsCorruption() || s.IsIOError() || s.IsPathNotFound() ||
          (s.IsInvalidArgument() &&
           s.ToString().find("Column family not found") !=
               std::string::npos)) &&
         (attempt < 2 || others_at_work()));
    if (!transient) {
      // A writer racing another that holds the lock can fail before the
      // lock check (a column family created since it listed them): busy.
      if (rw && AnotherWriterHolds(path_, writer_claim_)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "database '", path_,
            "' is busy: another writer has it open (RocksDB: ", s.ToString(),
            ")"));
      }
      // Ours (a writer creating the database; not ckptdb's): the message
      // alone, busy or refused.
      if (s.code() == rocksdb::Status::kAborted || s.IsBusy()) {
        return absl::FailedPreconditionError(
            s.getState() != nullptr ? s.getState() : s.ToString());
      }
      // CURRENT is there (CheckDirectory): a file it leads to that is
      // missing, with nobody at work on the files, is damage too, not a
      // missing database (with someone at work: NotFound, which
      // OpenOrFollow retries).
      if (s.IsCorruption() ||
          ((s.IsPathNotFound() || s.IsNotFound()) && !others_at_work())) {
        std::string why;
        const bool table =
            s.IsCorruption() && absl::StrContains(s.ToString(), ".sst");
        if (table && (!rw || options_.open_around_damaged_tables)) {
          absl::Status around =
              OpenAroundDamagedTables(dbo, rw, names, handles);
          if (around.code() != absl::StatusCode::kDataLoss) return around;
          if (!around.message().empty()) {
            why = absl::StrCat("; ", around.message());
          }
        } else if (table) {
          why =
              "; a read-only open reads the steps that do not need this "
              "file, `ckptdb verify` names those that do, and `ckptdb rm` "
              "of them, then `ckptdb gc`, removes it";
        }
        return absl::DataLossError(absl::StrCat(
            "cannot open database '", path_, "': its files are damaged (",
            "RocksDB: ", s.ToString(), ")", why, "; nothing was changed"));
      }
      return FromRocks(s, absl::StrCat("cannot open database '", path_, "'"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + 5 * attempt));
  }
}

absl::Status Store::LoadHeader(bool rw) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_cf_, kHeaderKey, &value);
  if (s.ok()) {
    CKPTDB_ASSIGN_OR_RETURN(
        DbHeader h,
        DecodeHeader(ToView(value),
                     absl::StrCat("database '", path_, "' header")));
    if (h.magic != kDbMagic) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path_, "' is not a ckptdb database (bad magic)"));
    }
    kind_ = h.kind;
    return absl::OkStatus();
  }
  if (!s.IsNotFound()) return FromRocks(s, "cannot read the database header");
  // Only an empty database may receive a header: never adopt someone
  // else's RocksDB.
  bool empty;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
    it->SeekToFirst();
    empty = !it->Valid();
  }  // iterators pin the column families: gone before any close
  if (!empty || !rw || !options_.create_if_missing) {
    if (empty) {
      // Another process is creating it right now.
      return absl::UnavailableError(absl::StrCat(
          "database '", path_, "' is being created (no header yet); retry"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "'", path_, "' is not a ckptdb database (no header record)"));
  }
  DbHeader h;
  h.magic = kDbMagic;
  h.kind = options_.create_kind;
  h.created_time_ns = NowNs();
  h.created_by = kVersionString;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db_->Put(wo, meta_cf_, kHeaderKey, EncodeHeader(h));
  if (!s.ok()) return FromRocks(s, "cannot write the database header");
  kind_ = options_.create_kind;
  return absl::OkStatus();
}

absl::Status Store::CheckDurableMark(uint64_t mark) {
  mark_refused_ = false;
  const uint64_t recovered = db_->GetLatestSequenceNumber();
  if (mark <= recovered) return absl::OkStatus();
  // A read-only view opened while a writer holds the database may see less
  // than the writer has just marked; the writer checked at its own open.
  if (read_only() && AnotherWriterHolds(path_, writer_claim_)) {
    return absl::OkStatus();
  }
  mark_refused_ = true;
  return absl::DataLossError(absl::StrCat(
      "database '", path_, "' lost writes that were durable: it recovers ",
      "to sequence number ", recovered, ", but ", DurableMark::PathIn(path_),
      " records that sequence ", mark,
      " was durable (its write-ahead log was cut short, damaged or deleted). "
      "Commits and deletions after that point are missing, and no step was "
      "changed",
      read_only() ? ""
                  : " (RocksDB's recovery has already stored what the log "
                    "still held and retired the log)",
      ". To open it with what survived, remove ", DurableMark::PathIn(path_)));
}

void Store::OpenDurableMark(bool creating) {
  // Without its file (a full disk, say) the database opens unmarked: the
  // mark only checks, and a writer on a full disk must still delete.
  auto writer = DurableMark::OpenForWrite(path_);
  if (!writer.ok()) return;
  durable_mark_ = *std::move(writer);
  if (creating) MarkDurable();  // the header
}

void Store::MarkDurable() {
  // An error leaves the mark behind the database: it then checks less.
  if (durable_mark_ != nullptr) {
    durable_mark_->Record(db_->GetLatestSequenceNumber()).IgnoreError();
  }
}

void Store::LoadNaming() {
  rocksdb::PinnableSlice value;
  if (!db_->Get(rocksdb::ReadOptions(), meta_cf_, NamingKey(options_.run),
                &value)
           .ok()) {
    return;
  }
  // A damaged naming record only loses display names and stored retention
  // (ckptdb gc reports it: ReadNamingRecord); the run's next manager
  // rewrites it.
  auto naming = DecodeNaming(options_.run, ToView(value));
  absl::MutexLock l(&naming_mu_);
  naming_damaged_ = !naming.ok();
  naming_ = naming.ok() ? *std::move(naming) : NamingRecord();
}

absl::StatusOr<Store::StepMap> Store::LoadSteps(
    bool rw, const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
    uint64_t* max_number) {
  StepMap steps;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (const char* prefix : {kRunStepKeyPrefix, kStepKeyPrefix}) {
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      CKPTDB_RETURN_IF_ERROR(LoadStep(rw, step_cfs, *it, &steps, max_number));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot list steps");
  }
  for (it->Seek(kSegmentKeyPrefix);
       it->Valid() && it->key().starts_with(kSegmentKeyPrefix); it->Next()) {
    uint64_t seg;
    if (ParseSegmentKey(ToView(it->key()), kSegmentKeyPrefix, &seg)) {
      *max_number = std::max(*max_number, seg);
    }
  }
  return steps;
}

absl::Status Store::LoadStep(
    bool rw, const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
    const rocksdb::Iterator& it, StepMap* steps, uint64_t* max_number) {
  int64_t step;
  std::string run;
  if (!ParseRunStepKey(ToView(it.key()), &run, &step)) return absl::OkStatus();
  {
    auto e = std::make_shared<StepEntry>();
    auto record = DecodeStepRecord(ToView(it.key()), ToView(it.value()));
    if (!record.ok()) {
      // One damaged record must not make every other step unreadable: the
      // step is listed as damaged and reading it reports why.
      e->info.step = step;
      e->info.name = absl::StrCat(step);
      e->info.damage = std::string(record.status().message());
      e->damage = record.status();
      (*steps)[run][step] = std::move(e);
      return absl::OkStatus();
    }
    e->info = std::move(record->info);
    e->cf_name = std::move(record->column_family);
    e->generation = record->generation;
    e->item_names = std::move(record->item_names);
    *max_number = std::max(*max_number, e->generation);
    auto cf = step_cfs.find(e->cf_name);
    if (cf != step_cfs.end()) e->cf = cf->second;
    if (!SlotHolds(*e)) {
      if (!rw && !unheld_is_damage_) {
        // A reader may see a commit record (WAL) whose ingested files its
        // MANIFEST view predates (the slot is empty, or still holds the
        // step it held before): that step is not visible yet.
        view_lagged_ = true;
        return absl::OkStatus();
      }
      // The writer's own view, or a reader's with no writer: the commit
      // record and the table files disagree (a damaged or cut write-ahead
      // log or MANIFEST; a slot can also have been reused by a later step
      // after a delete that the log lost). Listed as damaged, never read.
      e->damage = absl::DataLossError(absl::StrCat(
          "step ", step, ": its commit record names column family '",
          e->cf_name, "', which does not hold that step in '", path_,
          "': the write-ahead log and the table files disagree (damaged or "
          "truncated database files); this step cannot be read"));
      e->info.damage = std::string(e->damage.message());
      // Not this step's slot: deleting the step must not recycle it (it
      // may hold a later step's data).
      e->cf = nullptr;
    }
    (*steps)[run][step] = std::move(e);
  }
  return absl::OkStatus();
}

std::vector<std::shared_ptr<Store::CfHandle>> Store::FindOrphans(
    const StepMap& steps,
    const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
    uint64_t* max_number) const {
  std::set<std::string> referenced;
  std::set<int64_t> damaged;  // steps whose commit record is unreadable
  for (const auto& [run, run_steps] : steps) {
    for (const auto& [step, e] : run_steps) {
      referenced.insert(e->cf_name);
      if (!e->damage.ok()) damaged.insert(step);
    }
  }
  std::vector<std::shared_ptr<CfHandle>> orphans;
  for (const auto& [name, cf] : step_cfs) {
    uint64_t n;
    if (ParseSlotColumnFamilyName(name, &n)) {
      *max_number = std::max(*max_number, n);
    }
    if (referenced.count(name)) continue;
    if (!damaged.empty() && SlotNamesStep(*cf, damaged)) {
      continue;  // may hold a damaged step's data: keep it for recovery
    }
    orphans.push_back(cf);
  }
  return orphans;
}

uint64_t Store::MaxSegmentOnDisk() const {
  uint64_t max_number = 0;
  rocksdb::ColumnFamilyMetaData md;
  db_->GetColumnFamilyMetaData(chunks_cf_, &md);
  for (const auto& level : md.levels) {
    for (const auto& f : level.files) {
      uint64_t seg;
      uint32_t ord;
      if (ParseChunkKey(f.largestkey, &seg, &ord)) {
        max_number = std::max(max_number, seg);
      }
    }
  }
  return max_number;
}

absl::Status Store::OpenDb() {
  const bool rw = !read_only();
  CKPTDB_ASSIGN_OR_RETURN(const bool creating, CheckDirectory(rw));
  // Read before the database is opened: what the mark says was durable
  // then, the open must recover.
  const uint64_t mark =
      creating || mode_.load() == StoreOptions::Mode::kSecondary
          ? 0
          : DurableMark::Read(path_);
  std::vector<std::string> names;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  CKPTDB_RETURN_IF_ERROR(OpenRocksRetrying(creating, rw, &names, &handles));
  if (absl::Status s = CheckDurableMark(mark); !s.ok()) {
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      db_->DestroyColumnFamilyHandle(h);
    }
    db_.reset();
    return s;
  }

  // The three fixed column families; step column families are owned by
  // CfHandles from here on.
  std::map<std::string, std::shared_ptr<CfHandle>> step_cfs;
  for (size_t i = 0; i < handles.size(); ++i) {
    if (names[i] == kMetaCf) {
      meta_cf_ = handles[i];
    } else if (names[i] == kChunksCf) {
      chunks_cf_ = handles[i];
    } else if (names[i] == kChunkIndexCf) {
      index_cf_ = handles[i];
    } else {
      auto cf = std::make_shared<CfHandle>();
      cf->db = db_.get();
      cf->handle = handles[i];
      cf->name = names[i];
      step_cfs[names[i]] = std::move(cf);
    }
  }
  fixed_handles_ = {meta_cf_, chunks_cf_, index_cf_};
  if (options_.direct_reads) {
    chunk_files_ =
        std::make_unique<ChunkFiles>(db_.get(), chunks_cf_, meta_cf_);
  }

  if (absl::Status s = LoadHeader(rw); !s.ok()) {
    step_cfs.clear();
    CloseDb();
    return s;
  }
  if (rw) OpenDurableMark(creating);
  LoadNaming();
  uint64_t max_number = 0;
  CKPTDB_ASSIGN_OR_RETURN(StepMap steps, LoadSteps(rw, step_cfs, &max_number));
  std::vector<std::shared_ptr<CfHandle>> orphans =
      FindOrphans(steps, step_cfs, &max_number);
  max_number = std::max(max_number, MaxSegmentOnDisk());
  // Never lower: saves of this process staged before a reopen keep their
  // numbers.
  if (next_save_number_.load() < max_number + 1) {
    next_save_number_.store(max_number + 1);
  }
  {
    absl::MutexLock l(&steps_mu_);
    steps_ = std::move(steps);
    orphan_cfs_ = std::move(orphans);
  }

  int threads = options_.num_threads;
  if (threads < 0) {
    threads =
        std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
  }
  pool_ = std::make_unique<ThreadPool>(threads);
  // Saves (a follower's too) get every core, the caller waiting, at lower
  // priority.
  if (save_pool_ == nullptr && options_.save_nice > 0 &&
      (options_.mode == StoreOptions::Mode::kReadWrite || following_.load())) {
    save_pool_ = std::make_unique<ThreadPool>(threads + 1, options_.save_nice);
  }
  if (!rw) return absl::OkStatus();
  SweepStaging(path_);  // what dead processes staged
  GcReport report;
  return SweepOrphans(&report);
}

void Store::CloseDb() {
  {
    absl::MutexLock l(&steps_mu_);
    steps_.clear();
    orphan_cfs_.clear();
    uncertain_cfs_.clear();
  }
  free_slots_.clear();
  reload_bases_.store(true);
  chunk_files_.reset();
  durable_mark_.reset();
  damaged_tables_.clear();
  if (db_ == nullptr) return;
  // Open() returned its own handle objects, the default family's too;
  // destroying DefaultColumnFamily() itself is refused (harmless).
  for (auto* h : fixed_handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  fixed_handles_.clear();
  meta_cf_ = chunks_cf_ = index_cf_ = nullptr;
  db_->Close().PermitUncheckedError();
  db_.reset();
}

// After a failed write RocksDB stops accepting writes; DB::Resume() in 7.8
// can leave ingestion broken (an assertion in ExternalSstFileIngestionJob
// seen here), so the store reopens the database instead: recovery from
// disk, which also drops what the failed save left behind.
absl::Status Store::ResumeIfNeeded() {
  if (!needs_resume_ && db_ != nullptr) return absl::OkStatus();
  absl::MutexLock l(&db_mu_);
  CloseDb();
  absl::Status s = OpenDb();
  reopen_error_ = absl::OkStatus();
  if (!s.ok()) {
    FailedReopen(s).IgnoreError();      // s is returned below
    if (absl::IsDataLoss(s)) return s;  // damage: retrying will not help
    return absl::UnavailableError(absl::StrCat(
        "the database stopped writing after a failed write and cannot "
        "reopen yet (free disk space and retry): ",
        s.message()));
  }
  needs_resume_ = false;
  return absl::OkStatus();
}

absl::Status Store::FailedReopen(const absl::Status& s) {
  // Half open (the steps not loaded, say) is closed: every later call
  // reports, none reads an empty view.
  CloseDb();
  if (absl::IsDataLoss(s)) reopen_error_ = s;
  return s;
}

absl::Status Store::CheckDb() const {
  if (db_ == nullptr && !reopen_error_.ok()) {
    return absl::DataLossError(absl::StrCat(
        "database '", path_,
        "' is closed: its last reopen failed: ", reopen_error_.message()));
  }
  if (db_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "database '", path_,
        "' is closed after a failed write; the next save reopens it"));
  }
  return absl::OkStatus();
}

absl::Status Store::CheckWritable() const {
  if (!read_only()) return absl::OkStatus();
  if (following_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database '", path_,
        "' is open for writing by another process (or another manager of "
        "this one); this one follows it and can only read"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("database '", path_, "' is open read-only"));
}

absl::Status Store::Reload() {
  absl::MutexLock w(&write_mu_);
  if (!read_only()) {
    return ResumeIfNeeded();
  }
  absl::MutexLock l(&db_mu_);
  CloseDb();
  return OpenDbSettled();
}

}  // namespace ckptdb::internal
