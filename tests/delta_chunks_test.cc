// Delta and Compressed chunks through the public API: training-like updates
// are stored as deltas and restore bit-exactly, bases outlive their steps,
// damage is DataLoss, and both encodings can be turned off.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "ckptdb/checkpoint_manager.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

constexpr int64_t kFloats = 1 << 20;  // 4 MiB of float32

// Weights of scale 0.02 after `steps` updates of about 1e-4 each (an Adam
// step at that learning rate), with NaN payloads, -0.0, infinities and
// denormals that must survive exactly.
Array Weights(int steps) {
  Array a = Array::Allocate(DType::kFloat32, {kFloats});
  float* p = static_cast<float*>(a.mutable_data());
  std::mt19937_64 rng(11);
  std::normal_distribution<float> init(0, 0.02f);
  for (int64_t i = 0; i < kFloats; ++i) p[i] = init(rng);
  for (int s = 1; s <= steps; ++s) {
    std::mt19937_64 step_rng(100 + s);
    std::normal_distribution<float> update(0, 1e-4f);
    for (int64_t i = 0; i < kFloats; ++i) p[i] += update(step_rng);
  }
  const uint32_t nan_payload = 0x7fc12345;
  std::memcpy(&p[10], &nan_payload, 4);
  p[11] = -0.0f;
  p[12] = std::numeric_limits<float>::infinity();
  p[13] = std::numeric_limits<float>::denorm_min() * (steps + 1);
  return a;
}

Tree State(int steps) {
  Array count = Array::Allocate(DType::kInt64, {1 << 17});  // 1 MiB
  auto* c = static_cast<int64_t*>(count.mutable_data());
  for (int64_t i = 0; i < (1 << 17); ++i) c[i] = i * 1000 + steps;
  return Tree::Dict({{"w", Tree::FromArray(Weights(steps))},
                     {"count", Tree::FromArray(std::move(count))}});
}

uint64_t LogicalBytes() { return kFloats * 4 + (1 << 20); }

CheckpointManagerOptions Options() {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  return o;
}

uint64_t NewBytes(CheckpointManager& mgr, int64_t step) {
  auto info = mgr.StepMetadata(step);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->new_bytes : 0;
}

TEST(DeltaChunksTest, TrainingStepsAreStoredAsDeltasAndRestoreExactly) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  for (int s = 0; s <= 3; ++s) CKPTDB_ASSERT_OK((*mgr)->Save(s, State(s)));
  for (int s = 1; s <= 3; ++s) {
    // The weights' high planes and the counters' high bytes barely change.
    EXPECT_LT(NewBytes(**mgr, s), LogicalBytes() * 3 / 4) << "step " << s;
  }
  for (int s = 0; s <= 3; ++s) {
    auto t = (*mgr)->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_TRUE(*t == State(s)) << "step " << s;
  }
  // Deltas keep their base (step 0's chunks) alive: delete it, collect
  // garbage, restore the others; restore without a target too.
  CKPTDB_ASSERT_OK((*mgr)->Delete(0));
  CKPTDB_ASSERT_OK((*mgr)->CollectGarbage());
  for (int s = 1; s <= 3; ++s) {
    auto t = (*mgr)->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_TRUE(*t == State(s)) << "step " << s;
  }
  // A reopened manager codes against the latest step's base as well.
  CKPTDB_ASSERT_OK((*mgr)->Close());
  mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(4, State(4)));
  EXPECT_LT(NewBytes(**mgr, 4), LogicalBytes() * 3 / 4);
  auto t = (*mgr)->Restore(4);
  CKPTDB_ASSERT_OK(t);
  EXPECT_TRUE(*t == State(4));
}

// Coded chunks are decoded straight into a target of the stored dtype
// (whatever its buffers held) and through a cast into one of another.
TEST(DeltaChunksTest, DecodesIntoTargetsOfTheStoredAndOfAnotherDtype) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  for (int s = 0; s <= 2; ++s) CKPTDB_ASSERT_OK((*mgr)->Save(s, State(s)));
  ASSERT_LT(NewBytes(**mgr, 2), LogicalBytes() * 3 / 4);  // coded chunks
  const Tree want = State(2);

  Array w = Array::Allocate(DType::kFloat32, {kFloats});
  Array count = Array::Allocate(DType::kInt64, {1 << 17});
  std::memset(w.mutable_data(), 0xff, w.nbytes());
  std::memset(count.mutable_data(), 0xff, count.nbytes());
  const Tree same = Tree::Dict(
      {{"w", Tree::FromArray(w)}, {"count", Tree::FromArray(count)}});
  auto got = (*mgr)->Restore(2, same);
  CKPTDB_ASSERT_OK(got);
  EXPECT_TRUE(*got == want);

  RestoreOptions cast;
  cast.default_restore_args.dtype = DType::kFloat64;
  auto wide = (*mgr)->Restore(2, cast);
  CKPTDB_ASSERT_OK(wide);
  EXPECT_TRUE((*wide)["w"].array().BitwiseEquals(
      want["w"].array().AsType(DType::kFloat64)));
  EXPECT_TRUE((*wide)["count"].array().BitwiseEquals(
      want["count"].array().AsType(DType::kFloat64)));
}

TEST(DeltaChunksTest, BothEncodingsCanBeTurnedOff) {
  TempDir dir;
  CheckpointManagerOptions o = Options();
  o.tuning.delta_chunks = false;
  o.tuning.compress_chunks = false;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, State(0)));
  CKPTDB_ASSERT_OK((*mgr)->Save(1, State(1)));
  EXPECT_EQ(NewBytes(**mgr, 0), LogicalBytes());
  EXPECT_EQ(NewBytes(**mgr, 1), LogicalBytes());
}

TEST(DeltaChunksTest, CompressibleArraysAreCompressedAndRandomOnesAreNot) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  // bfloat16 weights: the sign and exponent byte compresses.
  Array bf16 = Array::Allocate(DType::kBFloat16, {1 << 20});
  auto* h = static_cast<uint16_t*>(bf16.mutable_data());
  std::mt19937_64 rng(5);
  std::normal_distribution<float> init(0, 0.02f);
  for (int64_t i = 0; i < (1 << 20); ++i) {
    const float f = init(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    h[i] = static_cast<uint16_t>(bits >> 16);
  }
  Tree bf16_tree = Tree::Dict({{"w", Tree::FromArray(bf16)}});
  CKPTDB_ASSERT_OK((*mgr)->Save(0, bf16_tree));
  EXPECT_LT(NewBytes(**mgr, 0), uint64_t{2 << 20} * 8 / 10);
  Tree random = Tree::Dict(
      {{"r", Tree::FromArray(RandomArray(DType::kFloat32, {1 << 20}, 9))}});
  CKPTDB_ASSERT_OK((*mgr)->Save(1, random));
  EXPECT_EQ(NewBytes(**mgr, 1), uint64_t{4} << 20);
  auto t0 = (*mgr)->Restore(0);
  CKPTDB_ASSERT_OK(t0);
  EXPECT_TRUE(*t0 == bf16_tree);
  auto t1 = (*mgr)->Restore(1);
  CKPTDB_ASSERT_OK(t1);
  EXPECT_TRUE(*t1 == random);
}

TEST(DeltaChunksTest, ADamagedBaseIsDataLossNamingTheLeaf) {
  TempDir dir;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  Tree s0 = State(0);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, s0));
  CKPTDB_ASSERT_OK((*mgr)->Save(1, State(1)));
  CKPTDB_ASSERT_OK((*mgr)->Close());
  // Step 0's weight chunks are stored whole (normal floats do not compress
  // by 20%) and are the bases of step 1's deltas: damage the first one.
  const char* p = static_cast<const char*>(s0["w"].array().data());
  auto [file, pos] =
      ::ckptdb::testing::FindBytes(dir.Sub("db"), std::string(p + 512, 64));
  ASSERT_FALSE(file.empty());
  ::ckptdb::testing::FlipByte(file, pos + 3);
  mgr = CheckpointManager::Open(dir.Sub("db"), Options());
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_THAT((*mgr)->Restore(1),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("leaf 'w': chunk 1 of 4")));
  EXPECT_THAT((*mgr)->Restore(1),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("base chunk")));
}

}  // namespace
}  // namespace ckptdb
