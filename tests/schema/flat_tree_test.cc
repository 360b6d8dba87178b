// Tests of schema/flat_tree.h. FlattenTree and PathOfNode decode nothing
// untrusted and return no errors; these tests pin the preorder, the parent
// links and the paths (PathOfNode's guard against a parent chain that
// leaves the list included).
#include "schema/flat_tree.h"

#include <string>
#include <vector>

#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

Tree Sample() {
  return Tree::Dict(
      {{"params",
        Tree::Dict({{"w", Tree::Int(1)}, {int64_t{-2}, Tree::Float(0.5)}})},
       {"opt", Tree::List({Tree::Tuple({Tree::None(), Tree::Bool(false)}),
                           Tree::String("x")})},
       {"step", Tree::Int(9)}});
}

std::vector<std::string> Paths(const std::vector<FlatNode>& flat) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < flat.size(); ++i) {
    out.push_back(PathOfNode(flat, i).ToString());
  }
  return out;
}

TEST(FlatTreeTest, FlattensInPreorderWithParentsAndKeys) {
  const Tree t = Sample();
  std::vector<FlatNode> flat;
  FlattenTree(t, &flat);
  EXPECT_EQ(Paths(flat), (std::vector<std::string>{
                             "", "params", "params/w", "params/-2", "opt",
                             "opt/0", "opt/0/0", "opt/0/1", "opt/1", "step"}));
  const std::vector<uint32_t> parents = {0, 0, 1, 1, 0, 4, 5, 5, 4, 0};
  ASSERT_EQ(flat.size(), parents.size());
  for (uint32_t i = 0; i < flat.size(); ++i) {
    EXPECT_EQ(flat[i].parent, parents[i]) << i;
    EXPECT_EQ(flat[i].has_key, i != 0) << i;
  }
  EXPECT_EQ(flat[0].tree, &t);
  EXPECT_EQ(flat[3].tree, &t["params"][1]);
  ASSERT_NE(flat[3].key, nullptr);
  EXPECT_TRUE(flat[3].key->is_int());
  EXPECT_EQ(flat[3].key->int_value(), -2);
  EXPECT_FALSE(flat[3].key_is_index);
  EXPECT_TRUE(flat[7].key_is_index);
  EXPECT_EQ(flat[7].index, 1);
  EXPECT_EQ(flat[7].key, nullptr);
  EXPECT_EQ(flat[7].tree->kind(), Tree::Kind::kBool);
}

TEST(FlatTreeTest, LeafAndEmptyContainerRootsAreOneNode) {
  for (const Tree& t : {Tree::Int(3), Tree::None(), Tree::Dict(), Tree::List(),
                        Tree::Tuple()}) {
    std::vector<FlatNode> flat;
    FlattenTree(t, &flat);
    ASSERT_EQ(flat.size(), 1u);
    EXPECT_FALSE(flat[0].has_key);
    EXPECT_EQ(PathOfNode(flat, 0).DisplayString(), "<root>");
  }
}

TEST(FlatTreeTest, AppendsWithParentsRelativeToTheRoot) {
  const Tree a = Tree::List({Tree::Int(1)});
  const Tree b = Tree::Tuple({Tree::Int(2), Tree::Int(3)});
  std::vector<FlatNode> flat;
  FlattenTree(a, &flat);
  FlattenTree(b, &flat);
  ASSERT_EQ(flat.size(), 5u);
  EXPECT_FALSE(flat[2].has_key);  // b's root
  EXPECT_EQ(flat[3].parent, 0u);  // relative to b's root
  EXPECT_EQ(flat[4].parent, 0u);
  EXPECT_EQ(flat[4].index, 1);
  const std::vector<FlatNode> second(flat.begin() + 2, flat.end());
  EXPECT_EQ(PathOfNode(second, 2).ToString(), "1");
}

TEST(FlatTreeTest, PathOfNodeStopsAtANodeOutsideTheList) {
  std::vector<FlatNode> flat;
  const Tree t = Sample();
  FlattenTree(t, &flat);
  EXPECT_TRUE(PathOfNode(flat, 99).empty());
  // A parent link pointing past the list ends the walk there.
  flat[2].parent = 50;
  EXPECT_EQ(PathOfNode(flat, 2).ToString(), "w");
}

}  // namespace
}  // namespace ckptdb::internal
