// Codecs of tree nodes: the node records of a step's items, and small trees
// stored inline in a step record (metrics, custom metadata). Decoding checks
// every node on its own (kinds, dtype, shape, sizes, chunk references) and,
// through TreeAssembler, its place in the tree. Pure encoding; no I/O.
#ifndef CKPTDB_SCHEMA_NODE_CODEC_H_
#define CKPTDB_SCHEMA_NODE_CODEC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/dtype.h"
#include "ckptdb/tree.h"
#include "flatbuffers/flatbuffers.h"
#include "node_generated.h"
#include "schema/chunk_location.h"
#include "schema/flat_tree.h"

namespace ckptdb::internal {

class RecordBuffer;

// A node of a saved tree, decoded and verified.
struct StoredNode {
  Tree::Kind kind = Tree::Kind::kNone;
  uint32_t parent = 0;
  bool has_key = false;  // false for the root
  bool key_is_index = false;
  DictKey key;        // dict key
  int64_t index = 0;  // sequence index
  std::vector<uint32_t> children;
  Tree scalar;  // None/Bool/Int/Float/String
  // Arrays.
  DType dtype = DType::kFloat32;
  DType source_dtype = DType::kFloat32;
  Shape shape;
  uint64_t nbytes = 0;
  uint32_t chunk_bytes = 0;
  std::string inline_data;
  bool is_inline = false;
  std::vector<ChunkLocation> chunks;
  // A grid array (ArrayInfo.chunk_shape): the cell shape; chunks[k] is
  // cell k (or cell cells[k] of a partial record).
  bool is_grid = false;
  Shape chunk_shape;
  bool partial = false;  // a partial record: chunks[k] is cell cells[k]
  std::vector<uint32_t> cells;
  std::string sharding;  // the saving mesh and spec, as text
  bool is_partial() const { return partial; }
};
inline const DictKey& KeyOf(const StoredNode& n) { return n.key; }

// Where an array node's bytes go: inline, or in chunks.
struct ArrayPlacement {
  DType stored_dtype = DType::kFloat32;
  uint64_t nbytes = 0;
  uint32_t chunk_bytes = 0;
  const void* inline_bytes = nullptr;  // null: chunked (or empty)
  const std::vector<ChunkLocation>* chunks = nullptr;
  // Grid arrays: the cell shape; partial records: which cells `chunks` are.
  const Shape* chunk_shape = nullptr;
  const std::vector<uint32_t>* cells = nullptr;
  const std::string* sharding = nullptr;  // grid arrays: the saving sharding
};

// The sealed node record of node `index` of item `item` (key
// NodeKey(item, index)). `array` is required for array nodes.
std::string EncodeNodeRecord(uint16_t item, uint32_t index,
                             const FlatNode& node, const ArrayPlacement* array,
                             flatbuffers::FlatBufferBuilder* fbb);

// Decodes node record `index` (its key and value) into `out`; `child_count`
// receives the number of children the record declares. Errors (DataLoss)
// are prefixed with `describe()`, built only on error.
absl::Status DecodeNodeRecord(absl::string_view key, absl::string_view value,
                              uint32_t index,
                              const std::function<std::string()>& describe,
                              RecordBuffer* buf, StoredNode* out,
                              uint32_t* child_count);

// Checks that nodes arriving in preorder form one tree, and links each to
// its parent: the root has no key; every other node names the container
// still expecting children as its parent, with a key of that container's
// kind (sequence positions in order); no node comes after the tree is
// complete.
class TreeAssembler {
 public:
  // Where node nodes().size() belongs, from the structure read so far:
  // "the root", "entry #k of dict 'p'", "'p/3'" or "beyond the tree".
  std::string NextPlace() const;
  // Adds the next node. DataLoss prefixed with `describe()` when it does not
  // fit its place.
  absl::Status Add(StoredNode node, uint32_t child_count,
                   const std::function<std::string()>& describe);
  // True when no container expects more children and a root was added.
  bool Complete() const;
  const std::vector<StoredNode>& nodes() const { return nodes_; }
  std::vector<StoredNode> Release() { return std::move(nodes_); }

 private:
  // The container the next node belongs to, or -1.
  int64_t ExpectedParent() const;

  std::vector<StoredNode> nodes_;
  // Containers whose children are still arriving, innermost last, with the
  // number of children their records declare.
  mutable std::vector<std::pair<uint32_t, uint32_t>> open_;
};

// A small tree (metrics, custom metadata) as nodes in preorder, arrays
// inline, for a StepRecord.
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Node>>>
BuildInlineTree(flatbuffers::FlatBufferBuilder* fbb, const Tree& root);
// Rebuilds such a tree (None when `nodes` is null or empty), with the same
// checks as node records. DataLoss prefixed with `what`.
absl::StatusOr<Tree> DecodeInlineTree(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Node>>* nodes,
    absl::string_view what);

}  // namespace ckptdb::internal

#endif  // CKPTDB_SCHEMA_NODE_CODEC_H_
