#include "bench/follow.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/workloads.h"
#include "ckptdb/checkpoint_manager.h"

namespace ckptdb_bench {
namespace {

// The tree both processes use: `arrays` float32 arrays of 1 Mi elements
// (4 MiB each) and the step number. A step's arrays are the base bytes
// XOR the step number in every 32-bit word, so every chunk is new.
constexpr size_t kArrayElems = 1 << 20;
size_t NumArrays(bool quick) { return quick ? 2 : 64; }

ckptdb::Tree MakeTree(std::vector<uint32_t>& data, size_t arrays,
                      int64_t step) {
  std::vector<std::pair<ckptdb::DictKey, ckptdb::Tree>> kids;
  for (size_t a = 0; a < arrays; ++a) {
    kids.emplace_back(
        "a" + std::to_string(a),
        ckptdb::Tree::FromArray(ckptdb::Array::Borrow(
            ckptdb::DType::kFloat32, {static_cast<int64_t>(kArrayElems)},
            data.data() + a * kArrayElems)));
  }
  kids.emplace_back("step", ckptdb::Tree::Int(step));
  return ckptdb::Tree::Dict(std::move(kids));
}

void XorStep(std::vector<uint32_t>& data, uint32_t from, uint32_t to) {
  const uint32_t x = from ^ to;
  for (uint32_t& w : data) w ^= x;
}

// Commands from the reader to the writer, one byte each: 'b' save steps
// until told otherwise, 'i' stop saving (acknowledged with 'k' once the
// current save has committed), 'q' exit.
class WriterProcess {
 public:
  // index < 0: FOLLOW's single writer; otherwise writer `index` of several
  // (MANY), passed as --writer-index.
  WriterProcess(const std::string& self_exe, const std::string& db, bool quick,
                int index, int save_nice) {
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0) FailErrno("pipe");
    pid_ = fork();
    if (pid_ < 0) FailErrno("fork");
    if (pid_ == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      close(to[1]);
      close(from[0]);
      std::vector<const char*> argv = {self_exe.c_str(), "--follow-writer",
                                       db.c_str()};
      if (quick) argv.push_back("--quick");
      const std::string nice_arg = std::to_string(save_nice);
      argv.push_back("--save-nice");
      argv.push_back(nice_arg.c_str());
      const std::string index_arg = std::to_string(index);
      if (index >= 0) {
        argv.push_back("--writer-index");
        argv.push_back(index_arg.c_str());
      }
      argv.push_back(nullptr);
      execv(self_exe.c_str(), const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    to_ = to[1];
    from_ = from[0];
  }
  ~WriterProcess() {
    Send('q');
    close(to_);
    close(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  void Send(char c) {
    if (write(to_, &c, 1) != 1) FailErrno("writing to the FOLLOW writer");
  }
  // Waits for one byte from the writer: 'r' ready, 'k' idle, 's' saved.
  char Receive() {
    char c;
    if (read(from_, &c, 1) != 1) Fail("the FOLLOW writer process died");
    return c;
  }
  // After 'i' (stop saving) was sent: waits until the writer has stopped;
  // returns the number of steps it committed meanwhile.
  int WaitIdle() {
    int saves = 0;
    for (char c = Receive(); c != 'k'; c = Receive()) saves += c == 's';
    return saves;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

// Picks up the writer's commits, then restores the latest step into
// `target` and checks its step number and first word; returns the time of
// the restore alone (the follow interval has passed before the listing, so
// the restore itself does not re-read the database).
double TimedRestore(ckptdb::CheckpointManager* m, const ckptdb::Tree& target,
                    uint32_t base_word) {
  for (int attempt = 0;; ++attempt) {
    usleep(110 * 1000);
    const std::optional<int64_t> latest = m->LatestStep();
    if (!latest.has_value()) Fail("FOLLOW: the follower lists no step");
    const double t0 = Now();
    absl::StatusOr<ckptdb::Tree> t = m->Restore(*latest, target);
    const double seconds = Now() - t0;
    // Retention may delete the step between listing and reading it.
    if (absl::IsNotFound(t.status()) && attempt < 5) continue;
    CheckOk(t.status(), "FOLLOW: restore of the latest step");
    const ckptdb::Tree* a0 = t->Find("a0");
    const ckptdb::Tree* step = t->Find("step");
    if (a0 == nullptr || step == nullptr ||
        step->kind() != ckptdb::Tree::Kind::kInt ||
        step->int_value() != *latest ||
        a0->array().data_as<uint32_t>()[0] !=
            (base_word ^ static_cast<uint32_t>(*latest))) {
      Fail("FOLLOW: the restored step differs from what was saved");
    }
    return seconds;
  }
}

// Restores per phase of a block (spread over the writer's save cycle).
constexpr int kRestoresPerPhase = 3;

// Writer k of several saves steps k * kWriterStepBase + i.
constexpr int64_t kWriterStepBase = 1000000;

}  // namespace

int FollowWriterMain(const std::string& db, bool quick, int index,
                     int save_nice) {
  const size_t arrays = NumArrays(quick);
  std::vector<uint32_t> data(arrays * kArrayElems);
  FillRandom(reinterpret_cast<char*>(data.data()), data.size() * 4, 0xF011);
  ckptdb::CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.save_nice = save_nice;
  // One of several writers: there are no named runs yet, so retention
  // (which applies to every step the manager lists, the other writers'
  // included) stays off and each writer deletes its own step before the
  // last one itself; its steps are index * kWriterStepBase + i, forced
  // (a step below the latest is not skipped).
  const bool many = index >= 0;
  if (!many) o.max_to_keep = 2;
  ckptdb::ManagerSaveOptions so;
  so.force = many;
  auto m = ckptdb::CheckpointManager::Open(db, o);
  CheckOk(m.status(), "FOLLOW writer: open");
  const int64_t first = many ? index * kWriterStepBase : 0;
  int64_t step = first;
  XorStep(data, 0, static_cast<uint32_t>(step));
  CheckOk((*m)->Save(step, MakeTree(data, arrays, step), so).status(),
          "FOLLOW writer: save");
  auto say = [](char c) {
    if (write(1, &c, 1) != 1) _exit(3);
  };
  say('r');
  bool busy = false;
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, busy ? 0 : -1) > 0) {
      char c;
      if (read(0, &c, 1) != 1 || c == 'q') return 0;
      if (c == 'i') say('k');
      busy = c == 'b';
      continue;
    }
    XorStep(data, static_cast<uint32_t>(step), static_cast<uint32_t>(step + 1));
    ++step;
    CheckOk((*m)->Save(step, MakeTree(data, arrays, step), so).status(),
            "FOLLOW writer: save");
    if (many && step - 2 >= first) {
      CheckOk((*m)->Delete(step - 2), "FOLLOW writer: delete its old step");
    }
    say('s');
  }
}

FollowResult RunFollowBlocks(const std::string& self_exe,
                             const std::string& work, bool quick, int pairs,
                             int warmup, int writers, int save_nice) {
  const std::string db =
      work + (writers > 1 ? "/many_follow.ckptdb" : "/follow.ckptdb");
  RemoveAll(db);
  FollowResult r;
  const size_t arrays = NumArrays(quick);
  r.tree_bytes = static_cast<double>(arrays * kArrayElems * 4);
  r.restores_per_phase = kRestoresPerPhase;
  std::vector<uint32_t> base(arrays * kArrayElems);
  FillRandom(reinterpret_cast<char*>(base.data()), base.size() * 4, 0xF011);
  std::vector<uint32_t> dst(base.size());
  {
    std::vector<std::unique_ptr<WriterProcess>> ws;
    for (int k = 0; k < writers; ++k) {
      ws.push_back(std::make_unique<WriterProcess>(
          self_exe, db, quick, writers > 1 ? k : -1, save_nice));
    }
    for (auto& w : ws) {
      if (w->Receive() != 'r') Fail("FOLLOW: a writer did not start");
    }
    auto m = ckptdb::CheckpointManager::Open(db);  // default options
    CheckOk(m.status(), "FOLLOW: open the follower");
    if (!(*m)->following()) Fail("FOLLOW: the reader does not follow");
    const ckptdb::Tree target = MakeTree(dst, arrays, 0);
    for (int block = 0; block < warmup + pairs; ++block) {
      double idle = 0, busy = 0;
      for (int phase = 0; phase < 4; ++phase) {  // A B B A
        const bool saving = phase == 1 || phase == 2;
        if (phase == 1) {
          for (auto& w : ws) w->Send('b');
          // Timed only once every writer is in its save loop.
          for (auto& w : ws) {
            while (w->Receive() != 's') {
            }
            ++r.writer_saves;
          }
        }
        if (phase == 3) {
          for (auto& w : ws) w->Send('i');
          for (auto& w : ws) r.writer_saves += w->WaitIdle();
        }
        double phase_s = 0;
        for (int i = 0; i < kRestoresPerPhase; ++i) {
          phase_s += TimedRestore(m->get(), target, base[0]);
        }
        (saving ? busy : idle) += phase_s;
        if (block >= warmup) (saving ? r.busy_s : r.idle_s).push_back(phase_s);
      }
      if (block >= warmup) r.ratio.push_back(busy > 0 ? idle / busy : 0);
    }
  }
  RemoveAll(db);
  return r;
}

}  // namespace ckptdb_bench
