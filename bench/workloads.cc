#include "bench/workloads.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>

#include "ckptdb/array.h"

namespace ckptdb_bench {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Arena::Arena(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "ckptdb_bench: mmap of %zu bytes failed\n", bytes);
    std::exit(2);
  }
  data_ = static_cast<char*>(p);
  // Touch every page now, with both cores: first touches are the slowest
  // memory operation on this VM and must not land inside a measurement.
  const size_t half = (bytes / 2) & ~size_t{4095};
  std::thread t([this, half] { std::memset(data_, 0, half); });
  std::memset(data_ + half, 0, bytes - half);
  t.join();
}

Arena::~Arena() {
  if (data_ != nullptr) munmap(data_, size_);
}

namespace {

constexpr size_t kScalarBytes = 8;

class Builder {
 public:
  explicit Builder(std::string name, size_t align) : align_(align) {
    w_.name = std::move(name);
  }

  void Push(const std::string& key, bool is_index = false) {
    path_.push_back({key, is_index});
  }
  void Pop() { path_.pop_back(); }

  void AddArray(const std::string& key, ckptdb::Shape shape) {
    Leaf l = NewLeaf(key);
    l.kind = Leaf::Kind::kArray;
    size_t n = 4;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    l.shape = std::move(shape);
    l.nbytes = n;
    w_.arena_bytes = (w_.arena_bytes + align_ - 1) / align_ * align_;
    l.offset = w_.arena_bytes;
    w_.arena_bytes += n;
    w_.array_bytes += n;
    ++w_.num_arrays;
    Finish(std::move(l));
  }
  void AddInt(const std::string& key, int64_t v) {
    Leaf l = NewLeaf(key);
    l.kind = Leaf::Kind::kInt;
    l.int_value = v;
    l.nbytes = kScalarBytes;
    ++w_.num_scalars;
    Finish(std::move(l));
  }
  void AddFloat(const std::string& key, double v) {
    Leaf l = NewLeaf(key);
    l.kind = Leaf::Kind::kFloat;
    l.float_value = v;
    l.nbytes = kScalarBytes;
    ++w_.num_scalars;
    Finish(std::move(l));
  }
  Workload Take() {
    // Round the arena up to whole pages.
    w_.arena_bytes = (w_.arena_bytes + 4095) / 4096 * 4096;
    if (w_.arena_bytes == 0) w_.arena_bytes = 4096;
    return std::move(w_);
  }

 private:
  Leaf NewLeaf(const std::string& key) {
    Leaf l;
    l.path = path_;
    l.path.push_back({key, false});
    for (const PathComp& c : l.path) {
      if (!l.joined.empty()) l.joined += '/';
      l.joined += c.name;
    }
    return l;
  }
  void Finish(Leaf l) {
    l.file_offset = w_.file_bytes;
    w_.file_bytes += l.nbytes;
    w_.leaves.push_back(std::move(l));
  }

  size_t align_;
  std::vector<PathComp> path_;
  Workload w_;
};

// The arrays of one transformer-shaped parameter tree.
void AddParams(Builder* b, int64_t d, int layers, int64_t vocab) {
  char name[32];
  b->Push("embed");
  b->AddArray("embedding", {vocab, d});
  b->Pop();
  for (int i = 0; i < layers; ++i) {
    std::snprintf(name, sizeof(name), "layer_%02d", i);
    b->Push(name);
    b->Push("attn_norm");
    b->AddArray("scale", {d});
    b->AddArray("bias", {d});
    b->Pop();
    b->Push("attn");
    b->Push("q");
    b->AddArray("kernel", {d, d / 2});
    b->Pop();
    b->Push("k");
    b->AddArray("kernel", {d, d / 4});
    b->Pop();
    b->Push("v");
    b->AddArray("kernel", {d, d / 4});
    b->Pop();
    b->Push("o");
    b->AddArray("kernel", {d / 2, d});
    b->AddArray("bias", {d});
    b->Pop();
    b->Pop();
    b->AddArray("attn_scale", {d});
    b->Push("mlp_norm");
    b->AddArray("scale", {d});
    b->AddArray("bias", {d});
    b->Pop();
    b->Push("mlp");
    b->Push("gate");
    b->AddArray("kernel", {d, d * 3 / 4});
    b->Pop();
    b->Push("up");
    b->AddArray("kernel", {d, d * 3 / 4});
    b->Pop();
    b->Push("down");
    b->AddArray("kernel", {d * 3 / 4, d});
    b->AddArray("bias", {d});
    b->Pop();
    b->Pop();
    b->AddArray("mlp_scale", {d});
    b->Pop();
  }
  b->Push("final_norm");
  b->AddArray("scale", {d});
  b->AddArray("bias", {d});
  b->Pop();
}

}  // namespace

Workload MakeW1(bool quick) {
  const int64_t d = quick ? 64 : 1024;
  const int layers = quick ? 2 : 20;
  const int64_t vocab = quick ? 256 : 16384;
  constexpr int kStatsPerLayer = 50;
  Builder b("W1", 64);
  uint64_t rng = 0x5731;
  b.Push("params");
  AddParams(&b, d, layers, vocab);
  b.Pop();
  b.Push("opt_state");
  b.AddInt("count", 123456);
  b.Push("mu");
  AddParams(&b, d, layers, vocab);
  b.Pop();
  b.Push("nu");
  AddParams(&b, d, layers, vocab);
  b.Pop();
  b.Pop();
  b.Push("stats");
  char name[32];
  for (int i = 0; i < layers; ++i) {
    std::snprintf(name, sizeof(name), "layer_%02d", i);
    b.Push(name);
    for (int s = 0; s < kStatsPerLayer; ++s) {
      std::snprintf(name, sizeof(name), "s%02d", s);
      const uint64_t r = SplitMix64(&rng);
      if (s % 2 == 0) {
        b.AddInt(name, static_cast<int64_t>(r % 1000000));
      } else {
        b.AddFloat(name, static_cast<double>(r >> 11) * 0x1.0p-53);
      }
    }
    b.Pop();
  }
  b.Pop();
  return b.Take();
}

Workload MakeW2(bool quick) {
  const int fan = quick ? 3 : 10;  // 10^5 or 3^5 leaves
  Builder b("W2", 16);
  uint64_t rng = 0x5732;
  std::function<void(int)> level = [&](int depth) {
    const bool list = depth % 2 == 1;
    for (int i = 0; i < fan; ++i) {
      std::string key;
      if (list) {
        key = std::to_string(i);
      } else if (depth == 4) {
        key = "leaf" + std::to_string(i);
      } else {
        key = (depth == 0 ? "g" : "k") + std::to_string(i);
      }
      if (depth == 4) {
        const int64_t n = 1 + static_cast<int64_t>(SplitMix64(&rng) % 16);
        b.AddArray(key, {n});
      } else {
        b.Push(key, list);
        level(depth + 1);
        b.Pop();
      }
    }
  };
  level(0);
  Workload w = b.Take();
  // Mark list levels (depths 1 and 3) as indices in every path.
  for (Leaf& l : w.leaves) {
    for (size_t i = 0; i < l.path.size(); ++i) l.path[i].is_index = i % 2 == 1;
  }
  return w;
}

Workload MakeW3(bool quick) {
  const int64_t rows = quick ? 16 : 1024;
  Builder b("W3", 4096);
  char name[16];
  b.Push("embed");
  for (int i = 0; i < 16; ++i) {
    std::snprintf(name, sizeof(name), "e%02d", i);
    b.AddArray(name, {rows, 1024});
  }
  b.Pop();
  b.Push("body");
  for (int i = 16; i < 60; ++i) {
    std::snprintf(name, sizeof(name), "b%02d", i);
    b.AddArray(name, {rows, 1024});
  }
  b.Pop();
  b.Push("head");
  for (int i = 60; i < 64; ++i) {
    std::snprintf(name, sizeof(name), "h%02d", i);
    b.AddArray(name, {rows, 1024});
  }
  b.Pop();
  return b.Take();
}

void W3Mutator::Step(char* state, uint64_t seed) const {
  uint64_t rng = seed;
  for (size_t a = 60; a < 64; ++a) {
    const Leaf& l = w->leaves[a];
    FillRandom(state + l.offset, l.nbytes, SplitMix64(&rng));
  }
  const int64_t total_rows = 16 * rows_per_array;
  const int64_t n = std::max<int64_t>(1, (total_rows + 50) / 100);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t row = static_cast<int64_t>(SplitMix64(&rng) %
                                             static_cast<uint64_t>(total_rows));
    const Leaf& l = w->leaves[row / rows_per_array];
    FillRandom(state + l.offset + (row % rows_per_array) * 4096, 4096,
               SplitMix64(&rng));
  }
}

void FillRandom(char* p, size_t bytes, uint64_t seed) {
  uint64_t s = seed * 0x2545F4914F6CDD1DULL + 1;
  float* f = reinterpret_cast<float*>(p);
  const size_t n = bytes / 4;
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t r = SplitMix64(&s);
    f[i] = (static_cast<float>(r & 0xffffff) * 0x1.0p-24f - 0.5f) * 0.2f;
    f[i + 1] =
        (static_cast<float>((r >> 32) & 0xffffff) * 0x1.0p-24f - 0.5f) * 0.2f;
  }
  if (i < n) f[i] = 0.25f;
}

void FillArrays(const Workload& w, char* base, uint64_t seed) {
  // Work items of at most 4 MiB so both threads stay busy.
  constexpr size_t kPiece = 4 << 20;
  struct Item {
    size_t offset, bytes;
    uint64_t seed;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < w.leaves.size(); ++i) {
    const Leaf& l = w.leaves[i];
    if (l.kind != Leaf::Kind::kArray) continue;
    for (size_t off = 0; off < l.nbytes; off += kPiece) {
      items.push_back(
          {l.offset + off, std::min(kPiece, l.nbytes - off),
           seed ^ (i * 1000003 + off / kPiece) * 0x9E3779B97F4A7C15ULL});
    }
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < items.size();) {
      FillRandom(base + items[k].offset, items[k].bytes, items[k].seed);
    }
  };
  std::thread t(work);
  work();
  t.join();
}

namespace {

ckptdb::Tree LeafTree(const Leaf& l, char* base) {
  switch (l.kind) {
    case Leaf::Kind::kInt:
      return ckptdb::Tree::Int(l.int_value);
    case Leaf::Kind::kFloat:
      return ckptdb::Tree::Float(l.float_value);
    case Leaf::Kind::kArray:
      break;
  }
  return ckptdb::Tree(
      ckptdb::Array::Borrow(ckptdb::DType::kFloat32, l.shape, base + l.offset));
}

ckptdb::Tree BuildNode(const Workload& w, char* base, size_t begin, size_t end,
                       size_t depth) {
  const bool list = w.leaves[begin].path[depth].is_index;
  std::vector<std::pair<ckptdb::DictKey, ckptdb::Tree>> items;
  std::vector<ckptdb::Tree> elems;
  size_t i = begin;
  while (i < end) {
    const std::string& key = w.leaves[i].path[depth].name;
    size_t j = i + 1;
    while (j < end && w.leaves[j].path[depth].name == key) ++j;
    ckptdb::Tree child = (j == i + 1 && w.leaves[i].path.size() == depth + 1)
                             ? LeafTree(w.leaves[i], base)
                             : BuildNode(w, base, i, j, depth + 1);
    if (list) {
      elems.push_back(std::move(child));
    } else {
      items.emplace_back(ckptdb::DictKey(key), std::move(child));
    }
    i = j;
  }
  return list ? ckptdb::Tree::List(std::move(elems))
              : ckptdb::Tree::Dict(std::move(items));
}

}  // namespace

ckptdb::Tree BuildTree(const Workload& w, char* base) {
  return BuildNode(w, base, 0, w.leaves.size(), 0);
}

bool ArenasEqual(const Workload& w, const char* want, const char* got,
                 std::string* what) {
  for (const Leaf& l : w.leaves) {
    if (l.kind != Leaf::Kind::kArray) continue;
    if (std::memcmp(want + l.offset, got + l.offset, l.nbytes) != 0) {
      *what = w.name + " leaf '" + l.joined + "': restored bytes differ";
      return false;
    }
  }
  return true;
}

bool TreeMatches(const Workload& w, const char* want, const ckptdb::Tree& tree,
                 std::string* what) {
  size_t i = 0;
  bool ok = true;
  tree.ForEachLeaf([&](const ckptdb::TreePath& path, const ckptdb::Tree& t) {
    if (!ok) return;
    if (i >= w.leaves.size()) {
      *what = w.name + ": restored tree has extra leaf " + path.ToString();
      ok = false;
      return;
    }
    const Leaf& l = w.leaves[i++];
    if (path.ToString() != l.joined) {
      *what = w.name + ": restored leaf " + path.ToString() + ", expected " +
              l.joined;
      ok = false;
      return;
    }
    bool match = false;
    switch (l.kind) {
      case Leaf::Kind::kInt:
        match = t.kind() == ckptdb::Tree::Kind::kInt &&
                t.int_value() == l.int_value;
        break;
      case Leaf::Kind::kFloat:
        match = t.kind() == ckptdb::Tree::Kind::kFloat &&
                t.float_value() == l.float_value;
        break;
      case Leaf::Kind::kArray:
        match = t.kind() == ckptdb::Tree::Kind::kArray &&
                t.array().dtype() == ckptdb::DType::kFloat32 &&
                t.array().shape() == l.shape &&
                std::memcmp(t.array().data(), want + l.offset, l.nbytes) == 0;
        break;
    }
    if (!match) {
      *what = w.name + " leaf '" + l.joined + "': restored value differs";
      ok = false;
    }
  });
  if (ok && i != w.leaves.size()) {
    *what = w.name + ": restored tree has " + std::to_string(i) +
            " leaves, expected " + std::to_string(w.leaves.size());
    ok = false;
  }
  return ok;
}

}  // namespace ckptdb_bench
