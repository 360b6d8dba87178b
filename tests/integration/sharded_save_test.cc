// Sharded arrays: the sharding model, and steps saved by 4 processes
// together (each holding its shards of a 2x2 mesh), restored bit-exactly
// by 1, 2 and 8 processes under other meshes and specs, and a process
// killed before the commit leaving nothing.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/sharding.h"
#include "core/chunk_grid.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using testing::TempDir;

Sharding Make(std::vector<std::string> names, std::vector<int64_t> sizes,
              int processes, PartitionSpec spec) {
  auto mesh = Mesh::Create(std::move(names), std::move(sizes), processes);
  EXPECT_TRUE(mesh.ok()) << mesh.status();
  return Sharding{*mesh, std::move(spec)};
}

Array Random(DType dtype, Shape shape, uint32_t seed) {
  Array a = Array::Allocate(dtype, std::move(shape));
  std::mt19937 rng(seed);
  auto* p = static_cast<uint8_t*>(a.mutable_data());
  for (size_t i = 0; i < a.nbytes(); ++i) p[i] = static_cast<uint8_t>(rng());
  return a;
}

TEST(ShardingTest, BoxesOfATwoByTwoMesh) {
  const Sharding s = Make({"x", "y"}, {2, 2}, 4, {{"x"}, {"y"}});
  auto shards = DeviceShards(s, {8, 16});
  ASSERT_TRUE(shards.ok()) << shards.status();
  ASSERT_EQ(shards->size(), 4u);
  EXPECT_EQ((*shards)[0].box.ToString(), "[0:4, 0:8]");
  EXPECT_EQ((*shards)[1].box.ToString(), "[0:4, 8:16]");
  EXPECT_EQ((*shards)[2].box.ToString(), "[4:8, 0:8]");
  EXPECT_EQ((*shards)[3].box.ToString(), "[4:8, 8:16]");
  EXPECT_EQ((*shards)[3].process, 3);
}

TEST(ShardingTest, ReplicasWriteOnce) {
  // 'y' is not used: devices (x, 0) and (x, 1) hold the same rows.
  const Sharding s = Make({"x", "y"}, {2, 2}, 4, {{"x"}});
  auto p1 = ProcessBoxes(s, {8, 3}, 1);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->size(), 1u);
  EXPECT_EQ((*p1)[0].box.ToString(), "[0:4, 0:3]");
  EXPECT_FALSE((*p1)[0].writes);  // process 0 holds replica 0
  auto p2 = ProcessBoxes(s, {8, 3}, 2);
  EXPECT_TRUE((*p2)[0].writes);
  // Two axes over one dimension, the first major.
  const Sharding xy = Make({"x", "y"}, {2, 2}, 4, {{"y", "x"}});
  auto all = DeviceShards(xy, {8});
  EXPECT_EQ((*all)[1].box.ToString(), "[4:6]");  // x=0, y=1: part 2
}

TEST(ShardingTest, BadSpecsAreNamed) {
  const Sharding unknown = Make({"x"}, {2}, 1, {{"z"}});
  EXPECT_NE(DeviceShards(unknown, {4}).status().message().find("'z'"),
            std::string::npos);
  const Sharding twice = Make({"x"}, {2}, 1, {{"x"}, {"x"}});
  EXPECT_NE(DeviceShards(twice, {4, 4}).status().message().find("twice"),
            std::string::npos);
  const Sharding uneven = Make({"x"}, {2}, 1, {{"x"}});
  EXPECT_NE(DeviceShards(uneven, {5}).status().message().find("divisible"),
            std::string::npos);
  EXPECT_FALSE(DeviceShards(uneven, {}).ok());  // spec longer than rank
  EXPECT_FALSE(Mesh::Create({"x"}, {3}, 2).ok());
}

TEST(ShardingTest, CellsStayInsideShards) {
  // Rows split in 2; 1 KiB cells of a (64, 100) float32 shard of 32 rows.
  const Shape cell =
      internal::ChunkGrid::ChooseCell({64, 100}, {32, 100}, 4, 1024);
  EXPECT_EQ(cell, (Shape{2, 100}));  // 800 bytes, 2 divides 32
  // Columns split: cells are single rows of a column block, or parts.
  EXPECT_EQ(internal::ChunkGrid::ChooseCell({4, 1024}, {4, 512}, 4, 1024),
            (Shape{1, 256}));
  const internal::ChunkGrid grid({5, 7}, {2, 3});
  EXPECT_EQ(grid.num_cells(), 9);
  EXPECT_EQ(grid.CellBox(8).ToString(), "[4:5, 6:7]");
}

TEST(ShardingTest, FromGlobalAndBackIsExact) {
  const Array global = Random(DType::kInt16, {6, 4, 10}, 7);
  const Sharding s = Make({"a", "b"}, {3, 2}, 1, {{"a"}, {}, {"b"}});
  auto local = ShardedArray::FromGlobal(global, s, 0);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->shards.size(), 6u);
  auto back = local->ToGlobal();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->BitwiseEquals(global));
}

TEST(ShardingTest, GridCellsAreDedupedAndPatchedLikeChunks) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.chunk_bytes = 64 << 10;  // a cell is a whole (128, 128) shard
  auto m = CheckpointManager::Open(dir.Sub("db"), o);
  ASSERT_TRUE(m.ok()) << m.status();
  const Sharding s = Make({"x", "y"}, {2, 2}, 1, {{"x"}, {"y"}});
  Array g = Random(DType::kFloat32, {256, 256}, 3);
  auto save = [&](int64_t step) {
    auto local = ShardedArray::FromGlobal(g, s, 0);
    ASSERT_TRUE(local.ok());
    Tree t = Tree::Dict();
    t.Insert("w", Tree::Sharded(*std::move(local)));
    auto saved = (*m)->Save(step, t);
    ASSERT_TRUE(saved.ok() && *saved) << saved.status();
  };
  save(1);
  static_cast<float*>(g.mutable_data())[5 * 256 + 5] += 1.0f;
  save(2);
  auto info = (*m)->StepMetadata(2);
  ASSERT_TRUE(info.ok());
  // Three cells stored already, one changed in one 4 KiB page: a patch.
  EXPECT_GT(info->new_bytes, 0u);
  EXPECT_LT(info->new_bytes, 16u << 10) << "cells were stored whole";
  auto back = (*m)->Restore(2);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE((*back)["w"].array().BitwiseEquals(g));
}

TEST(ShardingTest, ASaveOfSomeShardsAloneIsRefused) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto m = CheckpointManager::Open(dir.Sub("db"), o);
  ASSERT_TRUE(m.ok()) << m.status();
  // Process 1 of 4 holds a quarter; the manager saves alone.
  const Sharding s = Make({"x", "y"}, {2, 2}, 4, {{"x"}, {"y"}});
  auto local = ShardedArray::FromGlobal(Random(DType::kInt32, {8, 8}, 1), s, 1);
  ASSERT_TRUE(local.ok());
  Tree t = Tree::Dict();
  t.Insert("w", Tree::Sharded(*std::move(local)));
  auto saved = (*m)->Save(1, t);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(saved.status().message().find("leaf 'w'"), std::string::npos)
      << saved.status();
  EXPECT_TRUE((*m)->AllSteps().empty());
}

TEST(ShardingTest, ShardsOfAnotherProcessAreRefused) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.multiprocessing.process_index = 1;
  o.multiprocessing.process_count = 2;
  o.multiprocessing.timeout_ms = 2000;
  auto m = CheckpointManager::Open(dir.Sub("db"), o);
  ASSERT_TRUE(m.ok()) << m.status();
  const Sharding s = Make({"x"}, {2}, 2, {{"x"}});
  auto local = ShardedArray::FromGlobal(Random(DType::kInt8, {8}, 1), s, 0);
  ASSERT_TRUE(local.ok());
  Tree t = Tree::Dict();
  t.Insert("w", Tree::Sharded(*std::move(local)));
  auto saved = (*m)->Save(1, t);
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.status().message().find("leaf 'w' holds the shards of "
                                          "process 0, but this is process 1"),
            std::string::npos)
      << saved.status();
}

// ---- saving from several processes ----------------------------------------

constexpr int kProcesses = 4;

struct Leaf {
  const char* name;
  DType dtype;
  Shape shape;
  PartitionSpec spec;
};

std::vector<Leaf> Leaves() {
  return {
      {"w1", DType::kFloat32, {64 * 1024}, {{"x", "y"}}},
      {"w2", DType::kBFloat16, {256, 640}, {{"x"}, {"y"}}},
      {"w3", DType::kInt8, {8, 12, 4096}, {{}, {"y"}, {"x"}}},
      {"rep", DType::kFloat32, {300, 72}, {}},  // replicated
  };
}

Array GlobalOf(const Leaf& l, int64_t step) {
  return Random(l.dtype, l.shape,
                static_cast<uint32_t>(step * 131 + l.shape.size()));
}

Tree TreeFor(int process, int64_t step, const Mesh& mesh) {
  Tree t = Tree::Dict();
  for (const Leaf& l : Leaves()) {
    auto local =
        ShardedArray::FromGlobal(GlobalOf(l, step), {mesh, l.spec}, process);
    if (!local.ok()) _exit(10);
    t.Insert(l.name, Tree::Sharded(*std::move(local)));
  }
  t.Insert("step", Tree::Int(step));
  t.Insert("host", Array::FromValues<float>(DType::kFloat32, {3},
                                            {1.0f, 2.0f, float(step)}));
  return t;
}

CheckpointManagerOptions Options(int process, int64_t timeout_ms) {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.multiprocessing.process_index = process;
  o.multiprocessing.process_count = kProcesses;
  o.multiprocessing.timeout_ms = timeout_ms;
  o.tuning.chunk_bytes = 64 << 10;  // many cells per shard
  return o;
}

// A child process: saves `steps`; dies before saving `die_at` if set.
[[noreturn]] void SaverMain(const std::string& db, int process,
                            std::vector<int64_t> steps, int64_t die_at,
                            int64_t timeout_ms) {
  auto mesh = Mesh::Create({"x", "y"}, {2, 2}, kProcesses);
  auto m = CheckpointManager::Open(db, Options(process, timeout_ms));
  if (!m.ok()) {
    fprintf(stderr, "process %d: %s\n", process, m.status().ToString().c_str());
    _exit(2);
  }
  for (int64_t step : steps) {
    if (step == die_at) _exit(9);  // killed before writing its part
    auto saved = (*m)->Save(step, TreeFor(process, step, *mesh));
    if (!saved.ok() || !*saved) {
      fprintf(stderr, "process %d step %ld: %s\n", process, long(step),
              saved.ok() ? "not saved" : saved.status().ToString().c_str());
      _exit(3);
    }
  }
  (*m)->Close().IgnoreError();
  _exit(0);
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<int> RunSavers(const std::string& db, std::vector<int64_t> steps,
                           int dying, int64_t die_at, int64_t timeout_ms) {
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      SaverMain(db, p, steps, p == dying ? die_at : -1, timeout_ms);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) codes.push_back(Wait(pid));
  return codes;
}

TEST(ShardedSaveTest, FourProcessesSaveOneStepAndAnyMeshRestoresIt) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  EXPECT_EQ(RunSavers(db, {1, 2}, -1, -1, 60000),
            std::vector<int>(kProcesses, 0));

  CheckpointManagerOptions ro;
  ro.read_only = true;
  auto m = CheckpointManager::Open(db, ro);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->AllSteps(), (std::vector<int64_t>{1, 2}));
  // One process, no target: the global arrays.
  auto whole = (*m)->Restore(2);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (const Leaf& l : Leaves()) {
    EXPECT_TRUE((*whole)[l.name].array().BitwiseEquals(GlobalOf(l, 2)))
        << l.name;
  }
  EXPECT_EQ((*whole)["step"].int_value(), 2);
  // 1, 2 and 8 processes under other meshes and specs.
  struct Layout {
    std::vector<int64_t> sizes;
    int processes;
  };
  for (const Layout& layout :
       std::vector<Layout>{{{1}, 1}, {{2}, 2}, {{8}, 8}}) {
    auto mesh = Mesh::Create({"d"}, layout.sizes, layout.processes);
    ASSERT_TRUE(mesh.ok());
    for (int p = 0; p < layout.processes; ++p) {
      RestoreOptions o;
      o.process = p;
      for (const Leaf& l : Leaves()) {
        // Split the last dimension over the new mesh (all divide by 8).
        PartitionSpec spec(l.shape.size());
        spec.back() = {"d"};
        o.restore_args[l.name].sharding = Sharding{*mesh, spec};
      }
      auto r = (*m)->Restore(1, o);
      ASSERT_TRUE(r.ok()) << r.status();
      for (const Leaf& l : Leaves()) {
        const ShardedArray* got = (*r)[l.name].sharded();
        ASSERT_NE(got, nullptr) << l.name;
        auto want = ShardedArray::FromGlobal(
            GlobalOf(l, 1), o.restore_args[l.name].sharding.value(), p);
        ASSERT_TRUE(want.ok());
        ASSERT_EQ(got->shards.size(), want->shards.size());
        for (size_t k = 0; k < got->shards.size(); ++k) {
          EXPECT_EQ(got->shards[k].box, want->shards[k].box);
          EXPECT_TRUE(got->shards[k].data.BitwiseEquals(want->shards[k].data))
              << l.name << " process " << p << " of " << layout.processes;
        }
      }
    }
  }
  // The CLI shows the grid and the saving mesh, and verify re-hashes it.
  const std::string cli = CKPTDB_CLI;
  FILE* tree = popen((cli + " tree " + db + " 1").c_str(), "r");
  ASSERT_NE(tree, nullptr);
  std::string shown;
  char buf[512];
  while (fgets(buf, sizeof(buf), tree) != nullptr) shown += buf;
  EXPECT_EQ(pclose(tree), 0);
  EXPECT_NE(shown.find("(256, 640) sharded {'x': 2, 'y': 2} P('x', 'y'), "
                       "cells (64, 320)"),
            std::string::npos)
      << shown;
  EXPECT_EQ(system((cli + " verify " + db + " > /dev/null").c_str()), 0);
  // export writes the global array: the .npy file ends with its bytes.
  const std::string out = dir.Sub("export");
  ASSERT_EQ(system((cli + " export " + db + " 1 " + out +
                    " --no-progress"
                    " > /dev/null")
                       .c_str()),
            0);
  std::FILE* npy = std::fopen((out + "/w3.npy").c_str(), "rb");
  ASSERT_NE(npy, nullptr);
  std::string bytes;
  std::fseek(npy, 0, SEEK_END);
  bytes.resize(static_cast<size_t>(std::ftell(npy)));
  std::fseek(npy, 0, SEEK_SET);
  ASSERT_EQ(std::fread(bytes.data(), 1, bytes.size(), npy), bytes.size());
  std::fclose(npy);
  const Array w3 = GlobalOf(Leaves()[2], 1);
  ASSERT_GT(bytes.size(), w3.nbytes());
  EXPECT_EQ(0, std::memcmp(bytes.data() + bytes.size() - w3.nbytes(), w3.data(),
                           w3.nbytes()));
  // A different global shape: strict refuses, naming both shapes; not
  // strict pads with zeros.
  RestoreOptions bigger;
  bigger.restore_args["w1"].global_shape = Shape{64 * 1024 + 8};
  auto refused = (*m)->Restore(1, bigger);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("(65536,)"), std::string::npos)
      << refused.status();
  bigger.restore_args["w1"].strict = false;
  auto padded = (*m)->Restore(1, bigger);
  ASSERT_TRUE(padded.ok()) << padded.status();
  const Array& w1 = (*padded)["w1"].array();
  ASSERT_EQ(w1.shape(), (Shape{64 * 1024 + 8}));
  EXPECT_EQ(0, std::memcmp(w1.data(), GlobalOf(Leaves()[0], 1).data(),
                           64 * 1024 * 4));
  EXPECT_EQ(w1.data_as<float>()[64 * 1024 + 3], 0.0f);
}

TEST(ShardedSaveTest, AProcessKilledBeforeTheCommitLeavesNothing) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  // Step 1 by all; process 2 dies before its part of step 2.
  const auto start = std::chrono::steady_clock::now();
  std::vector<int> codes = RunSavers(db, {1, 2}, 2, 2, 3000);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(codes[2], 9);
  for (int p : {0, 1, 3}) EXPECT_NE(codes[p], 0) << "process " << p;
  EXPECT_LT(secs, 30.0);  // the 3 s timeout, not a hang
  CheckpointManagerOptions ro;
  ro.read_only = true;
  auto m = CheckpointManager::Open(db, ro);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->AllSteps(), (std::vector<int64_t>{1}));
  auto one = (*m)->Restore(1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_TRUE((*one)["w2"].array().BitwiseEquals(GlobalOf(Leaves()[1], 1)));
}

}  // namespace
}  // namespace ckptdb
