// Test helper for the CLI tests (run_golden.py, cli_test.py):
//
//   cli_test_helper make-db DB        the small deterministic golden database
//   cli_test_helper make-db2 DB       a Checkpointer database, for diffs
//                                     across two databases
//   cli_test_helper make-runs DB      runs "base" (step 0, ModelTree(4)),
//                                     "ft" forked from base:0 plus step 1
//                                     (params/head changed)
//   cli_test_helper make-runs-retention DB
//                                     runs "a" and "b" (steps 0-4) and "c"
//                                     (steps 0-1), saved without retention,
//                                     then given retention to replay: a
//                                     max_to_keep=2, b max_to_keep=3 and
//                                     keep_period=2, c a best_fn
//   cli_test_helper corrupt-naming DB RUN
//                                     flips a byte of RUN's naming record
//   cli_test_helper set-custom-retention DB
//                                     reopens DB with a best_fn (retention
//                                     that `ckptdb gc` cannot apply)
//   cli_test_helper hold DB [STEP]    opens DB for writing (saving STEP
//                                     first, if given), prints "ready", and
//                                     holds it until stdin closes
//   cli_test_helper write-loop DB FIRST COUNT PAUSE_MS
//                                     saves COUNT steps from FIRST on, with
//                                     max_to_keep=3 and keep_period=1000,
//                                     pausing PAUSE_MS after each; prints
//                                     "ready" after the first and waits for
//                                     a line on stdin (or its end) before
//                                     the last
//   cli_test_helper make-garbage DB   a manager database (no retention) of
//                                     step 1 {kept, dropped} and step 2
//                                     {kept}: 8 KiB float32 arrays of
//                                     pseudo-random values (no coding), so
//                                     that deleting step 1 leaves segment 1
//                                     partly dead
//   cli_test_helper corrupt-chunk DB STEP PATH
//                                     flips a byte of the first chunk of an
//                                     array leaf (item "default")
//   cli_test_helper corrupt-node DB STEP PATH
//                                     flips a byte of the leaf's node record
//   cli_test_helper make-diff-keys DB steps 1-3 of keys that print
//                                     alike and of large int64s (diff)
//
// The golden database is a CheckpointManager database (step prefix "test",
// 4 KiB chunks, a fake clock starting 2026-01-01 00:00 UTC, one minute per
// step). Steps 0-4 are saved with max_to_keep=3, keep_period=2 (step 1 is
// deleted by retention); then the database is reopened with max_to_keep=2,
// keep_period=4, so that `ckptdb gc` has one step (2) to delete.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/status.h"
#include "db/store.h"
#include "rocksdb/db.h"
#include "schema/records.h"

namespace {

using ckptdb::Array;
using ckptdb::DType;
using ckptdb::Tree;

constexpr int64_t kEpochNs = 1767225600LL * 1000000000LL;  // 2026-01-01

template <typename T>
Array Values(DType dt, ckptdb::Shape shape, std::vector<T> v) {
  return Array::FromValues<T>(dt, std::move(shape), v);
}

std::vector<float> Floats(int64_t n, const std::function<float(int64_t)>& f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = f(i);
  return v;
}

Array BFloat16(ckptdb::Shape shape, const std::vector<float>& v) {
  Array f = Values<float>(DType::kFloat32, std::move(shape), v);
  return f.AsType(DType::kBFloat16);
}

// The "default" item of step `s`.
Tree ModelTree(int64_t s) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const double dnan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Tree params = Tree::Dict({
      {"dense",
       Tree::Dict({
           {"kernel",
            Values<float>(
                DType::kFloat32, {16, 32},
                Floats(512, [](int64_t i) { return (i % 17 - 8) / 4.0f; }))},
           {"bias", Array::Zeros(DType::kFloat32, {32})},
       })},
      {"head", Values<float>(DType::kFloat32, {32, 40},
                             Floats(1280,
                                    [s](int64_t i) {
                                      return ((i * 7 + s) % 13 - 6) * 0.125f;
                                    }))},
      {"embed",
       BFloat16({8, 4},
                Floats(32, [](int64_t i) { return (i - 16) * 0.25f; }))},
  });
  if (s == 4) {
    params.Insert("extra",
                  Values<float>(DType::kFloat32, {3}, {1.5f, 2.5f, 3.5f}));
  }
  std::vector<int64_t> counts(6);
  for (int i = 0; i < 6; ++i) counts[i] = i * (s + 1);
  std::vector<double> big(2000);
  for (int i = 0; i < 2000; ++i) big[i] = i * 0.5;
  std::vector<int32_t> cube32(24);
  std::vector<int64_t> cube64(24);
  for (int i = 0; i < 24; ++i) cube32[i] = cube64[i] = i;
  // float16 bits: 0.5, -1.25, 65504, NaN.
  Array half =
      Values<uint16_t>(DType::kFloat16, {4}, {0x3800, 0xbd00, 0x7bff, 0x7e00});
  Tree buffers = Tree::Dict({
      {"counts", Values<int64_t>(DType::kInt64, {6}, counts)},
      {"mask", Values<uint8_t>(DType::kBool, {2, 3}, {1, 0, 1, 1, 0, 0})},
      {"small_i8", Values<int8_t>(DType::kInt8, {5}, {-2, -1, 0, 1, 2})},
      {"half", half},
      {"special", Values<double>(DType::kFloat64, {6},
                                 {0.0, -0.0, dnan, inf, -inf, 1e-300})},
      {"complex", Values<std::complex<float>>(
                      DType::kComplex64, {3},
                      {{1.0f, 2.0f}, {-0.5f, 0.0f}, {0.0f, -1.5f}})},
      {"big", Values<double>(DType::kFloat64, {2000}, big)},
      {"cube", s == 4 ? Values<int64_t>(DType::kInt64, {2, 3, 4}, cube64)
                      : Values<int32_t>(DType::kInt32, {2, 3, 4}, cube32)},
      {"empty", Array::Zeros(DType::kFloat32, {0})},
      {"scalar0d", Values<float>(DType::kFloat32, {}, {3.5f})},
      {"with_nan",
       Values<float>(DType::kFloat32, {4}, {1.0f, nan, -2.0f, 0.25f})},
  });
  if (s != 4) {
    buffers.Insert("u16",
                   Values<uint16_t>(DType::kUInt16, {3}, {0, 1000, 65535}));
  }
  return Tree::Dict({
      {"step", Tree::Int(s)},
      {"params", params},
      {"buffers", buffers},
      {"opt_state",
       Tree::Tuple({Tree::Dict({{"count", Tree::Int(s)}}),
                    Tree::List({Tree::Float(0.9), Tree::Float(0.999)}),
                    Tree::None()})},
      {"meta", Tree::Dict({
                   {"name", Tree::String("run 'alpha'")},
                   {"lr", Tree::Float(0.001)},
                   {"flag", Tree::Bool(true)},
                   {7, Tree::Int(49)},
                   {"a/b", Tree::Int(1)},
                   {"", Tree::String("empty key")},
                   {"empty_list", Tree::List()},
                   {"empty_dict", Tree::Dict()},
               })},
  });
}

// The "ema" item of steps 3 and 4: the same kernel as params/dense/kernel
// (deduplicated: no new chunk).
Tree EmaTree() {
  return Tree::Dict({{"kernel", Values<float>(DType::kFloat32, {16, 32},
                                              Floats(512, [](int64_t i) {
                                                return (i % 17 - 8) / 4.0f;
                                              }))}});
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "cli_test_helper: %s\n", s.ToString().c_str());
  return 1;
}

ckptdb::CheckpointManagerOptions GoldenOptions(int64_t* clock) {
  ckptdb::CheckpointManagerOptions o;
  o.step_prefix = "test";
  o.enable_async_checkpointing = false;
  o.tuning.chunk_bytes = 4096;
  o.clock_ns = [clock] { return *clock; };
  return o;
}

int MakeDb(const std::string& db) {
  std::filesystem::remove_all(db);
  int64_t clock = kEpochNs;
  {
    auto o = GoldenOptions(&clock);
    o.max_to_keep = 3;
    o.keep_period = 2;
    auto mgr = ckptdb::CheckpointManager::Open(db, o);
    if (!mgr.ok()) return Fail(mgr.status());
    for (int64_t s = 0; s <= 4; ++s) {
      clock = kEpochNs + s * 60LL * 1000000000LL;
      ckptdb::ManagerSaveOptions so;
      so.metrics = Tree::Dict({{"loss", Tree::Float(1.0 / (s + 1))},
                               {"accuracy", Tree::Float(0.5 + s * 0.1)}});
      if (s == 0)
        so.custom_metadata = Tree::Dict({{"note", Tree::String("first")}});
      std::map<std::string, Tree> items = {{"default", ModelTree(s)}};
      if (s >= 3) items["ema"] = EmaTree();
      auto saved = (*mgr)->Save(s, items, so);
      if (!saved.ok()) return Fail(saved.status());
    }
    if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  }
  // Stricter retention, not applied yet: `ckptdb gc` applies it.
  auto o = GoldenOptions(&clock);
  o.max_to_keep = 2;
  o.keep_period = 4;
  auto mgr = ckptdb::CheckpointManager::Open(db, o);
  if (!mgr.ok()) return Fail(mgr.status());
  if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  return 0;
}

int MakeDb2(const std::string& db) {
  std::filesystem::remove_all(db);
  ckptdb::StoreTuning t;
  t.chunk_bytes = 8192;  // chunked differently: compared by value
  ckptdb::Checkpointer ckpt(t);
  Tree tree = ModelTree(4);
  // One changed element in params/head.
  Tree* head = tree.Find("params")->Find("head");
  Array h = head->array().Copy();
  static_cast<float*>(h.mutable_data())[1000] += 0.5f;
  *head = Tree(h);
  if (auto s = ckpt.Save(db, tree); !s.ok()) return Fail(s);
  return 0;
}

// Steps 1 and 2 of keys that print alike (the key "a/b" and the path a/b;
// the int key 1 and the string key "1") and of 64-bit integers that differ
// only beyond 2^53; step 2 changes the path a/b, the int key 1 and both
// integers; step 3 is step 2 with its int key 2 made the string key "2".
int MakeDiffKeys(const std::string& db) {
  std::filesystem::remove_all(db);
  int64_t clock = kEpochNs;
  auto mgr = ckptdb::CheckpointManager::Open(db, GoldenOptions(&clock));
  if (!mgr.ok()) return Fail(mgr.status());
  for (int64_t s : {1, 2, 3}) {
    clock = kEpochNs + s * 60LL * 1000000000LL;
    const int64_t d = s == 1 ? 0 : 1;
    Tree t = Tree::Dict(
        {{"a/b", Values<double>(DType::kFloat64, {2}, {1, 1})},
         {"a", Tree::Dict({{"b", Values<double>(DType::kFloat64, {2},
                                                {0, 7.0 * d})}})},
         {ckptdb::DictKey(int64_t{1}), Tree::Int(10 + d)},
         {"1", Tree::Int(10)},
         {"i",
          Values<int64_t>(DType::kInt64, {2}, {(int64_t{1} << 62) + d, 5})},
         {"u", Values<uint64_t>(DType::kUInt64, {1}, {~uint64_t{0} - d})}});
    // Step 3: step 2 with its int key 2 turned into the string key "2".
    t.Insert(s == 3 ? ckptdb::DictKey("2") : ckptdb::DictKey(int64_t{2}),
             Tree::Int(5));
    if (auto saved = (*mgr)->Save(s, t); !saved.ok()) {
      return Fail(saved.status());
    }
  }
  if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  return 0;
}

int MakeGarbage(const std::string& db) {
  std::filesystem::remove_all(db);
  int64_t clock = kEpochNs;
  auto mgr = ckptdb::CheckpointManager::Open(db, GoldenOptions(&clock));
  if (!mgr.ok()) return Fail(mgr.status());
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto random = [&x](int64_t) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<float>(x >> 40);
  };
  const Tree kept =
      Tree(Values<float>(DType::kFloat32, {2048}, Floats(2048, random)));
  const Tree dropped =
      Tree(Values<float>(DType::kFloat32, {2048}, Floats(2048, random)));
  for (int64_t s : {1, 2}) {
    clock = kEpochNs + s * 60LL * 1000000000LL;
    Tree t = Tree::Dict({{"kept", kept}});
    if (s == 1) t.Insert("dropped", dropped);
    if (auto saved = (*mgr)->Save(s, t); !saved.ok()) {
      return Fail(saved.status());
    }
  }
  if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  return 0;
}

int MakeRuns(const std::string& db) {
  std::filesystem::remove_all(db);
  ckptdb::CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto base = ckptdb::CheckpointManager::Open(db, o, "base");
  if (!base.ok()) return Fail(base.status());
  if (auto s = (*base)->Save(0, ModelTree(4)); !s.ok()) return Fail(s.status());
  if (auto s = (*base)->Fork("base", 0, "ft"); !s.ok()) return Fail(s);
  auto ft = ckptdb::CheckpointManager::Open(db, o, "ft");
  if (!ft.ok()) return Fail(ft.status());
  Tree tree = ModelTree(4);
  Tree* head = tree.Find("params")->Find("head");
  Array h = head->array().Copy();
  static_cast<float*>(h.mutable_data())[0] += 1.0f;
  *head = Tree(h);
  if (auto s = (*ft)->Save(1, tree); !s.ok()) return Fail(s.status());
  if (auto s = (*ft)->Close(); !s.ok()) return Fail(s);
  if (auto s = (*base)->Close(); !s.ok()) return Fail(s);
  return 0;
}

// Each run's steps carry their own bytes (ModelTree(5 * run + step)).
int MakeRunsRetention(const std::string& db) {
  std::filesystem::remove_all(db);
  ckptdb::CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.chunk_bytes = 4096;
  const std::vector<std::pair<std::string, int64_t>> runs = {
      {"a", 5}, {"b", 5}, {"c", 2}};
  for (size_t r = 0; r < runs.size(); ++r) {
    auto mgr = ckptdb::CheckpointManager::Open(db, o, runs[r].first);
    if (!mgr.ok()) return Fail(mgr.status());
    for (int64_t step = 0; step < runs[r].second; ++step) {
      auto saved = (*mgr)->Save(step, ModelTree(5 * r + step));
      if (!saved.ok()) return Fail(saved.status());
    }
    if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  }
  // Retention recorded, not applied yet. "b" and "c" open while "a" holds
  // the database: their records go through its commit service.
  auto keep = [&](std::optional<int64_t> n, std::optional<int64_t> period) {
    ckptdb::CheckpointManagerOptions k = o;
    k.max_to_keep = n;
    k.keep_period = period;
    return k;
  };
  auto a = ckptdb::CheckpointManager::Open(db, keep(2, std::nullopt), "a");
  if (!a.ok()) return Fail(a.status());
  auto b = ckptdb::CheckpointManager::Open(db, keep(3, 2), "b");
  if (!b.ok()) return Fail(b.status());
  ckptdb::CheckpointManagerOptions custom = keep(1, std::nullopt);
  custom.best_fn = [](const Tree& m) { return m["accuracy"].float_value(); };
  auto c = ckptdb::CheckpointManager::Open(db, custom, "c");
  if (!c.ok()) return Fail(c.status());
  for (auto* m : {&*c, &*b, &*a}) {
    if (auto st = (*m)->Close(); !st.ok()) return Fail(st);
  }
  return 0;
}

int CorruptNaming(const std::string& db, const std::string& run) {
  auto store = ckptdb::internal::Store::Open(db, {});
  if (!store.ok()) return Fail(store.status());
  rocksdb::DB* rocks = (*store)->rocks();
  const std::string key = ckptdb::internal::NamingKey(run);
  std::string value;
  rocksdb::Status s =
      rocks->Get(rocksdb::ReadOptions(), (*store)->meta_cf(), key, &value);
  if (!s.ok()) return Fail(absl::NotFoundError(s.ToString()));
  value[value.size() / 2] ^= 0x20;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = rocks->Put(wo, (*store)->meta_cf(), key, value);
  if (!s.ok()) return Fail(absl::InternalError(s.ToString()));
  return 0;
}

// Opens the database with a best_fn (a policy that is code, not stored):
// the record then says retention_is_custom.
int SetCustomRetention(const std::string& db) {
  int64_t clock = kEpochNs + 600LL * 1000000000LL;
  auto o = GoldenOptions(&clock);
  o.max_to_keep = 1;
  o.best_fn = [](const Tree& m) { return m["accuracy"].float_value(); };
  auto mgr = ckptdb::CheckpointManager::Open(db, o);
  if (!mgr.ok()) return Fail(mgr.status());
  if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  return 0;
}

int Hold(const std::string& db, const char* step) {
  ckptdb::internal::StoreOptions so;
  auto store = ckptdb::internal::Store::Open(db, so);
  if (!store.ok()) return Fail(store.status());
  if (step != nullptr) {
    int64_t n;
    if (!absl::SimpleAtoi(step, &n))
      return Fail(absl::InvalidArgumentError(step));
    Tree tree = ModelTree(n);
    ckptdb::internal::StepSaveRequest req;
    req.step = n;
    req.name = absl::StrCat("test_", n);
    req.items.push_back({"default", &tree});
    req.commit_time_ns = kEpochNs + n * 60LL * 1000000000LL;
    auto saved = (*store)->SaveStep(req);
    if (!saved.ok()) return Fail(saved.status());
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}

// Saves steps first..first+count-1 (max_to_keep=3, keep_period=1000: older
// steps but step 0 are deleted as it goes), printing "ready" after the
// first; before the last, waits for a line on stdin (or its end), so a
// test knows the writer is still saving until it says so; then exits.
int WriteLoop(const std::string& db, int64_t first, int64_t count,
              int64_t pause_ms) {
  int64_t clock = kEpochNs;
  auto o = GoldenOptions(&clock);
  o.max_to_keep = 3;
  o.keep_period = 1000;
  auto mgr = ckptdb::CheckpointManager::Open(db, o);
  if (!mgr.ok()) return Fail(mgr.status());
  for (int64_t s = first; s < first + count; ++s) {
    if (s == first + count - 1 && s != first) {
      std::string line;
      std::getline(std::cin, line);
    }
    clock = kEpochNs + s * 60LL * 1000000000LL;
    ckptdb::ManagerSaveOptions so;
    so.metrics = Tree::Dict({{"loss", Tree::Float(1.0 / (s + 1))}});
    auto saved = (*mgr)->Save(s, ModelTree(s), so);
    if (!saved.ok()) return Fail(saved.status());
    if (s == first) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  if (auto st = (*mgr)->Close(); !st.ok()) return Fail(st);
  return 0;
}

bool FlipFirst(const std::string& db, const std::string& needle,
               size_t offset_in_needle) {
  for (const auto& e : std::filesystem::directory_iterator(db)) {
    if (e.path().extension() != ".sst") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    const size_t pos = bytes.find(needle);
    if (pos == std::string::npos) continue;
    const int fd = open(e.path().c_str(), O_RDWR);
    if (fd < 0) return false;
    char b = bytes[pos + offset_in_needle] ^ 0x5a;
    const bool ok =
        pwrite(fd, &b, 1, static_cast<off_t>(pos + offset_in_needle)) == 1;
    fsync(fd);
    close(fd);
    return ok;
  }
  return false;
}

int Corrupt(const std::string& db, const std::string& step_s,
            const std::string& path, bool node_record) {
  std::string needle;
  size_t offset = 0;
  {
    ckptdb::internal::StoreOptions so;
    so.mode = ckptdb::internal::StoreOptions::Mode::kReadOnly;
    auto store = ckptdb::internal::Store::Open(db, so);
    if (!store.ok()) return Fail(store.status());
    int64_t step;
    if (!absl::SimpleAtoi(step_s, &step))
      return Fail(absl::InvalidArgumentError(step_s));
    auto item = (*store)->ReadItem(step, "default");
    if (!item.ok()) return Fail(item.status());
    uint32_t node = 0;
    for (uint32_t i = 0; i < item->nodes.size(); ++i) {
      if (item->PathOf(i).ToString() == path) node = i;
    }
    if (node == 0) return Fail(absl::NotFoundError(path));
    // The stored value (a node record, or the first chunk of the leaf as
    // stored: verbatim, a patch, a delta or compressed), read straight from
    // RocksDB; a window of it is searched for in the files.
    std::string cf_name = "chunks", key;
    if (node_record) {
      auto step_cf = (*store)->StepColumnFamily(step);
      if (!step_cf.ok()) return Fail(step_cf.status());
      cf_name = *step_cf;
      key = ckptdb::internal::NodeKey(0, node);
    } else {
      const auto& n = item->nodes[node];
      if (n.chunks.empty()) return Fail(absl::InvalidArgumentError("inline"));
      key =
          ckptdb::internal::ChunkKey(n.chunks[0].segment, n.chunks[0].ordinal);
    }
    store->reset();
    std::vector<std::string> names;
    rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db, &names);
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const auto& n : names)
      descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    auto st = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db, descs,
                                           &handles, &raw);
    if (!st.ok()) return Fail(absl::InternalError(st.ToString()));
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != cf_name) continue;
      std::string value;
      st = raw->Get(rocksdb::ReadOptions(), handles[i], key, &value);
      if (!st.ok()) return Fail(absl::InternalError(st.ToString()));
      if (node_record) {
        needle = value;
        offset = value.size() / 2;
      } else {
        // A Coded value begins like every other FlatBuffer: take a window
        // of its data (the middle), unique in the files; a small value
        // whole (its first bytes alone can match another chunk's).
        if (value.size() >= 256) {
          needle = value.substr(value.size() / 2, 64);
          offset = 3;
        } else {
          needle = value;
          offset = value.size() / 2;
        }
      }
    }
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  if (needle.empty() || !FlipFirst(db, needle, offset)) {
    return Fail(absl::NotFoundError("bytes to corrupt not found"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "make-db" && argc == 3) return MakeDb(argv[2]);
  if (cmd == "make-db2" && argc == 3) return MakeDb2(argv[2]);
  if (cmd == "make-runs" && argc == 3) return MakeRuns(argv[2]);
  if (cmd == "make-garbage" && argc == 3) return MakeGarbage(argv[2]);
  if (cmd == "make-diff-keys" && argc == 3) return MakeDiffKeys(argv[2]);
  if (cmd == "make-runs-retention" && argc == 3) {
    return MakeRunsRetention(argv[2]);
  }
  if (cmd == "corrupt-naming" && argc == 4) {
    return CorruptNaming(argv[2], argv[3]);
  }
  if (cmd == "set-custom-retention" && argc == 3) {
    return SetCustomRetention(argv[2]);
  }
  if (cmd == "write-loop" && argc == 6) {
    int64_t first, count, pause_ms;
    if (!absl::SimpleAtoi(argv[3], &first) ||
        !absl::SimpleAtoi(argv[4], &count) ||
        !absl::SimpleAtoi(argv[5], &pause_ms)) {
      return 2;
    }
    return WriteLoop(argv[2], first, count, pause_ms);
  }
  if (cmd == "hold" && (argc == 3 || argc == 4)) {
    return Hold(argv[2], argc == 4 ? argv[3] : nullptr);
  }
  if ((cmd == "corrupt-chunk" || cmd == "corrupt-node") && argc == 5) {
    return Corrupt(argv[2], argv[3], argv[4], cmd == "corrupt-node");
  }
  std::fprintf(
      stderr,
      "usage: cli_test_helper make-db DB | make-db2 DB | make-garbage DB | "
      "make-runs DB | make-runs-retention DB | make-diff-keys DB | "
      "corrupt-naming DB "
      "RUN | set-custom-retention DB | write-loop DB FIRST COUNT PAUSE_MS | "
      "hold DB "
      "[STEP] | corrupt-chunk DB STEP PATH | corrupt-node DB STEP "
      "PATH\n");
  return 2;
}
