// The sharding benchmark (issue 13, "Measured"):
//
//   1. One step of 2-D float32 arrays (1 GiB by default) saved by 4
//      processes, each holding its shards of a 2x2 mesh
//      (multiprocessing), vs by one process holding the same arrays whole:
//      wall time from "go" to the last process's exit, pairs alternating
//      their order; the ratio 4-processes / 1-process per pair.
//   2. Bytes read (/proc/self/io rchar) by a restore of a 1/8 box of a
//      512 MiB array saved sharded, vs the box's own bytes.
//
//   build/bench/ckptdb_shard_bench [--gib 1] [--pairs 5] [--dir /tmp/x]
//
// Every process generates its data before "go" (a pseudo-random function
// of the element's global index, so both saves store the same bytes);
// only the saves are timed.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/sharding.h"

namespace {

using namespace ckptdb;  // NOLINT: a benchmark's main file

constexpr int kProcesses = 4;
constexpr int64_t kCols = 4096;

uint32_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(x ^ (x >> 31));
}

// The box of array `a` (rows x kCols float32) with its global values.
Array Fill(int a, const Box& box) {
  Array out = Array::Allocate(DType::kFloat32, box.shape);
  auto* p = static_cast<uint32_t*>(out.mutable_data());
  for (int64_t r = 0; r < box.shape[0]; ++r) {
    for (int64_t c = 0; c < box.shape[1]; ++c) {
      const uint64_t g =
          (static_cast<uint64_t>(box.start[0] + r) * kCols + box.start[1] + c);
      p[r * box.shape[1] + c] = Mix(g * 8 + a) & 0x3f7fffffu;  // finite
    }
  }
  return out;
}

Tree Step(int arrays, int64_t rows, int process, bool sharded) {
  auto mesh = Mesh::Create({"x", "y"}, {2, 2}, kProcesses);
  Tree t = Tree::Dict();
  for (int a = 0; a < arrays; ++a) {
    const Shape global{rows, kCols};
    if (!sharded) {
      t.Insert("w" + std::to_string(a), Fill(a, WholeBox(global)));
      continue;
    }
    ShardedArray s;
    s.global_shape = global;
    s.sharding = Sharding{*mesh, {{"x"}, {"y"}}};
    s.process = process;
    const auto boxes = ProcessBoxes(s.sharding, global, process);
    if (!boxes.ok()) abort();
    for (const ProcessBox& pb : *boxes) {
      s.shards.push_back({pb.box, Fill(a, pb.box)});
    }
    t.Insert("w" + std::to_string(a), Tree::Sharded(std::move(s)));
  }
  return t;
}

// Children wait for "go" on `go`, after writing "ready" to `ready`.
pid_t Spawn(const std::string& db, int arrays, int64_t rows, int process,
            int processes, int ready, int go) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  alarm(600);  // never outlive a stuck parent
  Tree tree = Step(arrays, rows, process, processes > 1);
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.multiprocessing.process_index = process;
  o.multiprocessing.process_count = processes;
  auto m = CheckpointManager::Open(db, o);
  if (!m.ok()) _exit(2);
  char c = 1;
  if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1) _exit(3);
  auto saved = (*m)->Save(0, tree);
  if (!saved.ok() || !*saved) {
    fprintf(stderr, "process %d: %s\n", process,
            saved.ok() ? "not saved" : saved.status().ToString().c_str());
    _exit(4);
  }
  _exit((*m)->Close().ok() ? 0 : 5);
}

double TimedSave(const std::string& db, int arrays, int64_t rows,
                 int processes) {
  std::filesystem::remove_all(db);
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) abort();
  std::vector<pid_t> pids;
  for (int p = 0; p < processes; ++p) {
    pids.push_back(Spawn(db, arrays, rows, p, processes, ready[1], go[0]));
  }
  // Only the children write "ready": a child that dies first gives EOF.
  close(ready[1]);
  close(go[0]);
  char c = 1;
  for (int p = 0; p < processes; ++p) {
    if (read(ready[0], &c, 1) != 1) {
      fprintf(stderr, "a saving process died before it was ready\n");
      exit(1);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < processes; ++p) {
    if (write(go[1], &c, 1) != 1) abort();
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "a saving process failed (status %d)\n", status);
      exit(1);
    }
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  close(ready[0]);
  close(go[1]);
  return s;
}

uint64_t ReadChars() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t v = 0;
  while (io >> key >> v) {
    if (key == "rchar:") return v;
  }
  return 0;
}

void Summary(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  printf("%s: median %.3f [%.3f-%.3f] over %zu\n", what, v[v.size() / 2],
         v.front(), v.back(), v.size());
}

}  // namespace

int main(int argc, char** argv) {
  double gib = 1;
  int pairs = 5;
  std::string dir = "/tmp/ckptdb_shard_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--gib") gib = atof(argv[i + 1]);
    if (a == "--pairs") pairs = atoi(argv[i + 1]);
    if (a == "--dir") dir = argv[i + 1];
  }
  std::filesystem::create_directories(dir);
  const int arrays = 4;
  // rows divisible by 2 (the mesh), each array a quarter of the bytes.
  const int64_t rows = std::max<int64_t>(
      2, static_cast<int64_t>(gib * (1 << 30) / arrays / (kCols * 4)) / 2 * 2);
  printf("part 1: %d arrays of (%ld, %ld) float32 = %.2f GiB, %d pairs\n",
         arrays, long(rows), long(kCols),
         arrays * rows * kCols * 4.0 / (1 << 30), pairs);
  const std::string db = dir + "/db";
  TimedSave(db, arrays, rows, 1);  // warm-up
  std::vector<double> one, four, ratio;
  for (int p = 0; p < pairs; ++p) {
    double a, b;
    if (p % 2 == 0) {
      a = TimedSave(db, arrays, rows, 1);
      b = TimedSave(db, arrays, rows, kProcesses);
    } else {
      b = TimedSave(db, arrays, rows, kProcesses);
      a = TimedSave(db, arrays, rows, 1);
    }
    one.push_back(a);
    four.push_back(b);
    ratio.push_back(b / a);
    printf("pair %d: 1 process %.3f s, 4 processes %.3f s, ratio %.3f\n", p, a,
           b, b / a);
  }
  Summary("1 process save s", one);
  Summary("4 processes save s", four);
  Summary("ratio 4/1", ratio);

  // Part 2: a 1/8 box of one array saved sharded 2x2.
  // 512 MiB (less for a smoke run of under 1 GiB).
  const int64_t big_rows = std::max<int64_t>(
      16,
      static_cast<int64_t>(std::min(gib, 1.0) * (512ll << 20) / (kCols * 4)) /
          16 * 16);
  const double big_bytes = big_rows * kCols * 4.0;
  TimedSave(db, 1, big_rows, kProcesses);
  auto m = CheckpointManager::Open(db, {});
  if (!m.ok()) return 1;
  auto mesh = Mesh::Create({"d"}, {8}, 8);
  RestoreOptions o;
  o.process = 3;
  o.restore_args["w0"].sharding = Sharding{*mesh, {{"d"}}};
  const uint64_t before = ReadChars();
  auto r = (*m)->Restore(0, o);
  const uint64_t read = ReadChars() - before;
  if (!r.ok()) {
    fprintf(stderr, "%s\n", r.status().ToString().c_str());
    return 1;
  }
  const double box = big_bytes / 8.0;
  printf(
      "part 2: a 1/8 box (%.1f MiB) of a %.0f MiB array read %.1f MiB "
      "(%.3fx the box)\n",
      box / (1 << 20), big_bytes / (1 << 20), read / double(1 << 20),
      read / box);
  // Correct bytes, and no more read than the box and its boundary cells
  // (plus 1 MiB of RocksDB's own reads).
  const ShardedArray* got = (*r)["w0"].sharded();
  if (got == nullptr || got->shards.size() != 1 ||
      !got->shards[0].data.BitwiseEquals(Fill(0, got->shards[0].box))) {
    fprintf(stderr, "part 2: the restored box differs from the saved one\n");
    return 1;
  }
  if (read > box * 1.25 + (1 << 20)) {
    fprintf(stderr, "part 2: read %.0f bytes for a box of %.0f\n", double(read),
            box);
    return 1;
  }
  return 0;
}
