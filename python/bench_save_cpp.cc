// The C++ half of python/bench_save.py: saves one tree holding a single
// float32 array of random bytes with Checkpointer::Save into a fresh
// database, `reps` times, and prints one line per save:
//   cpp_save_seconds <seconds>
//
//   bench_save_cpp <dir> [bytes=1073741824] [reps=1]
//
// The tree is the one bench_save.py saves from Python:
//   {'params': {'w': float32[bytes / 4]}, 'step': 1}
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "ckptdb/checkpointer.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <dir> [bytes] [reps]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const size_t bytes =
      argc > 2 ? std::strtoull(argv[2], nullptr, 10) : size_t{1} << 30;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 1;
  const size_t n = bytes / 4;

  // Random, so that nothing deduplicates; touched, so no page faults are
  // timed.
  std::vector<uint64_t> words((n * 4 + 7) / 8);
  uint64_t x = 0x9E3779B97F4A7C15ull ^
               static_cast<uint64_t>(
                   std::chrono::steady_clock::now().time_since_epoch().count());
  for (uint64_t& w : words) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  ckptdb::Tree tree = ckptdb::Tree::Dict(
      {{"params", ckptdb::Tree::Dict(
                      {{"w", ckptdb::Array::Borrow(ckptdb::DType::kFloat32,
                                                   {static_cast<int64_t>(n)},
                                                   words.data())}})},
       {"step", ckptdb::Tree::Int(1)}});

  ckptdb::Checkpointer ckpt;
  for (int i = 0; i < reps; ++i) {
    const std::string path = dir + "/cpp-" + std::to_string(i);
    std::filesystem::remove_all(path);
    sync();  // start from a quiet disk (no write-back of earlier files)
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = ckpt.Save(path, tree);
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "save failed: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("cpp_save_seconds %.6f\n",
                std::chrono::duration<double>(t1 - t0).count());
    std::fflush(stdout);
    std::filesystem::remove_all(path);
  }
  return 0;
}
