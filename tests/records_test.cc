#include "schema/records.h"

#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RecordsTest, KeysRoundTripAndSortNumerically) {
  int64_t step;
  ASSERT_TRUE(ParseStepKey(StepKey(42), &step));
  EXPECT_EQ(step, 42);
  EXPECT_LT(StepKey(9), StepKey(10));
  EXPECT_LT(StepKey(255), StepKey(256));
  uint64_t seg;
  uint32_t ord;
  ASSERT_TRUE(ParseChunkKey(ChunkKey(7, 300), &seg, &ord));
  EXPECT_EQ(seg, 7u);
  EXPECT_EQ(ord, 300u);
  EXPECT_LT(ChunkKey(1, 0xffffffff), ChunkKey(2, 0));
  uint16_t item;
  uint32_t index;
  ASSERT_TRUE(ParseNodeKey(NodeKey(3, 70000), &item, &index));
  EXPECT_EQ(item, 3);
  EXPECT_EQ(index, 70000u);
  EXPECT_LT(std::string(kChunkListKey), NodeKey(0, 0));
  Hash128 h{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  Hash128 back;
  ASSERT_TRUE(ParseChunkIndexKey(ChunkIndexKey(h), &back));
  EXPECT_EQ(back, h);
  uint64_t n;
  ASSERT_TRUE(ParseSlotColumnFamilyName(SlotColumnFamilyName(99), &n));
  EXPECT_EQ(n, 99u);
  ASSERT_TRUE(ParseSlotColumnFamilyName("step-12-7", &n));
  EXPECT_EQ(n, 7u);
  EXPECT_FALSE(ParseSlotColumnFamilyName("chunks", &n));
  EXPECT_FALSE(ParseSlotColumnFamilyName("slot-x", &n));
}

std::string SampleSegmentStat(absl::string_view key, uint16_t version) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::SegmentStatBuilder b(fbb);
  b.add_format_version(version);
  b.add_live_bytes(123);
  fbb.Finish(b.Finish(), kSegmentStatIdent);
  return SealRecord(key, fbb);
}

TEST(RecordsTest, DecodesASealedRecord) {
  const std::string v = SampleSegmentStat("k", kFormatVersion);
  RecordBuffer buf;
  auto r =
      DecodeRecord<fb::SegmentStat>("k", v, kSegmentStatIdent, "what", &buf);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->live_bytes(), 123u);
}

TEST(RecordsTest, EveryFlippedByteIsDataLoss) {
  const std::string v = SampleSegmentStat("k", kFormatVersion);
  for (size_t i = 0; i < v.size(); ++i) {
    std::string bad = v;
    bad[i] ^= 0x01;
    RecordBuffer buf;
    EXPECT_THAT(DecodeRecord<fb::SegmentStat>("k", bad, kSegmentStatIdent,
                                              "segment 3", &buf),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("segment 3: record checksum mismatch")))
        << "byte " << i;
  }
}

TEST(RecordsTest, RecordUnderTheWrongKeyIsDataLoss) {
  const std::string v = SampleSegmentStat("k1", kFormatVersion);
  RecordBuffer buf;
  EXPECT_THAT(
      DecodeRecord<fb::SegmentStat>("k2", v, kSegmentStatIdent, "x", &buf),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum")));
}

TEST(RecordsTest, TruncatedRecordIsDataLoss) {
  const std::string v = SampleSegmentStat("k", kFormatVersion);
  for (size_t n : {size_t{0}, size_t{7}, size_t{15}, v.size() - 1}) {
    RecordBuffer buf;
    EXPECT_THAT(DecodeRecord<fb::SegmentStat>("k", v.substr(0, n),
                                              kSegmentStatIdent, "x", &buf),
                StatusIs(absl::StatusCode::kDataLoss, ::testing::_))
        << n;
  }
}

TEST(RecordsTest, ValueShorterThanTrailerAndTableIsTruncated) {
  // Under 16 bytes there is no room for a trailer and a FlatBuffer root.
  const std::string v = SampleSegmentStat("k", kFormatVersion);
  for (size_t n : {size_t{0}, size_t{8}, size_t{15}}) {
    RecordBuffer buf;
    EXPECT_THAT(DecodeRecord<fb::SegmentStat>("k", v.substr(0, n),
                                              kSegmentStatIdent, "seg 3", &buf),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr(absl::StrCat("seg 3: record is truncated (",
                                                n, " bytes)"))))
        << n;
  }
  // A 16-byte value with a correct trailer reaches the verifier.
  RecordBuffer buf;
  EXPECT_THAT(DecodeRecord<fb::SegmentStat>("k", SealBytes("k", "12345678"),
                                            kSegmentStatIdent, "x", &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("x: record failed FlatBuffers verification")));
}

TEST(RecordsTest, WrongIdentifierFailsVerification) {
  const std::string v = SampleSegmentStat("k", kFormatVersion);
  RecordBuffer buf;
  EXPECT_THAT(DecodeRecord<fb::SegmentStat>("k", v, kSegmentIdent, "x", &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed FlatBuffers verification")));
}

TEST(RecordsTest, GarbageWithAValidTrailerFailsVerification) {
  const std::string body(64, '\xff');
  const std::string v = SealBytes("k", body);
  RecordBuffer buf;
  EXPECT_THAT(
      DecodeRecord<fb::SegmentStat>("k", v, kSegmentStatIdent, "x", &buf),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("FlatBuffers verification")));
}

TEST(RecordsTest, NewerFormatVersionIsFailedPrecondition) {
  const std::string v = SampleSegmentStat("k", kFormatVersion + 1);
  RecordBuffer buf;
  EXPECT_THAT(
      DecodeRecord<fb::SegmentStat>("k", v, kSegmentStatIdent, "x", &buf),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("written by a newer ckptdb")));
  const std::string v0 = SampleSegmentStat("k", 0);
  EXPECT_THAT(
      DecodeRecord<fb::SegmentStat>("k", v0, kSegmentStatIdent, "x", &buf),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no format version")));
}

TEST(HashTest, MatchesXxh3ReferenceValues) {
  // Values printed by libxxhash 0.8.1's XXH3_128bits / XXH3_64bits.
  EXPECT_EQ(HashBytes("", 0).ToHex(), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(HashBytes("ckptdb", 6).ToHex(), "31923859fc557d5aa2c44bf0d6fdbc6b");
  EXPECT_EQ(Hash64("", 0, 0), 0x2d06800538d394c2ULL);
}

}  // namespace
}  // namespace ckptdb::internal
