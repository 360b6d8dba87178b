// Tests of schema/chunk_codec.h. Every malformed record below carries a
// correct checksum, so each test reaches the decoder branch it names.
//
// Errors reached:
//   DecodeChunkEntry: "chunk index entry with a malformed key"; envelope
//     errors prefixed "chunk index entry <hash>" (checksum mismatch, wrong
//     identifier, version 0, newer version -> FailedPrecondition); "unknown
//     chunk kind" (of the entry, and of its base).
//   DecodePatch: envelope errors prefixed "<what> patch"; "invalid patch"
//     for each condition: no base, page size 0, no pages, no data, a base
//     of another size, a base that is not Full.
//   ApplyPatch: "patch page out of range"; "patch data truncated".
#include "schema/chunk_codec.h"

#include <string>
#include <vector>

#include "schema/records.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

const Hash128 kHash{0x1111, 0x2222};

ChunkLocation Location(uint32_t size, ChunkKind kind = ChunkKind::kFull) {
  ChunkLocation c;
  c.hash = Hash128{size, 7};
  c.segment = 12;
  c.ordinal = 34;
  c.size = size;
  c.stored_size = size + 1;
  c.kind = kind;
  return c;
}

// ---- chunk_index entries ----------------------------------------------------

TEST(ChunkCodecTest, ChunkEntryRoundTrips) {
  ChunkEntry e;
  e.location = Location(100, ChunkKind::kPatch);
  e.location.hash = kHash;
  e.base = Location(100);
  e.refcount = 5;
  auto back = DecodeChunkEntry(ChunkIndexKey(kHash), EncodeChunkEntry(e));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(back->location, e.location);
  ASSERT_TRUE(back->base.has_value());
  EXPECT_EQ(*back->base, *e.base);
  EXPECT_EQ(back->refcount, 5u);

  ChunkEntry full;
  full.location = Location(8);
  full.location.hash = kHash;
  auto f = DecodeChunkEntry(ChunkIndexKey(kHash), EncodeChunkEntry(full));
  CKPTDB_ASSERT_OK(f);
  EXPECT_EQ(f->location, full.location);
  EXPECT_FALSE(f->base.has_value());
}

// A ChunkEntry record with kind `kind` (and a base of kind `base_kind`, if
// set) sealed under the entry key of kHash.
std::string SealEntry(uint8_t kind, std::optional<uint8_t> base_kind,
                      uint16_t version = kFormatVersion) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::ChunkRef base;
  if (base_kind) {
    base = fb::ChunkRef(fb::Hash128(1, 2), 3, 4, 5, 5,
                        static_cast<fb::ChunkKind>(*base_kind));
  }
  fb::ChunkEntryBuilder b(fbb);
  b.add_format_version(version);
  b.add_size(5);
  b.add_kind(static_cast<fb::ChunkKind>(kind));
  if (base_kind) b.add_base(&base);
  b.add_refcount(1);
  fbb.Finish(b.Finish(), kChunkEntryIdent);
  return SealRecord(ChunkIndexKey(kHash), fbb);
}

TEST(ChunkCodecTest, ChunkEntryWithAMalformedKeyIsDataLoss) {
  ChunkEntry e;
  e.location.hash = kHash;
  EXPECT_THAT(
      DecodeChunkEntry("short", EncodeChunkEntry(e)),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("chunk index entry with a malformed key of 5 bytes")));
}

TEST(ChunkCodecTest, ChunkEntryEnvelopeErrorsNameTheChunk) {
  const std::string key = ChunkIndexKey(kHash);
  const std::string prefix = "chunk index entry " + kHash.ToHex() + ": ";
  std::string v = SealEntry(0, std::nullopt);
  CKPTDB_EXPECT_OK(DecodeChunkEntry(key, v));
  v[v.size() - 12] ^= 1;
  EXPECT_THAT(DecodeChunkEntry(key, v),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(prefix + "record checksum mismatch")));
  EXPECT_THAT(DecodeChunkEntry(key, "tiny"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(prefix + "record is truncated (4 bytes)")));
  EXPECT_THAT(DecodeChunkEntry(key, SealEntry(0, std::nullopt, 0)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(prefix + "record has no format version")));
  EXPECT_THAT(DecodeChunkEntry(key, SealEntry(0, std::nullopt, 9)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(prefix + "record format version 9")));
  // A Patch value (identifier CKPA) is not a chunk_index entry.
  std::string patch;
  ASSERT_TRUE(EncodePatch("ab", "xb", Location(2), 1, 1.0, key, &patch));
  EXPECT_THAT(DecodeChunkEntry(key, patch),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("expected identifier CKCE")));
}

TEST(ChunkCodecTest, UnknownChunkKindIsDataLoss) {
  const std::string key = ChunkIndexKey(kHash);
  EXPECT_THAT(DecodeChunkEntry(key, SealEntry(4, std::nullopt)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("chunk index entry " + kHash.ToHex() +
                                 ": unknown chunk kind 4")));
  EXPECT_THAT(
      DecodeChunkEntry(key, SealEntry(1, 7)),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unknown chunk kind 7")));
  CKPTDB_EXPECT_OK(DecodeChunkEntry(key, SealEntry(1, 0)));
}

// ---- patches
// ------------------------------------------------------------------

TEST(ChunkCodecTest, PatchRoundTrips) {
  const std::string base(10, 'a');
  std::string bytes = base;
  bytes[1] = 'X';  // page 0
  bytes[9] = 'Y';  // page 2, short (bytes 8..9)
  const std::string key = ChunkKey(3, 4);
  std::string value;
  // A Compressed chunk is a base like a Full one (it decodes alone).
  ASSERT_TRUE(EncodePatch(bytes, base, Location(10, ChunkKind::kCompressed), 4,
                          /*max_fraction=*/1.0, key, &value));
  RecordBuffer buf;
  auto patch = DecodePatch(key, value, 10, "chunk 3/4", &buf);
  CKPTDB_ASSERT_OK(patch);
  EXPECT_EQ(patch->base, Location(10, ChunkKind::kCompressed));
  EXPECT_EQ(patch->page_bytes, 4u);
  ASSERT_EQ(patch->pages->size(), 2u);
  EXPECT_EQ(patch->pages->Get(0), 0u);
  EXPECT_EQ(patch->pages->Get(1), 2u);
  EXPECT_EQ(patch->data, "aXaaaY");
  std::string chunk = base;
  CKPTDB_ASSERT_OK(ApplyPatch(*patch, "chunk 3/4", absl::MakeSpan(chunk)));
  EXPECT_EQ(chunk, bytes);
}

TEST(ChunkCodecTest, EncodePatchDeclinesWhatItCannotPatch) {
  std::string out = "untouched";
  EXPECT_FALSE(EncodePatch("abc", "ab", Location(2), 1, 1.0, "k", &out));
  EXPECT_FALSE(EncodePatch("abc", "abd", Location(3), 0, 1.0, "k", &out));
  // Two of four pages differ; at most one may.
  EXPECT_FALSE(EncodePatch("xbcy", "abcd", Location(4), 1, 0.25, "k", &out));
  EXPECT_EQ(out, "untouched");
  EXPECT_TRUE(EncodePatch("xbcd", "abcd", Location(4), 1, 0.25, "k", &out));
}

// ---- coded (Delta and Compressed) chunks
// ------------------------------------------------------------------

TEST(ChunkCodecTest, CodedChunksRoundTripAndCheckTheirKind) {
  std::string base(4096, '\0'), bytes(4096, '\0');
  for (size_t i = 0; i < base.size(); ++i) {
    base[i] = static_cast<char>(i * 7);
    bytes[i] = static_cast<char>(i * 7 + (i % 4 == 0 ? 1 : 0));
  }
  const std::string key = ChunkKey(5, 6);
  CodedPlanes planes;
  ASSERT_TRUE(EncodePlanes(bytes, base, PlanPlanes(bytes, base, 4), 1,
                           bytes.size(), &planes));
  const std::string delta = EncodeCoded(planes, Location(4096), key);
  RecordBuffer buf;
  auto view = DecodeCoded(key, delta, ChunkKind::kDelta, 4096, "c", &buf);
  CKPTDB_ASSERT_OK(view);
  ASSERT_TRUE(view->base.has_value());
  EXPECT_EQ(*view->base, Location(4096));
  std::string out(4096, '\0');
  CKPTDB_ASSERT_OK(DecodePlanes(view->planes, base, "c", out.data(), 4096));
  EXPECT_EQ(out, bytes);
  // The same value read as another kind, size or key is DataLoss.
  EXPECT_THAT(DecodeCoded(key, delta, ChunkKind::kCompressed, 4096, "c", &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("c: invalid coded chunk")));
  EXPECT_THAT(DecodeCoded(key, delta, ChunkKind::kDelta, 4095, "c", &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("c: invalid coded chunk")));
  EXPECT_THAT(
      DecodeCoded(ChunkKey(5, 7), delta, ChunkKind::kDelta, 4096, "c", &buf),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum")));
  // A Delta's base must be self-contained (no chains).
  const std::string chained =
      EncodeCoded(planes, Location(4096, ChunkKind::kDelta), key);
  EXPECT_THAT(
      DecodeCoded(key, chained, ChunkKind::kDelta, 4096, "c", &buf),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("invalid coded chunk")));
  // A Compressed chunk has no base and no difference.
  CodedPlanes own;
  ASSERT_TRUE(
      EncodePlanes(bytes, "", PlanPlanes(bytes, "", 4), 1, bytes.size(), &own));
  const std::string compressed = EncodeCoded(own, std::nullopt, key);
  auto cview =
      DecodeCoded(key, compressed, ChunkKind::kCompressed, 4096, "c", &buf);
  CKPTDB_ASSERT_OK(cview);
  CKPTDB_ASSERT_OK(DecodePlanes(cview->planes, "", "c", out.data(), 4096));
  EXPECT_EQ(out, bytes);
  EXPECT_THAT(
      DecodeCoded(key, compressed, ChunkKind::kDelta, 4096, "c", &buf),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("invalid coded chunk")));
}

struct PatchSpec {
  std::optional<fb::ChunkRef> base =
      fb::ChunkRef(fb::Hash128(1, 2), 3, 4, 8, 8, fb::ChunkKind_Full);
  uint32_t page_bytes = 4;
  std::optional<std::vector<uint32_t>> pages = std::vector<uint32_t>{1};
  std::optional<std::string> data = std::string("wxyz");
  uint16_t version = kFormatVersion;
};

std::string SealPatch(const PatchSpec& s) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<flatbuffers::Vector<uint32_t>> pages;
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
  if (s.pages) pages = fbb.CreateVector(*s.pages);
  if (s.data) {
    data = fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data->data()),
                            s.data->size());
  }
  fb::PatchBuilder b(fbb);
  b.add_format_version(s.version);
  if (s.base) b.add_base(&*s.base);
  b.add_page_bytes(s.page_bytes);
  if (s.pages) b.add_pages(pages);
  if (s.data) b.add_data(data);
  fbb.Finish(b.Finish(), kPatchIdent);
  return SealRecord(ChunkKey(3, 5), fbb);
}

absl::StatusOr<PatchView> Decode(const PatchSpec& s, RecordBuffer* buf) {
  return DecodePatch(ChunkKey(3, 5), SealPatch(s), 8, "chunk 3/5", buf);
}

TEST(ChunkCodecTest, PatchEnvelopeErrorsNameTheChunk) {
  RecordBuffer buf;
  PatchSpec s;
  CKPTDB_EXPECT_OK(Decode(s, &buf));
  std::string v = SealPatch(s);
  v[0] ^= 1;
  EXPECT_THAT(DecodePatch(ChunkKey(3, 5), v, 8, "chunk 3/5", &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("chunk 3/5 patch: record checksum mismatch")));
  s.version = 0;
  EXPECT_THAT(Decode(s, &buf),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("chunk 3/5 patch: record has no format")));
  s.version = kFormatVersion + 1;
  EXPECT_THAT(Decode(s, &buf),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("chunk 3/5 patch: record format version")));
  // A chunk_index entry is not a Patch.
  ChunkEntry e;
  EXPECT_THAT(
      DecodePatch(ChunkIndexKey(Hash128()), EncodeChunkEntry(e), 8, "c", &buf),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("c patch: record failed FlatBuffers verification")));
}

TEST(ChunkCodecTest, InvalidPatchIsDataLoss) {
  std::vector<PatchSpec> bad(6);
  bad[0].base.reset();
  bad[1].page_bytes = 0;
  bad[2].pages.reset();
  bad[3].data.reset();
  bad[4].base = fb::ChunkRef(fb::Hash128(1, 2), 3, 4, 9, 9, fb::ChunkKind_Full);
  bad[5].base =
      fb::ChunkRef(fb::Hash128(1, 2), 3, 4, 8, 8, fb::ChunkKind_Patch);
  for (size_t i = 0; i < bad.size(); ++i) {
    RecordBuffer buf;
    EXPECT_THAT(Decode(bad[i], &buf),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("chunk 3/5: invalid patch")))
        << "case " << i;
  }
}

TEST(ChunkCodecTest, PatchPageOutOfRangeIsDataLoss) {
  PatchSpec s;
  s.pages = std::vector<uint32_t>{2};  // bytes 8..11 of an 8-byte chunk
  RecordBuffer buf;
  auto p = Decode(s, &buf);
  CKPTDB_ASSERT_OK(p);
  std::string chunk(8, 'a');
  EXPECT_THAT(ApplyPatch(*p, "chunk 3/5", absl::MakeSpan(chunk)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("chunk 3/5: patch page out of range")));
  // A page number whose offset overflows 32 bits is out of range too.
  s.pages = std::vector<uint32_t>{0xffffffffu};
  auto q = Decode(s, &buf);
  CKPTDB_ASSERT_OK(q);
  EXPECT_THAT(ApplyPatch(*q, "chunk 3/5", absl::MakeSpan(chunk)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("patch page out of range")));
}

TEST(ChunkCodecTest, PatchDataTruncatedIsDataLoss) {
  PatchSpec s;
  s.pages = std::vector<uint32_t>{0, 1};  // needs 8 bytes of data, has 4
  RecordBuffer buf;
  auto p = Decode(s, &buf);
  CKPTDB_ASSERT_OK(p);
  std::string chunk(8, 'a');
  EXPECT_THAT(ApplyPatch(*p, "chunk 3/5", absl::MakeSpan(chunk)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("chunk 3/5: patch data truncated")));
  s.pages = std::vector<uint32_t>{1};
  s.data = std::string("xyz");
  auto q = Decode(s, &buf);
  CKPTDB_ASSERT_OK(q);
  EXPECT_THAT(
      ApplyPatch(*q, "chunk 3/5", absl::MakeSpan(chunk)),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("patch data truncated")));
}

}  // namespace
}  // namespace ckptdb::internal
