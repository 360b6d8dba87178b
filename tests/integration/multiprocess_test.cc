// A second process (a monitor, a notebook, the CLI) reads the database
// while the owning process keeps saving: read-only managers, followers
// (default options) and secondary stores see committed steps, and every
// step they list restores exactly.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::ForkWriter;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

Tree StateFor(int64_t step) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, step)},
                     {"step", Tree::Int(step)}});
}

// The step restores exactly what StateFor(step) saved.
void ExpectRestores(CheckpointManager& m, int64_t step) {
  auto t = m.Restore(step);
  ASSERT_TRUE(t.ok()) << "step " << step << ": " << t.status();
  EXPECT_TRUE(*t == StateFor(step)) << "step " << step;
}

constexpr int kSteps = 40;
// The writer waits for the reader before saving each of these steps.
constexpr int64_t kGates[] = {10, 20, 30};
// How long a test may take, however loaded the machine.
constexpr auto kDeadline = std::chrono::minutes(5);

// A writer process and the pipe through which the reader lets it go on.
class Writer {
 public:
  // Forks a process that writes steps 0..kSteps-1 with max_to_keep=3, then
  // exits; before each step in kGates it waits for Release() (and exits
  // with 5 if the test went away instead).
  explicit Writer(const std::string& db) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[1]);
      CheckpointManagerOptions o;
      o.max_to_keep = 3;
      auto mgr = CheckpointManager::Open(db, o);
      if (!mgr.ok()) _exit(2);
      for (int64_t s = 0; s < kSteps; ++s) {
        if (std::find(std::begin(kGates), std::end(kGates), s) !=
            std::end(kGates)) {
          char c;
          if (read(fds[0], &c, 1) != 1) _exit(5);
        }
        if (!(*mgr)->Save(s, StateFor(s)).ok()) _exit(3);
      }
      _exit((*mgr)->Close().ok() ? 0 : 4);
    }
    close(fds[0]);
    release_fd_ = fds[1];
  }
  ~Writer() {
    if (release_fd_ >= 0) close(release_fd_);
    if (!exited_) waitpid(pid_, &status_, 0);
  }

  // The gate the writer waits at (or will wait at next); nullopt once
  // every gate is open.
  std::optional<int64_t> next_gate() const {
    if (released_ == std::size(kGates)) return std::nullopt;
    return kGates[released_];
  }
  // Lets the writer past its next gate.
  void Release() {
    ASSERT_TRUE(next_gate().has_value());
    ASSERT_EQ(write(release_fd_, "g", 1), 1);
    ++released_;
  }
  size_t released() const { return released_; }
  bool Exited() {
    if (!exited_) exited_ = waitpid(pid_, &status_, WNOHANG) == pid_;
    return exited_;
  }
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int release_fd_ = -1;
  size_t released_ = 0;
  bool exited_ = false;
  int status_ = 0;
};

TEST(MultiProcessTest, ReadOnlyManagerSeesCommittedStepsWhileTheOwnerSaves) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  Writer writer(db);
  CheckpointManagerOptions ro;
  ro.read_only = true;
  std::unique_ptr<CheckpointManager> reader;
  int64_t max_seen = -1;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the writer is stuck at gate " << writer.next_gate().value_or(-1);
    done = writer.Exited();
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
    // Restored while the owner, still running, waits at its next gate:
    // let it save on.
    if (writer.next_gate() && steps.back() == *writer.next_gate() - 1) {
      writer.Release();
    }
  }
  ASSERT_TRUE(WIFEXITED(writer.status()));
  EXPECT_EQ(WEXITSTATUS(writer.status()), 0);
  ASSERT_TRUE(reader->Reload().ok());
  EXPECT_EQ(reader->LatestStep(), kSteps - 1);
  // The owner reached its last step, so the reader restored at every gate.
  EXPECT_EQ(writer.released(), std::size(kGates));
}

TEST(MultiProcessTest, SecondaryStoreFollowsTheOwner) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  Writer writer(db);
  std::unique_ptr<internal::Store> secondary;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the writer is stuck at gate " << writer.next_gate().value_or(-1);
    done = writer.Exited();
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
    int64_t latest_read = -1;
    for (const StepInfo& info : secondary->Steps()) {
      auto item = secondary->ReadItem(info.step, "default");
      ASSERT_TRUE(item.ok()) << item.status();
      auto problems = secondary->Verify({info.step});
      ASSERT_TRUE(problems.ok()) << problems.status();
      EXPECT_TRUE(problems->problems.empty());
      latest_read = info.step;
    }
    // Followed the owner up to the gate it waits at: let it save on.
    if (writer.next_gate() && latest_read == *writer.next_gate() - 1) {
      writer.Release();
    }
  }
  ASSERT_TRUE(WIFEXITED(writer.status()));
  EXPECT_EQ(WEXITSTATUS(writer.status()), 0);
  EXPECT_EQ(writer.released(), std::size(kGates));
}

TEST(MultiProcessTest, ASecondProcessFollowsTheWriterAndSavesThroughIt) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto owner = CheckpointManager::Open(db);
  ASSERT_TRUE(owner.ok());
  EXPECT_FALSE((*owner)->following());
  ASSERT_TRUE((*owner)->Save(0, StateFor(0)).ok());
  ASSERT_TRUE((*owner)->WaitUntilFinished().ok());
  const pid_t pid = fork();
  if (pid == 0) {
    auto second = CheckpointManager::Open(db);  // default options
    if (!second.ok()) _exit(1);
    if (!(*second)->following()) _exit(2);
    if ((*second)->AllSteps() != std::vector<int64_t>{0}) _exit(3);
    auto restored = (*second)->Restore(0);
    if (!restored.ok() || !(*restored == StateFor(0))) _exit(4);
    if (!(*second)->ShouldSave(1)) _exit(7);
    auto save = (*second)->Save(1, StateFor(1));
    if (!save.ok() || !*save || !(*second)->WaitUntilFinished().ok()) {
      _exit(5);
    }
    if (!(*second)->following()) _exit(8);
    if (!(*second)->Delete(0).ok()) _exit(6);
    // An existing step: the writer refuses the later commit, as Orbax does.
    ManagerSaveOptions force;
    force.force = true;
    auto again = (*second)->Save(1, StateFor(2), force);
    if (again.ok() ||
        again.status().code() != absl::StatusCode::kAlreadyExists) {
      _exit(9);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The writer lists and restores what the follower saved and deleted.
  EXPECT_EQ((*owner)->AllSteps(), std::vector<int64_t>{1});
  ExpectRestores(**owner, 1);
}

// A notebook opens the database of a training run with default options
// while the trainer saves: it lists and restores the new steps as they
// appear, without Reload.
TEST(MultiProcessTest, DefaultOpenFollowsTheTrainerWithoutReload) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  Writer writer(db);
  std::unique_ptr<CheckpointManager> notebook;
  int64_t max_seen = -1;
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the writer is stuck at gate " << writer.next_gate().value_or(-1);
    done = writer.Exited();
    if (notebook == nullptr) {
      CheckpointManagerOptions o;
      o.create = false;
      auto r = CheckpointManager::Open(db, o);
      if (!r.ok()) {  // not created yet
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      notebook = std::move(*r);
      if (!done) EXPECT_TRUE(notebook->following());
    }
    const std::vector<int64_t> steps = notebook->AllSteps();
    if (steps.empty()) continue;
    EXPECT_GE(steps.back(), max_seen);
    max_seen = steps.back();
    auto t = notebook->Restore(steps.back());
    // Retention may have deleted it since the listing: list again.
    if (absl::IsNotFound(t.status())) continue;
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(*t == StateFor(steps.back()));
    if (writer.next_gate() && steps.back() == *writer.next_gate() - 1) {
      writer.Release();
    }
  }
  ASSERT_TRUE(WIFEXITED(writer.status()));
  EXPECT_EQ(WEXITSTATUS(writer.status()), 0);
  EXPECT_EQ(writer.released(), std::size(kGates));
  // The last commit is seen within the follow interval, without Reload.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(notebook->LatestStep(), kSteps - 1);
}

// Within one process: a second manager follows the first, sees each of its
// commits within the follow interval (100 ms), and once the writer has
// closed, the follower's next save makes it the writer.
TEST(MultiProcessTest, FollowerSeesCommitsWithinTheIntervalAndTakesOver) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  CheckpointManagerOptions sync;
  sync.enable_async_checkpointing = false;
  auto writer = CheckpointManager::Open(db, sync);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto follower = CheckpointManager::Open(db, sync);
  ASSERT_TRUE(follower.ok()) << follower.status();
  EXPECT_TRUE((*follower)->following());
  EXPECT_FALSE((*follower)->LatestStep().has_value());
  for (int64_t s = 0; s < 3; ++s) {
    ASSERT_TRUE((*writer)->Save(s, StateFor(s)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(110));
    EXPECT_EQ((*follower)->LatestStep(), s);
    ExpectRestores(**follower, s);
  }
  // The follower saves through the writer (another manager of this
  // process here; another process works the same way).
  auto through = (*follower)->Save(3, StateFor(3));
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_TRUE((*follower)->following());
  ExpectRestores(**writer, 3);
  ASSERT_TRUE((*writer)->Close().ok());
  writer->reset();
  auto saved = (*follower)->Save(4, StateFor(4));
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_TRUE(*saved);
  EXPECT_FALSE((*follower)->following());
  EXPECT_EQ((*follower)->AllSteps(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Now the first manager's place is taken: a new one follows.
  auto next = CheckpointManager::Open(db, sync);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)->following());
  ExpectRestores(**next, 4);
}

// A writer killed with SIGKILL blocks nobody: the follower's next save
// makes it the writer, and every committed step stays readable.
TEST(MultiProcessTest, AKilledWriterIsReplacedByTheFollower) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  // It holds the database until killed.
  const pid_t pid = ForkWriter(
      db, [](CheckpointManager& m) { return m.Save(0, StateFor(0)).ok(); });
  ASSERT_GT(pid, 0) << "the writer did not start";
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto follower = CheckpointManager::Open(db, o);
  ASSERT_TRUE(follower.ok()) << follower.status();
  EXPECT_TRUE((*follower)->following());
  auto through = (*follower)->Save(1, StateFor(1));  // committed by the writer
  ASSERT_TRUE(through.ok()) << through.status();
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  auto saved = (*follower)->Save(2, StateFor(2));
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_FALSE((*follower)->following());
  EXPECT_EQ((*follower)->AllSteps(), (std::vector<int64_t>{0, 1, 2}));
  for (int64_t s : {0, 1, 2}) {
    ExpectRestores(**follower, s);
  }
}

// ---- Hand-over under SIGKILL: several processes open the database with
// default options and keep saving (the first holds it, the others save
// through it); the test kills the last process that committed, or any
// process, at a random moment, again and again, and starts a new process
// in its place: no other process fails, no reported commit is lost.
// CKPTDB_HANDOVER_KILLS sets the number of kills (default 20; the long variant
// runs 200).

// What a worker reports through the shared pipe after each commit.
struct Commit {
  pid_t pid;
  int64_t step;
};

// A worker: saves steps base, base+1, ... with default options; a save
// refused because another process writes is retried every 5 ms.
[[noreturn]] void HandoverWorker(const std::string& db, int64_t base,
                                 int report_fd) {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto m = CheckpointManager::Open(db, o);
  if (!m.ok()) {
    fprintf(stderr, "worker: %s\n", m.status().ToString().c_str());
    _exit(2);
  }
  // Forced: another worker's steps may be higher (a save of a step below
  // the latest is otherwise skipped, as in Orbax).
  ManagerSaveOptions force;
  force.force = true;
  for (int64_t step = base;;) {
    auto saved = (*m)->Save(step, StateFor(step), force);
    if (saved.ok() && !*saved) _exit(5);
    if (saved.ok()) {
      const Commit c{getpid(), step};
      if (write(report_fd, &c, sizeof(c)) != sizeof(c)) _exit(3);
      ++step;
    } else if (saved.status().code() == absl::StatusCode::kFailedPrecondition) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      fprintf(stderr, "worker: %s\n", saved.status().ToString().c_str());
      _exit(4);
    }
  }
}

int HandoverKills() {
  const char* v = std::getenv("CKPTDB_HANDOVER_KILLS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 20;
}

TEST(MultiProcessTest, KillingTheWriterRepeatedlyHandsOverAndLosesNothing) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  constexpr int kWorkers = 3;
  int64_t next_base = 0;
  std::set<pid_t> workers;
  auto spawn = [&] {
    const int64_t base = next_base;
    next_base += 1'000'000;
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      HandoverWorker(db, base, fds[1]);
    }
    workers.insert(pid);
  };
  for (int i = 0; i < kWorkers; ++i) spawn();
  std::map<int64_t, pid_t> committed;
  // Waits up to `limit` for a commit; returns it.
  auto next_commit =
      [&](std::chrono::milliseconds limit) -> std::optional<Commit> {
    struct pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
    Commit c;
    if (read(fds[0], &c, sizeof(c)) != sizeof(c)) return std::nullopt;
    committed[c.step] = c.pid;
    return c;
  };
  std::mt19937 rng(777);
  const int kills = HandoverKills();
  double worst_gap_ms = 0;
  for (int k = 0; k < kills; ++k) {
    // Some process takes over and commits (bounded: the hand-over timeout).
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<Commit> c = next_commit(std::chrono::seconds(20));
    ASSERT_TRUE(c.has_value()) << "kill " << k << ": nobody committed within "
                               << "20 s after the writer was killed";
    worst_gap_ms =
        std::max(worst_gap_ms, std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - t0)
                                   .count());
    // Let it write a while, then kill the writer (the last committer).
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(
                           std::uniform_int_distribution<int>(0, 150)(rng));
    pid_t writer = c->pid;
    while (std::chrono::steady_clock::now() < until) {
      if (auto more = next_commit(std::chrono::milliseconds(5))) {
        writer = more->pid;
      }
    }
    // Every process saves (followers through the writer): kill the last
    // committer or, every other time, any process at random.
    if (k % 2 == 1) {
      auto it = workers.begin();
      std::advance(it, std::uniform_int_distribution<size_t>(
                           0, workers.size() - 1)(rng));
      writer = *it;
    }
    kill(writer, SIGKILL);
    int status = 0;
    waitpid(writer, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the writer exited by itself with " << WEXITSTATUS(status);
    workers.erase(writer);
    // Commits the writer reported before it died are still in the pipe.
    while (next_commit(std::chrono::milliseconds(0))) {
    }
    spawn();
  }
  for (pid_t p : workers) {  // every other worker is still trying to save
    int status = 0;
    EXPECT_EQ(waitpid(p, &status, WNOHANG), 0)
        << "a worker exited with " << WEXITSTATUS(status);
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
  while (next_commit(std::chrono::milliseconds(0))) {
  }
  close(fds[0]);
  close(fds[1]);
  std::printf(
      "%d kills, %zu commits, longest wait for a new writer's "
      "commit %.0f ms\n",
      kills, committed.size(), worst_gap_ms);
  // Every reported commit is there and restores exactly; nothing else is.
  CheckpointManagerOptions o;
  o.create = false;
  auto m = CheckpointManager::Open(db, o);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE((*m)->following());
  std::vector<int64_t> steps = (*m)->AllSteps();
  std::set<int64_t> listed(steps.begin(), steps.end());
  for (const auto& [step, pid] : committed) {
    ASSERT_TRUE(listed.count(step)) << "step " << step << " was lost";
  }
  // A step committed by a writer killed before it could report it may be
  // listed too; every listed step restores exactly.
  for (int64_t step : steps) {
    ExpectRestores(**m, step);
  }
  EXPECT_GE(committed.size(), static_cast<size_t>(kills));
}

}  // namespace
}  // namespace ckptdb
