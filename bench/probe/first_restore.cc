// Probe behind "Huge pages for restored arrays" in docs/design.md: the
// first restores without a target in a new process, which fill new buffers
// of the restore buffer pool (util/buffer_pool.cc). `save` writes a ~1 GiB
// tree of 167 float32 arrays (4 KiB .. 64 MiB, random bytes, the shapes of
// bench/probe/w1_save_restore.cc; probe_tree.h) to DIR (default
// /tmp/ckptdb_first_restore); without it, the probe restores DIR three times
// and prints each time: the first fills new buffers, the second too (the
// first's arrays are still alive), the third reuses the second's. Build (after
// building ./build):
//   LIBS=$(cd build && ninja -t commands tools/ckptdb | tail -1 |
//     sed 's/^.*tools\/ckptdb  tools\/libckptdb_cli_lib.a//; s/&&.*//;
//          s/ libckptdb/ build\/libckptdb/g')
//   g++ -O2 -std=c++17 -I. -Iapi bench/probe/first_restore.cc -o /tmp/first \
//     $LIBS -lpthread
//   /tmp/first save [DIR]; for i in 1 2 3; do /tmp/first [DIR]; done
// To compare with 4 KiB pages, link a libckptdb_util.a built without
// AskForHugePages.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/probe/probe_tree.h"
#include "ckptdb/checkpointer.h"

namespace {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int Save(const std::string& dir) {
  std::filesystem::remove_all(dir);
  std::vector<uint64_t> buf;
  size_t total = 0;
  const ckptdb::Tree tree = ckptdb::probe::MakeProbeTree(&buf, &total);
  const absl::Status s = ckptdb::Checkpointer().Save(dir, tree);
  if (!s.ok()) std::printf("%s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool save = argc > 1 && std::string(argv[1]) == "save";
  const int at = save ? 2 : 1;
  const std::string dir = argc > at ? argv[at] : "/tmp/ckptdb_first_restore";
  if (save) return Save(dir);
  ckptdb::Checkpointer ck;
  const double t0 = Now();
  auto first = ck.Restore(dir);
  const double t1 = Now();
  auto second = ck.Restore(dir);
  const double t2 = Now();
  second = absl::UnknownError("released");  // its buffers back to the pool
  const double t3 = Now();
  auto third = ck.Restore(dir);
  const double t4 = Now();
  if (!first.ok() || !third.ok()) {
    std::printf("%s\n",
                (first.ok() ? third : first).status().ToString().c_str());
    return 1;
  }
  std::printf("first %.0f ms  second %.0f ms  third %.0f ms\n", (t1 - t0) * 1e3,
              (t2 - t1) * 1e3, (t4 - t3) * 1e3);
  return 0;
}
