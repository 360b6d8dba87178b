// libFuzzer target: node records (DecodeNodeRecord) assembled into a tree
// (TreeAssembler), as Store::ReadItem reads an item, then every node's path.
//
// Input: pieces (fuzz_util.h SplitPieces), one per node record in preorder.
// A piece whose first byte is 0 is the record's FlatBuffer body, sealed here
// under NodeKey(0, i) so that mutations get past the checksum; otherwise the
// piece is the whole stored value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "schema/flat_tree.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "tests/fuzz/node_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ckptdb::internal;
  TreeAssembler tree;
  if (!ckptdb::fuzz::AssembleNodes(ckptdb::fuzz::AsView(data, size), &tree)) {
    return 0;
  }
  const std::vector<StoredNode>& nodes = tree.nodes();
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    (void)PathOfNode(nodes, i).DisplayString();
  }
  return 0;
}
