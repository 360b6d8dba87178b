// Unit tests of the pure save planner (db/save_plan.h), without a database:
// placement, chunk cutting, casts, deduplication bookkeeping and the
// splitting of new chunks among writers, with hand-set hashes.
#include "db/save_plan.h"

#include <cstring>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

Array Floats(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.5f;
  return Array::FromValues<float>(DType::kFloat32, {n}, v);
}

SaveItem Item(const std::string& name, const Tree* tree,
              std::vector<DType> stored = {}) {
  SaveItem si;
  si.name = name;
  si.tree = tree;
  si.stored_dtypes = std::move(stored);
  return si;
}

TEST(SavePlanTest, SmallArraysAreInlineAndLargeOnesChunked) {
  // 16-byte inline limit: 4 floats inline, 5 floats (20 bytes) in chunks.
  const Tree t = Tree::Dict({{"small", Floats(4)},
                             {"big", Floats(5)},
                             {"n", Tree::Int(3)},
                             {"none", Tree::None()}});
  auto plan = PlanSave({Item("s", &t)}, /*chunk_bytes=*/8,
                       /*inline_bytes=*/16);
  CKPTDB_ASSERT_OK(plan);
  const ItemPlan& ip = plan->items[0];
  ASSERT_EQ(ip.nodes.size(), 5u);
  const ArrayPlan& small = ip.arrays[1];
  EXPECT_TRUE(small.is_inline);
  EXPECT_EQ(small.nbytes, 16u);
  EXPECT_EQ(small.num_jobs, 0u);
  EXPECT_TRUE(small.inline_cast.empty());  // no cast: the array's own bytes
  const ArrayPlan& big = ip.arrays[2];
  EXPECT_FALSE(big.is_inline);
  EXPECT_EQ(big.nbytes, 20u);
  EXPECT_EQ(big.first_job, 0u);
  EXPECT_EQ(big.num_jobs, 3u);
  EXPECT_EQ(ip.summary.name, "s");
  EXPECT_EQ(ip.summary.node_count, 5u);
  EXPECT_EQ(ip.summary.array_count, 2u);
  EXPECT_EQ(ip.summary.leaf_count, 3u);  // two arrays and the int, not None
  EXPECT_EQ(ip.summary.logical_bytes, 36u);
  EXPECT_EQ(plan->logical_bytes, 36u);
}

TEST(SavePlanTest, ChunksAreCutAtChunkBytesWithAShortLastOne) {
  const Tree t = Tree::List({Floats(5), Floats(4)});
  auto plan = PlanSave({Item("a", &t), Item("b", &t)}, 8, 0);
  CKPTDB_ASSERT_OK(plan);
  // Item a: node 1 (20 bytes: 8, 8, 4), node 2 (16 bytes: 8, 8); item b the
  // same again.
  ASSERT_EQ(plan->jobs.size(), 10u);
  std::vector<uint64_t> offsets, sizes;
  for (const ChunkJob& j : plan->jobs) {
    offsets.push_back(j.offset);
    sizes.push_back(j.chunk.size);
  }
  EXPECT_EQ(offsets, (std::vector<uint64_t>{0, 8, 16, 0, 8, 0, 8, 16, 0, 8}));
  EXPECT_EQ(sizes, (std::vector<uint64_t>{8, 8, 4, 8, 8, 8, 8, 4, 8, 8}));
  EXPECT_EQ(plan->jobs[3].node, 2u);
  EXPECT_EQ(plan->jobs[5].item, 1);
  EXPECT_EQ(plan->items[1].arrays[1].first_job, 5u);
  for (const ChunkJob& j : plan->jobs) {
    EXPECT_EQ(j.first, -1);
    EXPECT_FALSE(j.is_new);
  }
  // ChunkBytes borrows the array's bytes when nothing is cast.
  std::string staging;
  const absl::string_view last = ChunkBytes(*plan, plan->jobs[2], &staging);
  EXPECT_EQ(last.size(), 4u);
  EXPECT_EQ(last.data(), static_cast<const char*>(t[0].array().data()) + 16);
  EXPECT_TRUE(staging.empty());
}

TEST(SavePlanTest, EmptyArrayIsInlineEvenWithNoInlineLimit) {
  const Tree t = Tree::List({Floats(0)});
  auto plan = PlanSave({Item("e", &t)}, 8, 0);
  CKPTDB_ASSERT_OK(plan);
  EXPECT_TRUE(plan->items[0].arrays[1].is_inline);
  EXPECT_TRUE(plan->jobs.empty());
}

TEST(SavePlanTest, StoredDtypesCastIntoTheStagingBuffer) {
  // float32 -> float64 doubles the stored bytes: 5 elements, 40 bytes, in
  // chunks of 16 (2 elements each; the last holds one).
  const Tree t = Tree::List({Floats(5), Floats(2)});
  auto plan = PlanSave({Item("c", &t, {DType::kFloat64, DType::kInt32})}, 16,
                       /*inline_bytes=*/8);
  CKPTDB_ASSERT_OK(plan);
  const ArrayPlan& a = plan->items[0].arrays[1];
  EXPECT_EQ(a.stored_dtype, DType::kFloat64);
  EXPECT_EQ(a.nbytes, 40u);
  EXPECT_EQ(a.num_jobs, 3u);
  EXPECT_EQ(plan->items[0].summary.logical_bytes, 48u);
  std::string staging;
  for (uint32_t k = 0; k < 3; ++k) {
    const ChunkJob& j = plan->jobs[k];
    const absl::string_view bytes = ChunkBytes(*plan, j, &staging);
    ASSERT_EQ(bytes.size(), k < 2 ? 16u : 8u);
    EXPECT_EQ(bytes.data(), staging.data());
    for (size_t e = 0; e < bytes.size() / 8; ++e) {
      double d;
      std::memcpy(&d, bytes.data() + 8 * e, 8);
      EXPECT_EQ(d, static_cast<double>(2 * k + e) + 0.5) << k << " " << e;
    }
  }
  // The inline array is cast when planned: float32 {0.5, 1.5} -> int32
  // {0, 1}.
  const ArrayPlan& small = plan->items[0].arrays[2];
  EXPECT_TRUE(small.is_inline);
  EXPECT_EQ(small.stored_dtype, DType::kInt32);
  ASSERT_EQ(small.inline_cast.size(), 8u);
  int32_t ints[2];
  std::memcpy(ints, small.inline_cast.data(), 8);
  EXPECT_EQ(ints[0], 0);
  EXPECT_EQ(ints[1], 1);
}

TEST(SavePlanTest, StoredDtypesCountMismatchIsInvalidArgument) {
  const Tree t = Tree::List({Floats(2), Tree::Int(1), Floats(3)});
  EXPECT_THAT(PlanSave({Item("m", &t, {DType::kFloat64})}, 8, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item 'm': 1 stored dtypes given for 2 "
                                 "array leaves")));
  EXPECT_THAT(
      PlanSave({Item("m", &t, {DType::kInt8, DType::kInt8, DType::kInt8})}, 8,
               0),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("item 'm': 3 stored dtypes given for 2 array "
                         "leaves")));
  CKPTDB_EXPECT_OK(
      PlanSave({Item("m", &t, {DType::kInt8, DType::kInt8})}, 8, 0));
}

// A plan of one item whose chunks get the hashes `ids` (hash {id, id}), one
// 8-byte chunk each.
SavePlan HashedPlan(const Tree& t, const std::vector<uint64_t>& ids) {
  auto plan = PlanSave({Item("h", &t)}, 8, 0);
  EXPECT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->jobs.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    plan->jobs[i].chunk.hash = Hash128{ids[i], ids[i]};
  }
  return *std::move(plan);
}

TEST(SavePlanTest, DuplicatesPointAtTheFirstJobWithTheirHash) {
  const Tree t = Tree::List({Floats(6), Floats(4)});  // 3 + 2 chunks
  SavePlan plan = HashedPlan(t, {5, 7, 5, 9, 7});
  MarkDuplicates(&plan);
  EXPECT_THAT(plan.unique_jobs, ElementsAre(0, 1, 3));
  std::vector<int64_t> firsts;
  for (const ChunkJob& j : plan.jobs) firsts.push_back(j.first);
  EXPECT_EQ(firsts, (std::vector<int64_t>{-1, -1, 0, -1, 1}));
  EXPECT_THAT(DistinctHashes(plan),
              ElementsAre(Hash128{5, 5}, Hash128{7, 7}, Hash128{9, 9}));

  // Hash 7 is stored already; 5 and 9 become chunks 0 and 1 of segment 4.
  AssignNewChunks(&plan, 4, [](const Hash128& h) { return h.hi == 7; });
  EXPECT_THAT(plan.new_jobs, ElementsAre(0, 3));
  EXPECT_EQ(plan.new_logical_bytes, 16u);
  EXPECT_TRUE(plan.jobs[0].is_new);
  EXPECT_FALSE(plan.jobs[1].is_new);
  EXPECT_FALSE(plan.jobs[2].is_new);  // a duplicate is never new itself
  EXPECT_EQ(plan.jobs[0].chunk.segment, 4u);
  EXPECT_EQ(plan.jobs[0].chunk.ordinal, 0u);
  EXPECT_EQ(plan.jobs[3].chunk.ordinal, 1u);
  EXPECT_EQ(plan.jobs[3].chunk.stored_size, 8u);
  EXPECT_EQ(plan.jobs[3].chunk.kind, ChunkKind::kFull);

  // The stored chunk's location, as the store would fill it in.
  plan.jobs[1].chunk.segment = 2;
  plan.jobs[1].chunk.ordinal = 11;
  plan.jobs[1].chunk.stored_size = 6;
  plan.jobs[1].chunk.kind = ChunkKind::kPatch;
  ResolveDuplicates(&plan);
  EXPECT_EQ(plan.jobs[2].chunk, plan.jobs[0].chunk);
  EXPECT_EQ(plan.jobs[4].chunk, plan.jobs[1].chunk);
  EXPECT_EQ(plan.jobs[4].chunk.ordinal, 11u);

  const std::vector<ChunkLocation> second = NodeChunks(plan, 0, 2);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].hash, (Hash128{9, 9}));
  EXPECT_EQ(second[1].segment, 2u);
  EXPECT_TRUE(NodeChunks(plan, 0, 0).empty());  // the list node
}

TEST(SavePlanTest, SplitNewChunksBalancesBytes) {
  const Tree t = Tree::List({Floats(16)});  // eight 8-byte chunks
  SavePlan plan = HashedPlan(t, {1, 2, 3, 4, 5, 6, 7, 8});
  MarkDuplicates(&plan);
  AssignNewChunks(&plan, 1, [](const Hash128&) { return false; });
  ASSERT_EQ(plan.new_logical_bytes, 64u);
  EXPECT_THAT(SplitNewChunks(plan, 4, 1),
              ElementsAre(Pair(0, 2), Pair(2, 4), Pair(4, 6), Pair(6, 8)));
  EXPECT_THAT(SplitNewChunks(plan, 3, 1),
              ElementsAre(Pair(0, 3), Pair(3, 6), Pair(6, 8)));
  // No part under 24 bytes: at most 64 / 24 = 2 parts.
  EXPECT_THAT(SplitNewChunks(plan, 8, 24), ElementsAre(Pair(0, 4), Pair(4, 8)));
  // Under the minimum altogether: one part.
  EXPECT_THAT(SplitNewChunks(plan, 8, 1000), ElementsAre(Pair(0, 8)));
  EXPECT_THAT(SplitNewChunks(plan, 0, 0), ElementsAre(Pair(0, 8)));
  // More parts than chunks: one chunk each.
  EXPECT_EQ(SplitNewChunks(plan, 100, 1).size(), 8u);

  SavePlan none = HashedPlan(t, {1, 2, 3, 4, 5, 6, 7, 8});
  MarkDuplicates(&none);
  AssignNewChunks(&none, 1, [](const Hash128&) { return true; });
  EXPECT_TRUE(SplitNewChunks(none, 4, 1).empty());
}

TEST(SavePlanTest, SplitNewChunksBalancesUnevenChunks) {
  // Chunks of 8, 8, 8, 4 bytes and one of 8: 36 bytes in two parts.
  const Tree t = Tree::List({Floats(7), Floats(2)});
  SavePlan plan = HashedPlan(t, {1, 2, 3, 4, 5});
  MarkDuplicates(&plan);
  AssignNewChunks(&plan, 1, [](const Hash128&) { return false; });
  EXPECT_EQ(plan.new_logical_bytes, 36u);
  EXPECT_THAT(SplitNewChunks(plan, 2, 1), ElementsAre(Pair(0, 3), Pair(3, 5)));
}

TEST(SavePlanTest, LeafKeyNamesTheItemAndThePath) {
  const Tree t = Tree::Dict(
      {{"layer",
        Tree::List({Floats(1), Tree::Dict({{int64_t{4}, Floats(1)}})})}});
  auto plan = PlanSave({Item("params", &t), Item("opt", &t)}, 8, 0);
  CKPTDB_ASSERT_OK(plan);
  EXPECT_EQ(plan->PathOf(0, 4).ToString(), "layer/1/4");
  EXPECT_EQ(plan->LeafKey(0, 2), std::string("params\0layer/0", 14));
  EXPECT_EQ(plan->LeafKey(1, 4), std::string("opt\0layer/1/4", 13));
  EXPECT_EQ(plan->LeafKey(0, 0), std::string("params\0", 7));
  EXPECT_NE(plan->LeafKey(0, 2), plan->LeafKey(1, 2));
}

}  // namespace
}  // namespace ckptdb::internal
