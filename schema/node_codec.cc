#include "schema/node_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "core/chunk_grid.h"
#include "schema/chunk_codec.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

fb::KeyKind KeyKindOf(const FlatNode& n) {
  if (!n.has_key) return fb::KeyKind_Root;
  if (n.key_is_index) return fb::KeyKind_Index;
  return n.key->is_int() ? fb::KeyKind_Int : fb::KeyKind_Str;
}

flatbuffers::Offset<fb::ArrayInfo> BuildArrayInfo(
    flatbuffers::FlatBufferBuilder* fbb, const Shape& array_shape,
    DType source_dtype, const ArrayPlacement& p) {
  auto shape = fbb->CreateVector(array_shape);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> inline_data;
  flatbuffers::Offset<flatbuffers::Vector<const fb::ChunkRef*>> chunks;
  if (p.inline_bytes != nullptr || p.nbytes == 0) {
    inline_data = fbb->CreateVector(static_cast<const uint8_t*>(p.inline_bytes),
                                    p.nbytes);
  } else {
    std::vector<fb::ChunkRef> refs;
    refs.reserve(p.chunks->size());
    for (const ChunkLocation& c : *p.chunks) refs.push_back(ToChunkRef(c));
    chunks = fbb->CreateVectorOfStructs(refs);
  }
  flatbuffers::Offset<flatbuffers::Vector<int64_t>> chunk_shape;
  if (p.chunk_shape != nullptr) chunk_shape = fbb->CreateVector(*p.chunk_shape);
  flatbuffers::Offset<flatbuffers::Vector<uint32_t>> cells;
  if (p.cells != nullptr) cells = fbb->CreateVector(*p.cells);
  flatbuffers::Offset<flatbuffers::String> sharding;
  if (p.sharding != nullptr) sharding = fbb->CreateString(*p.sharding);
  fb::ArrayInfoBuilder ab(*fbb);
  ab.add_dtype(static_cast<uint8_t>(p.stored_dtype));
  ab.add_source_dtype(static_cast<uint8_t>(source_dtype));
  ab.add_shape(shape);
  ab.add_nbytes(p.nbytes);
  ab.add_chunk_bytes(p.chunk_bytes);
  if (!inline_data.IsNull()) ab.add_inline_data(inline_data);
  if (!chunks.IsNull()) ab.add_chunks(chunks);
  if (!chunk_shape.IsNull()) ab.add_chunk_shape(chunk_shape);
  if (!cells.IsNull()) ab.add_cells(cells);
  if (!sharding.IsNull()) ab.add_sharding(sharding);
  return ab.Finish();
}

flatbuffers::Offset<fb::Node> BuildNode(flatbuffers::FlatBufferBuilder* fbb,
                                        uint32_t index, const FlatNode& n,
                                        const ArrayPlacement* array) {
  const Tree& t = *n.tree;
  const fb::KeyKind key_kind = KeyKindOf(n);
  flatbuffers::Offset<flatbuffers::String> key_str;
  if (key_kind == fb::KeyKind_Str) key_str = fbb->CreateString(n.key->str());
  flatbuffers::Offset<flatbuffers::String> str_value;
  if (t.kind() == Tree::Kind::kString) {
    str_value = fbb->CreateString(t.string_value());
  }
  flatbuffers::Offset<fb::ArrayInfo> array_info;
  Tree::Kind kind = t.kind();
  if (kind == Tree::Kind::kArray) {
    array_info =
        BuildArrayInfo(fbb, t.array().shape(), t.array().dtype(), *array);
  } else if (kind == Tree::Kind::kShardedArray) {
    // Stored as an Array node: the global array, as a grid of chunks.
    kind = Tree::Kind::kArray;
    array_info = BuildArrayInfo(fbb, t.sharded()->global_shape,
                                t.sharded()->dtype, *array);
  }
  fb::NodeBuilder nb(*fbb);
  nb.add_index(index);
  nb.add_parent(n.parent);
  nb.add_key_kind(key_kind);
  if (!key_str.IsNull()) nb.add_key_str(key_str);
  if (key_kind == fb::KeyKind_Int) nb.add_key_int(n.key->int_value());
  if (key_kind == fb::KeyKind_Index) nb.add_key_int(n.index);
  nb.add_kind(static_cast<fb::NodeKind>(kind));
  nb.add_child_count(static_cast<uint32_t>(t.size()));
  if (t.kind() == Tree::Kind::kBool || t.kind() == Tree::Kind::kInt ||
      t.kind() == Tree::Kind::kFloat) {
    nb.add_scalar(t.kind() == Tree::Kind::kFloat
                      ? static_cast<int64_t>(t.float_bits())
                  : t.kind() == Tree::Kind::kBool ? int64_t{t.bool_value()}
                                                  : t.int_value());
  }
  if (!str_value.IsNull()) nb.add_str_value(str_value);
  if (!array_info.IsNull()) nb.add_array(array_info);
  return nb.Finish();
}

absl::Status DecodeKey(const fb::Node* n, StoredNode* out,
                       const std::function<std::string()>& what) {
  switch (n->key_kind()) {
    case fb::KeyKind_Root:
      out->has_key = false;
      return absl::OkStatus();
    case fb::KeyKind_Str:
      out->has_key = true;
      out->key = DictKey(n->key_str() ? n->key_str()->str() : std::string());
      return absl::OkStatus();
    case fb::KeyKind_Int:
      out->has_key = true;
      out->key = DictKey(static_cast<int64_t>(n->key_int()));
      return absl::OkStatus();
    case fb::KeyKind_Index:
      out->has_key = true;
      out->key_is_index = true;
      out->index = n->key_int();
      return absl::OkStatus();
    default:
      return absl::DataLossError(
          absl::StrCat(what(), ": unknown key kind ", n->key_kind()));
  }
}

// A grid array's chunk references: one per cell (or per listed cell of a
// partial record), each exactly its cell's bytes.
absl::Status DecodeGridRefs(const fb::ArrayInfo* a, StoredNode* out,
                            const std::function<std::string()>& what) {
  out->is_grid = true;
  if (a->sharding() != nullptr) out->sharding = a->sharding()->str();
  for (size_t i = 0; i < a->chunk_shape()->size(); ++i) {
    out->chunk_shape.push_back(LoadElement(a->chunk_shape(), i));
  }
  if (out->chunk_shape.size() != out->shape.size()) {
    return absl::DataLossError(absl::StrCat(
        what(), ": grid cell shape ", ShapeToString(out->chunk_shape),
        " does not match the array's rank ", out->shape.size()));
  }
  for (int64_t c : out->chunk_shape) {
    if (c < 1) {
      return absl::DataLossError(absl::StrCat(what(),
                                              ": invalid grid cell shape ",
                                              ShapeToString(out->chunk_shape)));
    }
  }
  const size_t n_refs = a->chunks() ? a->chunks()->size() : 0;
  if (a->cells() != nullptr) {
    if (a->cells()->size() != n_refs) {
      return absl::DataLossError(absl::StrCat(what(), ": ", a->cells()->size(),
                                              " cells listed for ", n_refs,
                                              " chunks"));
    }
    out->cells.assign(a->cells()->begin(), a->cells()->end());
    out->partial = true;
  }
  const ChunkGrid grid(out->shape, out->chunk_shape);
  const uint64_t expected =
      out->is_partial() ? n_refs : static_cast<uint64_t>(grid.num_cells());
  if (n_refs != expected) {
    return absl::DataLossError(absl::StrCat(what(), ": ", n_refs,
                                            " chunks for a grid of ",
                                            grid.num_cells(), " cells"));
  }
  const size_t item = DTypeSize(out->dtype);
  uint64_t total = 0;
  for (size_t k = 0; k < n_refs; ++k) {
    const fb::ChunkRef ref = LoadElement(a->chunks(), k);
    const fb::ChunkRef* c = &ref;
    const int64_t cell = out->is_partial() ? out->cells[k] : k;
    if (out->is_partial() &&
        (cell >= grid.num_cells() || (k > 0 && out->cells[k - 1] >= cell))) {
      return absl::DataLossError(
          absl::StrCat(what(), ": invalid cell number ", cell));
    }
    if (c->size() != grid.CellElements(cell) * item ||
        c->kind() > fb::ChunkKind_MAX) {
      return absl::DataLossError(
          absl::StrCat(what(), ": invalid chunk reference #", k));
    }
    total += c->size();
    out->chunks.push_back(FromChunkRef(*c));
  }
  if (!out->is_partial() && total != out->nbytes) {
    return absl::DataLossError(absl::StrCat(what(), ": chunks hold ", total,
                                            " bytes, expected ", out->nbytes));
  }
  return absl::OkStatus();
}

absl::Status DecodeChunkRefs(const fb::ArrayInfo* a, StoredNode* out,
                             const std::function<std::string()>& what) {
  if (a->chunk_shape() != nullptr) return DecodeGridRefs(a, out, what);
  uint64_t total = 0;
  if (a->chunks() != nullptr) {
    if (out->chunk_bytes == 0 ||
        out->chunk_bytes % DTypeSize(out->dtype) != 0) {
      return absl::DataLossError(
          absl::StrCat(what(), ": invalid chunk size ", out->chunk_bytes));
    }
    const uint32_t count = a->chunks()->size();
    out->chunks.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      const fb::ChunkRef ref = LoadElement(a->chunks(), i);
      const fb::ChunkRef* c = &ref;
      const bool last = i + 1 == count;
      if (c->size() == 0 || c->size() > out->chunk_bytes ||
          (!last && c->size() != out->chunk_bytes) ||
          c->kind() > fb::ChunkKind_MAX) {
        return absl::DataLossError(absl::StrCat(
            what(), ": invalid chunk reference #", out->chunks.size()));
      }
      total += c->size();
      out->chunks.push_back(FromChunkRef(*c));
    }
  }
  if (total != out->nbytes) {
    return absl::DataLossError(absl::StrCat(what(), ": chunks hold ", total,
                                            " bytes, expected ", out->nbytes));
  }
  return absl::OkStatus();
}

absl::Status DecodeArray(const fb::ArrayInfo* a, StoredNode* out,
                         const std::function<std::string()>& what) {
  if (a == nullptr) {
    return absl::DataLossError(
        absl::StrCat(what(), ": array node without array info"));
  }
  if (!IsValidDType(a->dtype()) || !IsValidDType(a->source_dtype())) {
    return absl::DataLossError(
        absl::StrCat(what(), ": invalid dtype ", a->dtype()));
  }
  out->dtype = static_cast<DType>(a->dtype());
  out->source_dtype = static_cast<DType>(a->source_dtype());
  if (a->shape()) {
    for (uint32_t i = 0; i < a->shape()->size(); ++i) {
      out->shape.push_back(LoadElement(a->shape(), i));
    }
  }
  const int64_t n_el = ShapeNumElements(out->shape);
  if (n_el < 0 || static_cast<uint64_t>(n_el) >
                      (uint64_t{1} << 62) / DTypeSize(out->dtype)) {
    return absl::DataLossError(
        absl::StrCat(what(), ": invalid shape ", ShapeToString(out->shape)));
  }
  out->nbytes = a->nbytes();
  if (out->nbytes != static_cast<uint64_t>(n_el) * DTypeSize(out->dtype)) {
    return absl::DataLossError(absl::StrCat(
        what(), ": byte size ", out->nbytes, " does not match shape ",
        ShapeToString(out->shape), " of ", DTypeName(out->dtype)));
  }
  out->chunk_bytes = a->chunk_bytes();
  if (a->inline_data() == nullptr) {
    out->is_inline = false;
    return DecodeChunkRefs(a, out, what);
  }
  out->is_inline = true;
  if (a->inline_data()->size() != out->nbytes) {
    return absl::DataLossError(absl::StrCat(what(), ": inline data has ",
                                            a->inline_data()->size(),
                                            " bytes, expected ", out->nbytes));
  }
  out->inline_data.assign(
      reinterpret_cast<const char*>(a->inline_data()->data()),
      a->inline_data()->size());
  return absl::OkStatus();
}

// Decodes one verified fb::Node on its own (its place in the tree is
// TreeAssembler's to check).
absl::Status DecodeNode(const fb::Node* n, StoredNode* out,
                        const std::function<std::string()>& what) {
  if (n->kind() > fb::NodeKind_MAX) {
    return absl::DataLossError(
        absl::StrCat(what(), ": unknown node kind ", n->kind()));
  }
  out->kind = static_cast<Tree::Kind>(n->kind());
  out->parent = n->parent();
  CKPTDB_RETURN_IF_ERROR(DecodeKey(n, out, what));
  switch (out->kind) {
    case Tree::Kind::kNone:
      out->scalar = Tree::None();
      return absl::OkStatus();
    case Tree::Kind::kBool:
      out->scalar = Tree::Bool(n->scalar() != 0);
      return absl::OkStatus();
    case Tree::Kind::kInt:
      out->scalar = Tree::Int(n->scalar());
      return absl::OkStatus();
    case Tree::Kind::kFloat:
      out->scalar = Tree::FloatFromBits(static_cast<uint64_t>(n->scalar()));
      return absl::OkStatus();
    case Tree::Kind::kString:
      out->scalar =
          Tree::String(n->str_value() ? n->str_value()->str() : std::string());
      return absl::OkStatus();
    case Tree::Kind::kArray:
      return DecodeArray(n->array(), out, what);
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
    case Tree::Kind::kDict:
      return absl::OkStatus();
    default:
      return absl::DataLossError(
          absl::StrCat(what(), ": unexpected node kind ", n->kind()));
  }
}

bool IsContainer(Tree::Kind k) {
  return k == Tree::Kind::kList || k == Tree::Kind::kTuple ||
         k == Tree::Kind::kDict;
}

}  // namespace

std::string EncodeNodeRecord(uint16_t item, uint32_t index,
                             const FlatNode& node, const ArrayPlacement* array,
                             flatbuffers::FlatBufferBuilder* fbb) {
  fbb->Clear();
  auto n = BuildNode(fbb, index, node, array);
  fb::NodeRecordBuilder rb(*fbb);
  rb.add_format_version(kFormatVersion);
  rb.add_node(n);
  fbb->Finish(rb.Finish(), kNodeIdent);
  return SealRecord(NodeKey(item, index), *fbb);
}

absl::Status DecodeNodeRecord(absl::string_view key, absl::string_view value,
                              uint32_t index,
                              const std::function<std::string()>& describe,
                              RecordBuffer* buf, StoredNode* out,
                              uint32_t* child_count) {
  auto decoded = DecodeRecord<fb::NodeRecord>(key, value, kNodeIdent, "", buf);
  if (!decoded.ok()) {
    return absl::Status(decoded.status().code(),
                        absl::StrCat(describe(), decoded.status().message()));
  }
  const fb::NodeRecord* r = *decoded;
  if (r->node() == nullptr || r->node()->index() != index) {
    return absl::DataLossError(
        absl::StrCat(describe(), ": node record has the wrong index"));
  }
  *child_count = r->node()->child_count();
  return DecodeNode(r->node(), out, describe);
}

int64_t TreeAssembler::ExpectedParent() const {
  while (!open_.empty() &&
         nodes_[open_.back().first].children.size() >= open_.back().second) {
    open_.pop_back();
  }
  return open_.empty() ? int64_t{-1} : static_cast<int64_t>(open_.back().first);
}

std::string TreeAssembler::NextPlace() const {
  if (nodes_.empty()) return "the root";
  const int64_t p = ExpectedParent();
  if (p < 0) return "beyond the tree";
  const StoredNode& parent = nodes_[p];
  const TreePath pp = PathOfNode(nodes_, static_cast<uint32_t>(p));
  if (parent.kind == Tree::Kind::kDict) {
    return absl::StrCat("entry #", parent.children.size(), " of dict '",
                        pp.DisplayString(), "'");
  }
  return absl::StrCat(
      "'", pp.Child(static_cast<int64_t>(parent.children.size())).ToString(),
      "'");
}

absl::Status TreeAssembler::Add(StoredNode node, uint32_t child_count,
                                const std::function<std::string()>& describe) {
  const uint32_t index = static_cast<uint32_t>(nodes_.size());
  if (index == 0) {
    if (node.has_key) {
      return absl::DataLossError(
          absl::StrCat(describe(), ": the root has a key"));
    }
  } else {
    const int64_t parent_index = ExpectedParent();
    if (parent_index < 0) {
      return absl::DataLossError(absl::StrCat(
          describe(), ": more tree-node records than the tree holds"));
    }
    StoredNode& parent = nodes_[parent_index];
    const bool parent_dict = parent.kind == Tree::Kind::kDict;
    if (node.parent != parent_index || !node.has_key ||
        parent_dict == node.key_is_index ||
        (node.key_is_index &&
         node.index != static_cast<int64_t>(parent.children.size()))) {
      return absl::DataLossError(absl::StrCat(
          describe(), ": record does not fit its place in the tree"));
    }
    parent.children.push_back(index);
  }
  const bool container = IsContainer(node.kind);
  nodes_.push_back(std::move(node));
  if (container && child_count > 0) open_.emplace_back(index, child_count);
  return absl::OkStatus();
}

bool TreeAssembler::Complete() const {
  return !nodes_.empty() && ExpectedParent() < 0;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Node>>>
BuildInlineTree(flatbuffers::FlatBufferBuilder* fbb, const Tree& root) {
  std::vector<FlatNode> flat;
  FlattenTree(root, &flat);
  std::vector<flatbuffers::Offset<fb::Node>> out;
  out.reserve(flat.size());
  for (uint32_t i = 0; i < flat.size(); ++i) {
    ArrayPlacement array;
    if (flat[i].tree->kind() == Tree::Kind::kArray) {
      const Array& a = flat[i].tree->array();
      array.stored_dtype = a.dtype();
      array.nbytes = a.nbytes();
      array.inline_bytes = a.data();
    }
    out.push_back(BuildNode(fbb, i, flat[i], &array));
  }
  return fbb->CreateVector(out);
}

namespace {

Tree BuildTree(const std::vector<StoredNode>& nodes, uint32_t i) {
  const StoredNode& n = nodes[i];
  switch (n.kind) {
    case Tree::Kind::kArray: {
      Array a = Array::Allocate(n.dtype, n.shape);
      if (n.nbytes)
        std::memcpy(a.mutable_data(), n.inline_data.data(), n.nbytes);
      return Tree(std::move(a));
    }
    case Tree::Kind::kList:
    case Tree::Kind::kTuple: {
      std::vector<Tree> c;
      for (uint32_t k : n.children) c.push_back(BuildTree(nodes, k));
      return n.kind == Tree::Kind::kList ? Tree::List(std::move(c))
                                         : Tree::Tuple(std::move(c));
    }
    case Tree::Kind::kDict: {
      Tree d = Tree::Dict();
      for (uint32_t k : n.children)
        d.InsertNew(nodes[k].key, BuildTree(nodes, k));
      return d;
    }
    default:
      return n.scalar;
  }
}

}  // namespace

absl::StatusOr<Tree> DecodeInlineTree(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Node>>* nodes,
    absl::string_view what) {
  if (nodes == nullptr || nodes->size() == 0) return Tree::None();
  TreeAssembler tree;
  for (uint32_t i = 0; i < nodes->size(); ++i) {
    auto describe = [&] {
      return absl::StrCat(what, " node #", i, " (", tree.NextPlace(), ")");
    };
    const fb::Node* n = nodes->Get(i);
    if (n->index() != i) {
      return absl::DataLossError(
          absl::StrCat(describe(), ": node has the wrong index"));
    }
    StoredNode node;
    CKPTDB_RETURN_IF_ERROR(DecodeNode(n, &node, describe));
    // An inline tree has no chunks to read: BuildTree copies inline bytes.
    if (node.kind == Tree::Kind::kArray && !node.is_inline) {
      return absl::DataLossError(
          absl::StrCat(describe(), ": array is not inline"));
    }
    CKPTDB_RETURN_IF_ERROR(
        tree.Add(std::move(node), n->child_count(), describe));
  }
  if (!tree.Complete()) {
    return absl::DataLossError(absl::StrCat(what, ": node #", nodes->size(),
                                            " (", tree.NextPlace(),
                                            ") is missing"));
  }
  return BuildTree(tree.nodes(), 0);
}

}  // namespace ckptdb::internal
