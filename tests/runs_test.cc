// Runs: one database holds named runs, each with its own steps and
// retention, sharing one chunk store; Fork starts a run from another run's
// step without copying bytes.
#include <vector>

#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

Tree StateFor(int64_t step) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {512, 1024}, step)},
                     {"step", Tree::Int(step)}});
}

CheckpointManagerOptions Sync(int64_t keep) {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  if (keep > 0) o.max_to_keep = keep;
  return o;
}

// The database's verified chunk bookkeeping and its stored chunk bytes.
uint64_t StoredBytes(const std::string& db) {
  internal::StoreOptions so;
  so.mode = internal::StoreOptions::Mode::kReadOnly;
  auto store = internal::Store::Open(db, so);
  EXPECT_TRUE(store.ok()) << store.status();
  auto verify = (*store)->Verify({});
  EXPECT_TRUE(verify.ok() && verify->problems.empty())
      << (verify.ok() ? verify->problems[0].message
                      : verify.status().ToString());
  return (*store)->Stats()->segment_bytes;
}

TEST(RunsTest, RunsHaveTheirOwnStepsAndRetention) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto base = CheckpointManager::Open(db, Sync(2));
  ASSERT_TRUE(base.ok()) << base.status();
  auto a = CheckpointManager::Open(db, Sync(3), "lr-3e-4");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->run(), "lr-3e-4");
  EXPECT_TRUE((*a)->following());  // the base manager holds the database
  for (int64_t s = 0; s < 5; ++s) {
    ASSERT_TRUE((*base)->Save(s, StateFor(s)).ok());
    ASSERT_TRUE((*a)->Save(s, StateFor(100 + s)).ok());
  }
  EXPECT_EQ((*base)->AllSteps(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ((*a)->AllSteps(), (std::vector<int64_t>{2, 3, 4}));
  for (int64_t s : {3, 4}) {
    auto t = (*base)->Restore(s);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(*t == StateFor(s));
    auto u = (*a)->Restore(s);
    ASSERT_TRUE(u.ok()) << u.status();
    EXPECT_TRUE(*u == StateFor(100 + s));
  }
  // A third manager of the run, opened later, sees the run's steps only.
  auto again = CheckpointManager::Open(db, Sync(0), "lr-3e-4");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->AllSteps(), (std::vector<int64_t>{2, 3, 4}));
}

TEST(RunsTest, RunsShareChunksAndKeepThoseAnyRunStillNeeds) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  {
    auto a = CheckpointManager::Open(db, Sync(0), "a");
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = CheckpointManager::Open(db, Sync(0), "b");
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_TRUE((*a)->Save(0, StateFor(7)).ok());
    ASSERT_TRUE((*b)->Save(0, StateFor(7)).ok());  // the same bytes
    ASSERT_TRUE((*a)->Delete(0).ok());
    ASSERT_TRUE((*a)->CollectGarbage().ok());
    auto t = (*b)->Restore(0);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(*t == StateFor(7));
  }
  EXPECT_EQ(StoredBytes(db), 2u << 20);  // one copy of the 2 MiB array
}

TEST(RunsTest, ForkSharesEveryChunkAndOutlivesItsSource) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  {
    auto base = CheckpointManager::Open(db, Sync(0), "pretrained");
    ASSERT_TRUE(base.ok()) << base.status();
    ASSERT_TRUE((*base)->Save(10, StateFor(10)).ok());
    ASSERT_TRUE((*base)->Fork("pretrained", 10, "ft-a").ok());
    auto ft = CheckpointManager::Open(db, Sync(0), "ft-a");
    ASSERT_TRUE(ft.ok()) << ft.status();
    EXPECT_EQ((*ft)->AllSteps(), std::vector<int64_t>{10});
    // The fine-tuning job's own steps follow.
    ASSERT_TRUE((*ft)->Save(11, StateFor(11)).ok());
    // The fork is independent: deleting the source loses nothing of it.
    ASSERT_TRUE((*base)->Delete(10).ok());
    ASSERT_TRUE((*base)->CollectGarbage().ok());
    for (int64_t s : {10, 11}) {
      auto t = (*ft)->Restore(s);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_TRUE(*t == StateFor(s));
    }
    // Errors.
    EXPECT_THAT((*base)->Fork("pretrained", 10, "ft-b"),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("run")));
    EXPECT_THAT((*ft)->Fork("ft-a", 11, "ft-a"),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
    EXPECT_THAT((*ft)->Fork("ft-a", 11, "bad/name"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("bad run name")));
    ASSERT_TRUE((*ft)->Fork("ft-a", 11, "ft-c").ok());
    EXPECT_THAT((*ft)->Fork("ft-a", 11, "ft-c"),
                StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  }
  // ft-a 10 and 11, ft-c 11: two arrays of 2 MiB stored.
  EXPECT_EQ(StoredBytes(db), 4u << 20);
}

TEST(RunsTest, BadRunNamesAreInvalidArgument) {
  TempDir dir;
  for (const char* bad : {"a/b", "with space", "é"}) {
    EXPECT_THAT(
        CheckpointManager::Open(dir.Sub("db"), Sync(0), bad).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad run name")))
        << bad;
  }
  EXPECT_THAT(
      CheckpointManager::Open(dir.Sub("db"), Sync(0), std::string(129, 'x'))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace ckptdb
