// Store-level behaviour: damaged bookkeeping records are contained and
// reported, never fatal to the rest of the database.
#include "db/store.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "api/restore.h"
#include "db/rocks_util.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "schema/records.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

Tree StateFor(int64_t step) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, step)},
                     {"step", Tree::Int(step)}});
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    StoreOptions o;
    o.create_if_missing = true;
    auto s = Store::Open(dir_.Sub("db"), o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  void Save(Store& store, int64_t step) {
    Tree t = StateFor(step);
    StepSaveRequest req;
    req.step = step;
    req.items.push_back({"default", &t});
    ASSERT_TRUE(store.SaveStep(req).ok());
  }
  TempDir dir_;
};

TEST_F(StoreTest, DamagedCommitRecordIsListedAndContained) {
  {
    auto store = Open();
    for (int64_t s = 0; s < 3; ++s) Save(*store, s);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    ASSERT_TRUE(
        store->rocks()
            ->Put(wo, store->meta_cf(), StepKey(1), std::string(100, '\x42'))
            .ok());
  }
  auto store = Open();
  std::vector<StepInfo> steps = store->Steps();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_TRUE(steps[0].damage.empty());
  EXPECT_THAT(steps[1].damage, HasSubstr("step 1 commit record"));
  EXPECT_THAT(
      store->ReadItem(1, "default"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("step 1 commit record")));
  // The others read fine, and verification names the damaged step.
  CKPTDB_EXPECT_OK(store->ReadItem(2, "default"));
  auto problems = store->Verify({});
  CKPTDB_ASSERT_OK(problems);
  ASSERT_FALSE(problems->problems.empty());
  EXPECT_EQ(problems->problems.front().step, 1);
  // The damaged step can be deleted; the rest stays intact.
  CKPTDB_ASSERT_OK(store->DeleteSteps({1}));
  CKPTDB_ASSERT_OK(store->CollectGarbage({}).status());
  auto item = store->ReadItem(0, "default");
  CKPTDB_ASSERT_OK(item);
}

TEST_F(StoreTest, VerifyFindsBrokenReferenceCounts) {
  auto store = Open();
  Save(*store, 0);
  Save(*store, 1);
  auto clean = store->Verify({});
  CKPTDB_ASSERT_OK(clean);
  EXPECT_TRUE(clean->problems.empty());
  // Drop one chunk_index entry behind the store's back: a dangling
  // reference that Verify must report.
  auto hashes = store->StepChunkHashes(0);
  CKPTDB_ASSERT_OK(hashes);
  ASSERT_FALSE(hashes->empty());
  ASSERT_TRUE(store->rocks()
                  ->Delete(rocksdb::WriteOptions(), store->index_cf(),
                           ChunkIndexKey(hashes->front()))
                  .ok());
  auto problems = store->Verify({});
  CKPTDB_ASSERT_OK(problems);
  ASSERT_FALSE(problems->problems.empty());
  EXPECT_THAT(problems->problems.back().message,
              HasSubstr("has no chunk_index entry"));
}

TEST_F(StoreTest, DamagedSegmentStatisticsAreNeverCollected) {
  auto store = Open();
  Save(*store, 0);
  // Step 1 holds the same bytes: its chunks are step 0's (deduplicated).
  Tree same = StateFor(0);
  StepSaveRequest req;
  req.step = 1;
  req.items.push_back({"default", &same});
  CKPTDB_ASSERT_OK(store->SaveStep(req).status());
  auto hashes = store->StepChunkHashes(1);
  CKPTDB_ASSERT_OK(hashes);
  auto chunk = store->LookupChunk(hashes->front());
  CKPTDB_ASSERT_OK(chunk);
  ASSERT_TRUE(store->rocks()
                  ->Put(rocksdb::WriteOptions(), store->meta_cf(),
                        SegmentStatKey(chunk->location.segment),
                        std::string(40, '\x13'))
                  .ok());
  // Deleting step 0 cannot update that segment's statistics, but succeeds,
  // and garbage collection leaves alone a segment it cannot account for.
  CKPTDB_ASSERT_OK(store->DeleteSteps({0}));
  CKPTDB_ASSERT_OK(store->CollectGarbage({}).status());
  auto item = store->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  ASSERT_EQ(item->nodes[1].kind, Tree::Kind::kArray);
  std::vector<float> w(256 * 1024);
  CKPTDB_ASSERT_OK(store->ReadArrays(*item, {{1, w.data(), DType::kFloat32}}));
  EXPECT_EQ(std::memcmp(w.data(), same["w"].array().data(), w.size() * 4), 0);
  // Verification reports the damaged record.
  auto problems = store->Verify({});
  CKPTDB_ASSERT_OK(problems);
  ASSERT_FALSE(problems->problems.empty());
  EXPECT_THAT(problems->problems.back().message, HasSubstr("statistics"));
}

// Someone else's RocksDB database (only a default column family, with data
// in it) is refused even with create_if_missing, and left exactly as it
// was; an empty one (an interrupted creation) is finished.
TEST_F(StoreTest, ForeignRocksDbIsNeverModified) {
  const std::string foreign = dir_.Sub("foreign");
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, foreign, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete raw;
  }
  StoreOptions so;
  so.create_if_missing = true;
  EXPECT_THAT(Store::Open(foreign, so).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is a RocksDB database but not a ckptdb "
                                 "database (no 'chunks' column family)")));
  std::vector<std::string> families;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), foreign, &families)
          .ok());
  EXPECT_EQ(families, std::vector<std::string>{"default"});

  const std::string empty = dir_.Sub("empty");
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, empty, &raw).ok());
    delete raw;
  }
  auto store = Store::Open(empty, so);
  ASSERT_TRUE(store.ok()) << store.status();
  Save(**store, 1);
}

// Item names are text: one that is not valid UTF-8 is refused, naming it.
TEST_F(StoreTest, AnItemNameThatIsNotUtf8IsRefused) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const Tree t = StateFor(1);
  StepSaveRequest req;
  req.step = 1;
  req.items.push_back({"a\xff", &t});
  EXPECT_THAT(store->SaveStep(req).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item name 'a\\xff' is not valid UTF-8")));
  EXPECT_TRUE(store->Steps().empty());
}

// A MANIFEST deleted or emptied: DataLoss saying the files are damaged,
// for a writer and a reader (not "no database", not "not ckptdb's").
TEST_F(StoreTest, AMissingOrEmptyManifestIsDataLoss) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    Save(*store, 1);
  }
  std::string manifest;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("db"))) {
    const std::string name = e.path().filename().string();
    if (name.rfind("MANIFEST-", 0) == 0) manifest = e.path().string();
  }
  ASSERT_FALSE(manifest.empty());
  const std::string kept = dir_.Sub("manifest");
  std::filesystem::copy_file(manifest, kept);
  for (const bool empty : {false, true}) {
    if (empty) {
      std::filesystem::copy_file(kept, manifest);
      std::filesystem::resize_file(manifest, 0);
    } else {
      std::filesystem::remove(manifest);
    }
    for (const auto mode :
         {StoreOptions::Mode::kReadWrite, StoreOptions::Mode::kReadOnly}) {
      StoreOptions o;
      o.mode = mode;
      // A writer that would create a missing database must not take this
      // one for an interrupted creation (and re-create its families).
      o.create_if_missing = mode == StoreOptions::Mode::kReadWrite;
      EXPECT_THAT(Store::Open(dir_.Sub("db"), o).status(),
                  StatusIs(absl::StatusCode::kDataLoss,
                           HasSubstr("its files are damaged")))
          << (empty ? "empty" : "missing") << " MANIFEST";
    }
    std::filesystem::remove(manifest);
  }
}

// RocksDB 7.8 opens a table lazily when it is not among the first 16 it
// loads at open, and a forward scan that reaches a table it cannot open
// then ends with an OK status, as if the family ended there (measured:
// a scan of the chunks family of a 30-step database with one table's
// footer damaged stopped at that table). ckptdb's scans of its
// bookkeeping (commit records, segment records, reference counts) must
// never end early in silence, so a writer opens every table at open, and
// a damaged one refuses it, naming the file. A reader opens around a
// damaged table of step data (db/damaged_tables.cc): the steps that do
// not need it restore, and Verify names the table and the steps that do.
class DamagedTableTest : public StoreTest {
 protected:
  // 24 steps, every one with chunks of its own: more tables than RocksDB
  // loads at open. Returns the tables of `family` (or of step slots, for
  // "slot"), in file-number order.
  std::vector<std::string> SaveSteps(const std::string& family) {
    auto store = Open();
    EXPECT_NE(store, nullptr);
    if (store == nullptr) return {};
    for (int64_t s = 0; s < 24; ++s) Save(*store, s);
    std::vector<rocksdb::LiveFileMetaData> files;
    store->rocks()->GetLiveFilesMetaData(&files);
    EXPECT_GT(files.size(), 40u);
    std::map<uint64_t, std::string> tables;
    for (const rocksdb::LiveFileMetaData& f : files) {
      if (f.column_family_name == family ||
          (family == "slot" && f.column_family_name.rfind("slot-", 0) == 0)) {
        tables[std::stoull(f.name.substr(1))] = f.name.substr(1);
      }
    }
    std::vector<std::string> out;
    for (auto& [number, name] : tables) out.push_back(name);
    return out;
  }
  std::string Table(const std::string& name) {
    return dir_.Sub("db") + "/" + name;
  }
  // Flips the footer's magic number, the table's last byte.
  void DamageFooter(const std::string& name) {
    ::ckptdb::testing::FlipByte(Table(name),
                                std::filesystem::file_size(Table(name)) - 1);
  }
  // A reader of the database with `name` damaged (RocksDB still loads two
  // tables at open: if it is one of them, the reader is refused and this
  // returns nullptr after checking the refusal names it).
  std::unique_ptr<Store> Reader(const std::string& name) {
    StoreOptions o;
    o.mode = StoreOptions::Mode::kReadOnly;
    auto store = Store::Open(dir_.Sub("db"), o);
    if (!store.ok()) {
      EXPECT_THAT(store.status(),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr(name)));
      return nullptr;
    }
    return std::move(*store);
  }
  void ExpectWriterRefuses(const std::string& name) {
    StoreOptions o;
    EXPECT_THAT(
        Store::Open(dir_.Sub("db"), o).status(),
        StatusIs(absl::StatusCode::kDataLoss,
                 AllOf(HasSubstr("its files are damaged"), HasSubstr(name),
                       HasSubstr("a read-only open reads the steps "
                                 "that do not need this file"))));
  }
  struct ReaderView {
    std::set<int64_t> failed;  // restores that failed
    std::set<int64_t> named;   // steps Verify names
  };
  // The reader's view: every step listed; each restores exactly or fails
  // with DataLoss naming the table; Verify names the table and each step
  // whose restore failed.
  ReaderView CheckReader(Store& store, const std::string& name) {
    EXPECT_EQ(store.Steps().size(), 24u);
    std::set<int64_t> failed;
    for (int64_t s = 0; s < 24; ++s) {
      auto item = store.ReadItem(s, "default");
      if (!item.ok()) {
        EXPECT_THAT(item.status(),
                    StatusIs(absl::StatusCode::kDataLoss, HasSubstr(name)));
        failed.insert(s);
        continue;
      }
      auto tree = RestoreItem(store, *item, nullptr, RestoreOptions());
      if (!tree.ok()) {
        EXPECT_THAT(tree.status(),
                    StatusIs(absl::StatusCode::kDataLoss, HasSubstr(name)));
        failed.insert(s);
        continue;
      }
      EXPECT_TRUE(*tree == StateFor(s)) << "step " << s;
    }
    auto report = store.Verify({});
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) return {failed, {}};
    std::set<int64_t> named;
    bool table_named = false;
    for (const VerifyProblem& p : report->problems) {
      if (p.step >= 0) named.insert(p.step);
      if (p.step == -1 &&
          p.message.find("table file " + name) != std::string::npos) {
        table_named = true;
      }
    }
    EXPECT_TRUE(table_named);
    for (int64_t s : failed) EXPECT_EQ(named.count(s), 1u) << "step " << s;
    return {failed, named};
  }

  // Damages the footer of a table from the middle of `tables` on (with
  // max_open_files = 5000 a writer opened the database with such a table
  // damaged) and expects writers to refuse it; returns the reader's view of
  // the first one a reader opens around (RocksDB loads two tables at open
  // anyway: the reader is refused if the damaged one is among them).
  std::optional<ReaderView> DamageOneTable(
      const std::vector<std::string>& tables) {
    for (size_t i = tables.size() / 2;
         i < std::min(tables.size(), tables.size() / 2 + 3); ++i) {
      DamageFooter(tables[i]);
      ExpectWriterRefuses(tables[i]);
      if (std::unique_ptr<Store> reader = Reader(tables[i])) {
        return CheckReader(*reader, tables[i]);
      }
      DamageFooter(tables[i]);  // flipped back
    }
    return std::nullopt;
  }

  // `ckptdb rm` and `ckptdb gc` of `steps`: a writer opening around the
  // damage deletes them and GC drops the damaged table; then the database
  // opens for writing and verifies clean. Returns that writer.
  std::unique_ptr<Store> DeleteAroundDamage(const std::set<int64_t>& steps) {
    {
      StoreOptions o;
      o.open_around_damaged_tables = true;
      auto store = Store::Open(dir_.Sub("db"), o);
      EXPECT_TRUE(store.ok()) << store.status();
      if (!store.ok()) return nullptr;
      EXPECT_EQ((*store)->LiveDamagedTables().size(), 1u);
      CKPTDB_EXPECT_OK((*store)->DeleteSteps({steps.begin(), steps.end()}));
      auto gc = (*store)->CollectGarbage({});
      CKPTDB_EXPECT_OK(gc);
      if (gc.ok()) {
        EXPECT_TRUE(gc->damaged_segments.empty()) << gc->damaged_segments[0];
      }
      EXPECT_TRUE((*store)->LiveDamagedTables().empty());
    }
    auto store = Open();
    if (store == nullptr) return nullptr;
    auto report = store->Verify({});
    CKPTDB_EXPECT_OK(report);
    if (report.ok()) {
      EXPECT_TRUE(report->problems.empty()) << report->problems[0].message;
    }
    return store;
  }

  // DeleteAroundDamage, then every other step restores exactly.
  void RepairByDeleting(const std::set<int64_t>& named) {
    std::unique_ptr<Store> store = DeleteAroundDamage(named);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->Steps().size(), 24 - named.size());
    for (int64_t s = 0; s < 24; ++s) {
      if (named.count(s)) continue;
      auto item = store->ReadItem(s, "default");
      CKPTDB_ASSERT_OK(item);
      auto tree = RestoreItem(*store, *item, nullptr, RestoreOptions());
      CKPTDB_ASSERT_OK(tree);
      EXPECT_TRUE(*tree == StateFor(s)) << "step " << s;
    }
  }
};

TEST_F(DamagedTableTest, AChunkTableIsReadAroundNamedAndDeleted) {
  const std::vector<std::string> tables = SaveSteps("chunks");
  ASSERT_GT(tables.size(), 20u);
  std::optional<ReaderView> view = DamageOneTable(tables);
  ASSERT_TRUE(view.has_value()) << "no reader opened around the damage";
  EXPECT_FALSE(view->named.empty());  // Verify reads through RocksDB
  RepairByDeleting(view->named);
}

TEST_F(DamagedTableTest, AStepSlotTableLosesOnlyItsStep) {
  const std::vector<std::string> tables = SaveSteps("slot");
  ASSERT_GT(tables.size(), 20u);
  std::optional<ReaderView> view = DamageOneTable(tables);
  ASSERT_TRUE(view.has_value()) << "no reader opened around the damage";
  EXPECT_EQ(view->failed.size(), 1u);
  EXPECT_EQ(view->named, view->failed);
  RepairByDeleting(view->named);
}

// A damaged table of the bookkeeping (here the chunk index) refuses
// readers and even a writer asked to open around damage, and that
// writer's refusal changes no file (it looks read-only first: a writer's
// open would replay and retire the log and write a new MANIFEST; RocksDB's
// info logs aside).
TEST_F(DamagedTableTest, ADamagedBookkeepingTableRefusesEveryOpen) {
  std::string table;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int64_t s = 0; s < 4; ++s) Save(*store, s);
    rocksdb::FlushOptions fo;
    CKPTDB_ASSERT_OK(
        FromRocks(store->rocks()->Flush(fo, store->index_cf()), "flush"));
    Save(*store, 4);  // in the log only
    std::vector<rocksdb::LiveFileMetaData> files;
    store->rocks()->GetLiveFilesMetaData(&files);
    for (const rocksdb::LiveFileMetaData& f : files) {
      if (f.column_family_name == "chunk_index") table = f.name.substr(1);
    }
  }
  ASSERT_FALSE(table.empty());
  DamageFooter(table);
  auto listing = [&] {
    std::set<std::pair<std::string, uint64_t>> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("db"))) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.rfind("LOG", 0) != 0) {  // not logs
        out.emplace(name, e.file_size());
      }
    }
    return out;
  };
  const auto before = listing();
  for (const bool rw : {false, true}) {
    StoreOptions o;
    o.mode =
        rw ? StoreOptions::Mode::kReadWrite : StoreOptions::Mode::kReadOnly;
    o.open_around_damaged_tables = rw;
    EXPECT_THAT(Store::Open(dir_.Sub("db"), o).status(),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr(table),
                               HasSubstr("the damaged tables include the "
                                         "database's bookkeeping"))))
        << (rw ? "writer" : "reader");
    EXPECT_EQ(listing(), before) << (rw ? "writer" : "reader");
  }
}

// A save of more than 64 MiB of new chunks writes its segment as several
// tables. A damaged one whose chunks only deleted steps used goes at the
// next collection, though its segment stays partly live.
TEST_F(DamagedTableTest, ADeadDamagedTableGoesFromAPartlyLiveSegment) {
  const Array a = RandomArray(DType::kFloat32, {12, 1024, 1024}, 1);
  const Array b = RandomArray(DType::kFloat32, {12, 1024, 1024}, 2);
  const Array a2 = RandomArray(DType::kFloat32, {12, 1024, 1024}, 3);
  auto save = [&](Store& store, int64_t step, const Array& first) {
    Tree t = Tree::Dict({{"a", Tree(first)}, {"b", Tree(b)}});
    StepSaveRequest req;
    req.step = step;
    req.items.push_back({"default", &t});
    CKPTDB_ASSERT_OK(store.SaveStep(req).status());
  };
  std::string a_table;  // step 0's table of a's chunks
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    save(*store, 0, a);
    std::vector<rocksdb::LiveFileMetaData> files;
    store->rocks()->GetLiveFilesMetaData(&files);
    std::map<std::string, std::string> by_key;  // chunk tables by first key
    for (const rocksdb::LiveFileMetaData& f : files) {
      if (f.column_family_name == "chunks") {
        by_key[f.smallestkey] = f.name.substr(1);
      }
    }
    ASSERT_EQ(by_key.size(), 2u);  // a's chunks, then b's
    a_table = by_key.begin()->second;
    save(*store, 1, a2);
  }
  DamageFooter(a_table);
  {
    std::unique_ptr<Store> reader = Reader(a_table);
    ASSERT_NE(reader, nullptr);
    auto report = reader->Verify({});
    CKPTDB_ASSERT_OK(report);
    std::set<int64_t> named;
    for (const VerifyProblem& p : report->problems) {
      if (p.step >= 0) named.insert(p.step);
    }
    EXPECT_EQ(named, std::set<int64_t>{0});
  }
  std::unique_ptr<Store> store = DeleteAroundDamage({0});
  ASSERT_NE(store, nullptr);
  auto item = store->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  auto tree = RestoreItem(*store, *item, nullptr, RestoreOptions());
  CKPTDB_ASSERT_OK(tree);
  EXPECT_TRUE(*tree == Tree::Dict({{"a", Tree(a2)}, {"b", Tree(b)}}));
}

// A file system that refuses every change, as a read-only mount does
// (EROFS), once `frozen`.
class ReadOnlyFs : public rocksdb::FileSystemWrapper {
 public:
  ReadOnlyFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "ReadOnlyFs"; }
  std::atomic<bool> frozen{false};
  // Only the lock file's open fails (as on a read-only mount where the
  // info log could still be written elsewhere).
  std::atomic<bool> lock_refused{false};
  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    if (frozen) return Refuse(fname);
    return target()->NewWritableFile(fname, opts, result, dbg);
  }
  rocksdb::IOStatus LockFile(const std::string& fname,
                             const rocksdb::IOOptions& opts,
                             rocksdb::FileLock** lock,
                             rocksdb::IODebugContext* dbg) override {
    if (frozen || lock_refused) {
      return rocksdb::IOStatus::IOError("While open a file for lock: " + fname,
                                        "Read-only file system");
    }
    return target()->LockFile(fname, opts, lock, dbg);
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override {
    if (frozen) return Refuse(to);
    return target()->RenameFile(from, to, opts, dbg);
  }

 private:
  static rocksdb::IOStatus Refuse(const std::string& fname) {
    return rocksdb::IOStatus::IOError(
        "While open a file for appending: " + fname, "Read-only file system");
  }
};

// A read-write open on a read-only file system: PermissionDenied saying
// what a read-only open does, not an internal error; the read-only open
// reads the step.
TEST(StoreReadOnlyFsTest, AReadWriteOpenIsPermissionDeniedNamingTheWayOut) {
  TempDir dir;
  auto fs = std::make_shared<ReadOnlyFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  StoreOptions o;
  o.create_if_missing = true;
  o.env = env.get();
  {
    auto store = Store::Open(dir.Sub("db"), o);
    CKPTDB_ASSERT_OK(store);
    const Tree t = StateFor(1);
    StepSaveRequest req;
    req.step = 1;
    req.items.push_back({"default", &t});
    CKPTDB_ASSERT_OK((*store)->SaveStep(req));
  }
  fs->frozen = true;
  o.create_if_missing = false;
  EXPECT_THAT(Store::Open(dir.Sub("db"), o).status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("Read-only file system"),
                             HasSubstr("read_only=True"))));
  // Failing at the lock file (its message says "lock"): still not "busy".
  fs->frozen = false;
  fs->lock_refused = true;
  EXPECT_THAT(
      Store::Open(dir.Sub("db"), o).status(),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("for lock")));
  fs->lock_refused = false;
  fs->frozen = true;
  o.mode = StoreOptions::Mode::kReadOnly;
  auto view = Store::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(view);
  EXPECT_TRUE((*view)->ReadItem(1, "default").ok());
}

}  // namespace
}  // namespace ckptdb::internal

namespace ckptdb::internal {
namespace {

// A step whose commit record is damaged keeps its column family across
// reopens (its records and chunks may still be recovered).
TEST_F(StoreTest, DamagedStepKeepsItsColumnFamilyAcrossReopens) {
  std::string slot;
  {
    auto store = Open();
    Save(*store, 0);
    Save(*store, 1);
    auto cf = store->StepColumnFamily(1);
    CKPTDB_ASSERT_OK(cf);
    slot = *cf;
    ASSERT_TRUE(store->rocks()
                    ->Put(rocksdb::WriteOptions(), store->meta_cf(), StepKey(1),
                          std::string(64, '\x42'))
                    .ok());
  }
  for (int i = 0; i < 2; ++i) {
    auto store = Open();  // read-write opens sweep orphan slots
    rocksdb::ColumnFamilyMetaData md;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(),
                                                dir_.Sub("db"), &names)
                    .ok());
    EXPECT_NE(std::find(names.begin(), names.end(), slot), names.end());
  }
  auto store = Open();
  std::vector<rocksdb::ColumnFamilyHandle*> unused;
  rocksdb::ColumnFamilyMetaData md;
  // Its file is still there: the slot was not emptied.
  std::vector<rocksdb::LiveFileMetaData> files;
  store->rocks()->GetLiveFilesMetaData(&files);
  EXPECT_TRUE(std::any_of(files.begin(), files.end(), [&](const auto& f) {
    return f.column_family_name == slot;
  }));
}

// Counts RangeSync calls (writeback started before the final fsync) on
// files whose name contains "segment-": a save's chunk files.
class RangeSyncCountingFs : public rocksdb::FileSystemWrapper {
 public:
  RangeSyncCountingFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "RangeSyncCountingFs"; }
  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    rocksdb::IOStatus s = target()->NewWritableFile(fname, opts, &f, dbg);
    if (!s.ok()) return s;
    if (fname.find("segment-") == std::string::npos) {
      *result = std::move(f);
    } else {
      result->reset(new File(std::move(f), &range_syncs_));
    }
    return s;
  }
  int64_t range_syncs() const { return range_syncs_.load(); }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f,
         std::atomic<int64_t>* count)
        : FSWritableFileOwnerWrapper(std::move(f)), count_(count) {}
    rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t nbytes,
                                const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* d) override {
      ++*count_;
      return FSWritableFileOwnerWrapper::RangeSync(offset, nbytes, o, d);
    }

   private:
    std::atomic<int64_t>* count_;
  };
  std::atomic<int64_t> range_syncs_{0};
};

// StoreOptions::writeback_bytes (issue 19's lever): chunk files are
// range-synced while they are written; 0 leaves it to the final fsync.
TEST(StoreWritebackTest, WritebackBytesStartsWritebackOfSegmentFiles) {
  for (const uint64_t writeback : {uint64_t{0}, uint64_t{256} << 10}) {
    TempDir dir;
    auto fs = std::make_shared<RangeSyncCountingFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    StoreOptions o;
    o.create_if_missing = true;
    o.env = env.get();
    o.writeback_bytes = writeback;
    auto store = Store::Open(dir.Sub("db"), o);
    CKPTDB_ASSERT_OK(store);
    // 8 MiB: RocksDB leaves the last 1 MiB of a file to the final sync.
    const Tree t =
        Tree::Dict({{"w", RandomArray(DType::kFloat32, {2048, 1024}, 7)}});
    StepSaveRequest req;
    req.step = 1;
    req.items.push_back({"default", &t});
    CKPTDB_ASSERT_OK((*store)->SaveStep(req));
    if (writeback == 0) {
      EXPECT_EQ(fs->range_syncs(), 0);
    } else {
      // RocksDB range-syncs at its flushes (one per 1 MiB chunk here), up
      // to 1 MiB before the end: 7 calls for 8 MiB.
      EXPECT_GE(fs->range_syncs(), 4);
    }
    // Every chunk re-read and re-hashed.
    auto verify = (*store)->Verify({});
    CKPTDB_ASSERT_OK(verify);
    EXPECT_TRUE(verify->problems.empty()) << verify->problems.front().message;
  }
}

}  // namespace
}  // namespace ckptdb::internal
