// The durable mark (db/durable_mark.h): a write-ahead log that lost writes
// which were durable is refused at open, naming what happened, instead of
// listing fewer steps; a torn or damaged mark checks less, never refuses.
#include "db/durable_mark.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "db/store.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(DurableMarkTest, RecordsTheHighestSequenceInAlternateSlots) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  fs::create_directories(db);
  EXPECT_EQ(DurableMark::Read(db), 0u);  // no file: nothing to check
  {
    auto mark = DurableMark::OpenForWrite(db);
    CKPTDB_ASSERT_OK(mark);
    CKPTDB_EXPECT_OK((*mark)->Record(7));
    CKPTDB_EXPECT_OK((*mark)->Record(9));
    CKPTDB_EXPECT_OK((*mark)->Record(8));  // below the mark: ignored
  }
  EXPECT_EQ(DurableMark::Read(db), 9u);
  // Slot 0 holds 7, slot 1 holds 9: damage to the newer one leaves the
  // older, damage to both leaves nothing to check.
  const std::string path = DurableMark::PathIn(db);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 9);
    f.put('\x55');
  }
  EXPECT_EQ(DurableMark::Read(db), 7u);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('\x55');
  }
  EXPECT_EQ(DurableMark::Read(db), 0u);
  // A writer opening it again never overwrites the valid slot.
  fs::remove(path);
  {
    auto mark = DurableMark::OpenForWrite(db);
    CKPTDB_ASSERT_OK(mark);
    CKPTDB_EXPECT_OK((*mark)->Record(3));
  }
  {
    auto mark = DurableMark::OpenForWrite(db);
    CKPTDB_ASSERT_OK(mark);
    CKPTDB_EXPECT_OK((*mark)->Record(4));
  }
  fs::resize_file(path, 4096);  // slot 1 (holding 4) gone
  EXPECT_EQ(DurableMark::Read(db), 3u);
}

class LostWalTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Store>> Open(bool read_only = false) {
    StoreOptions o;
    o.create_if_missing = !read_only;
    if (read_only) o.mode = StoreOptions::Mode::kReadOnly;
    return Store::Open(db_, o);
  }
  // Saves steps 1-4 in one session (their commits all in one log).
  void SaveSteps() {
    auto store = Open();
    CKPTDB_ASSERT_OK(store);
    SaveStepsWith(**store);
  }
  static void SaveStepsWith(Store& store) {
    for (int64_t step = 1; step <= 4; ++step) {
      const Tree t =
          Tree::Dict({{"w", RandomArray(DType::kFloat32, {1000}, step)}});
      StepSaveRequest req;
      req.step = step;
      req.items.push_back({"default", &t});
      CKPTDB_ASSERT_OK(store.SaveStep(req));
    }
  }
  std::vector<std::string> Logs() {
    std::vector<std::string> logs;
    for (const auto& e : fs::directory_iterator(db_)) {
      if (e.path().extension() == ".log" && e.file_size() > 0) {
        logs.push_back(e.path().string());
      }
    }
    return logs;
  }

  TempDir dir_;
  const std::string db_ = dir_.Sub("db");
};

TEST_F(LostWalTest, ACutLogIsRefusedNamingTheMarkUntilItIsRemoved) {
  SaveSteps();
  const std::vector<std::string> logs = Logs();
  ASSERT_EQ(logs.size(), 1u);
  const uint64_t size = fs::file_size(logs[0]);
  fs::resize_file(logs[0], size / 2);  // the later commits are gone
  // Read-only first, read-write twice: the refusal lasts (a read-write
  // open's recovery keeps what the log still holds; ckptdb writes nothing).
  for (bool read_only : {true, false, false}) {
    auto store = Open(read_only);
    EXPECT_THAT(store.status(),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr("lost writes that were durable"),
                               HasSubstr("To open it with what survived, "
                                         "remove " +
                                         DurableMark::PathIn(db_)))))
        << (read_only ? "read-only" : "read-write");
  }
  // The escape the message names: the steps that survived, exactly.
  fs::remove(DurableMark::PathIn(db_));
  auto store = Open();
  CKPTDB_ASSERT_OK(store);
  const std::vector<StepInfo> steps = (*store)->Steps();
  EXPECT_GE(steps.size(), 1u);
  EXPECT_LT(steps.size(), 4u);
}

TEST_F(LostWalTest, ADeletedLogIsRefused) {
  SaveSteps();
  for (const std::string& log : Logs()) fs::remove(log);
  EXPECT_THAT(Open().status(), StatusIs(absl::StatusCode::kDataLoss,
                                        HasSubstr("lost writes that were "
                                                  "durable")));
}

// A follower whose writer went away takes over; when the log lost what the
// writer had made durable, the take-over fails with the mark's DataLoss, and
// every later call of the follower, now closed, says so too (not that the
// database "is closed after a failed write").
TEST_F(LostWalTest, AFollowerTakingOverReportsTheLostLogOnEveryLaterCall) {
  auto writer = Open();
  CKPTDB_ASSERT_OK(writer);
  StoreOptions follow;
  follow.follow_if_busy = true;
  auto follower = Store::Open(db_, follow);
  CKPTDB_ASSERT_OK(follower);
  ASSERT_TRUE((*follower)->following());
  SaveStepsWith(**writer);
  writer->reset();
  const std::vector<std::string> logs = Logs();
  ASSERT_EQ(logs.size(), 1u);
  fs::resize_file(logs[0], fs::file_size(logs[0]) / 2);

  const auto lost = StatusIs(absl::StatusCode::kDataLoss,
                             HasSubstr("lost writes that were durable"));
  EXPECT_THAT((*follower)->BecomeWriter().status(), lost);
  EXPECT_THAT((*follower)->ReadItem(1, "default").status(), lost);
  auto report = (*follower)->Verify({});
  EXPECT_THAT(report.status(), lost);
}

TEST_F(LostWalTest, ReopeningAfterCloseChecksAndPasses) {
  SaveSteps();
  for (int i = 0; i < 3; ++i) {
    auto store = Open(/*read_only=*/i == 1);
    CKPTDB_ASSERT_OK(store);
    EXPECT_EQ((*store)->Steps().size(), 4u);
  }
  EXPECT_GT(DurableMark::Read(db_), 0u);
}

}  // namespace
}  // namespace ckptdb::internal
