// Probe: where a save reads the bases of the chunks it codes (Patch and
// Delta chunks against the previous step's chunks). A 512 MiB tree of 32
// float32 arrays (normal noise) is saved as step 1 into a new database,
// then every element moved by 1e-4 of its scale (a training step) and
// saved as step 2; step 2's save is timed, its every chunk coded against
// step 1's. Two ways, alternating, in new databases: bases read from their
// chunk files (StoreOptions::direct_reads on, the default) and through
// RocksDB's Get (off: also verifies each base's block checksum, in
// software). Prints the median and range of 7 pairs (after one warm-up
// pair) of each time and of the speed ratio. Built only with
// -DCKPTDB_BUILD_PROBES=ON:
//   build/bench/probe_base_reads [--dir DIR]
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "db/store.h"

namespace {

using ::ckptdb::Array;
using ::ckptdb::DictKey;
using ::ckptdb::DType;
using ::ckptdb::Tree;
using ::ckptdb::internal::StepSaveRequest;
using ::ckptdb::internal::Store;
using ::ckptdb::internal::StoreOptions;

constexpr int kArrays = 32;
constexpr int kPairs = 7;

// Step 1's and step 2's trees.
std::pair<Tree, Tree> MakeSteps() {
  std::vector<std::pair<DictKey, Tree>> first, second;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (int i = 0; i < kArrays; ++i) {
    Array x = Array::Allocate(DType::kFloat32, {4, 1 << 20});
    float* p = static_cast<float*>(x.mutable_data());
    for (int64_t k = 0; k < x.num_elements(); ++k) p[k] = normal(rng);
    Array y = x.AsType(DType::kFloat32);
    float* q = static_cast<float*>(y.mutable_data());
    for (int64_t k = 0; k < y.num_elements(); ++k) q[k] += 1e-4f * normal(rng);
    first.emplace_back("w" + std::to_string(i), Tree::FromArray(std::move(x)));
    second.emplace_back("w" + std::to_string(i), Tree::FromArray(std::move(y)));
  }
  return {Tree::Dict(std::move(first)), Tree::Dict(std::move(second))};
}

// Milliseconds of step 2's save into a new database at `dir`; < 0 on error.
double TimeSecondSave(const std::string& dir, bool direct_reads,
                      const Tree& first, const Tree& second) {
  std::filesystem::remove_all(dir);
  StoreOptions o;
  o.create_if_missing = true;
  o.direct_reads = direct_reads;
  auto store = Store::Open(dir, o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return -1;
  }
  StepSaveRequest r1;
  r1.step = 1;
  r1.items.push_back({"default", &first});
  StepSaveRequest r2;
  r2.step = 2;
  r2.items.push_back({"default", &second});
  if (auto s = (*store)->SaveStep(r1); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return -1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto s = (*store)->SaveStep(r2);
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return -1;
  }
  return ms;
}

void Print(const char* what, std::vector<double> v, const char* unit) {
  std::sort(v.begin(), v.end());
  std::printf("%s %.2f%s (%.2f-%.2f)\n", what, v[v.size() / 2], unit, v.front(),
              v.back());
}

}  // namespace

int main(int argc, char** argv) {
  // As the benchmark does: no fresh mappings for large buffers.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::string dir = "build/bench_data/probe_base_reads";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[++i];
  }
  const auto [first, second] = MakeSteps();
  std::vector<double> files, get, ratio;
  for (int pair = 0; pair <= kPairs; ++pair) {
    const double f = TimeSecondSave(dir, true, first, second);
    const double g = TimeSecondSave(dir, false, first, second);
    if (f < 0 || g < 0) return 1;
    if (pair == 0) continue;  // warm-up
    files.push_back(f);
    get.push_back(g);
    ratio.push_back(g / f);
  }
  std::filesystem::remove_all(dir);
  std::printf(
      "step 2's save, 512 MiB, every chunk coded (median, range of %d):\n",
      kPairs);
  Print("  bases from their files (ms):", files, "");
  Print("  bases through Get (ms):     ", get, "");
  Print("  speed, files over Get:      ", ratio, "x");
  return 0;
}
