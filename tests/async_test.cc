// Async saves: capture modes, error reporting, draining, and a stress test
// of many async saves with retention and concurrent readers (run under
// ThreadSanitizer by scripts/test.sh).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "ckptdb/async_checkpointer.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tree StateFor(int64_t step, int64_t elems = 64 * 1024) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {elems}, step)},
                     {"b", RandomArray(DType::kFloat32, {16}, step + 7)},
                     {"step", Tree::Int(step)}});
}

// Makes the next save fail in the background: its staging directory
// vanishes after the step file is written, so ingestion fails.
class FailNextSave {
 public:
  explicit FailNextSave(std::string db) : db_(std::move(db)) {
    internal::SetGlobalTestHook([this](absl::string_view point) {
      if (point == "after_step_file" && !fired_.exchange(true)) {
        std::filesystem::remove_all(db_ + "/ckptdb-staging");
      }
    });
  }
  ~FailNextSave() { internal::SetGlobalTestHook(nullptr); }

 private:
  std::string db_;
  std::atomic<bool> fired_{false};
};

TEST(AsyncCheckpointerTest, CopyModeLetsTheCallerMutateAndFreeAtOnce) {
  TempDir dir;
  AsyncCheckpointer ckpt;
  Tree original = StateFor(1, 1 << 20);  // 4 MiB
  Tree expected = original.DeepCopy();
  {
    auto fut = ckpt.Save(dir.Sub("c"), original);
    CKPTDB_ASSERT_OK(fut);
    // Mutate every byte right away, then free the arrays.
    auto* w = static_cast<float*>(original["w"].array().mutable_data());
    for (int i = 0; i < (1 << 20); ++i) w[i] = -1.0f;
    original = Tree();
  }
  CKPTDB_ASSERT_OK(ckpt.WaitUntilFinished());
  auto back = ckpt.Restore(dir.Sub("c"));
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == expected);
}

TEST(AsyncCheckpointerTest, BorrowModeFutureSaysWhenTheMemoryIsFree) {
  TempDir dir;
  AsyncCheckpointer ckpt;
  Tree tree = StateFor(2, 1 << 20);
  AsyncSaveOptions o;
  o.capture = CaptureMode::kBorrow;
  auto fut = ckpt.Save(dir.Sub("c"), tree, o);
  CKPTDB_ASSERT_OK(fut);
  CKPTDB_ASSERT_OK(fut->Wait());
  EXPECT_TRUE(fut->done());
  EXPECT_FALSE(ckpt.IsSaving());
  auto back = ckpt.Restore(dir.Sub("c"));
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == tree);
}

TEST(AsyncCheckpointerTest, ForceAndAlreadyExistsAreCheckedBeforeReturning) {
  TempDir dir;
  AsyncCheckpointer ckpt;
  CKPTDB_ASSERT_OK(ckpt.Save(dir.Sub("c"), StateFor(1)));
  EXPECT_THAT(
      ckpt.Save(dir.Sub("c"), StateFor(2)),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("pass force")));
  AsyncSaveOptions force;
  force.force = true;
  CKPTDB_ASSERT_OK(ckpt.Save(dir.Sub("c"), StateFor(2), force));
  // Restore waits for the in-flight save of that path.
  auto back = ckpt.Restore(dir.Sub("c"));
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == StateFor(2));
  CKPTDB_ASSERT_OK(ckpt.Close());
  EXPECT_THAT(
      ckpt.Save(dir.Sub("c"), StateFor(3), force),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

TEST(AsyncCheckpointerTest, BackgroundErrorSurfacesOnceFromEachEntryPoint) {
  TempDir dir;
  const std::string path = dir.Sub("c");
  AsyncSaveOptions force;
  force.force = true;
  {  // from WaitUntilFinished, exactly once
    AsyncCheckpointer ckpt;
    CKPTDB_ASSERT_OK(ckpt.Save(path, StateFor(1), force));
    CKPTDB_ASSERT_OK(ckpt.WaitUntilFinished());
    FailNextSave fail(path);
    CKPTDB_ASSERT_OK(ckpt.Save(path, StateFor(2), force));
    EXPECT_FALSE(ckpt.WaitUntilFinished().ok());
    CKPTDB_EXPECT_OK(ckpt.WaitUntilFinished());
    auto back = ckpt.Restore(path);  // the previous checkpoint is intact
    CKPTDB_ASSERT_OK(back);
    EXPECT_TRUE(*back == StateFor(1));
  }
  {  // from the next Save
    AsyncCheckpointer ckpt;
    FailNextSave fail(path);
    CKPTDB_ASSERT_OK(ckpt.Save(path, StateFor(3), force));
    auto next = ckpt.Save(path, StateFor(4), force);
    EXPECT_FALSE(next.ok());
    EXPECT_THAT(next.status().message(), HasSubstr("step 0"));
    CKPTDB_ASSERT_OK(ckpt.Save(path, StateFor(4), force));  // then it works
    CKPTDB_ASSERT_OK(ckpt.WaitUntilFinished());
  }
  {  // from Close
    AsyncCheckpointer ckpt;
    FailNextSave fail(path);
    CKPTDB_ASSERT_OK(ckpt.Save(path, StateFor(5), force));
    EXPECT_FALSE(ckpt.Close().ok());
  }
  auto back = Checkpointer().Restore(path);
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == StateFor(4));
}

TEST(AsyncManagerTest, InFlightStepIsListedAndRestoreWaitsForIt) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"));  // async by default
  CKPTDB_ASSERT_OK(mgr);
  Tree big = StateFor(0, 8 << 20);  // 32 MiB: the save takes a while
  CKPTDB_ASSERT_OK((*mgr)->Save(0, big));
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(0));
  EXPECT_EQ((*mgr)->LatestStep(), 0);
  auto back = (*mgr)->Restore(0);  // never partial: waits
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == big);
}

TEST(AsyncManagerTest, BackgroundErrorSurfacesAndPreviousStepsStay) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  CheckpointManagerOptions o;
  o.max_to_keep = 1;
  {
    auto mgr = CheckpointManager::Open(db, o);
    CKPTDB_ASSERT_OK(mgr);
    CKPTDB_ASSERT_OK((*mgr)->Save(0, StateFor(0)));
    CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
    {
      FailNextSave fail(db);
      CKPTDB_ASSERT_OK((*mgr)->Save(1, StateFor(1)));
      EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(1));  // decided at once
      // The next save reports the failure (and does not save).
      auto next = (*mgr)->Save(2, StateFor(2));
      EXPECT_FALSE(next.ok());
      EXPECT_THAT(next.status().message(), HasSubstr("step 1"));
    }
    EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(0));  // put back
    auto back = (*mgr)->Restore(0);
    CKPTDB_ASSERT_OK(back);
    EXPECT_TRUE(*back == StateFor(0));
    {
      FailNextSave fail(db);
      CKPTDB_ASSERT_OK((*mgr)->Save(3, StateFor(3)));
      EXPECT_FALSE((*mgr)->Close().ok());  // Close reports it
    }
  }
  auto mgr = CheckpointManager::Open(db, o);
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(0));
}

TEST(AsyncManagerTest, DestructorDrainsTheInFlightSave) {
  TempDir dir;
  {
    auto mgr = CheckpointManager::Open(dir.Sub("db"));
    CKPTDB_ASSERT_OK(mgr);
    CKPTDB_ASSERT_OK((*mgr)->Save(0, StateFor(0, 4 << 20)));
  }  // no WaitUntilFinished
  auto mgr = CheckpointManager::Open(dir.Sub("db"));
  CKPTDB_ASSERT_OK(mgr);
  auto back = (*mgr)->Restore(0);
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == StateFor(0, 4 << 20));
}

// 200 async saves with retention, two reader threads restoring whatever is
// listed; every restore must be bit-exact (or NotFound for a step deleted
// between listing and reading).
TEST(AsyncStressTest, ManySavesWithRetentionAndConcurrentReaders) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.max_to_keep = 4;
  o.keep_period = 50;
  auto opened = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(opened);
  CheckpointManager* mgr = opened->get();
  constexpr int kSaves = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> restores{0};
  std::atomic<int> failures{0};
  auto reader = [&](int seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      std::vector<int64_t> steps = mgr->AllSteps();
      if (steps.empty()) continue;
      const int64_t s = steps[rng() % steps.size()];
      auto t = mgr->Restore(s);
      if (!t.ok()) {
        if (t.status().code() != absl::StatusCode::kNotFound) {
          ADD_FAILURE() << "step " << s << ": " << t.status();
          ++failures;
        }
        continue;
      }
      if (!(*t == StateFor(s, 16 * 1024))) {
        ADD_FAILURE() << "step " << s << " restored wrong bytes";
        ++failures;
      }
      ++restores;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  for (int64_t s = 0; s < kSaves; ++s) {
    if (s == kSaves / 2) {
      // Half the saves are still to come: wait (generously) until the
      // readers have restored something, so restores do race saves.
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::minutes(5);
      while (restores.load() == 0 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_GT(restores.load(), 0) << "no restore before save " << s;
    }
    ManagerSaveOptions so;
    so.capture = s % 2 ? CaptureMode::kCopy : CaptureMode::kBorrow;
    Tree t = StateFor(s, 16 * 1024);
    auto saved = mgr->Save(s, t, so);
    CKPTDB_ASSERT_OK(saved);
    if (so.capture == CaptureMode::kBorrow) {
      CKPTDB_ASSERT_OK(mgr->WaitUntilFinished());  // t dies next iteration
    }
  }
  CKPTDB_ASSERT_OK(mgr->WaitUntilFinished());
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(mgr->AllSteps(),
              ElementsAre(0, 50, 100, 150, 196, 197, 198, 199));
  for (int64_t s : mgr->AllSteps()) {
    auto t = mgr->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_TRUE(*t == StateFor(s, 16 * 1024)) << s;
  }
  CKPTDB_ASSERT_OK(mgr->Close());
  internal::StoreOptions so;
  auto store = internal::Store::Open(dir.Sub("db"), so);
  CKPTDB_ASSERT_OK(store);
  auto problems = (*store)->Verify({});
  CKPTDB_ASSERT_OK(problems);
  EXPECT_TRUE(problems->problems.empty());
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// A borrowed array changed while its save writes it: the save fails, and
// the changed bytes never enter the chunk index (later saves of the
// original content store it correctly).
TEST(AsyncManagerTest, BorrowedArrayChangedDuringTheSaveFailsIt) {
  TempDir dir;
  CheckpointManagerOptions o;  // async
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  Tree original = StateFor(1, 4 << 20);  // 16 MiB
  Tree state = original.DeepCopy();
  uint32_t* w = static_cast<uint32_t*>(state["w"].array().mutable_data());
  // Change the array after the chunks are hashed, before they are written.
  internal::SetGlobalTestHook([&](absl::string_view point) {
    if (point == "after_hash") w[12345] ^= 0x00400000u;
  });
  ManagerSaveOptions borrow;
  borrow.capture = CaptureMode::kBorrow;
  CKPTDB_ASSERT_OK((*mgr)->Save(1, state, borrow));
  absl::Status s = (*mgr)->WaitUntilFinished();
  internal::SetGlobalTestHook(nullptr);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAborted,
                          HasSubstr("leaf 'w': its bytes changed while the "
                                    "save was writing them")));
  EXPECT_TRUE((*mgr)->AllSteps().empty());
  // The original content saves and restores exactly.
  CKPTDB_ASSERT_OK((*mgr)->Save(2, original));
  CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
  auto back = (*mgr)->Restore(2);
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == original);
}

TEST(AsyncManagerTest, MethodsAfterCloseFailCleanly) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"));
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, StateFor(0)));
  CKPTDB_ASSERT_OK((*mgr)->Close());
  EXPECT_THAT(
      (*mgr)->Metrics(0),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(
      (*mgr)->Restore(0),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_THAT(
      (*mgr)->Save(1, StateFor(1)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
}

}  // namespace
}  // namespace ckptdb
