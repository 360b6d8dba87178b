#include "core/safetensors.h"

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace ckptdb::safetensors {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A file with header `json` (not padded) followed by `data`.
std::string File(absl::string_view json, absl::string_view data = "",
                 int64_t length = -1) {
  uint64_t n = length >= 0 ? static_cast<uint64_t>(length) : json.size();
  std::string out(8, '\0');
  for (int k = 0; k < 8; ++k) {
    out[static_cast<size_t>(k)] = static_cast<char>(n & 0xFF);
    n >>= 8;
  }
  absl::StrAppend(&out, json, data);
  return out;
}

absl::StatusOr<Decoded> DecodeString(const std::string& s) {
  return Decode(std::make_shared<const std::string>(s), "t.safetensors");
}

// The decode error for `file` must be InvalidArgument naming the file and
// `byte`, with `msg` in it.
void ExpectError(const std::string& file, uint64_t byte,
                 absl::string_view msg) {
  const absl::Status st = DecodeString(file).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_THAT(std::string(st.message()),
              AllOf(HasSubstr(absl::StrCat("t.safetensors: byte ", byte, ": ")),
                    HasSubstr(std::string(msg))));
}

const char kTwo[] =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
    R"("b":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]}})";

TEST(SafetensorsTest, DecodesTensorsAndMetadata) {
  const std::string data = std::string("\0\0\x80?\0\0\0@", 8) + "wxyz";
  const std::string json =
      R"({"__metadata__":{"format":"pt","k":"\u00e9\n"},)"
      R"("b.c":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )";
  auto d = DecodeString(File(json, data));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->has_metadata);
  ASSERT_EQ(d->metadata.size(), 2u);
  EXPECT_EQ(d->metadata[0].first, "format");
  EXPECT_EQ(d->metadata[1].second, "\xc3\xa9\n");
  ASSERT_EQ(d->tensors.size(), 2u);
  EXPECT_EQ(d->tensors[0].name, "b.c");  // the header's order
  EXPECT_EQ(d->tensors[0].array.dtype(), DType::kUInt8);
  EXPECT_EQ(d->tensors[0].array.shape(), (Shape{2, 2}));
  EXPECT_EQ(
      std::string(static_cast<const char*>(d->tensors[0].array.data()), 4),
      "wxyz");
  EXPECT_EQ(d->tensors[1].array.dtype(), DType::kFloat32);
  EXPECT_EQ(d->tensors[1].array.data_as<float>()[1], 2.0f);
}

TEST(SafetensorsTest, EmptyAndZeroSizedTensors) {
  auto d = DecodeString(File("{}"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->tensors.empty());
  d = DecodeString(
      File(R"({"e":{"dtype":"F64","shape":[0,3],"data_offsets":[0,0]},)"
           R"("s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
           std::string(8, '\x01')));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tensors[0].array.num_elements(), 0);
  EXPECT_EQ(d->tensors[1].array.rank(), 0);
}

TEST(SafetensorsTest, AllDTypesMap) {
  const std::pair<const char*, DType> cases[] = {
      {"F64", DType::kFloat64}, {"F32", DType::kFloat32},
      {"F16", DType::kFloat16}, {"BF16", DType::kBFloat16},
      {"I64", DType::kInt64},   {"I32", DType::kInt32},
      {"I16", DType::kInt16},   {"I8", DType::kInt8},
      {"U64", DType::kUInt64},  {"U32", DType::kUInt32},
      {"U16", DType::kUInt16},  {"U8", DType::kUInt8},
      {"BOOL", DType::kBool},   {"C64", DType::kComplex64}};
  for (const auto& [name, dtype] : cases) {
    EXPECT_EQ(*DTypeFromSafetensors(name), dtype) << name;
    EXPECT_EQ(*DTypeToSafetensors(dtype), name);
  }
  EXPECT_THAT(DTypeToSafetensors(DType::kComplex128),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("complex128")));
}

TEST(SafetensorsTest, TruncatedBeforeTheLength) {
  ExpectError(std::string("\x02\0\0", 3), 0, "truncated");
}

TEST(SafetensorsTest, LyingHeaderLength) {
  ExpectError(File("{}", "", 1000), 0, "runs past the end of the file");
  ExpectError(File("{}", "", int64_t{1} << 40), 0, "above the limit");
  // One byte short: the JSON is cut.
  ExpectError(File(kTwo, std::string(12, 'x'), sizeof(kTwo) - 2),
              8 + sizeof(kTwo) - 2, "truncated JSON");
}

TEST(SafetensorsTest, TruncatedData) {
  ExpectError(File(kTwo, std::string(10, 'x')), 8 + sizeof(kTwo) - 1 + 8,
              "tensor 'b' data_offsets end 12 is outside the data (10 bytes)");
}

TEST(SafetensorsTest, OffsetsOutsideTheBuffer) {
  ExpectError(
      File(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[100,104]}})",
           "abcd"),
      8 + 57, "leaving a hole");
  const std::string j =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  ExpectError(File(j, "ab"), 8 + j.size(), "outside the data (2 bytes)");
}

TEST(SafetensorsTest, Overlap) {
  const std::string j =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
  ExpectError(File(j, "abcdef"), 8 + j.size() + 2,
              "tensor 'b' begins at data offset 2, overlapping tensor 'a' "
              "(ends at 4)");
}

TEST(SafetensorsTest, HoleAndTrailingBytes) {
  const std::string j =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
  ExpectError(File(j, "abcdef"), 8 + j.size() + 2,
              "tensor 'b' begins at data offset 4, leaving a hole after "
              "tensor 'a'");
  const std::string k =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  ExpectError(File(k, "abc"), 8 + k.size() + 2,
              "1 bytes after the last tensor");
}

TEST(SafetensorsTest, EndBeforeBegin) {
  const std::string j =
      R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})";
  ExpectError(File(j, "abcd"), 8 + j.find("[4,2]"), "is before begin");
}

TEST(SafetensorsTest, UnknownAndUnsupportedDTypes) {
  const std::string j =
      R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})";
  ExpectError(File(j, "ab"), 8 + j.find("\"F8"),
              "tensor 'w': dtype F8_E4M3 is not supported by ckptdb");
  const std::string k =
      R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})";
  ExpectError(File(k, "ab"), 8 + k.find("\"Q4"),
              "tensor 'w': unknown dtype \"Q4\"");
}

TEST(SafetensorsTest, SizeMismatch) {
  const std::string j =
      R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  ExpectError(File(j, "abcdefgh"), 8 + j.find("[0,8]"),
              "tensor 'w': data_offsets [0, 8] span 8 bytes; dtype F32 and "
              "shape need 12");
  const std::string k =
      R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],)"
      R"("data_offsets":[0,8]}})";
  ExpectError(File(k, "abcdefgh"), 8 + k.find("[0,8]"), "more than 2^64");
}

TEST(SafetensorsTest, BadJson) {
  ExpectError(File("[1]"), 8, "does not start with '{'");
  ExpectError(File(R"({"a":1,})"), 8 + 7, "expected a key");
  ExpectError(File(R"({"a" 1})"), 8 + 5, "expected ':'");
  ExpectError(File(R"({"a":tru})"), 8 + 5, "unexpected character");
  ExpectError(File(R"({"a":01})"), 8 + 5, "leading zero");
  ExpectError(File(R"({"a":"x\q"})"), 8 + 8, "invalid escape");
  ExpectError(File(R"({"a":"\ud800"})"), 8 + 6, "lone high surrogate");
  ExpectError(File(std::string("{\"a\":\"\x01\"}")), 8 + 6,
              "control character");
  ExpectError(File(std::string("{\"\xff\":1}")), 8 + 2, "not valid UTF-8");
  ExpectError(File(R"({"a":{},"a":{}})"), 8 + 8, "duplicate key");
  ExpectError(File(R"({} x)"), 8 + 3, "unexpected data after the header");
  ExpectError(File(R"({"a":[1,2})"), 8 + 9, "expected ']'");
  ExpectError(File(std::string(200, '[')), 8, "does not start with '{'");
  std::string deep = "{\"a\":" + std::string(100, '[');
  ExpectError(File(deep), 8 + 5 + 64, "nested too deeply");
}

TEST(SafetensorsTest, BadEntries) {
  ExpectError(File(R"({"a":3})"), 8 + 5, "tensor 'a': expected an object");
  ExpectError(File(R"({"a":{"dtype":"F32","shape":[]}})"), 8 + 5,
              "tensor 'a': missing \"data_offsets\"");
  const std::string neg =
      R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})";
  ExpectError(File(neg), 8 + neg.find("-1"), "not a non-negative integer");
  const std::string one =
      R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0]}})";
  ExpectError(File(one), 8 + one.find("[0]"),
              "data_offsets is not [begin, end]");
  ExpectError(File(R"({"__metadata__":{"k":1}})"), 8 + 21,
              "__metadata__ \"k\": expected a string, got a number");
  ExpectError(File(R"({"__metadata__":[]})"), 8 + 16,
              "__metadata__ is not an object");
}

TEST(SafetensorsTest, IgnoresUnknownFieldsAsUpstream) {
  auto d = DecodeString(
      File(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],)"
           R"("extra":[null,true,false,-1.5e3,{}]}})",
           "z"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tensors.size(), 1u);
}

TEST(SafetensorsTest, LooksLike) {
  const std::string f = File(kTwo, std::string(12, 'x'));
  EXPECT_TRUE(LooksLikeSafetensors(f, f.size()));
  EXPECT_FALSE(LooksLikeSafetensors(f, 20));
  EXPECT_FALSE(LooksLikeSafetensors("\x93NUMPY\x01\x00v", 100));
  EXPECT_FALSE(LooksLikeSafetensors("PK\x03\x04\0\0\0\0\0", 100));
}

TEST(SafetensorsTest, EncodeIsUpstreamsFormAndRoundTrips) {
  std::vector<std::pair<std::string, Array>> in;
  in.emplace_back("z.u8",
                  Array::FromValues<uint8_t>(DType::kUInt8, {3}, {1, 2, 3}));
  in.emplace_back("a.f64",
                  Array::FromValues<double>(DType::kFloat64, {}, {2.5}));
  in.emplace_back(
      "m", Array::FromValues<float>(DType::kFloat32, {2, 1}, {1.0f, -1.0f}));
  in.emplace_back("b\"q", Array::FromValues<uint8_t>(DType::kBool, {0}, {}));
  auto enc = Encode(in, {{"z", "1"}, {"format", "np"}});
  ASSERT_TRUE(enc.ok()) << enc.status();
  // Widest dtype first, then by name; metadata first with sorted keys.
  const std::string json =
      R"({"__metadata__":{"format":"np","z":"1"},)"
      R"("a.f64":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("m":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]},)"
      R"("z.u8":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},)"
      R"("b\"q":{"dtype":"BOOL","shape":[0],"data_offsets":[19,19]}})";
  const uint64_t n = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(enc->size(), 8 + n + 19);
  uint64_t got_n;
  std::memcpy(&got_n, enc->data(), 8);
  EXPECT_EQ(got_n, n);
  EXPECT_EQ(enc->substr(8, n), json + std::string(n - json.size(), ' '));

  auto d = DecodeString(*enc);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->tensors.size(), 4u);
  EXPECT_EQ(d->metadata.size(), 2u);
  for (const Tensor& t : d->tensors) {
    bool found = false;
    for (const auto& [name, a] : in) {
      if (name != t.name) continue;
      found = true;
      EXPECT_TRUE(a.BitwiseEquals(t.array)) << name;
    }
    EXPECT_TRUE(found) << t.name;
  }
}

TEST(SafetensorsTest, EncodeRefuses) {
  std::vector<std::pair<std::string, Array>> in;
  in.emplace_back("c", Array::Zeros(DType::kComplex128, {1}));
  EXPECT_THAT(Encode(in, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'c': safetensors has no dtype for "
                                 "complex128")));
  in.clear();
  in.emplace_back("__metadata__", Array::Zeros(DType::kUInt8, {1}));
  EXPECT_THAT(Encode(in, {}), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("__metadata__")));
}

}  // namespace
}  // namespace ckptdb::safetensors

namespace ckptdb::safetensors {
namespace {

// The bytes upstream's serialize() writes for the same inputs.
TEST(SafetensorsTest, EncodeMatchesUpstreamBytes) {
  auto empty = Encode({}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  auto meta = Encode({}, {{"framework", "pt"}});
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(*meta, std::string("\x28\0\0\0\0\0\0\0", 8) +
                       R"({"__metadata__":{"framework":"pt"}})" + "     ");
  std::vector<std::pair<std::string, Array>> in;
  in.emplace_back("attn.0", Array::FromValues<float>(DType::kFloat32, {1, 2, 3},
                                                     {0, 1, 2, 3, 4, 5}));
  auto one = Encode(in, {});
  ASSERT_TRUE(one.ok());
  const std::string json =
      R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(json.size(), 64u);  // no padding needed
  EXPECT_EQ(one->substr(0, 8 + 64),
            std::string("\x40\0\0\0\0\0\0\0", 8) + json);
  EXPECT_EQ(one->size(), 8 + 64 + 24u);
}

}  // namespace
}  // namespace ckptdb::safetensors
