// Runs: one database holds named runs, each with its own steps and
// retention, sharing one chunk store; Fork starts a run from another run's
// step without copying bytes; each run's retention is stored (its naming
// record) and replayed by ckptdb gc (api/stored_retention.h).
#include <vector>

#include "api/stored_retention.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/status.h"
#include "db/store.h"
#include "rocksdb/db.h"
#include "schema/records.h"
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

// Steps 0..count-1 of `run`, saved without retention.
void SaveSteps(const std::string& db, const std::string& run, int64_t seed,
               int64_t count) {
  auto m = CheckpointManager::Open(db, Sync(0), run);
  ASSERT_TRUE(m.ok()) << m.status();
  for (int64_t s = 0; s < count; ++s) {
    ASSERT_TRUE((*m)->Save(s, StateFor(seed + s)).ok());
  }
}

std::vector<int64_t> StepsOf(const std::string& db, const std::string& run) {
  CheckpointManagerOptions o = Sync(0);
  o.read_only = true;
  auto m = CheckpointManager::Open(db, o, run);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? (*m)->AllSteps() : std::vector<int64_t>();
}

absl::StatusOr<std::vector<internal::RunRetention>> StoredRetention(
    const std::string& db) {
  internal::StoreOptions so;
  so.mode = internal::StoreOptions::Mode::kReadOnly;
  CKPTDB_ASSIGN_OR_RETURN(auto store, internal::Store::Open(db, so));
  return internal::ReadStoredRetention(*store);
}

std::vector<int64_t> Numbers(const std::vector<StepInfo>& steps) {
  std::vector<int64_t> out;
  for (const StepInfo& s : steps) out.push_back(s.step);
  return out;
}

TEST(RunsTest, EachRunsRetentionIsStoredAndReplayedByItself) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  SaveSteps(db, "", 0, 3);
  SaveSteps(db, "a", 100, 5);
  SaveSteps(db, "b", 200, 5);
  {
    // Retention recorded, not applied (no save). b's manager follows a's:
    // its record goes through a's commit service.
    auto a = CheckpointManager::Open(db, Sync(2), "a");
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = CheckpointManager::Open(db, Sync(3), "b");
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE((*b)->following());
  }
  // A read-only manager records nothing.
  EXPECT_EQ(StepsOf(db, "a").size(), 5u);
  auto runs = StoredRetention(db);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].run, "");
  EXPECT_FALSE((*runs)[0].HasOptions());
  EXPECT_EQ((*runs)[1].run, "a");
  EXPECT_EQ((*runs)[1].record.max_to_keep.value_or(-1), 2);
  EXPECT_EQ((*runs)[2].run, "b");
  EXPECT_EQ((*runs)[2].record.max_to_keep.value_or(-1), 3);
  // Replayed with no options from the caller: each run by its own.
  ASSERT_TRUE(internal::ReplayStoredRetention(db, &*runs).ok());
  EXPECT_TRUE((*runs)[0].deleted.empty());
  EXPECT_EQ(Numbers((*runs)[1].deleted), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(Numbers((*runs)[2].deleted), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(StepsOf(db, ""), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(StepsOf(db, "a"), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(StepsOf(db, "b"), (std::vector<int64_t>{2, 3, 4}));
  // The replay left the records as they were; garbage collection keeps
  // exactly the surviving steps' chunks (2 MiB each, none shared).
  auto again = StoredRetention(db);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)[1].record == (*runs)[1].record);
  {
    auto m = CheckpointManager::Open(db, Sync(0));
    ASSERT_TRUE(m.ok()) << m.status();
    // The default run's manager left the named runs' records alone.
    auto after = StoredRetention(db);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ((*after)[2].record.max_to_keep.value_or(-1), 3);
    ASSERT_TRUE((*m)->CollectGarbage().ok());
  }
  EXPECT_EQ(StoredBytes(db), 8u * (2u << 20));
}

TEST(RunsTest, ACustomPolicyOfARunIsNotReplayed) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  SaveSteps(db, "a", 0, 3);
  {
    CheckpointManagerOptions o = Sync(1);
    o.best_fn = [](const Tree& m) { return m["loss"].float_value(); };
    auto a = CheckpointManager::Open(db, o, "a");
    ASSERT_TRUE(a.ok()) << a.status();
  }
  auto runs = StoredRetention(db);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_TRUE((*runs)[1].record.retention_is_custom);
  EXPECT_FALSE((*runs)[1].Replayable());
  ASSERT_TRUE(internal::ReplayStoredRetention(db, &*runs).ok());
  EXPECT_EQ(StepsOf(db, "a"), (std::vector<int64_t>{0, 1, 2}));
}

TEST(RunsTest, ADamagedRunNamingRecordIsDataLossNamingTheRun) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  SaveSteps(db, "a", 0, 3);
  {
    auto a = CheckpointManager::Open(db, Sync(1), "a");
    ASSERT_TRUE(a.ok()) << a.status();
  }
  {
    auto store = internal::Store::Open(db, internal::StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    const std::string key = internal::NamingKey("a");
    std::string value;
    ASSERT_TRUE(
        (*store)
            ->rocks()
            ->Get(rocksdb::ReadOptions(), (*store)->meta_cf(), key, &value)
            .ok());
    value[value.size() / 2] ^= 0x20;
    ASSERT_TRUE(
        (*store)
            ->rocks()
            ->Put(rocksdb::WriteOptions(), (*store)->meta_cf(), key, value)
            .ok());
  }
  EXPECT_THAT(StoredRetention(db).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("naming record of run 'a': record checksum "
                                 "mismatch")));
  // Readers and the run's own manager still open it. The next manager of
  // the run rewrites the damaged record, even with options that equal the
  // defaults it read it as (no retention).
  EXPECT_EQ(StepsOf(db, "a"), (std::vector<int64_t>{0, 1, 2}));
  {
    auto a = CheckpointManager::Open(db, Sync(0), "a");
    ASSERT_TRUE(a.ok()) << a.status();
  }
  auto runs = StoredRetention(db);
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_FALSE((*runs)[1].HasOptions());
}

}  // namespace
}  // namespace ckptdb
