// Crash loop across processes: kWorkers processes open one database with
// default options (the first is the writer, the others follow it and have
// it commit their saves) and each works on its own run at once: async
// saves with retention (max_to_keep 3, keep_period 4), explicit deletes
// and garbage collection (compaction), interleaved at random. The test
// kills one of them with SIGKILL at a random moment (every other time the
// writer, the holder of RocksDB's lock), again and again, and starts a new
// process for its run. After each kill, with the survivors stopped
// (SIGSTOP, so that nothing changes under the check), a checker process
// opens the database read-only and checks every run against what the
// workers reported (Ledger):
//   - every listed step was started and was never reported deleted
//     (nothing resurrected, nothing invented);
//   - every listed step restores bit-exactly and Verify (every chunk
//     re-hashed, reference counts, segment records) finds nothing (no step
//     is half-visible);
//   - no reported commit is lost: a committed step is listed unless a
//     delete of it began, or retention may have dropped it (it is not a
//     multiple of keep_period and max_to_keep newer steps are listed).
// At the end every process is killed, the same checks run once more, and
// garbage collection leaves exactly the live chunks and no staging folder.
// CKPTDB_CRASH_KILLS sets the number of kills (default 20;
// scripts/test-long.sh runs 200).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "tests/store_checks.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::TempDir;

constexpr int kWorkers = 3;
constexpr int64_t kKeep = 3;    // max_to_keep
constexpr int64_t kPeriod = 4;  // keep_period
constexpr uint32_t kChunkBytes = 64 << 10;

std::string RunName(int run) { return absl::StrCat("w", run); }

// ~768 KiB a step, 12 chunks: 4 of its own, 4 shared with every fourth
// step of every run (deduplicated), and a 256 KiB array of which one 4 KiB
// page changes per step (a patch chunk against the previous save).
Tree StateFor(int run, int64_t step) {
  const uint64_t seed = (run + 1) * 1'000'000ull + step;
  Array drift = RandomArray(DType::kFloat32, {64 << 10}, 99 + run);
  Array page = RandomArray(DType::kFloat32, {1024}, seed);
  std::memcpy(static_cast<char*>(drift.mutable_data()) + (step % 64) * 4096,
              page.data(), page.nbytes());
  return Tree::Dict(
      {{"own", RandomArray(DType::kFloat32, {64 << 10}, seed)},
       {"shared", RandomArray(DType::kFloat32, {64 << 10}, 7 + step % 4)},
       {"drift", Tree::FromArray(std::move(drift))},
       {"step", Tree::Int(step)}});
}

CheckpointManagerOptions WorkerOptions() {
  CheckpointManagerOptions o;
  o.max_to_keep = kKeep;
  o.keep_period = kPeriod;
  o.enable_async_checkpointing = true;
  o.gc_garbage_fraction = 0.0;  // every retention delete compacts
  o.tuning.chunk_bytes = kChunkBytes;
  return o;
}

// ---- What the workers report through one pipe (writes of a few bytes to
// a pipe are atomic, so reports of several processes never interleave).

enum class Kind : int32_t {
  kStarted,        // Save(step) is about to be called
  kCommitted,      // every step this process started up to `step` committed
  kDeleteBegun,    // Delete(step) is about to be called
  kDeleted,        // Delete(step) returned
  kDeleteMissing,  // Delete(step) found no such step (NotFound)
  kCollected,      // CollectGarbage() returned
};

struct Report {
  int32_t pid;
  int32_t run;
  Kind kind;
  int32_t unused = 0;
  int64_t step;
};

class Reporter {
 public:
  Reporter(int fd, int run) : fd_(fd), run_(run) {}
  void Send(Kind kind, int64_t step) const {
    const Report r{getpid(), run_, kind, 0, step};
    if (write(fd_, &r, sizeof(r)) != sizeof(r)) _exit(9);
  }

 private:
  int fd_;
  int run_;
};

// ---- A worker process.

[[noreturn]] void Fail(int run, const char* what, int64_t step,
                       const absl::Status& s) {
  fprintf(stderr, "worker %s (pid %d): %s %lld: %s\n", RunName(run).c_str(),
          getpid(), what, static_cast<long long>(step), s.ToString().c_str());
  _exit(3);
}

// Deletes up to two steps that retention keeps only for keep_period and
// that have max_to_keep newer committed steps (so that a lost one is
// detectable: see Ledger::Check). A step may be gone already, and NotFound
// is then right: a killed process of this run had sent the writer a
// delete of it, which the writer carried out after this process had
// listed the steps (the test checks that such a delete had begun).
void DeleteOld(CheckpointManager& m, const Reporter& rep, int run) {
  const std::vector<int64_t> steps = m.AllSteps();
  int deleted = 0;
  for (size_t i = 0; i + kKeep < steps.size() && deleted < 2; ++i) {
    if (steps[i] % kPeriod != 0) continue;
    rep.Send(Kind::kDeleteBegun, steps[i]);
    absl::Status s = m.Delete(steps[i]);
    if (absl::IsNotFound(s)) {
      rep.Send(Kind::kDeleteMissing, steps[i]);
      continue;
    }
    if (!s.ok()) Fail(run, "delete", steps[i], s);
    rep.Send(Kind::kDeleted, steps[i]);
    ++deleted;
  }
}

// Saves steps first, first+1, ... of its run (async, with retention) until
// killed; after a save, at random: waits for it, deletes old steps, or
// collects garbage. Exits 3 on any error (printed).
[[noreturn]] void WorkerMain(const std::string& db, int run, int64_t first,
                             int report_fd) {
  const Reporter rep(report_fd, run);
  auto m = CheckpointManager::Open(db, WorkerOptions(), RunName(run));
  if (!m.ok()) Fail(run, "open", -1, m.status());
  std::mt19937 rng(getpid());
  ManagerSaveOptions force;
  force.force = true;
  for (int64_t step = first;; ++step) {
    rep.Send(Kind::kStarted, step);
    absl::StatusOr<bool> saved = (*m)->Save(step, StateFor(run, step), force);
    if (!saved.ok()) Fail(run, "save", step, saved.status());
    if (!*saved) Fail(run, "save (skipped)", step, absl::OkStatus());
    // Save waits for the previous async save: that one committed.
    if (step > first) rep.Send(Kind::kCommitted, step - 1);
    const int action = rng() % 8;
    if (action <= 3) {  // wait; half of those times, also delete
      absl::Status s = (*m)->WaitUntilFinished();
      if (!s.ok()) Fail(run, "wait", step, s);
      rep.Send(Kind::kCommitted, step);
      if (action >= 2) DeleteOld(**m, rep, run);
    } else if (action == 4) {  // garbage collection while the save runs
      absl::Status s = (*m)->CollectGarbage();
      if (!s.ok()) Fail(run, "gc", step, s);
      rep.Send(Kind::kCollected, step);
    }
  }
}

// ---- What the test knows of each run, from the reports.

struct RunLedger {
  std::set<int64_t> started;
  std::set<int64_t> committed;
  std::map<int64_t, std::set<int32_t>> delete_begun;  // step -> processes
  std::set<int64_t> deleted;
  std::string problems;  // found while reading reports
};

class Ledger {
 public:
  void Add(const Report& r) {
    RunLedger& run = runs_[r.run];
    switch (r.kind) {
      case Kind::kStarted:
        run.started.insert(r.step);
        pending_[r.pid].insert(r.step);
        break;
      case Kind::kCommitted: {
        std::set<int64_t>& p = pending_[r.pid];
        for (auto it = p.begin(); it != p.end() && *it <= r.step;) {
          run.committed.insert(*it);
          it = p.erase(it);
        }
        ++commits_;
        break;
      }
      case Kind::kDeleteBegun:
        run.delete_begun[r.step].insert(r.pid);
        break;
      case Kind::kDeleteMissing: {
        const std::set<int32_t>& by = run.delete_begun[r.step];
        if (by.size() < 2) {  // only this process began deleting it
          absl::StrAppend(&run.problems, "step ", r.step,
                          " vanished before its delete; ");
        }
        break;
      }
      case Kind::kDeleted:
        run.deleted.insert(r.step);
        ++deletes_;
        break;
      case Kind::kCollected:
        ++collections_;
        break;
    }
  }
  // The first step a new process for `run` saves: above every step any
  // process of the run started.
  int64_t NextStep(int run) const {
    auto it = runs_.find(run);
    if (it == runs_.end() || it->second.started.empty()) return 0;
    return *it->second.started.rbegin() + 1;
  }
  // What is wrong with `listed`, the steps a view lists for `run`.
  std::string Check(int run, const std::vector<int64_t>& listed) const;
  size_t committed_steps() const {
    size_t n = 0;
    for (const auto& [run, r] : runs_) n += r.committed.size();
    return n;
  }
  int deletes() const { return deletes_; }
  int collections() const { return collections_; }

 private:
  std::map<int, RunLedger> runs_;
  std::map<int32_t, std::set<int64_t>> pending_;  // started, by process
  int commits_ = 0;
  int deletes_ = 0;
  int collections_ = 0;
};

std::string Ledger::Check(int run, const std::vector<int64_t>& listed) const {
  static const RunLedger kNone;
  auto found = runs_.find(run);
  const RunLedger& r = found == runs_.end() ? kNone : found->second;
  const std::set<int64_t> have(listed.begin(), listed.end());
  std::string problems = r.problems;
  for (int64_t s : have) {
    if (!r.started.count(s)) {
      absl::StrAppend(&problems, "step ", s,
                      " is listed but was never saved; ");
    }
    if (r.deleted.count(s)) {
      absl::StrAppend(&problems, "step ", s, " is listed but was deleted; ");
    }
  }
  for (int64_t s : r.committed) {
    if (have.count(s) || r.delete_begun.count(s)) continue;
    const auto newer = std::distance(have.upper_bound(s), have.end());
    if (s % kPeriod != 0 && newer >= kKeep) continue;  // retention's
    absl::StrAppend(&problems, "committed step ", s, " is lost (", newer,
                    " newer steps listed); ");
  }
  return problems;
}

// ---- The checks, in a child process (the test process stays
// single-threaded, so that it can fork safely; see RunInChild).

// Lists, restores and verifies every run; returns what is wrong ("" if
// nothing). Opens the database read-only: works while others hold it.
std::string CheckRuns(const std::string& db, const Ledger& ledger) {
  std::string problems;
  for (int run = 0; run < kWorkers; ++run) {
    const std::string name = RunName(run);
    CheckpointManagerOptions ro = WorkerOptions();
    ro.read_only = true;
    ro.create = false;
    auto m = CheckpointManager::Open(db, ro, name);
    if (!m.ok()) return absl::StrCat(name, ": open: ", m.status().ToString());
    const std::vector<int64_t> listed = (*m)->AllSteps();
    const std::string wrong = ledger.Check(run, listed);
    if (!wrong.empty()) absl::StrAppend(&problems, name, ": ", wrong, "\n");
    for (int64_t step : listed) {
      auto t = (*m)->Restore(step);
      if (!t.ok()) {
        absl::StrAppend(&problems, name, " step ", step, ": ",
                        t.status().ToString(), "\n");
      } else if (!(*t == StateFor(run, step))) {
        absl::StrAppend(&problems, name, " step ", step,
                        " restores other values\n");
      }
    }
    internal::StoreOptions so;
    so.mode = internal::StoreOptions::Mode::kReadOnly;
    so.run = name;
    absl::StrAppend(&problems, ::ckptdb::testing::VerifyProblems(db, so));
  }
  return problems;
}

// Runs `body` in a child process; returns what it returned, or why it died.
std::string RunInChild(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const std::string out = body();
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) _exit(2);
      done += n;
    }
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    absl::StrAppend(&out, "the checker died (status ", status, ")");
  }
  return out;
}

// The process holding RocksDB's lock on `db` (the writer), or -1.
pid_t WriterPid(const std::string& db) {
  const int fd = open((db + "/LOCK").c_str(), O_RDWR);
  if (fd < 0) return -1;
  struct flock f = {};
  f.l_type = F_WRLCK;
  f.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_GETLK, &f) == 0 && f.l_type != F_UNLCK;
  close(fd);
  return held ? f.l_pid : -1;
}

int Kills() {
  const char* v = std::getenv("CKPTDB_CRASH_KILLS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 20;
}

// ---- The test's side: the worker processes and their reports.

class Fleet {
 public:
  explicit Fleet(std::string db) : db_(std::move(db)) {
    if (pipe(fds_) != 0) std::abort();
  }
  ~Fleet() {
    for (const auto& [pid, run] : workers_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    close(fds_[0]);
    close(fds_[1]);
  }
  void Spawn(int run) {
    const int64_t first = ledger_.NextStep(run);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds_[0]);
      WorkerMain(db_, run, first, fds_[1]);
    }
    workers_[pid] = run;
  }
  // Reads reports for `limit`; true if one of them was of kind `wanted`.
  bool Drain(std::chrono::milliseconds limit, Kind wanted = Kind::kCommitted) {
    bool seen = false;
    const auto until = std::chrono::steady_clock::now() + limit;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      struct pollfd p = {fds_[0], POLLIN, 0};
      if (poll(&p, 1, std::max<int>(0, left.count())) <= 0) continue;
      Report r;
      if (read(fds_[0], &r, sizeof(r)) != sizeof(r)) std::abort();
      ledger_.Add(r);
      seen |= r.kind == wanted;
    } while (std::chrono::steady_clock::now() < until);
    return seen;
  }
  // Reads every report already in the pipe.
  void DrainNow() {
    struct pollfd p = {fds_[0], POLLIN, 0};
    while (poll(&p, 1, 0) > 0) {
      Report r;
      if (read(fds_[0], &r, sizeof(r)) != sizeof(r)) std::abort();
      ledger_.Add(r);
    }
  }
  // Waits up to `limit` for any process to report `kind`.
  bool WaitFor(Kind kind, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (Drain(std::chrono::milliseconds(20), kind)) return true;
    }
    return false;
  }
  // The writer every other time (if one of ours holds the lock), else a
  // process at random.
  pid_t PickVictim(bool writer, std::mt19937& rng) const {
    const pid_t w = WriterPid(db_);
    if (writer && workers_.count(w)) return w;
    auto it = workers_.begin();
    std::advance(
        it, std::uniform_int_distribution<size_t>(0, workers_.size() - 1)(rng));
    return it->first;
  }
  // Kills `pid`; returns its run, or -1 if it had exited by itself.
  int Kill(pid_t pid) {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    const int run = workers_[pid];
    workers_.erase(pid);
    return WIFSIGNALED(status) ? run : -1;
  }
  // Stops (or continues) every worker; "" or the workers that had exited.
  std::string StopAll() {
    std::string exited;
    for (const auto& [pid, run] : workers_) {
      kill(pid, SIGSTOP);
      int status = 0;
      waitpid(pid, &status, WUNTRACED);
      if (!WIFSTOPPED(status)) {
        absl::StrAppend(&exited, RunName(run), " exited (status ", status,
                        "); ");
      }
    }
    return exited;
  }
  void ContinueAll() {
    for (const auto& [pid, run] : workers_) kill(pid, SIGCONT);
  }
  void KillAll() {
    while (!workers_.empty()) Kill(workers_.begin()->first);
    DrainNow();
  }
  const Ledger& ledger() const { return ledger_; }

 private:
  std::string db_;
  int fds_[2];
  std::map<pid_t, int> workers_;  // pid -> run
  Ledger ledger_;
};

TEST(CrashLoopTest, KillingProcessesThatSaveDeleteAndCollectLosesNothing) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  Fleet fleet(db);
  for (int run = 0; run < kWorkers; ++run) fleet.Spawn(run);
  std::mt19937 rng(20261206);
  const int kills = Kills();
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < kills; ++k) {
    // Some process commits after the last kill (and, every other kill,
    // deletes or collects garbage, so that those run between kills even
    // where processes are slow, as under TSAN); then one dies at a random
    // moment.
    ASSERT_TRUE(fleet.WaitFor(Kind::kCommitted, std::chrono::seconds(120)))
        << "kill " << k << ": no process committed within 120 s";
    if (k % 4 == 1 || k % 4 == 3) {
      const Kind kind = k % 4 == 1 ? Kind::kDeleted : Kind::kCollected;
      ASSERT_TRUE(fleet.WaitFor(kind, std::chrono::seconds(120)))
          << "kill " << k << ": no delete or garbage collection in 120 s";
    }
    fleet.Drain(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 300)(rng)));
    const int run = fleet.Kill(fleet.PickVictim(k % 2 == 0, rng));
    ASSERT_GE(run, 0) << "kill " << k << ": the process had exited";
    const std::string exited = fleet.StopAll();
    fleet.DrainNow();
    ASSERT_EQ(exited, "") << "kill " << k;
    const Ledger& ledger = fleet.ledger();
    const std::string problems =
        RunInChild([&] { return CheckRuns(db, ledger); });
    ASSERT_EQ(problems, "") << "after kill " << k;
    fleet.ContinueAll();
    fleet.Spawn(run);
  }
  fleet.KillAll();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf(
      "%d kills in %.1f s: %zu committed steps, %d deletes, %d garbage "
      "collections\n",
      kills, seconds, fleet.ledger().committed_steps(),
      fleet.ledger().deletes(), fleet.ledger().collections());
  EXPECT_GE(fleet.ledger().committed_steps(), static_cast<size_t>(kills));
  EXPECT_GT(fleet.ledger().deletes(), 0);
  EXPECT_GT(fleet.ledger().collections(), 0);
  // With everything killed: the same checks, then nothing is left after GC.
  EXPECT_EQ(CheckRuns(db, fleet.ledger()), "");
  ::ckptdb::testing::CheckNothingLeftAfterGc(db);
}

}  // namespace
}  // namespace ckptdb
