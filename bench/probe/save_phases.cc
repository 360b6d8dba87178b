// Probe for issue 19's two save-side levers (a pipeline of hashing, copying
// and writing; fewer copies on the write path): where a W1-sized durable
// save spends its time, phase by phase, and how much CPU it uses.
//
// A ~1 GiB tree of 167 float32 arrays (4 KiB .. 64 MiB, random bytes, the
// same shapes as bench/probe/w1_save_restore.cc) is saved into a new
// database, --reps times (default 7; the database removed between saves;
// the source buffer written once and reused), after one save not counted.
// Store's test hooks time the
// phases of db/store_save.cc:
//   plan+hash    save_start .. after_hash   (every chunk hashed, 2 cores)
//   dedup        after_hash .. dedup_done   (chunk index lookups)
//   write        dedup_done .. after_segment_file (SstFileWriter Put + the
//                hash after the write + Finish's fsync, one writer a core)
//   step file    .. after_step_file
//   commit       .. SaveStep returns (ingest, synced batch, mark)
// and getrusage gives the CPU seconds (user + system) of each save.
// Prints the median and range of each, and of the CPU used per second of
// the save. Built only with -DCKPTDB_BUILD_PROBES=ON:
//   cmake -S . -B build -DCKPTDB_BUILD_PROBES=ON && ninja -C build
//   build/bench/probe_save_phases [--reps N] [--dir DIR]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/probe/probe_tree.h"
#include "db/store.h"

namespace ckptdb::internal {
namespace {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Median, min and max of `v` as "median (min-max)".
std::string Spread(std::vector<double> v, const char* unit, double scale) {
  std::sort(v.begin(), v.end());
  char out[96];
  std::snprintf(out, sizeof out, "%7.1f %s (%.1f-%.1f)",
                v[v.size() / 2] * scale, unit, v.front() * scale,
                v.back() * scale);
  return out;
}

int Main(int argc, char** argv) {
  int reps = 7;
  std::string dir = "/tmp/ckptdb_save_phases";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::max(1, atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  std::vector<uint64_t> buf;
  size_t total = 0;
  const Tree tree = probe::MakeProbeTree(&buf, &total);
  std::printf("%zu arrays, %.2f GiB, %d saves\n", tree.size(),
              total / 1073741824.0, reps);

  const std::vector<std::string> points = {
      "after_hash", "dedup_done", "after_segment_file", "after_step_file"};
  absl::Mutex mu;
  std::map<std::string, double> at;
  SetGlobalTestHook([&](absl::string_view p) {
    absl::MutexLock l(&mu);
    at[std::string(p)] = Now();
  });
  std::map<std::string, std::vector<double>> phase;
  std::vector<double> totals, cpu, cores;
  // Save 0 warms up (the page cache's and the allocator's first use of
  // that much memory) and is not counted.
  for (int rep = 0; rep <= reps; ++rep) {
    std::filesystem::remove_all(dir);
    StoreOptions o;
    o.create_if_missing = true;
    auto store = Store::Open(dir, o);
    if (!store.ok()) {
      std::printf("%s\n", store.status().ToString().c_str());
      return 1;
    }
    StepSaveRequest req;
    req.step = rep;
    req.items.push_back({"default", &tree});
    {
      absl::MutexLock l(&mu);
      at.clear();
    }
    const double c0 = CpuSeconds(), t0 = Now();
    auto info = (*store)->SaveStep(req);
    const double t1 = Now(), c1 = CpuSeconds();
    if (!info.ok()) {
      std::printf("%s\n", info.status().ToString().c_str());
      return 1;
    }
    absl::MutexLock l(&mu);
    if (rep == 0) continue;
    double prev = t0;
    for (const std::string& p : points) {
      phase[p].push_back(at[p] - prev);
      prev = at[p];
    }
    phase["commit"].push_back(t1 - prev);
    totals.push_back(t1 - t0);
    cpu.push_back(c1 - c0);
    cores.push_back((c1 - c0) / (t1 - t0));
  }
  SetGlobalTestHook(nullptr);
  std::filesystem::remove_all(dir);
  const char* names[] = {"plan+hash", "dedup", "write (segment files)",
                         "step file", "commit"};
  int k = 0;
  for (const std::string& p :
       {points[0], points[1], points[2], points[3], std::string("commit")}) {
    std::printf("%-22s %s\n", names[k++], Spread(phase[p], "ms", 1e3).c_str());
  }
  std::printf("%-22s %s\n", "whole save", Spread(totals, "ms", 1e3).c_str());
  std::vector<double> gbs;
  for (double t : totals) gbs.push_back(total / t / 1e9);
  std::printf("%-22s %s\n", "speed", Spread(gbs, "GB/s", 1).c_str());
  std::printf("%-22s %s\n", "CPU (user+sys)", Spread(cpu, "ms", 1e3).c_str());
  std::printf("%-22s %s\n", "cores busy", Spread(cores, "", 1).c_str());
  return 0;
}

}  // namespace
}  // namespace ckptdb::internal

int main(int argc, char** argv) { return ckptdb::internal::Main(argc, argv); }
