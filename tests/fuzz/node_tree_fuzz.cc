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
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ckptdb::internal;
  RecordBuffer buf;
  TreeAssembler tree;
  const auto describe = [] { return std::string("fuzz"); };
  uint32_t index = 0;
  for (absl::string_view piece :
       ckptdb::fuzz::SplitPieces(ckptdb::fuzz::AsView(data, size))) {
    const std::string key = NodeKey(0, index);
    const std::string value = !piece.empty() && piece[0] == 0
                                  ? SealBytes(key, piece.substr(1))
                                  : std::string(piece);
    if (index > 0 && tree.Complete()) return 0;
    StoredNode node;
    uint32_t child_count = 0;
    if (!DecodeNodeRecord(key, value, index, describe, &buf, &node,
                          &child_count)
             .ok()) {
      return 0;
    }
    (void)tree.NextPlace();
    if (!tree.Add(std::move(node), child_count, describe).ok()) return 0;
    ++index;
  }
  if (!tree.Complete()) return 0;
  const std::vector<StoredNode>& nodes = tree.nodes();
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    (void)PathOfNode(nodes, i).DisplayString();
  }
  return 0;
}
