// Resources (issue 17): repeated open/close and save/restore leak no file
// descriptors, threads or heap memory. Each cycle opens a manager (sync
// and async saves in turn, retention on), saves a step with chunked,
// inline and scalar leaves, restores it and checks it, opens a read-only
// view and restores from it, then closes both; garbage is collected every
// tenth cycle. After warm-up cycles (RocksDB's thread pools and caches
// start on first use), the process's open descriptors and threads must be
// back where they were after every cycle, and the heap in use (mallinfo2)
// may not grow by more than a fixed slack over all cycles.
//
// CKPTDB_RESOURCE_CYCLES sets the cycles after warm-up (default 200;
// scripts/test-long.sh: 10,000).
#include <dirent.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "ckptdb/checkpoint_manager.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::TempDir;

struct Usage {
  int fds = 0;
  int threads = 0;
  size_t heap = 0;  // bytes malloc has handed out and not taken back
};

int CountFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the descriptor of the listing itself
}

int CountThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

Usage Measure() {
  const struct mallinfo2 mi = mallinfo2();
  return {CountFds(), CountThreads(), mi.uordblks + mi.hblkhd};
}

int Cycles() {
  const char* v = std::getenv("CKPTDB_RESOURCE_CYCLES");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 200;
}

Tree State(int64_t i) {
  return Tree::Dict(
      {{"w", Tree::FromArray(RandomArray(DType::kFloat32, {1 << 19}, i))},
       {"b", Tree::FromArray(RandomArray(DType::kInt32, {16}, i + 1))},
       {"step", Tree::Int(i)}});
}

// One cycle: save step `i` with a fresh manager, restore it from it and
// from a read-only view, close both.
void Cycle(const std::string& db, int64_t i) {
  CheckpointManagerOptions o;
  o.max_to_keep = 2;
  o.enable_async_checkpointing = i % 2 == 0;
  auto mgr = CheckpointManager::Open(db, o);
  CKPTDB_ASSERT_OK(mgr);
  const Tree state = State(i);
  CKPTDB_ASSERT_OK((*mgr)->Save(i, state));
  CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
  auto back = (*mgr)->Restore(i);
  CKPTDB_ASSERT_OK(back);
  ASSERT_TRUE(*back == state) << "cycle " << i;
  if (i % 10 == 0) CKPTDB_ASSERT_OK((*mgr)->CollectGarbage());

  CheckpointManagerOptions ro;
  ro.read_only = true;
  auto view = CheckpointManager::Open(db, ro);
  CKPTDB_ASSERT_OK(view);
  auto seen = (*view)->Restore(i);
  CKPTDB_ASSERT_OK(seen);
  ASSERT_TRUE(*seen == state) << "cycle " << i << " (read-only view)";
  CKPTDB_ASSERT_OK((*view)->Close());
  CKPTDB_ASSERT_OK((*mgr)->Close());
}

TEST(ResourcesTest, CyclesLeakNoDescriptorsThreadsOrMemory) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  constexpr int kWarmup = 20;
  int64_t i = 0;
  for (; i < kWarmup; ++i) {
    Cycle(db, i);
    if (::testing::Test::HasFatalFailure()) return;
  }
  const Usage before = Measure();
  ASSERT_GT(before.fds, 0);
  ASSERT_GT(before.threads, 0);
  const int cycles = Cycles();
  for (int c = 0; c < cycles; ++c, ++i) {
    Cycle(db, i);
    if (::testing::Test::HasFatalFailure()) return;
    const Usage now = Measure();
    // Descriptors and threads come back exactly after every cycle.
    ASSERT_EQ(now.fds, before.fds) << "after cycle " << i;
    ASSERT_EQ(now.threads, before.threads) << "after cycle " << i;
  }
  const Usage after = Measure();
  const double per_cycle =
      (static_cast<double>(after.heap) - static_cast<double>(before.heap)) /
      cycles;
  std::printf(
      "%d cycles after %d of warm-up: %d descriptors and %d threads before "
      "and after; heap in use %zu -> %zu bytes (%.0f bytes per cycle)\n",
      cycles, kWarmup, before.fds, before.threads, before.heap, after.heap,
      per_cycle);
  // 1 MiB of slack for the allocator's and RocksDB's fluctuation, plus
  // 128 bytes per cycle: the default 200 cycles catch a leak of about 5
  // KiB per cycle, the long variant's 10,000 one of about 230 bytes.
  EXPECT_LT(static_cast<double>(after.heap),
            static_cast<double>(before.heap) + (1 << 20) + 128.0 * cycles)
      << "heap in use grew by " << per_cycle << " bytes per cycle";
}

}  // namespace
}  // namespace ckptdb
