#include "schema/flat_tree.h"

namespace ckptdb::internal {

void FlattenTree(const Tree& root, std::vector<FlatNode>* out) {
  const size_t base = out->size();
  std::vector<FlatNode> stack;
  FlatNode r;
  r.tree = &root;
  stack.push_back(r);
  while (!stack.empty()) {
    FlatNode n = stack.back();
    stack.pop_back();
    const uint32_t me = static_cast<uint32_t>(out->size() - base);
    out->push_back(n);
    const Tree& t = *n.tree;
    const bool dict = t.kind() == Tree::Kind::kDict;
    for (size_t i = t.size(); i-- > 0;) {
      FlatNode c;
      c.tree = &t.children()[i];
      c.parent = me;
      c.has_key = true;
      c.key_is_index = !dict;
      c.key = dict ? &t.keys()[i] : nullptr;
      c.index = static_cast<int64_t>(i);
      stack.push_back(c);
    }
  }
}

}  // namespace ckptdb::internal
