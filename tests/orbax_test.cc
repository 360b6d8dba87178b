// The Orbax reader's decoders (core/ocdbt_format, core/zarr, core/json,
// core/decompress, core/crc32c) on corrupt, truncated and wrong-version
// input, and the reader (core/orbax_checkpoint) on the real fixtures in
// ../shared/fixtures/real/. The CLI tests (tests/cli/orbax_import_test.py)
// check every fixture's values against an independent decode.
#include <zlib.h>
#include <zstd.h>
#ifdef CKPTDB_TEST_BLOSC
#include <blosc.h>
#endif

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/decompress.h"
#include "core/file_bytes.h"
#include "core/json.h"
#include "core/ocdbt_format.h"
#include "core/ocdbt_reader.h"
#include "core/orbax_checkpoint.h"
#include "core/orbax_metadata.h"
#include "core/zarr.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

const std::string kReal = CKPTDB_FIXTURES_DIR;
const std::string kDirect =
    kReal +
    "/google__orbax/compatibility_checkpoints/v0_checkpoints/"
    "direct_checkpoint/checkpoint_metadata_present/"
    "pytree_checkpointable_has_metadata";
const std::string kV1 =
    kReal +
    "/google__orbax/compatibility_checkpoints/v1_checkpoints/"
    "composite_checkpoint/checkpoint_metadata_present/"
    "pytree_checkpointable_has_metadata";
const std::string kSar =
    kReal + "/SAR2652__Polynomial-Expansion/checkpoints/1/default";

bool HaveFixtures() { return fs::exists(kDirect) && fs::exists(kSar); }

std::string Le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// An uncompressed OCDBT object around `body`, with a correct crc32c.
std::string Envelope(uint32_t magic, const std::string& body,
                     uint8_t version = 0) {
  std::string s;
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>(magic >> (8 * k)));
  s += Le(4 + 8 + 2 + body.size() + 4, 8);
  s.push_back(static_cast<char>(version));
  s.push_back(0);  // uncompressed
  s += body;
  return s + Le(crc32c::Value(s), 4);
}

// The decompressed body of an encoded OCDBT object.
std::string Body(const std::string& encoded) {
  EXPECT_EQ(encoded[12], 0);  // version
  const std::string inner = encoded.substr(14, encoded.size() - 18);
  if (encoded[13] == 0) return inner;
  return decompress::Zstd(inner, 1 << 30, "test").value();
}

// The root B+tree node of the SAR checkpoint: a leaf of 268 keys.
std::string SarRootNode() {
  const std::string m = file_bytes::ReadAll(kSar + "/manifest.ocdbt").value();
  const ocdbt::Manifest manifest = ocdbt::DecodeManifest(m, "m").value();
  const ocdbt::Reference& root = manifest.versions.back().root;
  return file_bytes::ReadRange(kSar + "/" + root.file, root.offset, root.length)
      .value();
}

TEST(Crc32cTest, KnownValue) {
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::Value(""), 0u);
}

TEST(DecompressTest, ZstdTruncatedAndOversizedAreDataLoss) {
  const std::string data(10000, 'x');
  std::string z(ZSTD_compressBound(data.size()), '\0');
  z.resize(ZSTD_compress(z.data(), z.size(), data.data(), data.size(), 1));
  EXPECT_EQ(decompress::Zstd(z, data.size(), "f").value(), data);
  EXPECT_THAT(decompress::Zstd(z.substr(0, z.size() - 3), 1 << 20, "f"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("f: ")));
  EXPECT_THAT(
      decompress::Zstd(z, 100, "f"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("more than 100 bytes")));
  EXPECT_THAT(decompress::Zstd("garbage!", 100, "f"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("zstd")));
}

TEST(DecompressTest, GzipAndZlibRoundTripAndRefuseTruncation) {
  const std::string data = "hello hello hello hello";
  for (bool gzip : {false, true}) {
    z_stream zs = {};
    ASSERT_EQ(
        deflateInit2(&zs, 6, Z_DEFLATED, gzip ? 31 : 15, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
    std::string out(256, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = data.size();
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = out.size();
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    EXPECT_EQ(decompress::Zlib(out, gzip, 1000, "c").value(), data);
    EXPECT_THAT(
        decompress::Zlib(out.substr(0, out.size() - 2), gzip, 1000, "c"),
        StatusIs(absl::StatusCode::kDataLoss, HasSubstr("c: ")));
    EXPECT_THAT(decompress::Zlib(out + "x", gzip, 1000, "c"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("after the")));
  }
}

TEST(DecompressTest, BloscIsDecodedOrNamedUnsupported) {
  absl::StatusOr<std::string> r =
      decompress::Blosc("0123456789abcdefxx", 64, "b");
  if (decompress::HaveBlosc()) {
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss,
                            HasSubstr("not a valid blosc buffer")));
  } else {
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnimplemented,
                            HasSubstr("unsupported codec 'blosc'")));
  }
}

TEST(JsonTest, NonFiniteOnlyWhenAllowed) {
  json::JsonParser strict("[NaN]", 0, "f");
  EXPECT_THAT(
      strict.ParseDocument(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f: byte 1")));
  json::JsonParser loose("[NaN, -Infinity, true, -9223372036854775808]", 0,
                         "f");
  loose.set_allow_nonfinite(true);
  json::Json v = loose.ParseDocument().value();
  EXPECT_EQ(v.items[0].str, "NaN");
  EXPECT_EQ(v.items[1].str, "-Infinity");
  EXPECT_EQ(v.items[2].str, "true");
  EXPECT_EQ(v.items[3].AsInt64(), INT64_MIN);
}

TEST(OcdbtFormatTest, RealManifestDecodes) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  const std::string m =
      file_bytes::ReadAll(kDirect + "/manifest.ocdbt").value();
  ocdbt::Manifest manifest = ocdbt::DecodeManifest(m, "m").value();
  EXPECT_EQ(manifest.manifest_kind, 0u);
  EXPECT_EQ(manifest.version_tree_arity_log2, 4);
  ASSERT_FALSE(manifest.versions.empty());
  EXPECT_EQ(manifest.versions.back().root.file.substr(0, 2), "d/");
}

TEST(OcdbtFormatTest, ManifestCorruptionsAreDataLoss) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  const std::string m =
      file_bytes::ReadAll(kDirect + "/manifest.ocdbt").value();
  std::string flipped = m;
  flipped[20] ^= 1;
  EXPECT_THAT(ocdbt::DecodeManifest(flipped, "x/manifest.ocdbt"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("x/manifest.ocdbt: crc32c mismatch")));
  EXPECT_THAT(
      ocdbt::DecodeManifest(m.substr(0, m.size() - 1), "m"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("header's length")));
  EXPECT_THAT(ocdbt::DecodeManifest(m.substr(0, 10), "m"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("too short")));
  EXPECT_THAT(ocdbt::DecodeManifest(SarRootNode(), "m"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("expected magic 0x0cdb3a2a")));
  EXPECT_THAT(
      ocdbt::DecodeManifest(Envelope(ocdbt::kManifestMagic, Body(m), 1), "m"),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("unsupported OCDBT format version 1")));
  // Every truncation of the body, re-wrapped with a good checksum.
  const std::string body = Body(m);
  EXPECT_TRUE(
      ocdbt::DecodeManifest(Envelope(ocdbt::kManifestMagic, body), "m").ok());
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_THAT(ocdbt::DecodeManifest(
                    Envelope(ocdbt::kManifestMagic, body.substr(0, n)), "m"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("m: byte ")))
        << n;
  }
}

TEST(OcdbtFormatTest, BtreeNodeTruncationsAndFlipsNeverCrash) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  const std::string body = Body(SarRootNode());
  ocdbt::BtreeNode node =
      ocdbt::DecodeBtreeNode(Envelope(ocdbt::kBtreeNodeMagic, body), "", "n",
                             1 << 30)
          .value();
  EXPECT_EQ(node.height, 0);
  EXPECT_EQ(node.leaves.size(), 268u);
  int indirect = 0;
  for (const ocdbt::LeafEntry& e : node.leaves) {
    if (!e.is_inline) {
      ++indirect;
      EXPECT_EQ(e.ref.file.substr(0, 18), "ocdbt.process_0/d/");
    }
  }
  EXPECT_EQ(indirect, 79);  // the values above max_inline_value_bytes
  for (size_t n = 0; n < body.size(); n += 7) {
    EXPECT_THAT(ocdbt::DecodeBtreeNode(
                    Envelope(ocdbt::kBtreeNodeMagic, body.substr(0, n)), "",
                    "n", 1 << 30),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("n: ")))
        << n;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string b = body;
    b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    absl::StatusOr<ocdbt::BtreeNode> r = ocdbt::DecodeBtreeNode(
        Envelope(ocdbt::kBtreeNodeMagic, b), "", "n", 1 << 30);
    if (!r.ok()) EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_THAT(ocdbt::DecodeBtreeNode(Envelope(ocdbt::kBtreeNodeMagic, body), "",
                                     "n", 100),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("exceeds 100")));
}

TEST(OcdbtReaderTest, ReadsEveryKeyAndNamesMissingFiles) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  ocdbt::OcdbtReader r = ocdbt::OcdbtReader::Open(kSar).value();
  EXPECT_EQ(r.entries().size(), 268u);
  CKPTDB_EXPECT_OK(r.Get("step/.zarray"));
  EXPECT_THAT(r.Get("nope"), StatusIs(absl::StatusCode::kNotFound,
                                      HasSubstr("no key 'nope'")));
  EXPECT_THAT(ocdbt::OcdbtReader::Open("/nonexistent"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("missing OCDBT manifest '/nonexistent/"
                                 "manifest.ocdbt'")));
}

zarr::ArrayMeta V2(const std::string& text) {
  return zarr::ParseZarrayV2(text, "z").value();
}

TEST(ZarrTest, V2MetadataErrorsAreNamed) {
  EXPECT_THAT(zarr::ParseZarrayV2("[]", "a/.zarray"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a/.zarray: byte 0: not a JSON object")));
  EXPECT_THAT(
      zarr::ParseZarrayV2(R"({"shape":[2],"chunks":[2],"dtype":"<U4"})", "z"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unsupported zarr dtype '<U4'")));
  EXPECT_THAT(
      zarr::ParseZarrayV2(R"({"shape":[2],"chunks":[0],"dtype":"<i4"})", "z"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("\"chunks\" holds an invalid size")));
  EXPECT_THAT(zarr::ParseZarrayV2(
                  R"({"shape":[2],"chunks":[2],"dtype":"<i4",
                      "filters":[{"id":"delta"}]})",
                  "z"),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("filters are not supported")));
  EXPECT_THAT(
      zarr::ParseZarrayV2(R"({"shape":[2,3],"chunks":[2],"dtype":"<i4"})", "z"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("differ in rank")));
}

TEST(ZarrTest, V2FortranBigEndianEdgeChunksAndFill) {
  // int16 big-endian, F order, shape (3, 2), chunks (2, 2): chunk 0.0 holds
  // rows 0-1, chunk 1.0 row 2 (padded); fill 9 where a chunk is missing.
  zarr::ArrayMeta m = V2(R"({"shape":[3,2],"chunks":[2,2],"dtype":">i2",
      "order":"F","compressor":null,"fill_value":9,"zarr_format":2})");
  auto be = [](std::vector<int16_t> v) {
    std::string s;
    for (int16_t x : v) {
      s.push_back(static_cast<char>(x >> 8));
      s.push_back(static_cast<char>(x & 0xFF));
    }
    return s;
  };
  // F order of [[1, 2], [3, 4]] is 1, 3, 2, 4.
  const std::string c00 = be({1, 3, 2, 4});
  Array a = zarr::ReadArray(
                m,
                [&](const std::string& key)
                    -> absl::StatusOr<std::optional<std::string>> {
                  if (key == "0.0") return std::optional<std::string>(c00);
                  return std::optional<std::string>();
                },
                "z")
                .value();
  ASSERT_EQ(a.shape(), (Shape{3, 2}));
  const int16_t* v = a.data_as<int16_t>();
  EXPECT_EQ(std::vector<int16_t>(v, v + 6),
            (std::vector<int16_t>{1, 2, 3, 4, 9, 9}));
  // A chunk of the wrong size.
  EXPECT_THAT(zarr::ReadArray(
                  m,
                  [&](const std::string&)
                      -> absl::StatusOr<std::optional<std::string>> {
                    return std::optional<std::string>("abc");
                  },
                  "p"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("p chunk '0.0': holds 3 bytes, expected 8")));
  // An unknown compressor is named when a chunk needs it.
  zarr::ArrayMeta lz = V2(R"({"shape":[1],"chunks":[1],"dtype":"<i4",
      "compressor":{"id":"lz4"}})");
  EXPECT_THAT(zarr::ReadArray(
                  lz,
                  [&](const std::string&)
                      -> absl::StatusOr<std::optional<std::string>> {
                    return std::optional<std::string>("abcd");
                  },
                  "p"),
              StatusIs(absl::StatusCode::kUnimplemented,
                       HasSubstr("unsupported codec 'lz4'")));
}

TEST(ZarrTest, V3MetadataErrorsAreNamed) {
  const std::string base = R"({"zarr_format":3,"node_type":"array",
      "shape":[4],"data_type":"float32","fill_value":0,
      "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[4]}},)";
  EXPECT_THAT(zarr::ParseZarrJsonV3(base + R"("codecs":[]})", "z"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no array-to-bytes codec")));
  EXPECT_THAT(
      zarr::ParseZarrJsonV3(
          base +
              R"("codecs":[{"name":"transpose","configuration":{"order":[0]}},
                              {"name":"bytes"}]})",
          "z"),
      ::testing::Not(
          StatusIs(absl::StatusCode::kUnimplemented, HasSubstr(""))));
  EXPECT_THAT(
      zarr::ParseZarrJsonV3(base + R"("codecs":[{"name":"bytes"}],
                                    "zarr_format":2})",
                            "z"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate key")));
  EXPECT_THAT(zarr::ParseZarrJsonV3(
                  R"({"zarr_format":3,"node_type":"array","shape":[4],
              "data_type":"float32","fill_value":"NaN",
              "chunk_grid":{"name":"rectilinear"},"codecs":[]})",
                  "z"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular grid")));
}

TEST(ZarrTest, V3Bfloat16BigEndianAndHexFill) {
  // bfloat16 1.0 is 0x3F80; "0x4000" (2.0) fills the missing chunk.
  zarr::ArrayMeta m = zarr::ParseZarrJsonV3(R"({"zarr_format":3,
      "node_type":"array","shape":[3],"data_type":"bfloat16",
      "fill_value":"0x4000",
      "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},
      "chunk_key_encoding":{"name":"default"},
      "codecs":[{"name":"bytes","configuration":{"endian":"big"}}]})",
                                            "z")
                          .value();
  Array a = zarr::ReadArray(
                m,
                [&](const std::string& key)
                    -> absl::StatusOr<std::optional<std::string>> {
                  if (key == "c/0")
                    return std::optional<std::string>("\x3f\x80\x3f\x80");
                  return std::optional<std::string>();
                },
                "z")
                .value();
  const uint16_t* v = a.data_as<uint16_t>();
  EXPECT_EQ(a.dtype(), DType::kBFloat16);
  EXPECT_EQ(std::vector<uint16_t>(v, v + 3),
            (std::vector<uint16_t>{0x3F80, 0x3F80, 0x4000}));
}

TEST(ZarrTest, ShapesBeyondMemoryAreRefusedBeforeAllocating) {
  zarr::ArrayMeta m = V2(R"({"shape":[1000000000,1000000],"chunks":[1,1],
      "dtype":"<f8","compressor":null})");
  EXPECT_THAT(
      zarr::ReadArray(
          m,
          [](const std::string&) -> absl::StatusOr<std::optional<std::string>> {
            return std::optional<std::string>();
          },
          "big", uint64_t{1} << 62),
      StatusIs(absl::StatusCode::kResourceExhausted,
               HasSubstr("do not fit in this machine's memory")));
  EXPECT_THAT(
      zarr::ReadArray(
          m,
          [](const std::string&) -> absl::StatusOr<std::optional<std::string>> {
            return std::optional<std::string>();
          },
          "big"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
}

#ifdef CKPTDB_TEST_BLOSC
TEST(ZarrTest, V2BloscChunksDecode) {
  std::vector<int32_t> values(1000);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<int32_t>(i * 3);
  std::string packed(values.size() * 4 + BLOSC_MAX_OVERHEAD, '\0');
  const int n =
      blosc_compress_ctx(5, BLOSC_SHUFFLE, 4, values.size() * 4, values.data(),
                         packed.data(), packed.size(), "lz4", 0, 1);
  ASSERT_GT(n, 0);
  packed.resize(n);
  zarr::ArrayMeta m = V2(R"({"shape":[1000],"chunks":[1000],"dtype":"<i4",
      "compressor":{"id":"blosc","cname":"lz4","clevel":5,"shuffle":1}})");
  Array a = zarr::ReadArray(
                m,
                [&](const std::string&)
                    -> absl::StatusOr<std::optional<std::string>> {
                  return std::optional<std::string>(packed);
                },
                "z")
                .value();
  EXPECT_EQ(
      std::vector<int32_t>(a.data_as<int32_t>(), a.data_as<int32_t>() + 1000),
      values);
}
#endif

TEST(OrbaxMetadataTest, TreeFromKeyTypes) {
  const std::string text = R"j({"tree_metadata": {
    "('a', '1')": {"key_metadata": [{"key": "a", "key_type": 2},
                                    {"key": "1", "key_type": 1}],
                   "value_metadata": {"value_type": "None"}},
    "('a', '0')": {"key_metadata": [{"key": "a", "key_type": 2},
                                    {"key": "0", "key_type": 1}],
                   "value_metadata": {"value_type": "Dict"}}}})j";
  orbax::TreeMetadata m = orbax::ParseTreeMetadata(text, "_METADATA").value();
  std::vector<Tree> values;
  for (const orbax::LeafMetadata& l : m.leaves) {
    values.push_back(orbax::EmptyValue(l.value_type));
  }
  Tree t = orbax::BuildTree(m.leaves, std::move(values), "_METADATA").value();
  EXPECT_EQ(t, Tree::Dict({{"a", Tree::List({Tree::Dict(), Tree::None()})}}));
  // Indices that are not 0..n-1.
  orbax::TreeMetadata gap = m;
  gap.leaves[0].path[1].key = "2";
  EXPECT_THAT(orbax::BuildTree(gap.leaves, {Tree(), Tree()}, "_METADATA"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("list indices are not 0..1")));
  EXPECT_THAT(orbax::ParseTreeMetadata(R"({"tree": {}})", "x/_METADATA"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x/_METADATA: no \"tree_metadata\"")));
}

TEST(OrbaxCheckpointTest, ReadsV0AndV1CompatibilityCheckpoints) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  const Tree want = Tree::Dict(
      {{"a", Array::FromValues<int32_t>(DType::kInt32, {8},
                                        {0, 1, 2, 3, 4, 5, 6, 7})},
       {"b", Tree::Dict({{"c", Array::FromValues<int32_t>(DType::kInt32, {3},
                                                          {1, 2, 3})}})}});
  orbax::Step direct = orbax::ReadStep(kDirect).value();
  ASSERT_EQ(direct.items.size(), 1u);
  EXPECT_EQ(direct.items[0].name, "");
  EXPECT_EQ(direct.items[0].tree, want);
  EXPECT_EQ(direct.commit_time_ns, 1778718340783462133);
  EXPECT_EQ(direct.custom_metadata,
            Tree::Dict({{"custom", Tree::String("meta")}}));
  orbax::Step v1 = orbax::ReadStep(kV1).value();
  ASSERT_EQ(v1.items.size(), 2u);
  EXPECT_EQ(v1.items[0].name, "metadata");
  EXPECT_EQ(v1.items[0].tree,
            Tree::Dict({{"metadata", Tree::String("json_data")}}));
  EXPECT_EQ(v1.items[1].name, "state");
  EXPECT_EQ(v1.items[1].tree, want);
}

TEST(OrbaxCheckpointTest, DamagedCheckpointsAreDataLossNamingTheFile) {
  if (!HaveFixtures()) GTEST_SKIP() << "no fixtures";
  const std::string base = kReal +
                           "/google__orbax/compatibility_checkpoints/"
                           "v0_checkpoints/direct_checkpoint/"
                           "critical_metadata_alterations/";
  EXPECT_THAT(orbax::ReadStep(base + "missing_pytree_data_dir_d"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("missing data file '" + base +
                                 "missing_pytree_data_dir_d/d/")));
  EXPECT_THAT(
      orbax::ReadStep(base + "missing_pytree_data_file_manifest.ocdbt/"),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("missing OCDBT manifest '" + base +
                         "missing_pytree_data_file_manifest.ocdbt/"
                         "manifest.ocdbt'")));
  EXPECT_THAT(orbax::ReadStep("/nonexistent/step"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not a folder")));
}

TEST(OrbaxCheckpointTest, FindStepsSkipsTemporaryAndForeignFolders) {
  TempDir dir;
  for (const char* name :
       {"run_0007", "run_0012", "run_0030.orbax-checkpoint-tmp-5", "notes",
        "run_0040"}) {
    fs::create_directories(dir.Sub(name));
    if (std::string(name) != "notes" && std::string(name) != "run_0040") {
      std::ofstream(dir.Sub(name) + "/_CHECKPOINT_METADATA") << "{}";
    }
  }
  orbax::RootListing r = orbax::FindSteps(dir.path() + "/").value();
  ASSERT_EQ(r.steps.size(), 2u);
  EXPECT_EQ(r.steps[0].step, 7);
  EXPECT_EQ(r.steps[1].name, "run_0012");
  EXPECT_EQ(r.prefix, "run");
  EXPECT_EQ(r.fixed_length, 4);
  EXPECT_EQ(r.skipped.size(), 3u);
  fs::create_directories(dir.Sub("run_12"));
  std::ofstream(dir.Sub("run_12") + "/_CHECKPOINT_METADATA") << "{}";
  EXPECT_THAT(orbax::FindSteps(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("are both step 12")));
  fs::remove_all(dir.Sub("run_12"));
  // A root from an object store: commit_success.txt marks committed steps.
  std::ofstream(dir.Sub("run_0012") + "/commit_success.txt") << "ok";
  orbax::RootListing marked = orbax::FindSteps(dir.path()).value();
  ASSERT_EQ(marked.steps.size(), 1u);
  EXPECT_EQ(marked.steps[0].step, 12);
  EXPECT_THAT(marked.skipped,
              ::testing::Contains(HasSubstr("run_0007 (uncommitted: no "
                                            "commit_success.txt")));
  EXPECT_THAT(orbax::ReadStep(dir.Sub("run_0030.orbax-checkpoint-tmp-5")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("unfinished save")));
}

}  // namespace
}  // namespace ckptdb
