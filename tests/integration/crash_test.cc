// Crash safety: a writer process dies at every point of the save, delete
// and GC protocols (deterministically through test hooks, and at random
// moments with SIGKILL in a loop). Afterwards every surviving step restores
// bit-exactly, no chunk reference dangles (Verify reads every chunk), and
// nothing of an interrupted save is visible or left on disk after GC.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

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
// abruptly the `nth` time the store reaches that point.
[[noreturn]] void RunWriter(const std::string& db, int count, bool async,
                            const std::string& point, int nth) {
  int seen = 0;
  if (!point.empty()) {
    internal::SetGlobalTestHook([&](absl::string_view p) {
      if (p == point && ++seen == nth) _exit(42);
    });
  }
  auto mgr = CheckpointManager::Open(db, Options(async));
  if (!mgr.ok()) _exit(2);
  const int64_t start = (*mgr)->LatestStep().value_or(-1) + 1;
  for (int64_t s = start; s < start + count; ++s) {
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

class CrashPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashPointTest, CrashAtPointLosesNothingCommitted) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  ASSERT_EQ(RunChild([&] { RunWriter(db, 4, false, "", 0); }), 0);
  const std::vector<int64_t> before = CheckDatabase(db);
  ASSERT_FALSE(before.empty());
  // Crash during the second save (or delete, or GC) of the next run.
  const int code = RunChild([&] { RunWriter(db, 6, false, GetParam(), 2); });
  ASSERT_EQ(code, 42) << "the crash point was never reached";
  const std::vector<int64_t> after = CheckDatabase(db);
  ASSERT_FALSE(after.empty());
  // Steps listed before the crash are all still there, except those the
  // completed saves' retention deleted; no step beyond the run appears.
  EXPECT_GE(after.back(), before.back());
  // The database keeps working and its space comes back.
  ASSERT_EQ(RunChild([&] { RunWriter(db, 3, false, "", 0); }), 0);
  CheckDatabase(db);
  CheckSpace(db);
}

INSTANTIATE_TEST_SUITE_P(Points, CrashPointTest,
                         ::testing::Values("after_hash", "after_segment_file",
                                           "after_step_file", "after_create_cf",
                                           "after_ingest", "before_commit",
                                           "after_commit",
                                           "before_delete_commit",
                                           "after_delete_commit",
                                           "gc_plan_published", "gc_compacted"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param);
                         });

TEST(CrashLoopTest, KillingTheWriterAtRandomMomentsNeverLosesAStep) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  std::mt19937 rng(12345);
  int saved_runs = 0;
  int64_t last_latest = -1;
  for (int iteration = 0; iteration < 20; ++iteration) {
    const bool async = iteration % 2 == 1;
    const pid_t pid = fork();
    if (pid == 0) RunWriter(db, 1000, async, "", 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(30, 400)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::vector<int64_t> steps = CheckDatabase(db);
    if (!steps.empty()) {
      // Committed steps never go back: the latest only moves forward.
      EXPECT_GE(steps.back(), last_latest) << "iteration " << iteration;
      if (steps.back() > last_latest) ++saved_runs;
      last_latest = steps.back();
    }
  }
  EXPECT_GT(saved_runs, 5);  // the loop really saved between kills
  CheckSpace(db);
}

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
