// Damage campaign (issue 17): random damage to every kind of file of a
// database -- table files, MANIFEST, CURRENT, OPTIONS, the write-ahead log,
// IDENTITY, ckptdb's durable mark -- flipping a byte, zeroing a range or
// truncating the file, one damage per case on a fresh copy of one database.
// After each, a default read-write manager and a read-only view must either
// refuse to open with a message, or restore every step they list bit-exactly or
// fail with an error (a deleted step whose delete the damage undid may be
// listed, as damaged, never with data); `Verify` must name every step whose
// restore failed, and when it finds nothing, every committed step must be
// listed and restore exactly. Never a crash, a hang, a wrong value or a step
// silently missing (a write-ahead log that lost durable writes is refused by
// the durable mark, db/durable_mark.h). Each case is read by `ckptdb verify` in
// a child process first, so that an abort inside RocksDB (which keeps its
// assertions in Debian's build: a damaged block it parses unverified) fails
// the case rather than the test binary. Last, `ckptdb rm DB 2` and `ckptdb gc`
// run on the damaged copy (in children; gc compacts step 2's segment, so
// RocksDB reads chunk tables): never a crash, and every other step the view
// restored before still restores exactly after them.
//
// CKPTDB_DAMAGE_CASES sets the number of cases (default 80, 10 of each kind;
// seed CKPTDB_DAMAGE_SEED); CKPTDB_DAMAGE_KIND one kind of file to damage
// ("chunk sst", "sst", "manifest", "CURRENT", "options", "wal", "mark",
// "IDENTITY").
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::TempDir;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

// Step s's tree: an array shared by every step, one that drifts a little
// (delta chunks), one replaced (full chunks), a small inline one, a scalar.
Tree State(int64_t s) {
  Array drift = RandomArray(DType::kFloat32, {1 << 16}, 7);
  float* d = static_cast<float*>(drift.mutable_data());
  for (int64_t i = 0; i < (1 << 16); ++i) d[i] += 1e-4f * s * (i % 7);
  return Tree::Dict(
      {{"shared", Tree::FromArray(RandomArray(DType::kFloat32, {1 << 16}, 1))},
       {"drift", Tree::FromArray(std::move(drift))},
       {"fresh",
        Tree::FromArray(RandomArray(DType::kInt32, {1 << 15}, 100 + s))},
       {"small", Tree::FromArray(RandomArray(DType::kInt8, {8}, s))},
       {"step", Tree::Int(s)}});
}

CheckpointManagerOptions Options() {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.chunk_bytes = 64 << 10;  // several chunks per array
  return o;
}

// The database every case damages a copy of: steps 0, 2, 3 and 4
// committed, step 1 saved and deleted (its slot free for reuse).
const std::set<int64_t> kCommitted = {0, 2, 3, 4};

void MakeGolden(const std::string& db) {
  auto mgr = CheckpointManager::Open(db, Options());
  CKPTDB_ASSERT_OK(mgr);
  for (int64_t s = 0; s <= 3; ++s) CKPTDB_ASSERT_OK((*mgr)->Save(s, State(s)));
  CKPTDB_ASSERT_OK((*mgr)->Delete(1));
  CKPTDB_ASSERT_OK((*mgr)->Save(4, State(4)));
  CKPTDB_ASSERT_OK((*mgr)->Close());
}

std::string KindOf(const fs::path& p) {
  const std::string name = p.filename().string();
  if (p.extension() == ".sst") return "sst";
  if (p.extension() == ".log") return "wal";
  if (name.rfind("MANIFEST-", 0) == 0) return "manifest";
  if (name.rfind("OPTIONS-", 0) == 0) return "options";
  if (name == "CURRENT" || name == "IDENTITY") return name;
  if (name == "ckptdb-durable-seq") return "mark";
  return "";  // LOG (RocksDB's info log), LOCK, staging folders: not data
}

// Every damageable file of `db`, by kind.
std::map<std::string, std::vector<std::string>> FilesByKind(
    const std::string& db) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& e : fs::recursive_directory_iterator(db)) {
    if (!e.is_regular_file() || e.file_size() == 0) continue;
    const std::string kind = KindOf(e.path());
    if (!kind.empty()) {
      out[kind].push_back(fs::relative(e.path(), db).string());
    }
  }
  for (auto& [kind, files] : out) std::sort(files.begin(), files.end());
  return out;
}

// Applies damage `how` (0 flip a byte, 1 zero up to 4 KiB, 2 truncate) at
// a random place of `file`; describes it.
std::string Damage(const std::string& file, int how, std::mt19937_64* rng) {
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t size = bytes.size();
  const size_t at = (*rng)() % size;
  std::string what;
  if (how == 0) {
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + (*rng)() % 255));
    what = absl::StrCat("flipped byte ", at, " of ", size);
  } else if (how == 1) {
    const size_t len = std::min<size_t>(size - at, 1 + (*rng)() % 4096);
    std::fill(bytes.begin() + at, bytes.begin() + at + len, '\0');
    what = absl::StrCat("zeroed ", len, " bytes at ", at, " of ", size);
  } else {
    bytes.resize(at);
    what = absl::StrCat("truncated to ", at, " of ", size, " bytes");
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  return what;
}

// The table files of the golden database's chunks family.
std::set<std::string> ChunkTables(const std::string& db) {
  std::set<std::string> out;
  internal::StoreOptions so;
  so.mode = internal::StoreOptions::Mode::kReadOnly;
  auto store = internal::Store::Open(db, so);
  if (!store.ok()) return out;
  rocksdb::ColumnFamilyMetaData md;
  (*store)->rocks()->GetColumnFamilyMetaData((*store)->chunks_cf(), &md);
  for (const auto& level : md.levels) {
    for (const auto& f : level.files) out.insert(fs::path(f.name).filename());
  }
  return out;
}

// Runs `ckptdb COMMAND DB TAIL` in a child: the signal that ended it, or 0.
int CliInChild(const char* command, const std::string& db,
               const char* tail = "") {
  const std::string cmd = absl::StrCat("'", CKPTDB_CLI, "' ", command, " '", db,
                                       "' ", tail, " >/dev/null 2>&1");
  const int status = std::system(cmd.c_str());
  if (WIFSIGNALED(status)) return WTERMSIG(status);
  // The shell reports a child killed by a signal as 128 + the signal.
  if (WIFEXITED(status) && WEXITSTATUS(status) > 128) {
    return WEXITSTATUS(status) - 128;
  }
  return 0;
}

struct Outcome {
  bool open_refused = false;
  std::set<int64_t> listed, restored, failed;
};

// Opens `db` as `options` say and restores every step it lists, checking
// each value against State(); failures are added to the test with `where`.
Outcome CheckManager(const std::string& db, CheckpointManagerOptions options,
                     const std::string& where) {
  Outcome out;
  auto mgr = CheckpointManager::Open(db, options);
  if (!mgr.ok()) {
    out.open_refused = true;
    EXPECT_FALSE(mgr.status().message().empty()) << where;
    return out;
  }
  for (int64_t s : (*mgr)->AllSteps()) {
    out.listed.insert(s);
    auto got = (*mgr)->Restore(s);
    if (got.ok()) {
      // A step deleted before the damage (its delete lost with the log)
      // may be listed, but only as damaged: never with data.
      EXPECT_TRUE(kCommitted.count(s))
          << where << ": step " << s << ", deleted, restores again";
      EXPECT_TRUE(*got == State(s))
          << where << ": step " << s << " restored with wrong values";
      out.restored.insert(s);
    } else {
      EXPECT_FALSE(got.status().message().empty()) << where;
      out.failed.insert(s);
    }
  }
  (void)(*mgr)->Close();
  return out;
}

TEST(DamageTest, RandomDamageToEveryKindOfFileIsReportedNeverWrong) {
  TempDir dir;
  const std::string golden = dir.Sub("golden");
  MakeGolden(golden);
  if (::testing::Test::HasFatalFailure()) return;
  auto files = FilesByKind(golden);
  // The chunks family's tables (bulk data, one chunk a block) are a kind of
  // their own: "sst" is every other family's.
  const std::set<std::string> chunk_tables = ChunkTables(golden);
  std::vector<std::string>& tables = files["sst"];
  for (auto f = tables.begin(); f != tables.end();) {
    if (!chunk_tables.count(fs::path(*f).filename())) {
      ++f;
      continue;
    }
    files["chunk sst"].push_back(*f);
    f = tables.erase(f);
  }
  std::vector<std::string> kinds;
  for (const auto& [kind, names] : files) kinds.push_back(kind);
  // Every kind the issue names exists in the database.
  for (const char* k :
       {"sst", "chunk sst", "manifest", "CURRENT", "options", "wal", "mark"}) {
    ASSERT_FALSE(files[k].empty()) << "no " << k << " file in " << golden;
  }
  // CKPTDB_DAMAGE_KIND: damage only files of that kind.
  if (const char* only = std::getenv("CKPTDB_DAMAGE_KIND")) {
    ASSERT_TRUE(files.count(only)) << "no kind '" << only << "'";
    kinds = {only};
  }
  const int cases = EnvInt("CKPTDB_DAMAGE_CASES", 80);
  const int seed = EnvInt("CKPTDB_DAMAGE_SEED", 1);
  std::map<std::string, int> refused, reported, harmless;
  for (int c = 0; c < cases; ++c) {
    std::mt19937_64 rng(seed * 1000003ull + c);
    const std::string& kind = kinds[c % kinds.size()];
    const auto& names = files.at(kind);
    const std::string name = names[rng() % names.size()];
    const std::string db = dir.Sub("case");
    fs::remove_all(db);
    fs::copy(golden, db, fs::copy_options::recursive);
    const int how = static_cast<int>((c / kinds.size()) % 3);
    const std::string where =
        absl::StrCat("case ", c, " (seed ", seed, "): ", name, " ",
                     Damage(db + "/" + name, how, &rng));

    if (const int sig = CliInChild("verify", db); sig != 0) {
      ADD_FAILURE() << where << ": ckptdb verify was killed by signal " << sig;
      continue;
    }
    CheckpointManagerOptions ro = Options();
    ro.read_only = true;
    const Outcome view = CheckManager(db, ro, where + ", read-only view");
    const Outcome rw = CheckManager(db, Options(), where + ", read-write");
    // Step 2 deleted and garbage collected over the damage (part of its
    // chunks stay live, so gc compacts its segment, reading chunk tables):
    // never a crash, and every other step the view restored before still
    // restores, exactly (CheckManager checks the values).
    auto collect = [&] {
      for (const auto& [command, tail] :
           {std::pair{"rm", "2"}, std::pair{"gc", "--no-progress"}}) {
        if (const int sig = CliInChild(command, db, tail); sig != 0) {
          ADD_FAILURE() << where << ": ckptdb " << command
                        << " was killed by signal " << sig;
          return;
        }
      }
      const Outcome after = CheckManager(db, ro, where + ", after gc");
      for (int64_t s : view.restored) {
        EXPECT_TRUE(s == 2 || after.restored.count(s))
            << where << ": step " << s << " restored before gc, not after";
      }
    };
    if (rw.open_refused && view.open_refused) {
      ++refused[kind];
      collect();
      continue;
    }
    // What Verify reports, by step (-1: the chunk bookkeeping); when it
    // cannot run at all, its error is the report.
    internal::StoreOptions so;
    so.mode = internal::StoreOptions::Mode::kReadOnly;
    auto store = internal::Store::Open(db, so);
    absl::StatusOr<internal::VerifyReport> report =
        store.ok() ? (*store)->Verify({}) : store.status();
    std::set<int64_t> named;
    if (report.ok()) {
      for (const auto& p : report->problems) named.insert(p.step);
    }
    const bool verify_clean = report.ok() && report->problems.empty();
    for (const Outcome* o : {&view, &rw}) {
      for (int64_t s : o->failed) {
        EXPECT_TRUE(!report.ok() || named.count(s))
            << where << ": step " << s << " fails to restore but Verify "
            << "does not name it";
      }
      if (verify_clean && !o->open_refused) {
        EXPECT_EQ(o->listed, kCommitted)
            << where << ": Verify finds nothing, yet the steps listed differ";
        EXPECT_EQ(o->restored, kCommitted) << where;
      }
    }
    ++(verify_clean ? harmless : reported)[kind];
    collect();
  }
  // A damaged mark checks less; it never refuses or hides anything.
  EXPECT_EQ(refused["mark"], 0);
  EXPECT_EQ(reported["mark"], 0);
  std::string summary;
  for (const std::string& k : kinds) {
    absl::StrAppend(&summary, "  ", k, ": ", refused[k], " refused to open, ",
                    reported[k], " reported, ", harmless[k], " harmless\n");
  }
  std::printf("%d damage cases (seed %d):\n%s", cases, seed, summary.c_str());
}

}  // namespace
}  // namespace ckptdb
