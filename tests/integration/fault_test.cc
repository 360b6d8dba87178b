// Disk-full and I/O-error injection: nothing already saved is lost, the
// error names the problem, and the database works again once space is back.
#include <filesystem>

#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "rocksdb/env.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::internal::StepSaveRequest;
using ::ckptdb::internal::Store;
using ::ckptdb::internal::StoreOptions;
using ::ckptdb::testing::FaultFs;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Tree StateFor(int64_t step) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {512, 1024}, step)},
                     {"step", Tree::Int(step)}});
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FaultFs>(rocksdb::FileSystem::Default());
    env_ = rocksdb::NewCompositeEnv(fs_);
  }
  absl::StatusOr<std::unique_ptr<Store>> OpenStore() {
    StoreOptions o;
    o.create_if_missing = true;
    o.env = env_.get();
    return Store::Open(dir_.Sub("db"), o);
  }
  absl::Status Save(Store& store, int64_t step) {
    Tree t = StateFor(step);
    StepSaveRequest req;
    req.step = step;
    req.items.push_back({"default", &t});
    return store.SaveStep(req).status();
  }
  void ExpectSteps(Store& store, std::vector<int64_t> steps) {
    std::vector<int64_t> have;
    for (const StepInfo& s : store.Steps()) have.push_back(s.step);
    EXPECT_EQ(have, steps);
    auto problems = store.Verify({});
    CKPTDB_ASSERT_OK(problems);
    EXPECT_TRUE(problems->problems.empty())
        << problems->problems.front().message;
  }

  TempDir dir_;
  std::shared_ptr<FaultFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

TEST_F(FaultTest, DiskFullWhileWritingChunksKeepsEarlierSteps) {
  auto store = OpenStore();
  CKPTDB_ASSERT_OK(store);
  CKPTDB_ASSERT_OK(Save(**store, 0));
  fs_->LimitWrites(".sst", 100 << 10);  // the 2 MiB segment cannot fit
  EXPECT_THAT(Save(**store, 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("cannot write chunks of step 1")));
  EXPECT_GT(fs_->failures(), 0);
  ExpectSteps(**store, {0});
  fs_->Unlimit();
  CKPTDB_ASSERT_OK(Save(**store, 1));
  ExpectSteps(**store, {0, 1});
  store->reset();
  store = OpenStore();
  CKPTDB_ASSERT_OK(store);
  ExpectSteps(**store, {0, 1});
}

TEST_F(FaultTest, DiskFullAtCommitKeepsEarlierStepsAndRecovers) {
  auto store = OpenStore();
  CKPTDB_ASSERT_OK(store);
  CKPTDB_ASSERT_OK(Save(**store, 0));
  fs_->LimitWrites(".log", 0);  // the WAL: the commit record cannot be written
  EXPECT_THAT(Save(**store, 1), StatusIs(absl::StatusCode::kResourceExhausted,
                                         HasSubstr("cannot commit step 1")));
  ExpectSteps(**store, {0});
  // Still full: a clear error, nothing changes.
  auto again = Save(**store, 1);
  EXPECT_FALSE(again.ok());
  ExpectSteps(**store, {0});
  fs_->Unlimit();
  CKPTDB_ASSERT_OK(Save(**store, 1));  // resumes without a reopen
  ExpectSteps(**store, {0, 1});
  store->reset();
  store = OpenStore();
  CKPTDB_ASSERT_OK(store);
  ExpectSteps(**store, {0, 1});
  // The failed attempt's column family and segment are gone after GC.
  auto gc = (*store)->CollectGarbage({});
  CKPTDB_ASSERT_OK(gc);
  ExpectSteps(**store, {0, 1});
}

TEST_F(FaultTest, DiskFullDuringDeleteKeepsTheSteps) {
  auto store = OpenStore();
  CKPTDB_ASSERT_OK(store);
  CKPTDB_ASSERT_OK(Save(**store, 0));
  CKPTDB_ASSERT_OK(Save(**store, 1));
  fs_->LimitWrites(".log", 0);
  EXPECT_THAT((*store)->DeleteSteps({0}),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("cannot delete steps")));
  ExpectSteps(**store, {0, 1});
  fs_->Unlimit();
  CKPTDB_ASSERT_OK((*store)->DeleteSteps({0}));
  ExpectSteps(**store, {1});
}

TEST_F(FaultTest, ManagerAsyncSaveFailureSurfacesAndKeepsSteps) {
  CheckpointManagerOptions o;
  o.max_to_keep = 1;  // the failed save must not delete step 0
  o.tuning.num_threads = 1;
  // The manager has no Env option; inject through a Store-level hook that
  // fails the save by filling the disk before the segment is written.
  auto mgr = CheckpointManager::Open(dir_.Sub("mgr"), o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, StateFor(0)));
  CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
  // A foreign directory in place of the staging dir makes ingestion fail.
  internal::SetGlobalTestHook([&](absl::string_view point) {
    if (point == "after_step_file") {
      std::filesystem::remove_all(dir_.Sub("mgr") + "/ckptdb-staging");
    }
  });
  auto saved = (*mgr)->Save(1, StateFor(1));
  CKPTDB_ASSERT_OK(saved);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(1));  // decided at once
  absl::Status err = (*mgr)->WaitUntilFinished();
  internal::SetGlobalTestHook(nullptr);
  EXPECT_FALSE(err.ok());
  EXPECT_THAT(err.message(), HasSubstr("step 1"));
  CKPTDB_EXPECT_OK((*mgr)->WaitUntilFinished());    // reported exactly once
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(0));  // back as it was
  auto t = (*mgr)->Restore(0);
  CKPTDB_ASSERT_OK(t);
  EXPECT_EQ(*t, StateFor(0));
}

}  // namespace
}  // namespace ckptdb
