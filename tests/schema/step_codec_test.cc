// Tests of schema/step_codec.h. Every malformed record below carries a
// correct checksum, so each test reaches the decoder branch it names.
//
// Errors reached:
//   DecodeStepRecord: "step commit record with a malformed key"; envelope
//     errors prefixed "step N commit record" (checksum mismatch, wrong
//     identifier, version 0, newer version -> FailedPrecondition); "the
//     record is of step M"; damaged metrics ("step N metrics node #i ...",
//     "step N metrics: node #i ... is missing"); damaged custom metadata
//     ("step N custom metadata ..."); "two items are number K" (also when
//     the first of them has an empty name).
//   DecodeChunkList: envelope errors prefixed with `what`; it has no
//     checks of its own.
#include "schema/step_codec.h"

#include <string>
#include <vector>

#include "schema/records.h"
#include "tests/schema/node_spec.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::internal::testing::BuildNodeSpec;
using ::ckptdb::internal::testing::NodeSpec;
using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

// ---- round trips
// ------------------------------------------------------------------

StepRecord SampleRecord() {
  StepRecord r;
  StepInfo& info = r.info;
  info.step = 42;
  info.name = "ckpt_000042";
  info.init_time_ns = 1000;
  info.commit_time_ns = 2000;
  ItemSummary a;
  a.name = "state";
  a.node_count = 7;
  a.leaf_count = 5;
  a.array_count = 3;
  a.logical_bytes = 4096;
  ItemSummary b;
  b.name = "extra";
  b.node_count = 1;
  info.items = {a, b};
  info.has_metrics = true;
  info.metrics =
      Tree::Dict({{"loss", Tree::Float(0.25)},
                  {"hist", Tree::FromArray(Array::FromValues<int64_t>(
                               DType::kInt64, {3}, {1, 2, 3}))}});
  info.custom_metadata = Tree::List({Tree::String("note"), Tree::Int(5)});
  info.logical_bytes = 4096;
  info.new_bytes = 1024;
  info.chunk_count = 4;
  r.column_family = "slot-3";
  r.generation = 17;
  return r;
}

TEST(StepCodecTest, StepRecordRoundTrips) {
  const StepRecord r = SampleRecord();
  auto back = DecodeStepRecord(StepKey(42), EncodeStepRecord(r));
  CKPTDB_ASSERT_OK(back);
  const StepInfo& i = back->info;
  EXPECT_EQ(i.step, 42);
  EXPECT_EQ(i.name, "ckpt_000042");
  EXPECT_EQ(i.init_time_ns, 1000);
  EXPECT_EQ(i.commit_time_ns, 2000);
  ASSERT_EQ(i.items.size(), 2u);
  EXPECT_EQ(i.items[0].name, "state");
  EXPECT_EQ(i.items[0].node_count, 7u);
  EXPECT_EQ(i.items[0].leaf_count, 5u);
  EXPECT_EQ(i.items[0].array_count, 3u);
  EXPECT_EQ(i.items[0].logical_bytes, 4096u);
  EXPECT_EQ(back->item_names, (std::vector<std::string>{"state", "extra"}));
  EXPECT_TRUE(i.has_metrics);
  EXPECT_EQ(i.metrics, r.info.metrics) << i.metrics.DebugString();
  EXPECT_EQ(i.custom_metadata, r.info.custom_metadata);
  EXPECT_EQ(i.logical_bytes, 4096u);
  EXPECT_EQ(i.new_bytes, 1024u);
  EXPECT_EQ(i.chunk_count, 4u);
  EXPECT_EQ(back->column_family, "slot-3");
  EXPECT_EQ(back->generation, 17u);
}

TEST(StepCodecTest, MinimalStepRecordRoundTrips) {
  StepRecord r;
  r.info.step = -3;  // negative steps keep their sign
  auto back = DecodeStepRecord(StepKey(-3), EncodeStepRecord(r));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->info.step, -3);
  EXPECT_FALSE(back->info.has_metrics);
  EXPECT_EQ(back->info.custom_metadata.kind(), Tree::Kind::kNone);
  EXPECT_TRUE(back->info.items.empty());
}

TEST(StepCodecTest, ChunkListRoundTrips) {
  ChunkList l;
  l.hashes = {Hash128{1, 2}, Hash128{1, 3}, Hash128{9, 0}};
  l.step = 8;
  l.generation = 4;
  auto back = DecodeChunkList(EncodeChunkList(l), "list");
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->hashes, l.hashes);
  EXPECT_EQ(back->step, 8);
  EXPECT_EQ(back->generation, 4u);
}

// ---- malformed step records
// --------------------------------------------------------

struct ItemSpec {
  std::string name;
  uint16_t index = 0;
};

struct StepSpec {
  int64_t step = 42;  // in the record; sealed under StepKey(42)
  uint16_t version = kFormatVersion;
  std::vector<ItemSpec> items;
  bool has_metrics = false;
  std::vector<NodeSpec> metrics;
  std::vector<NodeSpec> custom;
};

std::string SealStep(const StepSpec& s) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::ItemRecord>> items;
  for (const ItemSpec& is : s.items) {
    auto name = fbb.CreateString(is.name);
    fb::ItemRecordBuilder ib(fbb);
    ib.add_name(name);
    ib.add_index(is.index);
    items.push_back(ib.Finish());
  }
  auto iv = fbb.CreateVector(items);
  std::vector<flatbuffers::Offset<fb::Node>> m, c;
  for (const NodeSpec& n : s.metrics) m.push_back(BuildNodeSpec(&fbb, n));
  for (const NodeSpec& n : s.custom) c.push_back(BuildNodeSpec(&fbb, n));
  auto mv = fbb.CreateVector(m);
  auto cv = fbb.CreateVector(c);
  fb::StepRecordBuilder b(fbb);
  b.add_format_version(s.version);
  b.add_step(s.step);
  b.add_items(iv);
  b.add_has_metrics(s.has_metrics);
  b.add_metrics(mv);
  b.add_custom_metadata(cv);
  fbb.Finish(b.Finish(), kStepIdent);
  return SealRecord(StepKey(42), fbb);
}

NodeSpec ListRoot(uint32_t children) {
  NodeSpec n;
  n.kind = fb::NodeKind_List;
  n.child_count = children;
  return n;
}

TEST(StepCodecTest, HandBuiltStepRecordDecodes) {
  StepSpec s;
  s.items = {{"b", 1}, {"a", 0}};
  auto r = DecodeStepRecord(StepKey(42), SealStep(s));
  CKPTDB_ASSERT_OK(r);
  EXPECT_EQ(r->item_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r->info.name, "42");  // no name: the number
  EXPECT_EQ(r->info.metrics.kind(), Tree::Kind::kNone);
}

TEST(StepCodecTest, StepRecordWithAMalformedKeyIsDataLoss) {
  EXPECT_THAT(DecodeStepRecord("step/42", SealStep({})),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step commit record with a malformed key of 7 "
                                 "bytes")));
  EXPECT_THAT(DecodeStepRecord(SegmentKey(42), SealStep({})),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("malformed key of 12 bytes")));
}

TEST(StepCodecTest, StepRecordEnvelopeErrorsNameTheStep) {
  std::string v = SealStep({});
  v[v.size() / 2] ^= 4;
  EXPECT_THAT(
      DecodeStepRecord(StepKey(42), v),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("step 42 commit record: record checksum mismatch")));
  // The record of step 42 under the key of step 43.
  EXPECT_THAT(DecodeStepRecord(StepKey(43), SealStep({})),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 43 commit record: record checksum")));
  StepSpec s;
  s.version = 0;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 commit record: record has no format "
                                 "version")));
  s.version = kFormatVersion + 1;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("step 42 commit record: record format "
                                 "version")));
  ChunkList l;
  const std::string list = EncodeChunkList(l);
  EXPECT_THAT(
      DecodeStepRecord(
          StepKey(42),
          SealBytes(StepKey(42), list.substr(0, list.size() - kTrailerSize))),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("expected identifier CKST")));
}

TEST(StepCodecTest, RecordOfAnotherStepIsDataLoss) {
  StepSpec s;
  s.step = 41;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 commit record: the record is of "
                                 "step 41")));
}

TEST(StepCodecTest, TwoItemsWithOneNumberAreDataLoss) {
  StepSpec s;
  s.items = {{"a", 3}, {"b", 0}, {"c", 3}};
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 commit record: two items are "
                                 "number 3")));
  // The first of the two has an empty name (which no save writes).
  s.items = {{"", 1}, {"b", 1}};
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("two items are number 1")));
}

TEST(StepCodecTest, DamagedMetricsAreDataLoss) {
  StepSpec s;
  s.has_metrics = true;
  s.metrics = {ListRoot(2), NodeSpec()};
  s.metrics[1].index = 1;
  s.metrics[1].key_kind = fb::KeyKind_Index;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 metrics: node #2 ('1') is missing")));
  s.metrics[1].key_int = 1;  // position 1 where 0 belongs
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 metrics node #1 ('0'): record does "
                                 "not fit its place")));
  // Without has_metrics the metrics are not read.
  s.has_metrics = false;
  auto r = DecodeStepRecord(StepKey(42), SealStep(s));
  CKPTDB_ASSERT_OK(r);
  EXPECT_FALSE(r->info.has_metrics);
}

TEST(StepCodecTest, DamagedCustomMetadataIsDataLoss) {
  StepSpec s;
  s.custom = {NodeSpec()};
  s.custom[0].kind = fb::NodeKind_Array;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 custom metadata node #0 (the root): "
                                 "array node without array info")));
  s.custom[0] = NodeSpec();
  s.custom[0].index = 3;
  EXPECT_THAT(DecodeStepRecord(StepKey(42), SealStep(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 42 custom metadata node #0 (the root): "
                                 "node has the wrong index")));
}

// ---- chunk lists
// ----------------------------------------------------------------------

TEST(StepCodecTest, ChunkListEnvelopeErrors) {
  ChunkList l;
  l.hashes = {Hash128{1, 2}};
  std::string v = EncodeChunkList(l);
  v[v.size() - 1] ^= 0x80;
  EXPECT_THAT(DecodeChunkList(v, "step 3 chunk list"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 3 chunk list: record checksum")));
  for (uint16_t version : {uint16_t{0}, uint16_t{kFormatVersion + 1}}) {
    flatbuffers::FlatBufferBuilder fbb;
    fb::ChunkListBuilder b(fbb);
    b.add_format_version(version);
    fbb.Finish(b.Finish(), kChunkListIdent);
    EXPECT_THAT(DecodeChunkList(SealRecord(kChunkListKey, fbb), "cl"),
                StatusIs(version == 0 ? absl::StatusCode::kDataLoss
                                      : absl::StatusCode::kFailedPrecondition,
                         HasSubstr("cl: record")));
  }
  const std::string step = SealStep({});
  EXPECT_THAT(
      DecodeChunkList(
          SealBytes(kChunkListKey, step.substr(0, step.size() - kTrailerSize)),
          "cl"),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("cl: record failed FlatBuffers verification")));
}

}  // namespace
}  // namespace ckptdb::internal
