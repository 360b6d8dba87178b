// The node-record fuzz input shared by the node_tree and restore targets:
// pieces (fuzz_util.h), each one node record of item 0 in preorder, sealed
// with the right checksum when the piece starts with a 0 byte (so that
// mutations reach the decoder rather than stop at the trailer).
#ifndef CKPTDB_TESTS_FUZZ_NODE_INPUT_H_
#define CKPTDB_TESTS_FUZZ_NODE_INPUT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "tests/fuzz/fuzz_util.h"

namespace ckptdb::fuzz {

// Decodes the input's records into `tree` as Store::ReadItem does; false
// at the first record that does not decode or fit, or when the tree is
// not complete.
inline bool AssembleNodes(absl::string_view input,
                          internal::TreeAssembler* tree) {
  using namespace ckptdb::internal;  // NOLINT: a test helper
  RecordBuffer buf;
  const auto describe = [] { return std::string("fuzz"); };
  uint32_t index = 0;
  for (absl::string_view piece : SplitPieces(input)) {
    const std::string key = NodeKey(0, index);
    const std::string value = !piece.empty() && piece[0] == 0
                                  ? SealBytes(key, piece.substr(1))
                                  : std::string(piece);
    if (index > 0 && tree->Complete()) return false;
    StoredNode node;
    uint32_t child_count = 0;
    if (!DecodeNodeRecord(key, value, index, describe, &buf, &node,
                          &child_count)
             .ok()) {
      return false;
    }
    (void)tree->NextPlace();
    if (!tree->Add(std::move(node), child_count, describe).ok()) return false;
    ++index;
  }
  return index > 0 && tree->Complete();
}

}  // namespace ckptdb::fuzz

#endif  // CKPTDB_TESTS_FUZZ_NODE_INPUT_H_
