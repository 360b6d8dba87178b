// The tree the save and restore probes use (bench/probe/save_phases.cc,
// first_restore.cc): ~1 GiB of float32 arrays of random bytes, 167 of
// them, 4 KiB .. 64 MiB, the shapes of w1_save_restore.cc.
#ifndef CKPTDB_BENCH_PROBE_PROBE_TREE_H_
#define CKPTDB_BENCH_PROBE_PROBE_TREE_H_

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ckptdb/tree.h"

namespace ckptdb::probe {

// The tree, borrowing `storage` (filled here); its bytes in *total.
inline Tree MakeProbeTree(std::vector<uint64_t>* storage, size_t* total) {
  std::vector<size_t> sizes;
  *total = 0;
  std::mt19937_64 rng(1);
  while (*total < (1ull << 30)) {
    const size_t s = std::min<size_t>(4096ull << (rng() % 15), 64u << 20);
    sizes.push_back(s);
    *total += s;
  }
  storage->resize(*total / 8);
  for (uint64_t& w : *storage) w = rng();
  char* bytes = reinterpret_cast<char*>(storage->data());
  Tree tree = Tree::Dict();
  size_t off = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    tree.Insert(
        "a" + std::to_string(i),
        Array::Borrow(DType::kFloat32, {static_cast<int64_t>(sizes[i] / 4)},
                      bytes + off));
    off += sizes[i];
  }
  return tree;
}

}  // namespace ckptdb::probe

#endif  // CKPTDB_BENCH_PROBE_PROBE_TREE_H_
