#include "bench/many_writers.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/workloads.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"  // ckptdb::internal::SetGlobalTestHook

namespace ckptdb_bench {
namespace {

constexpr int kProcesses = 4;

// ---- the parent's side of a child process ---------------------------------
//
// The child's stdin carries one-byte commands ('g' go, 'q' close and
// exit), its stdout lines of text ("ready", "t <commit s> <save s> <kind>",
// "done <s>"). Its stderr is the bench's.
class Child {
 public:
  Child(const std::string& self_exe, const std::vector<std::string>& args) {
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0) FailErrno("pipe");
    std::fflush(stdout);
    pid_ = fork();
    if (pid_ < 0) FailErrno("fork");
    if (pid_ == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      close(to[0]);
      close(to[1]);
      close(from[0]);
      close(from[1]);
      std::vector<const char*> argv = {self_exe.c_str()};
      for (const std::string& a : args) argv.push_back(a.c_str());
      argv.push_back(nullptr);
      execv(self_exe.c_str(), const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    to_ = to[1];
    from_ = from[0];
  }
  ~Child() {
    if (pid_ > 0) Finish();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void Send(char c) {
    if (write(to_, &c, 1) != 1) FailErrno("writing to a MANY child");
  }
  // One line from the child (without the newline).
  std::string Line() {
    std::string line;
    for (;;) {
      char c;
      const ssize_t n = read(from_, &c, 1);
      if (n != 1) Fail("MANY: a child process died (see its message above)");
      if (c == '\n') return line;
      line += c;
    }
  }
  // Tells the child to close its database and exit; fails unless it exits
  // with status 0.
  void Finish() {
    Send('q');
    close(to_);
    close(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Fail("MANY: a child process failed (status " + std::to_string(status) +
           ")");
    }
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

// ---- the child's side -----------------------------------------------------

void Say(const std::string& line) {
  const std::string l = line + "\n";
  if (write(1, l.data(), l.size()) != static_cast<ssize_t>(l.size())) _exit(3);
}

char Command() {
  char c;
  if (read(0, &c, 1) != 1) _exit(4);  // the parent is gone
  return c;
}

// Times the serialised part of this process's saves through the store's
// test hooks (see ManyCommitResult). The commit service of a writer process
// also passes after_commit for the followers' commits, on its own thread:
// only a thread that passed after_step_file counts it.
struct CommitClock {
  std::mutex mu;
  double sum = 0;
  bool remote = false;
  bool any = false;
};
CommitClock g_clock;
thread_local double t_local = -1;   // after_step_file
thread_local double t_remote = -1;  // before_remote_commit
thread_local double t_last = -1;    // the last hook of this thread
thread_local const char* t_last_point = "";

void InstallCommitClock() {
  // Debugging: CKPTDB_BENCH_MANY_TRACE=1 prints every hook point reached
  // more than 50 ms after the previous one of its thread (to stderr).
  static const bool trace = std::getenv("CKPTDB_BENCH_MANY_TRACE") != nullptr;
  ckptdb::internal::SetGlobalTestHook([](absl::string_view point) {
    if (trace) {
      const double now = Now();
      if (t_last >= 0 && now - t_last > 0.050) {
        std::fprintf(stderr, "  [trace pid %d tid %d] %.*s %.1f ms after %s\n",
                     static_cast<int>(getpid()), static_cast<int>(gettid()),
                     static_cast<int>(point.size()), point.data(),
                     (now - t_last) * 1e3, t_last_point);
      }
      t_last = now;
      // Hook points are string literals in the store.
      t_last_point = point.data();
    }
    if (point == "after_step_file") {
      t_local = Now();
    } else if (point == "before_remote_commit") {
      t_local = -1;
      t_remote = Now();
    } else if (point == "after_commit" && t_local >= 0) {
      const double dt = Now() - t_local;
      t_local = -1;
      std::lock_guard<std::mutex> l(g_clock.mu);
      g_clock.sum += dt;
      g_clock.any = true;
    } else if (point == "after_remote_commit" && t_remote >= 0) {
      const double dt = Now() - t_remote;
      t_remote = -1;
      std::lock_guard<std::mutex> l(g_clock.mu);
      g_clock.sum += dt;
      g_clock.remote = g_clock.any = true;
    }
  });
}

// "t <commit s> <save s> remote|local|none" for the save just made.
void ReportSave(double save_s) {
  double sum;
  bool remote, any;
  {
    std::lock_guard<std::mutex> l(g_clock.mu);
    sum = g_clock.sum;
    remote = g_clock.remote;
    any = g_clock.any;
    g_clock.sum = 0;
    g_clock.remote = g_clock.any = false;
  }
  char buf[128];
  std::snprintf(buf, sizeof(buf), "t %.9f %.9f %s", sum, save_s,
                !any     ? "none"
                : remote ? "remote"
                         : "local");
  Say(buf);
}

ckptdb::CheckpointManagerOptions ManyOptions() {
  ckptdb::CheckpointManagerOptions o;  // default options, saves in the call
  o.enable_async_checkpointing = false;
  return o;
}

std::unique_ptr<ckptdb::CheckpointManager> OpenMany(const std::string& db,
                                                    const std::string& who) {
  auto m = ckptdb::CheckpointManager::Open(db, ManyOptions());
  CheckOk(m.status(), who + ": open " + db);
  return std::move(*m);
}

void SaveForced(ckptdb::CheckpointManager* m, int64_t step,
                const ckptdb::Tree& t, const std::string& who) {
  ckptdb::ManagerSaveOptions so;
  so.force = true;  // a step below another process's latest is not skipped
  absl::StatusOr<bool> saved = m->Save(step, t, so);
  CheckOk(saved.status(), who + ": save of step " + std::to_string(step));
  if (!*saved) Fail(who + ": step " + std::to_string(step) + " not saved");
}

// ---- 1. W3's sweep --------------------------------------------------------

int SweepRuns(bool quick) { return quick ? 2 : 4; }
int SweepSteps(bool quick) { return quick ? 2 : 5; }
uint64_t SweepSeed(int run, int s) {  // W3's seeds
  return 0x5733'0000ULL + static_cast<uint64_t>(run) * 100 + s;
}

int SweepChild(const std::string& db, int run, bool quick) {
  const Workload w = MakeW3(quick);
  const int steps = SweepSteps(quick);
  Arena state(w.arena_bytes);
  FillArrays(w, state.data(), 0x5733);  // W3's base
  const W3Mutator mut{&w, w.leaves[0].shape[0]};
  const ckptdb::Tree tree = BuildTree(w, state.data());
  InstallCommitClock();
  auto m = OpenMany(db, "MANY sweep child");
  Say(m->following() ? "ready follower" : "ready writer");
  if (Command() != 'g') return 5;
  const double t0 = Now();
  for (int s = 0; s < steps; ++s) {
    mut.Step(state.data(), SweepSeed(run, s));
    const double ts = Now();
    SaveForced(m.get(), run * steps + s, tree, "MANY sweep child");
    ReportSave(Now() - ts);
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "done %.9f", Now() - t0);
  Say(buf);
  if (Command() != 'q') return 5;
  CheckOk(m->Close(), "MANY sweep child: close");
  return 0;
}

// The final state of run `run` (restore check), built from the base.
void SweepFinalState(const Workload& w, const char* base, char* state, int run,
                     bool quick) {
  std::memcpy(state, base, w.arena_bytes);
  const W3Mutator mut{&w, w.leaves[0].shape[0]};
  for (int s = 0; s < SweepSteps(quick); ++s) {
    mut.Step(state, SweepSeed(run, s));
  }
}

void VerifySweep(const std::string& db, const Workload& w, const char* base,
                 char* state, bool quick, const std::string& who) {
  auto m = OpenMany(db, who);
  const int runs = SweepRuns(quick), steps = SweepSteps(quick);
  if (static_cast<int>(m->AllSteps().size()) != runs * steps) {
    Fail(who + ": the database lists " + std::to_string(m->AllSteps().size()) +
         " steps, expected " + std::to_string(runs * steps));
  }
  for (int run = 0; run < runs; ++run) {
    SweepFinalState(w, base, state, run, quick);
    absl::StatusOr<ckptdb::Tree> got = m->Restore(run * steps + steps - 1);
    CheckOk(got.status(), who + ": restore");
    std::string what;
    if (!TreeMatches(w, state, *got, &what)) Fail(who + ": " + what);
  }
  CheckOk(m->Close(), who + ": close");
}

// du after Close, then after CollectGarbage + Close.
void MeasureStored(const std::string& db, double* before, double* after) {
  *before = static_cast<double>(DuBytes(db));
  auto m = OpenMany(db, "MANY gc");
  if (m->following()) Fail("MANY: another process still holds " + db);
  CheckOk(m->CollectGarbage(), "MANY: CollectGarbage");
  CheckOk(m->Close(), "MANY: close after gc");
  *after = static_cast<double>(DuBytes(db));
}

}  // namespace

ManySweepResult RunManySweep(const std::string& self_exe,
                             const std::string& work, bool quick, int pairs,
                             int warmup) {
  ManySweepResult r;
  const Workload w = MakeW3(quick);
  r.processes = SweepRuns(quick);
  r.runs = SweepRuns(quick);
  r.steps = SweepSteps(quick);
  r.logical_bytes = static_cast<double>(w.array_bytes) * r.runs * r.steps;
  Arena base(w.arena_bytes), state(w.arena_bytes);
  FillArrays(w, base.data(), 0x5733);
  const W3Mutator mut{&w, w.leaves[0].shape[0]};
  const ckptdb::Tree tree = BuildTree(w, state.data());
  const std::string db = work + "/many_sweep.ckptdb";

  // (a): this process, run after run (the state reset to the base between
  // runs is not timed).
  auto sequential = [&](double* du_before, double* du_after) {
    RemoveAll(db);
    auto m = OpenMany(db, "MANY sweep (1 process)");
    double t = 0;
    for (int run = 0; run < r.runs; ++run) {
      std::memcpy(state.data(), base.data(), w.arena_bytes);
      const double t0 = Now();
      for (int s = 0; s < r.steps; ++s) {
        mut.Step(state.data(), SweepSeed(run, s));
        SaveForced(m.get(), run * r.steps + s, tree, "MANY sweep (1 process)");
      }
      t += Now() - t0;
    }
    CheckOk(m->Close(), "MANY sweep: close");
    m.reset();
    MeasureStored(db, du_before, du_after);
    return t;
  };
  // (b): one process per run, all at once; wall time from 'go' to the
  // last process's last commit.
  std::vector<double> commit_s;
  int writer_run = -1;  // the run whose process holds the database
  auto parallel = [&](double* du_before, double* du_after) {
    RemoveAll(db);
    {  // create it (the children then race only to open it)
      auto m = OpenMany(db, "MANY sweep: create");
      CheckOk(m->Close(), "MANY sweep: close");
    }
    std::vector<std::unique_ptr<Child>> kids;
    for (int run = 0; run < r.runs; ++run) {
      std::vector<std::string> args = {"--many-child", "sweep",
                                       "--many-db",    db,
                                       "--many-index", std::to_string(run)};
      if (quick) args.push_back("--quick");
      kids.push_back(std::make_unique<Child>(self_exe, args));
    }
    writer_run = -1;
    for (size_t i = 0; i < kids.size(); ++i) {
      const std::string l = kids[i]->Line();
      if (l.rfind("ready", 0) != 0) Fail("MANY sweep: a child did not start");
      if (l == "ready writer") writer_run = static_cast<int>(i);
    }
    const double t0 = Now();
    for (auto& k : kids) k->Send('g');
    commit_s.clear();
    for (auto& k : kids) {
      for (std::string line = k->Line();; line = k->Line()) {
        if (line.rfind("done", 0) == 0) break;
        double c = 0, s = 0;
        if (std::sscanf(line.c_str(), "t %lf %lf", &c, &s) != 2) {
          Fail("MANY sweep: bad child line '" + line + "'");
        }
        commit_s.push_back(c);
      }
    }
    const double t = Now() - t0;
    for (auto& k : kids) k->Finish();
    MeasureStored(db, du_before, du_after);
    return t;
  };

  for (int p = 0; p < warmup + pairs; ++p) {
    const bool warm = p < warmup;
    double ta = 0, tb = 0, a_before = 0, a_after = 0, b_before = 0, b_after = 0;
    const bool a_first = p % 2 == 0;
    for (int half = 0; half < 2; ++half) {
      if ((half == 0) == a_first) {
        ta = sequential(&a_before, &a_after);
        if (p == 0) {
          VerifySweep(db, w, base.data(), state.data(), quick,
                      "MANY sweep (1 process)");
        }
      } else {
        tb = parallel(&b_before, &b_after);
        if (p == 0) {
          VerifySweep(db, w, base.data(), state.data(), quick,
                      "MANY sweep (" + std::to_string(r.runs) + " processes)");
        }
      }
      // Debugging: CKPTDB_BENCH_MANY_KEEP=DIR keeps every sweep database
      // there (a-<pair>, b-<pair>) instead of removing it.
      if (const char* keep = std::getenv("CKPTDB_BENCH_MANY_KEEP")) {
        MakeDirs(keep);
        const std::string to = std::string(keep) + "/" +
                               ((half == 0) == a_first ? "a-" : "b-") +
                               std::to_string(p);
        RemoveAll(to);
        if (std::rename(db.c_str(), to.c_str()) != 0) FailErrno("rename");
      }
      RemoveAll(db);
    }
    std::printf(
        "  MANY sweep %s %d/%d (%s)  1 process %s, stored %s (%s before "
        "gc)  |  %d processes %s, stored %s (%s before gc)  |  time "
        "%.2fx, size %.4fx (writer: run %d)\n",
        warm ? "warm-up" : "sample ", warm ? p + 1 : p - warmup + 1,
        warm ? warmup : pairs, a_first ? "a b" : "b a",
        FormatSeconds(ta).c_str(), FormatBytes(a_after).c_str(),
        FormatBytes(a_before).c_str(), r.runs, FormatSeconds(tb).c_str(),
        FormatBytes(b_after).c_str(), FormatBytes(b_before).c_str(), tb / ta,
        b_after / a_after, writer_run);
    std::fflush(stdout);
    if (warm) continue;
    r.seq_s.push_back(ta);
    r.par_s.push_back(tb);
    r.time_ratio.push_back(tb / ta);
    r.seq_du.push_back(a_after);
    r.par_du.push_back(b_after);
    r.size_ratio.push_back(b_after / a_after);
    r.seq_du_before_gc.push_back(a_before);
    r.par_du_before_gc.push_back(b_before);
    r.par_commit_s.insert(r.par_commit_s.end(), commit_s.begin(),
                          commit_s.end());
  }
  return r;
}

// ---- 2. commit latency ----------------------------------------------------

namespace {

constexpr size_t kCommitArrays = 4;
constexpr size_t kCommitArrayElems = 16 * 1024;  // 64 KiB each

ckptdb::Tree CommitTree(std::vector<float>& data, int64_t step) {
  std::vector<std::pair<ckptdb::DictKey, ckptdb::Tree>> kids;
  for (size_t a = 0; a < kCommitArrays; ++a) {
    kids.emplace_back(
        "a" + std::to_string(a),
        ckptdb::Tree::FromArray(ckptdb::Array::Borrow(
            ckptdb::DType::kFloat32, {static_cast<int64_t>(kCommitArrayElems)},
            data.data() + a * kCommitArrayElems)));
  }
  kids.emplace_back("step", ckptdb::Tree::Int(step));
  return ckptdb::Tree::Dict(std::move(kids));
}

// Process k's i-th step.
int64_t CommitStep(int k, int i) {
  return static_cast<int64_t>(k + 1) * 100000 + i;
}

int CommitChild(const std::string& db, int index, int saves) {
  std::vector<float> data(kCommitArrays * kCommitArrayElems);
  InstallCommitClock();
  auto m = OpenMany(db, "MANY commit child");
  Say(m->following() ? "ready follower" : "ready writer");
  if (Command() != 'g') return 5;
  const double t0 = Now();
  for (int i = 0; i < saves; ++i) {
    const int64_t step = CommitStep(index, i);
    FillRandom(reinterpret_cast<char*>(data.data()), data.size() * 4,
               0x4D41'0000ULL + static_cast<uint64_t>(step));
    const ckptdb::Tree t = CommitTree(data, step);
    const double ts = Now();
    SaveForced(m.get(), step, t, "MANY commit child");
    ReportSave(Now() - ts);
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "done %.9f", Now() - t0);
  Say(buf);
  if (Command() != 'q') return 5;
  CheckOk(m->Close(), "MANY commit child: close");
  return 0;
}

}  // namespace

ManyCommitResult RunManyCommit(const std::string& self_exe,
                               const std::string& work, bool quick) {
  ManyCommitResult r;
  r.processes = kProcesses;
  r.prefill_steps = quick ? 20 : 1000;
  r.saves_per_process = quick ? 3 : 40;
  r.step_bytes = kCommitArrays * kCommitArrayElems * 4;
  const std::string db = work + "/many_commit.ckptdb";
  RemoveAll(db);
  {
    // The 1,000 steps: two 4 KiB arrays and a scalar each, from this
    // process (max_to_keep unset).
    std::vector<float> a(1024), b(1024);
    auto m = OpenMany(db, "MANY commit: pre-fill");
    const double t0 = Now();
    for (int i = 0; i < r.prefill_steps; ++i) {
      FillRandom(reinterpret_cast<char*>(a.data()), 4096, 0x4D42'0000ULL + i);
      FillRandom(reinterpret_cast<char*>(b.data()), 4096, 0x4D43'0000ULL + i);
      const ckptdb::Tree t = ckptdb::Tree::Dict(
          {{"w",
            ckptdb::Array::Borrow(ckptdb::DType::kFloat32, {1024}, a.data())},
           {"b",
            ckptdb::Array::Borrow(ckptdb::DType::kFloat32, {1024}, b.data())},
           {"step", ckptdb::Tree::Int(i)}});
      SaveForced(m.get(), i, t, "MANY commit: pre-fill");
    }
    r.prefill_s = Now() - t0;
    CheckOk(m->Close(), "MANY commit: close");
  }
  std::printf(
      "  MANY commit: pre-filled %d steps in %s; %d processes x %d "
      "saves of %s each\n",
      r.prefill_steps, FormatSeconds(r.prefill_s).c_str(), kProcesses,
      r.saves_per_process, FormatBytes(r.step_bytes).c_str());
  std::fflush(stdout);
  std::vector<std::unique_ptr<Child>> kids;
  for (int k = 0; k < kProcesses; ++k) {
    kids.push_back(std::make_unique<Child>(
        self_exe, std::vector<std::string>{
                      "--many-child", "commit", "--many-db", db, "--many-index",
                      std::to_string(k), "--many-saves",
                      std::to_string(r.saves_per_process)}));
  }
  for (auto& k : kids) {
    if (k->Line().rfind("ready", 0) != 0) {
      Fail("MANY commit: a child did not start");
    }
  }
  const double t0 = Now();
  for (auto& k : kids) k->Send('g');
  for (size_t k = 0; k < kids.size(); ++k) {
    std::vector<double> mine;
    std::string kind_seen;
    for (std::string line = kids[k]->Line();; line = kids[k]->Line()) {
      if (line.rfind("done", 0) == 0) break;
      double c = 0, s = 0;
      char kind[16] = {0};
      if (std::sscanf(line.c_str(), "t %lf %lf %15s", &c, &s, kind) != 3) {
        Fail("MANY commit: bad child line '" + line + "'");
      }
      r.save_s.push_back(s);
      const std::string kd = kind;
      if (kd == "none") {
        ++r.unmeasured;
        continue;
      }
      (kd == "remote" ? r.remote_s : r.local_s).push_back(c);
      r.all_s.push_back(c);
      mine.push_back(c);
      if (kind_seen.find(kd) == std::string::npos) {
        kind_seen += (kind_seen.empty() ? "" : "+") + kd;
      }
    }
    std::printf("  MANY commit: process %zu (%s) commit median %s, worst %s\n",
                k, kind_seen.c_str(), FormatSeconds(Median(mine)).c_str(),
                FormatSeconds(mine.empty()
                                  ? 0
                                  : *std::max_element(mine.begin(), mine.end()))
                    .c_str());
  }
  const double wall = Now() - t0;
  for (auto& k : kids) k->Finish();
  std::printf("  MANY commit: %zu saves in %s (save median %s)\n",
              r.save_s.size(), FormatSeconds(wall).c_str(),
              FormatSeconds(Median(r.save_s)).c_str());
  {
    auto m = OpenMany(db, "MANY commit: check");
    const size_t want =
        static_cast<size_t>(r.prefill_steps + kProcesses * r.saves_per_process);
    if (m->AllSteps().size() != want) {
      Fail("MANY commit: the database lists " +
           std::to_string(m->AllSteps().size()) + " steps, expected " +
           std::to_string(want));
    }
    std::vector<float> data(kCommitArrays * kCommitArrayElems);
    const int64_t step = CommitStep(kProcesses - 1, r.saves_per_process - 1);
    FillRandom(reinterpret_cast<char*>(data.data()), data.size() * 4,
               0x4D41'0000ULL + static_cast<uint64_t>(step));
    absl::StatusOr<ckptdb::Tree> got = m->Restore(step);
    CheckOk(got.status(), "MANY commit: restore");
    const ckptdb::Tree* a3 = got->Find("a3");
    if (a3 == nullptr || std::memcmp(a3->array().data_as<float>(),
                                     data.data() + 3 * kCommitArrayElems,
                                     kCommitArrayElems * 4) != 0) {
      Fail("MANY commit: a restored step differs from what was saved");
    }
    CheckOk(m->Close(), "MANY commit: close");
  }
  RemoveAll(db);
  return r;
}

int ManyChildMain(const std::string& kind, const std::string& db, int index,
                  int saves, bool quick) {
  if (kind == "sweep") return SweepChild(db, index, quick);
  if (kind == "commit") return CommitChild(db, index, saves);
  std::fprintf(stderr, "ckptdb_bench: unknown --many-child '%s'\n",
               kind.c_str());
  return 2;
}

}  // namespace ckptdb_bench
