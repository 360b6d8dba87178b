// A second process (a monitor, the CLI) reads the database while the
// owning process keeps saving: read-only managers and secondary stores see
// committed steps, and every step they list restores exactly.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
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
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, step)},
                     {"step", Tree::Int(step)}});
}

constexpr int kSteps = 40;

// Writes steps 0..kSteps-1 with max_to_keep=3, then exits.
pid_t StartWriter(const std::string& db) {
  const pid_t pid = fork();
  if (pid == 0) {
    CheckpointManagerOptions o;
    o.max_to_keep = 3;
    auto mgr = CheckpointManager::Open(db, o);
    if (!mgr.ok()) _exit(2);
    for (int64_t s = 0; s < kSteps; ++s) {
      if (!(*mgr)->Save(s, StateFor(s)).ok()) _exit(3);
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    _exit((*mgr)->Close().ok() ? 0 : 4);
  }
  return pid;
}

bool Exited(pid_t pid, int* status) {
  return waitpid(pid, status, WNOHANG) == pid;
}

TEST(MultiProcessTest, ReadOnlyManagerSeesCommittedStepsWhileTheOwnerSaves) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  const pid_t writer = StartWriter(db);
  CheckpointManagerOptions ro;
  ro.read_only = true;
  std::unique_ptr<CheckpointManager> reader;
  int status = 0;
  int restored = 0;
  int64_t max_seen = -1;
  bool done = false;
  while (!done) {
    done = Exited(writer, &status);
    if (reader == nullptr) {
      auto r = CheckpointManager::Open(db, ro);
      if (!r.ok()) {  // not created yet
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      reader = std::move(*r);
    } else {
      absl::Status rs = reader->Reload();
      ASSERT_TRUE(rs.ok()) << rs;
    }
    const std::vector<int64_t> steps = reader->AllSteps();
    if (steps.empty()) continue;
    EXPECT_LE(steps.size(), 4u);  // max_to_keep=3 (+1 deleted after commit)
    EXPECT_GE(steps.back(), max_seen);
    max_seen = steps.back();
    // Every listed step is readable, even if the owner deletes it now.
    auto t = reader->Restore(steps.front());
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(*t == StateFor(steps.front()));
    ++restored;
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(reader->Reload().ok());
  EXPECT_EQ(reader->LatestStep(), kSteps - 1);
  EXPECT_GT(restored, 5);
}

TEST(MultiProcessTest, SecondaryStoreFollowsTheOwner) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  const pid_t writer = StartWriter(db);
  std::unique_ptr<internal::Store> secondary;
  int status = 0;
  bool done = false;
  int64_t reads = 0;
  while (!done) {
    done = Exited(writer, &status);
    if (secondary == nullptr) {
      internal::StoreOptions so;
      so.mode = internal::StoreOptions::Mode::kSecondary;
      so.secondary_path = dir.Sub("secondary");
      auto s = internal::Store::Open(db, so);
      if (!s.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      secondary = std::move(*s);
    } else {
      absl::Status rs = secondary->Reload();
      ASSERT_TRUE(rs.ok()) << rs;
    }
    for (const StepInfo& info : secondary->Steps()) {
      auto item = secondary->ReadItem(info.step, "default");
      ASSERT_TRUE(item.ok()) << item.status();
      auto problems = secondary->Verify({info.step});
      ASSERT_TRUE(problems.ok()) << problems.status();
      EXPECT_TRUE(problems->problems.empty());
      ++reads;
    }
  }
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GT(reads, 5);
}

TEST(MultiProcessTest, ASecondWriterGetsACleanBusyError) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto owner = CheckpointManager::Open(db);
  ASSERT_TRUE(owner.ok());
  ASSERT_TRUE((*owner)->Save(0, StateFor(0)).ok());
  ASSERT_TRUE((*owner)->WaitUntilFinished().ok());
  const pid_t pid = fork();
  if (pid == 0) {
    auto second = CheckpointManager::Open(db);
    _exit(!second.ok() &&
                  second.status().code() ==
                      absl::StatusCode::kFailedPrecondition &&
                  absl::StrContains(second.status().message(), "busy")
              ? 0
              : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace ckptdb
