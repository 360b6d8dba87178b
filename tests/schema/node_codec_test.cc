// Tests of schema/node_codec.h. Every malformed record below carries a
// correct checksum, so each test reaches the decoder branch it names.
//
// Errors reached:
//   DecodeNodeRecord: envelope errors prefixed with describe() (checksum
//     mismatch, wrong identifier, version 0, newer version ->
//     FailedPrecondition); "node record has the wrong index" (other index,
//     no Node table).
//   DecodeNode: "unknown node kind"; DecodeKey: "unknown key kind".
//   DecodeArray: "array node without array info"; "invalid dtype" (dtype,
//     source_dtype); "invalid shape" (negative dimension, element count
//     overflow, byte size over 2^62); "byte size ... does not match shape";
//     "inline data has N bytes, expected M".
//   DecodeChunkRefs: "invalid chunk size" (0, not a multiple of the dtype
//     size); "invalid chunk reference #k" (size 0, larger than the chunk
//     size, a short chunk before the last, unknown kind); "chunks hold N
//     bytes, expected M" (sizes short, no chunks and no inline data).
//   TreeAssembler::Add: "the root has a key"; "more tree-node records than
//     the tree holds"; "record does not fit its place in the tree" (wrong
//     parent, no key, index key in a dict, dict key in a list, index out of
//     order); Complete() false for an incomplete tree.
//   DecodeInlineTree: "node has the wrong index"; DecodeNode and Add errors
//     prefixed with "<what> node #i (<place>)"; "node #n (...) is missing";
//     "array is not inline" (a chunked array in an inline tree).
// Not reachable: DecodeNode's "unexpected node kind" (every kind up to
// NodeKind_MAX is handled, and larger kinds fail earlier as "unknown node
// kind").
#include "schema/node_codec.h"

#include <cstring>
#include <string>
#include <vector>

#include "schema/chunk_codec.h"
#include "schema/records.h"
#include "tests/schema/node_spec.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::internal::testing::ArraySpec;
using ::ckptdb::internal::testing::ChunkedFloats;
using ::ckptdb::internal::testing::InlineFloats;
using ::ckptdb::internal::testing::NodeSpec;
using ::ckptdb::internal::testing::Ref;
using ::ckptdb::internal::testing::SealNodeSpec;
using ::ckptdb::internal::testing::StepRecordBytes;
using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

std::string Describe() { return "item 'w' node #4"; }

// Decodes `value` as node record 4 of item 0.
absl::Status DecodeAt4(const std::string& value, StoredNode* out = nullptr,
                       uint32_t* child_count = nullptr) {
  RecordBuffer buf;
  StoredNode node;
  uint32_t cc = 0;
  return DecodeNodeRecord(NodeKey(0, 4), value, 4, Describe, &buf,
                          out ? out : &node, child_count ? child_count : &cc);
}

absl::Status DecodeSpec(NodeSpec spec) {
  spec.index = 4;
  return DecodeAt4(SealNodeSpec(0, 4, spec));
}

NodeSpec ArrayNode(ArraySpec a) {
  NodeSpec s;
  s.kind = fb::NodeKind_Array;
  s.array = std::move(a);
  return s;
}

void ExpectDataLoss(const NodeSpec& spec, const std::string& fragment) {
  EXPECT_THAT(DecodeSpec(spec),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("item 'w' node #4: " + fragment)));
}

// ---- round trips ----------------------------------------------------------

Tree SampleTree() {
  return Tree::Dict(
      {{"a", Tree::Int(-7)},
       {"b", Tree::List({Tree::Bool(true), Tree::Float(2.5), Tree::String("s"),
                         Tree::None()})},
       {int64_t{3}, Tree::Tuple({Tree::FromArray(Array::FromValues<float>(
                        DType::kFloat32, {2}, {1.0f, 2.0f}))})},
       {"big", Tree::FromArray(Array::FromValues<int32_t>(DType::kInt32, {5},
                                                          {1, 2, 3, 4, 5}))},
       {"empty", Tree::Dict()}});
}

TEST(NodeCodecTest, NodeRecordsRoundTripThroughTheAssembler) {
  const Tree tree = SampleTree();
  std::vector<FlatNode> flat;
  FlattenTree(tree, &flat);
  // The int32 array (20 bytes) goes in chunks of 8 (8, 8, 4); the float32
  // one inline.
  std::vector<ChunkLocation> chunks(3);
  for (size_t i = 0; i < 3; ++i) {
    chunks[i].hash = Hash128{i, i + 1};
    chunks[i].segment = 9;
    chunks[i].ordinal = static_cast<uint32_t>(i);
    chunks[i].size = i < 2 ? 8 : 4;
    chunks[i].stored_size = chunks[i].size;
  }
  flatbuffers::FlatBufferBuilder fbb;
  TreeAssembler assembler;
  for (uint32_t i = 0; i < flat.size(); ++i) {
    ArrayPlacement placement;
    const Tree& t = *flat[i].tree;
    if (t.kind() == Tree::Kind::kArray) {
      placement.stored_dtype = t.array().dtype();
      placement.nbytes = t.array().nbytes();
      if (t.array().dtype() == DType::kInt32) {
        placement.chunk_bytes = 8;
        placement.chunks = &chunks;
      } else {
        placement.inline_bytes = t.array().data();
      }
    }
    const std::string value = EncodeNodeRecord(2, i, flat[i], &placement, &fbb);
    RecordBuffer buf;
    StoredNode node;
    uint32_t child_count = 0;
    CKPTDB_ASSERT_OK(DecodeNodeRecord(NodeKey(2, i), value, i, Describe, &buf,
                                      &node, &child_count));
    EXPECT_EQ(child_count, t.size()) << i;
    EXPECT_EQ(node.kind, t.kind()) << i;
    if (t.kind() == Tree::Kind::kArray) {
      EXPECT_EQ(node.dtype, t.array().dtype());
      EXPECT_EQ(node.shape, t.array().shape());
      EXPECT_EQ(node.nbytes, t.array().nbytes());
      if (t.array().dtype() == DType::kInt32) {
        EXPECT_FALSE(node.is_inline);
        EXPECT_EQ(node.chunk_bytes, 8u);
        EXPECT_EQ(node.chunks, chunks);
      } else {
        EXPECT_TRUE(node.is_inline);
        EXPECT_EQ(node.inline_data,
                  std::string(static_cast<const char*>(t.array().data()),
                              t.array().nbytes()));
      }
    } else if (t.is_leaf()) {
      EXPECT_EQ(node.scalar, t) << i;
    }
    CKPTDB_ASSERT_OK(assembler.Add(std::move(node), child_count, Describe));
    EXPECT_EQ(assembler.Complete(), i + 1 == flat.size()) << i;
  }
  const std::vector<StoredNode>& nodes = assembler.nodes();
  ASSERT_EQ(nodes.size(), flat.size());
  EXPECT_EQ(nodes[0].children.size(), 5u);
  for (uint32_t i = 0; i < flat.size(); ++i) {
    EXPECT_EQ(PathOfNode(nodes, i).ToString(), PathOfNode(flat, i).ToString());
  }
  EXPECT_EQ(assembler.NextPlace(), "beyond the tree");
}

TEST(NodeCodecTest, InlineTreeRoundTrips) {
  const Tree tree = SampleTree();
  flatbuffers::FlatBufferBuilder fbb;
  auto nodes = BuildInlineTree(&fbb, tree);
  fb::StepRecordBuilder b(fbb);
  b.add_metrics(nodes);
  fbb.Finish(b.Finish());
  const fb::StepRecord* r =
      flatbuffers::GetRoot<fb::StepRecord>(fbb.GetBufferPointer());
  auto back = DecodeInlineTree(r->metrics(), "metrics");
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(*back, tree) << back->DebugString();
  // No nodes at all is None.
  auto none = DecodeInlineTree(nullptr, "metrics");
  CKPTDB_ASSERT_OK(none);
  EXPECT_EQ(none->kind(), Tree::Kind::kNone);
}

// ---- the record and the node on its own -------------------------------------

TEST(NodeCodecTest, EnvelopeErrorsNameTheNode) {
  NodeSpec s;
  s.index = 4;
  std::string value = SealNodeSpec(0, 4, s);
  CKPTDB_EXPECT_OK(DecodeAt4(value));
  value[2] ^= 0x10;
  EXPECT_THAT(
      DecodeAt4(value),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("item 'w' node #4: record checksum mismatch")));
  EXPECT_THAT(DecodeAt4(SealNodeSpec(0, 4, s, /*version=*/0)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("item 'w' node #4: record has no format")));
  EXPECT_THAT(DecodeAt4(SealNodeSpec(0, 4, s, kFormatVersion + 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("item 'w' node #4: record format version 2")));
  // A valid record of another type under the node's key.
  flatbuffers::FlatBufferBuilder fbb;
  fb::SegmentStatBuilder sb(fbb);
  sb.add_format_version(kFormatVersion);
  fbb.Finish(sb.Finish(), kSegmentStatIdent);
  EXPECT_THAT(DecodeAt4(SealRecord(NodeKey(0, 4), fbb)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed FlatBuffers verification")));
}

TEST(NodeCodecTest, WrongIndexOrMissingNodeIsDataLoss) {
  NodeSpec s;
  s.index = 5;  // sealed under key index 4
  EXPECT_THAT(DecodeAt4(SealNodeSpec(0, 4, s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node #4: node record has the wrong index")));
  EXPECT_THAT(DecodeAt4(SealNodeSpec(0, 4, std::nullopt)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node record has the wrong index")));
}

TEST(NodeCodecTest, UnknownNodeOrKeyKindIsDataLoss) {
  NodeSpec s;
  s.kind = 9;  // Placeholder: never stored
  ExpectDataLoss(s, "unknown node kind 9");
  s.kind = 200;
  ExpectDataLoss(s, "unknown node kind 200");
  s = NodeSpec();
  s.key_kind = 4;
  ExpectDataLoss(s, "unknown key kind 4");
}

TEST(NodeCodecTest, ScalarKindsDecode) {
  NodeSpec s;
  s.index = 4;
  s.kind = fb::NodeKind_String;
  s.key_kind = fb::KeyKind_Str;
  s.key_str = "k";
  s.str_value = "v";
  StoredNode n;
  CKPTDB_ASSERT_OK(DecodeAt4(SealNodeSpec(0, 4, s), &n));
  EXPECT_EQ(n.scalar, Tree::String("v"));
  EXPECT_TRUE(n.has_key);
  EXPECT_EQ(n.key, DictKey("k"));
  s.kind = fb::NodeKind_Float;
  s.key_kind = fb::KeyKind_Index;
  s.key_int = 6;
  double d = -1.25;
  std::memcpy(&s.scalar, &d, sizeof(d));
  StoredNode f;
  CKPTDB_ASSERT_OK(DecodeAt4(SealNodeSpec(0, 4, s), &f));
  EXPECT_EQ(f.scalar, Tree::Float(-1.25));
  EXPECT_TRUE(f.key_is_index);
  EXPECT_EQ(f.index, 6);
}

TEST(NodeCodecTest, MalformedArrayInfoIsDataLoss) {
  NodeSpec no_info;
  no_info.kind = fb::NodeKind_Array;
  ExpectDataLoss(no_info, "array node without array info");

  ArraySpec a = InlineFloats(2);
  a.dtype = kNumDTypes;
  ExpectDataLoss(ArrayNode(a), "invalid dtype 15");
  a = InlineFloats(2);
  a.source_dtype = 99;
  ExpectDataLoss(ArrayNode(a), "invalid dtype");

  a = InlineFloats(2);
  a.shape = std::vector<int64_t>{2, -1};
  ExpectDataLoss(ArrayNode(a), "invalid shape (2, -1)");
  a.shape = std::vector<int64_t>{int64_t{1} << 40, int64_t{1} << 40};
  ExpectDataLoss(ArrayNode(a), "invalid shape");
  a.shape = std::vector<int64_t>{int64_t{1} << 61};  // 2^63 float32 bytes
  ExpectDataLoss(ArrayNode(a), "invalid shape");

  a = InlineFloats(2);
  a.nbytes = 12;
  ExpectDataLoss(ArrayNode(a),
                 "byte size 12 does not match shape (2,) of float32");

  a = InlineFloats(2);
  a.inline_data = std::string(7, 'x');
  ExpectDataLoss(ArrayNode(a), "inline data has 7 bytes, expected 8");
}

TEST(NodeCodecTest, ChunkedArraysDecode) {
  NodeSpec s = ArrayNode(ChunkedFloats(5, 8));  // 20 bytes: 8, 8, 4
  s.index = 4;
  StoredNode n;
  CKPTDB_ASSERT_OK(DecodeAt4(SealNodeSpec(0, 4, s), &n));
  EXPECT_FALSE(n.is_inline);
  ASSERT_EQ(n.chunks.size(), 3u);
  EXPECT_EQ(n.chunks[2].size, 4u);
  EXPECT_EQ(n.chunks[2].segment, 3u);
  // A scalar-shaped (rank 0) array, and an empty one in no chunks.
  ArraySpec scalar = InlineFloats(1);
  scalar.shape = std::vector<int64_t>{};
  CKPTDB_EXPECT_OK(DecodeSpec(ArrayNode(scalar)));
  ArraySpec empty = ChunkedFloats(0, 8);
  CKPTDB_EXPECT_OK(DecodeSpec(ArrayNode(empty)));
}

TEST(NodeCodecTest, BadChunkSizeIsDataLoss) {
  ArraySpec a = ChunkedFloats(5, 8);
  a.chunk_bytes = 0;
  ExpectDataLoss(ArrayNode(a), "invalid chunk size 0");
  a.chunk_bytes = 6;  // not a multiple of 4
  ExpectDataLoss(ArrayNode(a), "invalid chunk size 6");
}

TEST(NodeCodecTest, BadChunkReferenceIsDataLoss) {
  ArraySpec a = ChunkedFloats(5, 8);
  (*a.chunks)[1] = Ref(0);
  ExpectDataLoss(ArrayNode(a), "invalid chunk reference #1");
  a = ChunkedFloats(5, 8);
  (*a.chunks)[2] = Ref(12);  // larger than chunk_bytes
  ExpectDataLoss(ArrayNode(a), "invalid chunk reference #2");
  a = ChunkedFloats(5, 8);
  (*a.chunks)[0] = Ref(4);  // short, but not the last
  ExpectDataLoss(ArrayNode(a), "invalid chunk reference #0");
  a = ChunkedFloats(5, 8);
  (*a.chunks)[1] = Ref(8, /*kind=*/4);
  ExpectDataLoss(ArrayNode(a), "invalid chunk reference #1");
}

TEST(NodeCodecTest, ChunkSizesThatDoNotAddUpAreDataLoss) {
  ArraySpec a = ChunkedFloats(5, 8);
  a.chunks->pop_back();
  ExpectDataLoss(ArrayNode(a), "chunks hold 16 bytes, expected 20");
  a = ChunkedFloats(5, 8);
  a.chunks->push_back(Ref(4));  // the old last chunk is no longer last
  ExpectDataLoss(ArrayNode(a), "invalid chunk reference #2");
  a = ChunkedFloats(4, 8);  // 8, 8
  a.chunks->push_back(Ref(8));
  ExpectDataLoss(ArrayNode(a), "chunks hold 24 bytes, expected 16");
  a = InlineFloats(3);
  a.inline_data.reset();  // neither inline data nor chunks
  ExpectDataLoss(ArrayNode(a), "chunks hold 0 bytes, expected 12");
}

// ---- TreeAssembler
// -------------------------------------------------------------

StoredNode Container(Tree::Kind kind, bool has_key = false, uint32_t parent = 0,
                     DictKey key = DictKey(), int64_t index = -1) {
  StoredNode n;
  n.kind = kind;
  n.parent = parent;
  n.has_key = has_key;
  if (index >= 0) {
    n.key_is_index = true;
    n.index = index;
  } else {
    n.key = std::move(key);
  }
  return n;
}

StoredNode Leaf(uint32_t parent, DictKey key) {
  StoredNode n = Container(Tree::Kind::kInt, true, parent, std::move(key));
  n.scalar = Tree::Int(1);
  return n;
}

StoredNode LeafAt(uint32_t parent, int64_t index) {
  StoredNode n = Container(Tree::Kind::kInt, true, parent, DictKey(), index);
  n.scalar = Tree::Int(1);
  return n;
}

TEST(TreeAssemblerTest, RootWithAKeyIsDataLoss) {
  TreeAssembler t;
  EXPECT_EQ(t.NextPlace(), "the root");
  EXPECT_FALSE(t.Complete());
  EXPECT_THAT(t.Add(Leaf(0, "k"), 0, Describe),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node #4: the root has a key")));
}

TEST(TreeAssemblerTest, NodeBeyondTheTreeIsDataLoss) {
  TreeAssembler t;
  CKPTDB_ASSERT_OK(t.Add(Container(Tree::Kind::kDict), 1, Describe));
  EXPECT_EQ(t.NextPlace(), "entry #0 of dict '<root>'");
  CKPTDB_ASSERT_OK(t.Add(Leaf(0, "a"), 0, Describe));
  EXPECT_TRUE(t.Complete());
  EXPECT_EQ(t.NextPlace(), "beyond the tree");
  EXPECT_THAT(
      t.Add(Leaf(0, "b"), 0, Describe),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("more tree-node records than the tree holds")));
  // A leaf root holds nothing beneath it.
  TreeAssembler leaf;
  StoredNode root = Leaf(0, "");
  root.has_key = false;
  CKPTDB_ASSERT_OK(leaf.Add(std::move(root), 3, Describe));
  EXPECT_TRUE(leaf.Complete());
  EXPECT_THAT(leaf.Add(LeafAt(0, 0), 0, Describe),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("more tree-node records")));
}

TEST(TreeAssemblerTest, NodeThatDoesNotFitItsPlaceIsDataLoss) {
  const std::string kMsg = "record does not fit its place in the tree";
  // Root list [dict{...}, ...]: the next node is '0' of the list.
  auto fresh = [] {
    TreeAssembler t;
    EXPECT_TRUE(t.Add(Container(Tree::Kind::kList), 2, Describe).ok());
    return t;
  };
  {
    TreeAssembler t = fresh();
    EXPECT_EQ(t.NextPlace(), "'0'");
    EXPECT_THAT(t.Add(LeafAt(/*parent=*/1, 0), 0, Describe),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(kMsg)));
  }
  {
    TreeAssembler t = fresh();
    StoredNode no_key = LeafAt(0, 0);
    no_key.has_key = false;
    EXPECT_THAT(t.Add(std::move(no_key), 0, Describe),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(kMsg)));
  }
  {
    TreeAssembler t = fresh();  // a dict key in a list
    EXPECT_THAT(t.Add(Leaf(0, "x"), 0, Describe),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(kMsg)));
  }
  {
    TreeAssembler t = fresh();  // position 1 where 0 belongs
    EXPECT_THAT(t.Add(LeafAt(0, 1), 0, Describe),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(kMsg)));
  }
  {
    TreeAssembler t = fresh();  // a sequence index in a dict
    CKPTDB_ASSERT_OK(t.Add(Container(Tree::Kind::kDict, true, 0, DictKey(), 0),
                           1, Describe));
    EXPECT_EQ(t.NextPlace(), "entry #0 of dict '0'");
    EXPECT_THAT(t.Add(LeafAt(1, 0), 0, Describe),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(kMsg)));
    CKPTDB_ASSERT_OK(t.Add(Leaf(1, int64_t{7}), 0, Describe));
    EXPECT_EQ(t.NextPlace(), "'1'");
    EXPECT_FALSE(t.Complete());
    CKPTDB_ASSERT_OK(t.Add(LeafAt(0, 1), 0, Describe));
    EXPECT_TRUE(t.Complete());
    EXPECT_EQ(PathOfNode(t.nodes(), 2).ToString(), "0/7");
  }
}

// ---- inline trees
// -------------------------------------------------------------

// Decodes `metrics` through DecodeInlineTree, from an aligned copy.
absl::StatusOr<Tree> DecodeMetrics(const std::vector<NodeSpec>& metrics) {
  RecordBuffer buf;
  buf.Assign(StepRecordBytes(1, metrics));
  return DecodeInlineTree(
      flatbuffers::GetRoot<fb::StepRecord>(buf.data())->metrics(),
      "step 1 metrics");
}

NodeSpec DictRoot(uint32_t children) {
  NodeSpec s;
  s.kind = fb::NodeKind_Dict;
  s.child_count = children;
  return s;
}

NodeSpec IntEntry(uint32_t index, const std::string& key) {
  NodeSpec s;
  s.index = index;
  s.key_kind = fb::KeyKind_Str;
  s.key_str = key;
  s.kind = fb::NodeKind_Int;
  s.scalar = 3;
  return s;
}

TEST(NodeCodecTest, HandBuiltInlineTreeDecodes) {
  auto t = DecodeMetrics({DictRoot(2), IntEntry(1, "a"), IntEntry(2, "b")});
  CKPTDB_ASSERT_OK(t);
  EXPECT_EQ(*t, Tree::Dict({{"a", Tree::Int(3)}, {"b", Tree::Int(3)}}));
}

TEST(NodeCodecTest, InlineTreeWithAWrongIndexIsDataLoss) {
  EXPECT_THAT(
      DecodeMetrics({DictRoot(2), IntEntry(1, "a"), IntEntry(1, "b")}),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("step 1 metrics node #2 (entry #1 of dict '<root>'): "
                         "node has the wrong index")));
}

TEST(NodeCodecTest, InlineTreeWithABadNodeIsDataLoss) {
  NodeSpec bad = IntEntry(1, "a");
  bad.kind = 42;
  EXPECT_THAT(DecodeMetrics({DictRoot(1), bad}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 1 metrics node #1 (entry #0 of dict "
                                 "'<root>'): unknown node kind 42")));
  NodeSpec array = ArrayNode(InlineFloats(2));
  array.index = 1;
  array.key_kind = fb::KeyKind_Str;
  array.key_str = "x";
  array.array->inline_data = std::string(3, 'x');
  EXPECT_THAT(DecodeMetrics({DictRoot(1), array}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("inline data has 3 bytes, expected 8")));
}

TEST(NodeCodecTest, InlineTreeOutOfShapeIsDataLoss) {
  NodeSpec keyed_root = DictRoot(0);
  keyed_root.key_kind = fb::KeyKind_Str;
  EXPECT_THAT(DecodeMetrics({keyed_root}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node #0 (the root): the root has a key")));
  EXPECT_THAT(DecodeMetrics({DictRoot(1), IntEntry(1, "a"), IntEntry(2, "b")}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node #2 (beyond the tree): more tree-node "
                                 "records than the tree holds")));
  NodeSpec wrong_parent = IntEntry(1, "a");
  wrong_parent.parent = 1;
  EXPECT_THAT(DecodeMetrics({DictRoot(1), wrong_parent}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("record does not fit its place")));
}

TEST(NodeCodecTest, IncompleteInlineTreeIsDataLoss) {
  EXPECT_THAT(DecodeMetrics({DictRoot(3), IntEntry(1, "a")}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 1 metrics: node #2 (entry #1 of dict "
                                 "'<root>') is missing")));
}

TEST(NodeCodecTest, ChunkedArrayInAnInlineTreeIsDataLoss) {
  // An inline tree has nowhere to read chunks from: its arrays must hold
  // their bytes inline.
  NodeSpec array = ArrayNode(ChunkedFloats(5, 8));
  array.index = 1;
  array.key_kind = fb::KeyKind_Str;
  array.key_str = "x";
  EXPECT_THAT(DecodeMetrics({DictRoot(1), array}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("node #1 (entry #0 of dict '<root>'): array "
                                 "is not inline")));
}

}  // namespace
}  // namespace ckptdb::internal
