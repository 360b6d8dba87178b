// Tests of schema/meta_codec.h. Every malformed record below carries a
// correct checksum, so each test reaches the decoder branch it names.
//
// Errors reached:
//   DecodeHeader: envelope errors prefixed with `what` (checksum mismatch,
//     truncated, wrong identifier, version 0, newer version ->
//     FailedPrecondition). It has no checks of its own (the magic is the
//     caller's).
//   DecodeNaming: envelope errors prefixed "naming record of the default
//     run" or "naming record of run 'RUN'".
//   DecodeSegmentRecord: "segment record with a malformed key"; envelope
//     errors prefixed "segment N"; "the record names segment M"; "N chunk
//     hashes but M sizes" (either list longer, either list absent).
//   DecodeSegmentStat: "segment statistics with a malformed key"; envelope
//     errors prefixed "segment N statistics".
#include "schema/meta_codec.h"

#include <string>
#include <vector>

#include "schema/records.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

// The FlatBuffer of a sealed record (without its trailer), to seal again
// under another key.
std::string Body(const std::string& sealed) {
  return sealed.substr(0, sealed.size() - kTrailerSize);
}

// ---- header and naming
// ---------------------------------------------------------

TEST(MetaCodecTest, HeaderRoundTrips) {
  DbHeader h;
  h.magic = kDbMagic;
  h.kind = "checkpoint";
  h.created_time_ns = 1234567890123;
  h.created_by = "ckptdb 0.1";
  auto back = DecodeHeader(EncodeHeader(h), "header");
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->magic, h.magic);
  EXPECT_EQ(back->kind, h.kind);
  EXPECT_EQ(back->created_time_ns, h.created_time_ns);
  EXPECT_EQ(back->created_by, h.created_by);
}

std::string SealHeader(uint16_t version, const char* identifier = kHeaderIdent,
                       bool with_kind = true) {
  flatbuffers::FlatBufferBuilder fbb;
  auto magic = fbb.CreateString(kDbMagic);
  auto kind = fbb.CreateString("checkpoint");
  fb::DbHeaderBuilder b(fbb);
  b.add_format_version(version);
  b.add_magic(magic);
  if (with_kind) b.add_kind(kind);
  fbb.Finish(b.Finish(), identifier);
  return SealRecord(kHeaderKey, fbb);
}

TEST(MetaCodecTest, HeaderWithoutKindIsAManager) {
  auto h = DecodeHeader(SealHeader(kFormatVersion, kHeaderIdent, false), "h");
  CKPTDB_ASSERT_OK(h);
  EXPECT_EQ(h->kind, "manager");
  EXPECT_EQ(h->magic, kDbMagic);
}

TEST(MetaCodecTest, HeaderEnvelopeErrors) {
  std::string v = SealHeader(kFormatVersion);
  v[v.size() - 9] ^= 1;
  EXPECT_THAT(DecodeHeader(v, "db header"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("db header: record checksum mismatch")));
  EXPECT_THAT(DecodeHeader(v.substr(0, 15), "db header"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("db header: record is truncated (15 bytes)")));
  EXPECT_THAT(DecodeHeader(SealHeader(kFormatVersion, kNamingIdent), "h"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("h: record failed FlatBuffers verification "
                                 "(expected identifier CKDB)")));
  EXPECT_THAT(DecodeHeader(SealHeader(0), "h"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("h: record has no format version")));
  EXPECT_THAT(DecodeHeader(SealHeader(kFormatVersion + 1), "h"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("h: record format version 2 was written by "
                                 "a newer ckptdb")));
}

TEST(MetaCodecTest, NamingRoundTrips) {
  NamingRecord n;
  n.step_prefix = "ckpt_";
  n.step_format_fixed_length = 6;
  n.max_to_keep = 3;
  n.keep_time_interval_secs = 0;
  n.retention_is_custom = true;
  auto back = DecodeNaming("", EncodeNaming("", n));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(*back, n);
  EXPECT_FALSE(back->keep_period.has_value());
  NamingRecord empty;
  auto e = DecodeNaming("", EncodeNaming("", empty));
  CKPTDB_ASSERT_OK(e);
  EXPECT_EQ(*e, empty);
}

TEST(MetaCodecTest, NamingEnvelopeErrors) {
  std::string v = EncodeNaming("", NamingRecord());
  v[4] ^= 0x40;
  EXPECT_THAT(
      DecodeNaming("", v),
      StatusIs(
          absl::StatusCode::kDataLoss,
          HasSubstr(
              "naming record of the default run: record checksum mismatch")));
  flatbuffers::FlatBufferBuilder fbb;
  fb::NamingBuilder b(fbb);
  b.add_format_version(kFormatVersion + 1);
  fbb.Finish(b.Finish(), kNamingIdent);
  EXPECT_THAT(
      DecodeNaming("", SealRecord(kNamingKey, fbb)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr(
                   "naming record of the default run: record format version")));
  // The header is not a naming record.
  EXPECT_THAT(
      DecodeNaming("", SealBytes(kNamingKey, Body(SealHeader(kFormatVersion)))),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("verification")));
}

// ---- segment records
// -------------------------------------------------------------

TEST(MetaCodecTest, SegmentRecordRoundTrips) {
  SegmentRecord r;
  r.segment = 77;
  r.hashes = {Hash128{1, 2}, Hash128{3, 4}};
  r.stored_sizes = {10, 20};
  r.total_bytes = 30;
  auto back = DecodeSegmentRecord(SegmentKey(77), EncodeSegmentRecord(r));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->segment, 77u);
  EXPECT_EQ(back->hashes, r.hashes);
  EXPECT_EQ(back->stored_sizes, r.stored_sizes);
  EXPECT_EQ(back->total_bytes, 30u);
}

struct SegmentSpec {
  uint64_t segment = 5;
  std::optional<std::vector<fb::Hash128>> hashes =
      std::vector<fb::Hash128>{fb::Hash128(1, 1), fb::Hash128(2, 2)};
  std::optional<std::vector<uint32_t>> sizes = std::vector<uint32_t>{4, 4};
  uint16_t version = kFormatVersion;
};

// Sealed under SegmentKey(5).
std::string SealSegment(const SegmentSpec& s) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<flatbuffers::Vector<const fb::Hash128*>> hv;
  flatbuffers::Offset<flatbuffers::Vector<uint32_t>> sv;
  if (s.hashes) hv = fbb.CreateVectorOfStructs(*s.hashes);
  if (s.sizes) sv = fbb.CreateVector(*s.sizes);
  fb::SegmentRecordBuilder b(fbb);
  b.add_format_version(s.version);
  b.add_segment(s.segment);
  if (s.hashes) b.add_hashes(hv);
  if (s.sizes) b.add_stored_sizes(sv);
  fbb.Finish(b.Finish(), kSegmentIdent);
  return SealRecord(SegmentKey(5), fbb);
}

TEST(MetaCodecTest, SegmentRecordWithAMalformedKeyIsDataLoss) {
  const std::string v = SealSegment(SegmentSpec());
  EXPECT_THAT(DecodeSegmentRecord("seg/123", v),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment record with a malformed key of 7 "
                                 "bytes")));
  // A segment statistics key is not a segment key.
  EXPECT_THAT(DecodeSegmentRecord(SegmentStatKey(5), v),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment record with a malformed key")));
}

TEST(MetaCodecTest, SegmentRecordEnvelopeErrorsNameTheSegment) {
  CKPTDB_EXPECT_OK(DecodeSegmentRecord(SegmentKey(5), SealSegment({})));
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(6), SealSegment({})),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment 6: record checksum mismatch")));
  SegmentSpec s;
  s.version = 0;
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment 5: record has no format version")));
  s.version = kFormatVersion + 1;
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(s)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("segment 5: record format version")));
  SegmentInfo stat;
  stat.segment = 5;
  // A segment statistics record sealed under the segment key.
  EXPECT_THAT(
      DecodeSegmentRecord(
          SegmentKey(5),
          SealBytes(SegmentKey(5), Body(EncodeSegmentStat(stat)))),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("segment 5: record failed FlatBuffers verification "
                         "(expected identifier CKSG)")));
}

TEST(MetaCodecTest, RunNamingRecordsAreSealedUnderTheirRunsKey) {
  EXPECT_EQ(NamingKey(""), "manager/naming");
  EXPECT_EQ(NamingKey("lr-3e-4"), "naming/lr-3e-4");
  NamingRecord n;
  n.max_to_keep = 2;
  const std::string a = EncodeNaming("a", n);
  auto back = DecodeNaming("a", a);
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(*back, n);
  // Another run's record, or the default run's, under run a's key.
  EXPECT_THAT(DecodeNaming("b", a),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("naming record of run 'b': record checksum "
                                 "mismatch")));
  EXPECT_THAT(
      DecodeNaming("", a),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("naming record of the default run: record checksum")));
  EXPECT_THAT(DecodeNaming("a", EncodeNaming("", n)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("naming record of run 'a'")));
  EXPECT_THAT(DecodeNaming("a", a.substr(0, 5)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("naming record of run 'a'")));
}

TEST(MetaCodecTest, SegmentRecordNamingAnotherSegmentIsDataLoss) {
  SegmentSpec s;
  s.segment = 9;
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(s)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment 5: the record names segment 9")));
}

TEST(MetaCodecTest, SegmentHashAndSizeCountsMustAgree) {
  SegmentSpec more_sizes;
  more_sizes.sizes->push_back(1);
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(more_sizes)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment 5: 2 chunk hashes but 3 sizes")));
  SegmentSpec no_sizes;
  no_sizes.sizes.reset();
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(no_sizes)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("2 chunk hashes but 0 sizes")));
  SegmentSpec no_hashes;
  no_hashes.hashes.reset();
  EXPECT_THAT(DecodeSegmentRecord(SegmentKey(5), SealSegment(no_hashes)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("0 chunk hashes but 2 sizes")));
  SegmentSpec neither;
  neither.hashes.reset();
  neither.sizes.reset();
  auto empty = DecodeSegmentRecord(SegmentKey(5), SealSegment(neither));
  CKPTDB_ASSERT_OK(empty);
  EXPECT_TRUE(empty->hashes.empty());
}

// ---- segment statistics
// -------------------------------------------------------------

TEST(MetaCodecTest, SegmentStatRoundTrips) {
  SegmentInfo s;
  s.segment = 8;
  s.total_bytes = 100;
  s.live_chunks = 3;
  s.live_bytes = 60;
  s.chunks = 99;  // not stored
  auto back = DecodeSegmentStat(SegmentStatKey(8), EncodeSegmentStat(s));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->segment, 8u);
  EXPECT_EQ(back->total_bytes, 100u);
  EXPECT_EQ(back->live_chunks, 3u);
  EXPECT_EQ(back->live_bytes, 60u);
  EXPECT_EQ(back->chunks, 0u);
}

TEST(MetaCodecTest, SegmentStatErrors) {
  SegmentInfo s;
  s.segment = 8;
  const std::string v = EncodeSegmentStat(s);
  EXPECT_THAT(DecodeSegmentStat(SegmentKey(8), v),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment statistics with a malformed key of "
                                 "12 bytes")));
  EXPECT_THAT(DecodeSegmentStat(SegmentStatKey(9), v),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("segment 9 statistics: record checksum")));
  flatbuffers::FlatBufferBuilder fbb;
  fb::SegmentStatBuilder b(fbb);
  b.add_format_version(0);
  b.add_live_bytes(1);
  fbb.Finish(b.Finish(), kSegmentStatIdent);
  EXPECT_THAT(
      DecodeSegmentStat(SegmentStatKey(8), SealRecord(SegmentStatKey(8), fbb)),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("segment 8 statistics: record has no format")));
  SegmentRecord r;
  r.segment = 8;
  EXPECT_THAT(DecodeSegmentStat(
                  SegmentStatKey(8),
                  SealBytes(SegmentStatKey(8), Body(EncodeSegmentRecord(r)))),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("expected identifier CKSS")));
}

}  // namespace
}  // namespace ckptdb::internal
