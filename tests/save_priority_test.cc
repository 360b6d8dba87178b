// Saves yield the CPU (StoreTuning::save_nice): a save's hashing, coding
// and writing run on worker threads at a lower CPU priority, and the
// caller, whose priority cannot be raised back once lowered, only waits.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/test_util.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

pid_t ThisThread() { return static_cast<pid_t>(syscall(SYS_gettid)); }

int NiceOf(pid_t tid) {
  errno = 0;
  const int n = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  EXPECT_EQ(errno, 0) << "getpriority";
  return n;
}

// The nice values of this process's threads, read from /proc (field 19 of
// /proc/self/task/TID/stat, after the parenthesised command name).
std::multiset<int> ThreadNices() {
  std::multiset<int> nices;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string f;
    // Fields 3.. follow the name; nice is field 19, the 17th of these.
    for (int i = 3; i <= 19 && fields >> f; ++i) {
    }
    nices.insert(std::stoi(f));
  }
  return nices;
}

int CountNiced(int base) {
  int n = 0;
  for (int v : ThreadNices()) n += v > base;
  return n;
}

// The tests lower threads' priority by up to kMaxNice below this
// process's; a process already near 19 skips them.
constexpr int kMaxNice = 7;
class NicedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = NiceOf(ThisThread());
    if (base + kMaxNice > 19) {
      GTEST_SKIP() << "this process already runs at nice " << base;
    }
  }
  int base = 0;  // this process's nice value
};
using ThreadPoolTest = NicedTest;
using SavePriorityTest = NicedTest;

TEST_F(ThreadPoolTest, NicedPoolRunsEveryItemOnItsNicedWorkers) {
  ThreadPool pool(2, 5);
  EXPECT_EQ(pool.parallelism(), 2);
  absl::Mutex mu;
  std::set<pid_t> threads;
  std::set<int> nices;
  for (size_t n : {size_t{1}, size_t{64}}) {
    pool.ParallelFor(n, [&](size_t) {
      const pid_t t = ThisThread();
      const int nice = NiceOf(t);
      absl::MutexLock l(&mu);
      threads.insert(t);
      nices.insert(nice);
    });
  }
  EXPECT_EQ(threads.count(ThisThread()), 0u) << "an item ran on the caller";
  EXPECT_EQ(nices, std::set<int>{base + 5});
  EXPECT_EQ(NiceOf(ThisThread()), base) << "the caller's priority changed";
}

TEST_F(ThreadPoolTest, UnnicedPoolWorksOnTheCallerToo) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.parallelism(), 2);
  pid_t ran_on = 0;
  pool.ParallelFor(1, [&](size_t) { ran_on = ThisThread(); });
  EXPECT_EQ(ran_on, ThisThread());
  // No workers: everything on the caller, niced or not.
  ThreadPool none(0, 5);
  EXPECT_EQ(none.parallelism(), 1);
  none.ParallelFor(3, [&](size_t) { ran_on = ThisThread(); });
  EXPECT_EQ(ran_on, ThisThread());
}

StoreOptions Options(int save_nice, StoreOptions::Mode mode) {
  StoreOptions o;
  o.create_if_missing = true;
  o.num_threads = 1;
  o.save_nice = save_nice;
  o.mode = mode;
  return o;
}

TEST_F(SavePriorityTest, AReadWriteStoreSavesOnNicedThreads) {
  TempDir dir;
  const int before = CountNiced(base);
  {
    auto store =
        Store::Open(dir.Sub("db"), Options(7, StoreOptions::Mode::kReadWrite));
    CKPTDB_ASSERT_OK(store);
    // num_threads + 1 save workers: every core, the caller waiting.
    EXPECT_EQ(CountNiced(base), before + 2);
    const Tree t =
        Tree::Dict({{"w", RandomArray(DType::kFloat32, {1024, 1024}, 3)}});
    StepSaveRequest req;
    req.step = 1;
    req.items.push_back({"default", &t});
    CKPTDB_ASSERT_OK((*store)->SaveStep(req));
    auto verify = (*store)->Verify({});
    CKPTDB_ASSERT_OK(verify);
    EXPECT_TRUE(verify->problems.empty());
  }
  EXPECT_EQ(CountNiced(base), before) << "the save threads outlived the store";
  {  // A reader saves nothing: no save threads.
    auto store =
        Store::Open(dir.Sub("db"), Options(7, StoreOptions::Mode::kReadOnly));
    CKPTDB_ASSERT_OK(store);
    EXPECT_EQ(CountNiced(base), before);
  }
  {  // 0: saves share the read threads, at the caller's priority.
    auto store =
        Store::Open(dir.Sub("db"), Options(0, StoreOptions::Mode::kReadWrite));
    CKPTDB_ASSERT_OK(store);
    EXPECT_EQ(CountNiced(base), before);
  }
}

// A follower stages its own files: it saves on niced threads too.
TEST_F(SavePriorityTest, AFollowerSavesOnNicedThreads) {
  TempDir dir;
  const int before = CountNiced(base);
  auto writer =
      Store::Open(dir.Sub("db"), Options(7, StoreOptions::Mode::kReadWrite));
  CKPTDB_ASSERT_OK(writer);
  StoreOptions follow = Options(7, StoreOptions::Mode::kReadWrite);
  follow.follow_if_busy = true;
  auto follower = Store::Open(dir.Sub("db"), follow);
  CKPTDB_ASSERT_OK(follower);
  ASSERT_TRUE((*follower)->following());
  EXPECT_EQ(CountNiced(base), before + 4);
  const Tree t =
      Tree::Dict({{"w", RandomArray(DType::kFloat32, {512, 1024}, 4)}});
  StepSaveRequest req;
  req.step = 2;
  req.items.push_back({"default", &t});
  CKPTDB_ASSERT_OK((*follower)->SaveStep(req));
  CKPTDB_ASSERT_OK((*writer)->Reload());
  auto verify = (*writer)->Verify({});
  CKPTDB_ASSERT_OK(verify);
  EXPECT_TRUE(verify->problems.empty());
}

TEST_F(SavePriorityTest, ManagerTuningReachesTheStoreAndIsChecked) {
  TempDir dir;
  const int before = CountNiced(base);
  CheckpointManagerOptions o;
  o.tuning.num_threads = 1;
  o.tuning.save_nice = 3;
  {
    auto m = CheckpointManager::Open(dir.Sub("db"), o);
    CKPTDB_ASSERT_OK(m);
    EXPECT_EQ(CountNiced(base), before + 2);
    const Tree t =
        Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, 5)}});
    CKPTDB_ASSERT_OK((*m)->Save(1, t));
    CKPTDB_ASSERT_OK((*m)->WaitUntilFinished());
  }
  for (int bad : {-1, 20}) {
    o.tuning.save_nice = bad;
    EXPECT_THAT(CheckpointManager::Open(dir.Sub("db"), o).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("save_nice must be in [0, 19], got " +
                                   std::to_string(bad))));
  }
}

}  // namespace
}  // namespace ckptdb::internal
