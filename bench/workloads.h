// Deterministic workloads W1-W4 of issue 6 for ckptdb_bench.
//
// A workload is a flat list of leaves in depth-first order (the order a
// Tree visits them). Array leaves live in an Arena: one pre-faulted block
// of memory per copy of the workload (source, restore target), so no
// measured operation touches fresh memory on the benchmark's side.
#ifndef CKPTDB_BENCH_WORKLOADS_H_
#define CKPTDB_BENCH_WORKLOADS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ckptdb/tree.h"

namespace ckptdb_bench {

// One component of a leaf's path: a dict key, or a list index.
struct PathComp {
  std::string name;  // key, or the index in decimal
  bool is_index = false;
};

struct Leaf {
  enum class Kind { kArray, kInt, kFloat };
  Kind kind = Kind::kArray;
  std::vector<PathComp> path;
  std::string joined;      // "params/layer_00/attn/q/kernel"
  ckptdb::Shape shape;     // arrays are float32
  size_t offset = 0;       // in the arena (arrays only)
  size_t nbytes = 0;       // array bytes, or 8 for a scalar
  size_t file_offset = 0;  // in the raw single file
  int64_t int_value = 0;
  double float_value = 0;
};

struct Workload {
  std::string name;
  std::vector<Leaf> leaves;
  size_t arena_bytes = 0;  // bytes of one arena (with alignment padding)
  size_t array_bytes = 0;  // sum of the array leaves' bytes
  size_t file_bytes = 0;   // size of the raw single file
  size_t num_arrays = 0;
  size_t num_scalars = 0;
};

// A block of anonymous memory touched once at construction (so later
// writes do not page-fault), released at destruction.
class Arena {
 public:
  explicit Arena(size_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

// W1: a transformer's params plus Adam's mu and nu (float32) and scalar
// statistics. Full: d_model 1024, 20 layers, vocab 16384 -> 909 arrays of
// 4 KiB .. 64 MiB (1.07 GiB) and 1,001 scalars. Quick: a few MiB.
Workload MakeW1(bool quick);
// W2: `num_leaves` float32 arrays of 1..16 elements in a tree of depth 5
// (dicts and lists alternating, 10 children per container).
Workload MakeW2(bool quick);
// W3's tree: embed/e00..e15, body/b16..b59, head/h60..h63, each
// [rows, 1024] float32 (4 KiB rows; rows = 1024 full, 16 quick).
Workload MakeW3(bool quick);

// One W3 fine-tuning step applied to a W3 state in place: the head (last 4
// arrays) is replaced, and 1% of the 4 KiB rows of the embedding (first 16
// arrays) change at random positions. Used by W3 and MANY (same seeds:
// run r, step s uses 0x5733'0000 + r * 100 + s).
struct W3Mutator {
  const Workload* w;
  int64_t rows_per_array;
  void Step(char* state, uint64_t seed) const;
};

// Fills every array leaf with pseudo-random float32 values derived from
// `seed` and the leaf's index (two threads).
void FillArrays(const Workload& w, char* base, uint64_t seed);
// Fills `bytes` bytes at `p` with pseudo-random float32 values.
void FillRandom(char* p, size_t bytes, uint64_t seed);

// The workload as a ckptdb Tree whose arrays borrow memory from `base`.
ckptdb::Tree BuildTree(const Workload& w, char* base);

// True if every array leaf's bytes at `got` equal those at `want`; on a
// mismatch, writes the first differing leaf to *what.
bool ArenasEqual(const Workload& w, const char* want, const char* got,
                 std::string* what);
// True if `tree` holds exactly the workload's leaves (same paths, scalar
// values, shapes and array bytes as in `want`).
bool TreeMatches(const Workload& w, const char* want, const ckptdb::Tree& tree,
                 std::string* what);

// SplitMix64, the generator behind every deterministic choice here.
uint64_t SplitMix64(uint64_t* state);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_WORKLOADS_H_
