// Crash safety: a writer process dies at every point of the save, delete
// and GC protocols (deterministically through test hooks; crash_loop_test
// kills processes at random moments). Afterwards every surviving step
// restores bit-exactly, no chunk reference dangles (Verify reads every
// chunk), and nothing of an interrupted save is visible or left on disk
// after GC.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/store_checks.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::CheckNothingLeftAfterGc;
using ::ckptdb::testing::DirectoryBytes;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::TempDir;

// ~1 MiB per step; "shared" repeats every 4 steps (deduplicated chunks).
Tree StateFor(int64_t step) {
  return Tree::Dict(
      {{"shared", RandomArray(DType::kFloat32, {128, 1024}, 1000 + step % 4)},
       {"own", RandomArray(DType::kFloat32, {128, 1024}, step)},
       {"step", Tree::Int(step)}});
}

CheckpointManagerOptions Options(bool async) {
  CheckpointManagerOptions o;
  o.max_to_keep = 2;
  o.keep_period = 5;
  o.enable_async_checkpointing = async;
  o.gc_garbage_fraction = 0.0;  // compact every dead chunk (exercises GC)
  return o;
}

// Saves `count` steps after the latest; with `point`, the process exits
// abruptly the `nth` time the store reaches that point, after writing the
// step whose Save was in progress to `crash_report` (when not empty).
[[noreturn]] void RunWriter(const std::string& db, int count, bool async,
                            const std::string& point, int nth,
                            const std::string& crash_report = "") {
  int seen = 0;
  int64_t saving = -1;
  if (!point.empty()) {
    internal::SetGlobalTestHook([&](absl::string_view p) {
      if (p != point || ++seen != nth) return;
      if (!crash_report.empty()) {
        std::ofstream(crash_report) << saving << "\n";
      }
      _exit(42);
    });
  }
  auto mgr = CheckpointManager::Open(db, Options(async));
  if (!mgr.ok()) _exit(2);
  const int64_t start = (*mgr)->LatestStep().value_or(-1) + 1;
  for (int64_t s = start; s < start + count; ++s) {
    saving = s;
    if (!(*mgr)->Save(s, StateFor(s)).ok()) _exit(3);
  }
  if (!(*mgr)->Close().ok()) _exit(4);
  _exit(0);
}

int RunChild(const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid == 0) body();
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

// Every listed step restores exactly; Verify finds nothing; returns steps.
std::vector<int64_t> CheckDatabase(const std::string& db) {
  std::vector<int64_t> steps;
  {
    auto mgr = CheckpointManager::Open(db, Options(false));
    EXPECT_TRUE(mgr.ok()) << mgr.status();
    if (!mgr.ok()) return steps;
    steps = (*mgr)->AllSteps();
    for (int64_t s : steps) {
      auto t = (*mgr)->Restore(s);
      EXPECT_TRUE(t.ok()) << "step " << s << ": " << t.status();
      if (t.ok()) EXPECT_TRUE(*t == StateFor(s)) << "step " << s;
    }
  }
  internal::StoreOptions so;
  auto store = internal::Store::Open(db, so);
  EXPECT_TRUE(store.ok()) << store.status();
  if (store.ok()) {
    auto problems = (*store)->Verify({});
    EXPECT_TRUE(problems.ok()) << problems.status();
    if (problems.ok()) {
      for (const auto& p : problems->problems) {
        ADD_FAILURE() << "step " << p.step << " " << p.path << ": "
                      << p.message;
      }
    }
  }
  return steps;
}

// After GC, the database holds little more than the live steps' chunks.
void CheckSpace(const std::string& db) {
  auto mgr = CheckpointManager::Open(db, Options(false));
  ASSERT_TRUE(mgr.ok()) << mgr.status();
  ASSERT_TRUE((*mgr)->CollectGarbage().ok());
  std::set<int64_t> shared_seeds;
  uint64_t live = 0;
  for (int64_t s : (*mgr)->AllSteps()) {
    live += 512 << 10;  // "own"
    if (shared_seeds.insert(s % 4).second) live += 512 << 10;
  }
  const uint64_t on_disk = DirectoryBytes(db);
  EXPECT_LT(on_disk, live + (4 << 20)) << "live " << live;
}

// The steps Options() keeps out of `steps` (ascending): the newest
// max_to_keep = 2 and every step with step % keep_period == 0.
std::vector<int64_t> Retained(const std::vector<int64_t>& steps) {
  std::vector<int64_t> kept;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i + 2 >= steps.size() || steps[i] % 5 == 0) kept.push_back(steps[i]);
  }
  return kept;
}

// The steps listed after `steps` saves `first`..`last` with retention.
std::vector<int64_t> AfterSaves(std::vector<int64_t> steps, int64_t first,
                                int64_t last) {
  for (int64_t s = first; s <= last; ++s) {
    steps.push_back(s);
    steps = Retained(steps);
  }
  return steps;
}

// Where a crash point lies in a save: before its commit, after the commit
// but before its retention's delete commits, or after that delete.
enum class Phase { kBeforeCommit, kCommitted, kRetentionApplied };

struct CrashPoint {
  const char* name;
  Phase phase;
};

void PrintTo(const CrashPoint& p, std::ostream* os) { *os << p.name; }

class CrashPointTest : public ::testing::TestWithParam<CrashPoint> {};

TEST_P(CrashPointTest, CrashAtPointLosesNothingCommitted) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  const std::string report = dir.Sub("crashed_step");
  ASSERT_EQ(RunChild([&] { RunWriter(db, 4, false, "", 0); }), 0);
  const std::vector<int64_t> before = CheckDatabase(db);
  ASSERT_EQ(before, AfterSaves({}, 0, 3));
  // Crash during the second save (or delete, or GC) of the next run.
  const int code =
      RunChild([&] { RunWriter(db, 6, false, GetParam().name, 2, report); });
  ASSERT_EQ(code, 42) << "the crash point was never reached";
  int64_t crashed = -1;
  std::ifstream(report) >> crashed;
  ASSERT_EQ(crashed, 5) << "not the run's second save";
  // Steps listed before the crash are all still there, except those the
  // completed saves' retention deleted; the interrupted save's step is
  // visible only once committed, and its retention only once the delete
  // committed; no step beyond the run appears.
  std::vector<int64_t> expected = AfterSaves(before, 4, crashed - 1);
  if (GetParam().phase != Phase::kBeforeCommit) expected.push_back(crashed);
  if (GetParam().phase == Phase::kRetentionApplied) {
    expected = Retained(expected);
  }
  EXPECT_EQ(CheckDatabase(db), expected);
  CheckNothingLeftAfterGc(db);
  // The database keeps working and its space comes back.
  ASSERT_EQ(RunChild([&] { RunWriter(db, 3, false, "", 0); }), 0);
  EXPECT_EQ(CheckDatabase(db),
            AfterSaves(expected, expected.back() + 1, expected.back() + 3));
  CheckNothingLeftAfterGc(db);
  CheckSpace(db);
}

INSTANTIATE_TEST_SUITE_P(
    Points, CrashPointTest,
    ::testing::Values(CrashPoint{"after_hash", Phase::kBeforeCommit},
                      CrashPoint{"after_segment_file", Phase::kBeforeCommit},
                      CrashPoint{"after_step_file", Phase::kBeforeCommit},
                      CrashPoint{"after_create_cf", Phase::kBeforeCommit},
                      CrashPoint{"after_ingest", Phase::kBeforeCommit},
                      CrashPoint{"before_commit", Phase::kBeforeCommit},
                      CrashPoint{"after_commit", Phase::kCommitted},
                      CrashPoint{"before_delete_commit", Phase::kCommitted},
                      CrashPoint{"after_delete_commit",
                                 Phase::kRetentionApplied},
                      CrashPoint{"gc_plan_published", Phase::kRetentionApplied},
                      CrashPoint{"gc_compacted", Phase::kRetentionApplied}),
    [](const ::testing::TestParamInfo<CrashPoint>& i) {
      return std::string(i.param.name);
    });

// The commit records of a process that died without Close live only in
// RocksDB's write-ahead log. Damage in the middle of that log must fail the
// open (DataLoss) instead of silently dropping the commits after it.
TEST(WalDamageTest, DamagedLogFailsTheOpenInsteadOfDroppingSteps) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  ASSERT_EQ(RunChild([&] {
              auto mgr = CheckpointManager::Open(db, Options(false));
              if (!mgr.ok()) _exit(2);
              for (int64_t s = 0; s < 6; ++s) {
                if (!(*mgr)->Save(s, StateFor(s)).ok()) _exit(3);
              }
              _exit(0);  // no Close: the log is not flushed
            }),
            0);
  std::string log;
  uint64_t log_size = 0;
  for (const auto& e : std::filesystem::directory_iterator(db)) {
    if (e.path().extension() == ".log" && e.file_size() > log_size) {
      log = e.path().string();
      log_size = e.file_size();
    }
  }
  ASSERT_GT(log_size, 1000u) << "no write-ahead log with commit records";
  ::ckptdb::testing::FlipByte(log, log_size / 2);
  auto mgr = CheckpointManager::Open(db, Options(false));
  ASSERT_FALSE(mgr.ok()) << "opened with steps "
                         << ::testing::PrintToString((*mgr)->AllSteps());
  EXPECT_EQ(mgr.status().code(), absl::StatusCode::kDataLoss) << mgr.status();
}

}  // namespace
}  // namespace ckptdb
