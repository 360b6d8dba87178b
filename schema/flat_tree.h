// A tree as its nodes in preorder: the one flattening that the save
// planner (item trees) and the inline-tree encoder (metrics, custom
// metadata) share, and the one way to print a node's path.
#ifndef CKPTDB_SCHEMA_FLAT_TREE_H_
#define CKPTDB_SCHEMA_FLAT_TREE_H_

#include <cstdint>
#include <vector>

#include "ckptdb/tree.h"

namespace ckptdb::internal {

struct FlatNode {
  const Tree* tree = nullptr;
  uint32_t parent = 0;           // preorder index of the parent (root: 0)
  bool has_key = false;          // false for the root
  bool key_is_index = false;     // true in a List or Tuple
  const DictKey* key = nullptr;  // in a Dict
  int64_t index = 0;             // in a List or Tuple
};

// Appends `root`'s nodes to `out` in preorder (parents index into `out`
// relative to where the root lands). The tree must be well formed (a Dict's
// key and value counts agree): the api's save validation checks that.
void FlattenTree(const Tree& root, std::vector<FlatNode>* out);

// The path of node `i` of `nodes` (a preorder list whose element 0 is the
// root): for FlatNode lists and for decoded StoredNode lists alike.
inline const DictKey& KeyOf(const FlatNode& n) { return *n.key; }
template <typename Node>
TreePath PathOfNode(const std::vector<Node>& nodes, uint32_t i) {
  std::vector<uint32_t> chain;
  while (i < nodes.size()) {
    chain.push_back(i);
    if (i == 0 || !nodes[i].has_key) break;
    i = nodes[i].parent;
  }
  TreePath p;
  for (size_t k = chain.size(); k-- > 0;) {
    const Node& n = nodes[chain[k]];
    if (!n.has_key) continue;
    p = n.key_is_index ? p.Child(n.index) : p.Child(KeyOf(n));
  }
  return p;
}

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_FLAT_TREE_H_
