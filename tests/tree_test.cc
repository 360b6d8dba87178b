#include "ckptdb/tree.h"

#include <cmath>
#include <limits>

#include "ckptdb/metadata.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

Tree Sample() {
  return Tree::Dict(
      {{"params",
        Tree::Dict(
            {{"layer0", Tree::Dict({{"kernel", Array::Zeros(DType::kFloat32,
                                                            {2, 3})}})}})},
       {3, Tree::List({Tree::Int(1), Tree::Tuple({Tree::None()})})}});
}

TEST(TreeTest, PathsUseKeysAndIndices) {
  std::vector<std::string> paths;
  Sample().ForEachLeaf(
      [&](const TreePath& p, const Tree&) { paths.push_back(p.ToString()); });
  EXPECT_THAT(paths,
              ::testing::ElementsAre("params/layer0/kernel", "3/0", "3/1/0"));
}

TEST(TreeTest, ResolvePathPrefersStringKeysThenIntKeys) {
  Tree t = Tree::Dict({{"1", Tree::Int(10)},
                       {1, Tree::Int(20)},
                       {2, Tree::List({Tree::Int(5), Tree::Int(6)})}});
  auto p = t.ResolvePath("1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(t.FindPath(*p)->int_value(), 10);
  p = t.ResolvePath("2/1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(t.FindPath(*p)->int_value(), 6);
  EXPECT_THAT(t.ResolvePath("2/7"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("'7' not found under '2'")));
}

TEST(TreeTest, EqualityIsKindAndKeyTypeExact) {
  EXPECT_NE(Tree::List({Tree::Int(1)}), Tree::Tuple({Tree::Int(1)}));
  EXPECT_NE(Tree::Dict({{1, Tree::None()}}), Tree::Dict({{"1", Tree::None()}}));
  EXPECT_NE(Tree::Float(0.0), Tree::Float(-0.0));  // bitwise
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(Tree::Float(nan), Tree::Float(nan));
  EXPECT_NE(Tree::Dict({{"a", Tree::None()}, {"b", Tree::None()}}),
            Tree::Dict({{"b", Tree::None()}, {"a", Tree::None()}}));
  EXPECT_EQ(Sample(), Sample().DeepCopy());
}

TEST(TreeTest, DebugStringLooksLikePython) {
  Tree t = Tree::List({Tree::Int(12),
                       Tree::Dict({{"bar", Array::FromValues<int64_t>(
                                               DType::kInt64, {2}, {2, 3})}}),
                       Tree::Tuple({Tree::Bool(true)})});
  EXPECT_EQ(t.DebugString(),
            "[12, {'bar': array([2, 3], dtype=int64, shape=(2,))}, (True,)]");
}

TEST(TreeTest, FormatArraySummarisesLargeArrays) {
  std::vector<int32_t> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i;
  Array a = Array::FromValues<int32_t>(DType::kInt32, {100}, v);
  EXPECT_EQ(FormatArrayValues(a, 10), "[0, 1, 2, ..., 97, 98, 99]");
  Array m = Array::FromValues<float>(DType::kFloat32, {2, 2},
                                     {0.5f, 1.0f, -2.0f, 3.25f});
  EXPECT_EQ(FormatArrayValues(m, 100), "[[0.5, 1.0], [-2.0, 3.25]]");
}

TEST(TreeTest, DictInsertReplacesAndKeepsOrder) {
  Tree d = Tree::Dict({{"a", Tree::Int(1)}, {"b", Tree::Int(2)}});
  d.Insert("a", Tree::Int(3));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.keys()[0], DictKey("a"));
  EXPECT_EQ(d["a"].int_value(), 3);
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// Tree::Dict indexes keys with a hash map so that large dicts build in
// linear time, but nothing in the public API can count the comparisons it
// makes, so this test checks what it can: the result at a large size.
TEST(TreeTest, LargeDictKeepsEveryKeyInOrderAndLaterDuplicatesReplace) {
  constexpr int64_t kSize = 200000;
  std::vector<std::pair<DictKey, Tree>> items;
  for (int64_t i = 0; i < kSize; ++i) items.emplace_back(i, Tree::Int(i));
  // The same numbers as string keys are different keys (1 != "1").
  for (int64_t i = 0; i < kSize; ++i) {
    items.emplace_back(std::to_string(i), Tree::Int(kSize + i));
  }
  // Later duplicates replace the value and keep the first position.
  items.emplace_back(int64_t{7}, Tree::Int(-7));
  items.emplace_back("7", Tree::Int(-8));
  items.emplace_back(kSize - 1, Tree::Int(-9));
  Tree d = Tree::Dict(std::move(items));
  ASSERT_EQ(d.size(), static_cast<size_t>(2 * kSize));
  ASSERT_EQ(d.keys().size(), d.children().size());
  for (int64_t i = 0; i < kSize; ++i) {
    const DictKey& int_key = d.keys()[i];
    const DictKey& str_key = d.keys()[kSize + i];
    ASSERT_TRUE(int_key.is_int() && int_key.int_value() == i) << i;
    ASSERT_TRUE(!str_key.is_int() && str_key.str() == std::to_string(i)) << i;
    const int64_t want_int = i == 7 ? -7 : i == kSize - 1 ? -9 : i;
    const int64_t want_str = i == 7 ? -8 : kSize + i;
    ASSERT_EQ(d.children()[i].int_value(), want_int) << i;
    ASSERT_EQ(d.children()[kSize + i].int_value(), want_str) << i;
  }
  EXPECT_EQ(d[DictKey(int64_t{7})].int_value(), -7);
  EXPECT_EQ(d[DictKey("7")].int_value(), -8);
}

TEST(TreeTest, InsertNewAppendsInOrder) {
  Tree e = Tree::Dict();
  e.InsertNew("a", Tree::Int(1));
  e.InsertNew("b", Tree::Int(2));
  EXPECT_EQ(e, Tree::Dict({{"a", Tree::Int(1)}, {"b", Tree::Int(2)}}));
}

TEST(TreeTest, PathPushAndPop) {
  TreePath p;
  p.Push(DictKey("params"));
  p.Push(int64_t{3});
  EXPECT_EQ(p.ToString(), "params/3");
  p.Pop();
  EXPECT_EQ(p.ToString(), "params");
}

TEST(TreeAccessorTest, WrongScalarAccessorReturnsZero) {
  EXPECT_EQ(Tree::Float(2.5).int_value(), 0);
  EXPECT_FALSE(Tree::Float(2.5).bool_value());
  EXPECT_EQ(Tree::Int(7).float_value(), 0.0);
  EXPECT_FALSE(Tree::Int(7).bool_value());
  EXPECT_EQ(Tree::Bool(true).int_value(), 0);
  EXPECT_EQ(Tree::String("x").int_value(), 0);
  EXPECT_EQ(Tree::Int(7).string_value(), "");
  EXPECT_EQ(Tree::Int(7).int_value(), 7);
  EXPECT_TRUE(Tree::Bool(true).bool_value());
  EXPECT_EQ(Tree::Float(2.5).float_value(), 2.5);
}

}  // namespace
}  // namespace ckptdb
