// Unit tests of the .npy / .npz module behind `ckptdb export` and `import`.
// (numpy itself reads and writes these files in tests/cli/numpy_test.py.)
#include "core/npy.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace ckptdb::npy {
namespace {

using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

std::shared_ptr<const std::string> Shared(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

TEST(NpyHeaderTest, EncodesLikeNumpyAndDecodes) {
  const std::string h = EncodeNpyHeader("<f4", {2, 3});
  EXPECT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_THAT(h, HasSubstr("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2, 3), }"));
  EXPECT_EQ(h.back(), '\n');
  auto d = DecodeNpyHeader(h);
  CKPTDB_ASSERT_OK(d);
  EXPECT_EQ(d->descr, "<f4");
  EXPECT_FALSE(d->fortran_order);
  EXPECT_EQ(d->shape, (Shape{2, 3}));
  EXPECT_EQ(d->data_offset, h.size());

  auto one = DecodeNpyHeader(EncodeNpyHeader("|b1", {5}));
  CKPTDB_ASSERT_OK(one);
  EXPECT_EQ(one->shape, (Shape{5}));
  auto scalar = DecodeNpyHeader(EncodeNpyHeader("<i8", {}));
  CKPTDB_ASSERT_OK(scalar);
  EXPECT_TRUE(scalar->shape.empty());
}

TEST(NpyHeaderTest, ParsesVersion2AndPythonVariants) {
  // Version 2.0: 4-byte header length; double quotes, extra spaces, no
  // trailing comma, key order as written by hand.
  std::string dict =
      "{\"shape\": (4L, 1), 'fortran_order': True, 'descr': '>i2'}";
  std::string h("\x93NUMPY\x02\x00", 8);
  const uint32_t len = dict.size() + 1;
  h.append(reinterpret_cast<const char*>(&len), 4);
  h += dict + "\n";
  auto d = DecodeNpyHeader(h);
  CKPTDB_ASSERT_OK(d);
  EXPECT_EQ(d->descr, ">i2");
  EXPECT_TRUE(d->fortran_order);
  EXPECT_EQ(d->shape, (Shape{4, 1}));
  EXPECT_EQ(d->data_offset, h.size());
}

TEST(NpyHeaderTest, RejectsBadHeaders) {
  EXPECT_THAT(
      DecodeNpyHeader("PK\x03\x04 not npy"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad magic")));
  std::string h = EncodeNpyHeader("<f4", {2});
  EXPECT_THAT(
      DecodeNpyHeader(h.substr(0, 20)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
  std::string structured = EncodeNpyHeader("X", {2});
  structured.replace(structured.find("'X'"), 3, "[('a', '<f4')]");
  EXPECT_THAT(
      DecodeNpyHeader(structured),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("structured")));
  std::string neg = EncodeNpyHeader("<f4", {2});
  neg.replace(neg.find("(2,)"), 4, "(-2,)");
  EXPECT_THAT(DecodeNpyHeader(neg), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("non-negative")));
  // Bytes that are not UTF-8 are echoed as \xNN, never raw.
  std::string key = EncodeNpyHeader("<f4", {2});
  key.replace(key.find("'shape'"), 7, "'shp\xff\xfe'");  // same length
  EXPECT_THAT(DecodeNpyHeader(key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unexpected key 'shp\\xff\\xfe'")));
  std::string descr = EncodeNpyHeader(
      "<\xff"
      "8",
      {2});
  EXPECT_THAT(DecodeNpy(Shared(descr), "d.npy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsupported numpy dtype '<\\xff8'")));
}

TEST(NpyDTypeTest, DescrRoundTripsForEveryNumpyDType) {
  for (int i = 0; i < kNumDTypes; ++i) {
    const DType dt = static_cast<DType>(i);
    auto descr = DescrForDType(dt);
    if (dt == DType::kBFloat16) {
      EXPECT_FALSE(descr.ok());
      continue;
    }
    CKPTDB_ASSERT_OK(descr);
    bool swapped = true;
    auto back = DTypeForDescr(*descr, &swapped);
    CKPTDB_ASSERT_OK(back);
    EXPECT_EQ(*back, dt) << *descr;
    EXPECT_FALSE(swapped);
  }
  bool swapped = false;
  EXPECT_EQ(*DTypeForDescr(">f8", &swapped), DType::kFloat64);
  EXPECT_TRUE(swapped);
  EXPECT_EQ(*DTypeForDescr(">u1", &swapped), DType::kUInt8);
  EXPECT_FALSE(swapped);  // one byte: nothing to swap
  EXPECT_EQ(*DTypeForDescr("?", &swapped), DType::kBool);
  for (const char* bad : {"|O", "<M8[ns]", "|S3", "<U5", "<f16", "<V2"}) {
    EXPECT_THAT(DTypeForDescr(bad, &swapped),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("unsupported numpy dtype")))
        << bad;
  }
}

TEST(NpyDecodeTest, LittleEndianCOrderIsSharedNotCopied) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  std::string file = EncodeNpyHeader("<f4", {2, 3});
  const size_t off = file.size();
  file.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  auto shared = Shared(file);
  auto d = DecodeNpy(shared, "x.npy");
  CKPTDB_ASSERT_OK(d);
  EXPECT_FALSE(d->is_string);
  EXPECT_EQ(d->array.dtype(), DType::kFloat32);
  EXPECT_EQ(d->array.shape(), (Shape{2, 3}));
  EXPECT_EQ(d->array.data(), shared->data() + off);
  EXPECT_EQ(std::memcmp(d->array.data(), v.data(), 24), 0);
}

TEST(NpyDecodeTest, BigEndianIsSwapped) {
  std::string file = EncodeNpyHeader(">i4", {3});
  for (int32_t x : {1, -2, 0x01020304}) {
    for (int b = 3; b >= 0; --b)
      file.push_back(static_cast<char>(x >> (8 * b)));
  }
  auto d = DecodeNpy(Shared(file), "x.npy");
  CKPTDB_ASSERT_OK(d);
  const int32_t* p = d->array.data_as<int32_t>();
  EXPECT_EQ(p[0], 1);
  EXPECT_EQ(p[1], -2);
  EXPECT_EQ(p[2], 0x01020304);

  // complex64: each half swapped separately.
  std::string c = EncodeNpyHeader(">c8", {1});
  for (float f : {1.5f, -2.0f}) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    for (int b = 3; b >= 0; --b)
      c.push_back(static_cast<char>(bits >> (8 * b)));
  }
  auto dc = DecodeNpy(Shared(c), "c.npy");
  CKPTDB_ASSERT_OK(dc);
  EXPECT_EQ(dc->array.dtype(), DType::kComplex64);
  EXPECT_EQ(dc->array.data_as<float>()[0], 1.5f);
  EXPECT_EQ(dc->array.data_as<float>()[1], -2.0f);
}

TEST(NpyDecodeTest, FortranOrderIsTransposedToC) {
  // a = [[0, 1, 2], [3, 4, 5]] in Fortran order: 0 3 1 4 2 5.
  std::string file = EncodeNpyHeader("<i2", {2, 3}, /*fortran_order=*/true);
  for (int16_t x : {0, 3, 1, 4, 2, 5}) {
    file.append(reinterpret_cast<const char*>(&x), 2);
  }
  auto d = DecodeNpy(Shared(file), "f.npy");
  CKPTDB_ASSERT_OK(d);
  const int16_t* p = d->array.data_as<int16_t>();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(p[i], i);

  // Rank 3, shape (2, 3, 4): element (i, j, k) = 100i + 10j + k.
  std::string f3 = EncodeNpyHeader("<i4", {2, 3, 4}, true);
  for (int k = 0; k < 4; ++k) {
    for (int j = 0; j < 3; ++j) {
      for (int i = 0; i < 2; ++i) {
        int32_t x = 100 * i + 10 * j + k;
        f3.append(reinterpret_cast<const char*>(&x), 4);
      }
    }
  }
  auto d3 = DecodeNpy(Shared(f3), "f3.npy");
  CKPTDB_ASSERT_OK(d3);
  const int32_t* q = d3->array.data_as<int32_t>();
  int n = 0;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) EXPECT_EQ(q[n++], 100 * i + 10 * j + k);
    }
  }
}

TEST(NpyDecodeTest, TruncatedDataAndUnsupportedDTypesAreErrors) {
  std::string file = EncodeNpyHeader("<f8", {4});
  file.append(16, '\0');
  EXPECT_THAT(DecodeNpy(Shared(file), "t.npy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t.npy: truncated data")));
  std::string obj = EncodeNpyHeader("|O", {1});
  EXPECT_THAT(DecodeNpy(Shared(obj), "o.npy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unsupported numpy dtype '|O'")));
  std::string strs = EncodeNpyHeader("<U3", {2});
  strs.append(24, '\0');
  EXPECT_THAT(DecodeNpy(Shared(strs), "s.npy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only a single string")));
}

TEST(NpyDecodeTest, StringsRoundTrip) {
  for (const std::string s :
       {std::string(""), std::string("hello"),
        std::string("gr\xc3\xbc\xc3\x9f"),
        std::string("\xf0\x9f\x98\x80 emoji"), std::string("bad \xff byte")}) {
    const std::string file = EncodeStringNpy(s);
    EXPECT_EQ(file.find("\x93NUMPY"), 0u);
    auto d = DecodeNpy(Shared(file), "s.npy");
    CKPTDB_ASSERT_OK(d);
    EXPECT_TRUE(d->is_string);
    EXPECT_EQ(d->str, s);
  }
  // numpy's '<U5' for "hello": 5 UCS-4 code units.
  auto h = DecodeNpyHeader(EncodeStringNpy("hello"));
  CKPTDB_ASSERT_OK(h);
  EXPECT_EQ(h->descr, "<U5");
}

std::string MakeNpy(const std::vector<double>& v) {
  std::string f = EncodeNpyHeader("<f8", {static_cast<int64_t>(v.size())});
  f.append(reinterpret_cast<const char*>(v.data()), v.size() * 8);
  return f;
}

TEST(ZipTest, WriteThenReadStoredMembers) {
  for (bool zip64 : {false, true}) {
    TempDir dir;
    const std::string path = dir.Sub("a.npz");
    auto w = ZipWriter::Create(path, {zip64});
    CKPTDB_ASSERT_OK(w);
    const std::string a = MakeNpy({1, 2, 3});
    const std::string b = MakeNpy({});
    CKPTDB_ASSERT_OK((*w)->BeginMember("params/w.npy", a.size()));
    CKPTDB_ASSERT_OK((*w)->Write(a.substr(0, 10)));
    CKPTDB_ASSERT_OK((*w)->Write(a.substr(10)));
    CKPTDB_ASSERT_OK((*w)->EndMember());
    CKPTDB_ASSERT_OK((*w)->BeginMember("b.npy", b.size()));
    CKPTDB_ASSERT_OK((*w)->Write(b));
    CKPTDB_ASSERT_OK((*w)->EndMember());
    CKPTDB_ASSERT_OK((*w)->Finish());

    auto r = ZipReader::Open(path);
    CKPTDB_ASSERT_OK(r);
    ASSERT_EQ((*r)->members().size(), 2u);
    EXPECT_EQ((*r)->members()[0].name, "params/w.npy");
    EXPECT_EQ((*r)->members()[1].name, "b.npy");
    std::string out;
    uint64_t seen = 0;
    CKPTDB_ASSERT_OK(
        (*r)->Read((*r)->members()[0], &out, [&](uint64_t n) { seen = n; }));
    EXPECT_EQ(out, a);
    EXPECT_EQ(seen, a.size());
    CKPTDB_ASSERT_OK((*r)->Read((*r)->members()[1], &out));
    EXPECT_EQ(out, b);
  }
}

TEST(ZipTest, DeclaredSizeIsEnforced) {
  TempDir dir;
  auto w = ZipWriter::Create(dir.Sub("x.zip"));
  CKPTDB_ASSERT_OK(w);
  CKPTDB_ASSERT_OK((*w)->BeginMember("x", 3));
  EXPECT_THAT((*w)->Write("abcd"), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("larger than declared")));
  CKPTDB_ASSERT_OK((*w)->Write("ab"));
  EXPECT_THAT((*w)->EndMember(), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("declared 3")));
}

TEST(ZipTest, CorruptMemberFailsItsCrc) {
  TempDir dir;
  const std::string path = dir.Sub("c.npz");
  auto w = ZipWriter::Create(path);
  CKPTDB_ASSERT_OK(w);
  const std::string a = MakeNpy({1, 2, 3, 4});
  CKPTDB_ASSERT_OK((*w)->BeginMember("a.npy", a.size()));
  CKPTDB_ASSERT_OK((*w)->Write(a));
  CKPTDB_ASSERT_OK((*w)->Finish());
  std::string bytes = ReadFile(path);
  const size_t pos = bytes.find(a.substr(a.size() - 8));
  ASSERT_NE(pos, std::string::npos);
  bytes[pos] ^= 0x40;
  WriteFile(path, bytes);
  auto r = ZipReader::Open(path);
  CKPTDB_ASSERT_OK(r);
  std::string out;
  EXPECT_THAT((*r)->Read((*r)->members()[0], &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("member 'a.npy': CRC-32 mismatch")));
}

// A one-member zip whose member is raw-deflated, built by hand (numpy's
// np.savez_compressed output is read in numpy_test.py).
std::string DeflatedZip(const std::string& name, const std::string& data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string comp(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = data.size();
  zs.next_out = reinterpret_cast<Bytef*>(comp.data());
  zs.avail_out = comp.size();
  deflate(&zs, Z_FINISH);
  comp.resize(zs.total_out);
  deflateEnd(&zs);
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size());
  auto le = [](std::string* s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
  };
  std::string z;
  le(&z, 0x04034b50, 4);
  le(&z, 20, 2);
  le(&z, 0, 2);
  le(&z, 8, 2);
  le(&z, 0, 4);
  le(&z, crc, 4);
  le(&z, comp.size(), 4);
  le(&z, data.size(), 4);
  le(&z, name.size(), 2);
  le(&z, 0, 2);
  z += name + comp;
  const size_t cd = z.size();
  le(&z, 0x02014b50, 4);
  le(&z, 20, 2);
  le(&z, 20, 2);
  le(&z, 0, 2);
  le(&z, 8, 2);
  le(&z, 0, 4);
  le(&z, crc, 4);
  le(&z, comp.size(), 4);
  le(&z, data.size(), 4);
  le(&z, name.size(), 2);
  le(&z, 0, 2);
  le(&z, 0, 2);
  le(&z, 0, 2);
  le(&z, 0, 2);
  le(&z, 0, 4);
  le(&z, 0, 4);
  z += name;
  const size_t cd_size = z.size() - cd;
  le(&z, 0x06054b50, 4);
  le(&z, 0, 4);
  le(&z, 1, 2);
  le(&z, 1, 2);
  le(&z, cd_size, 4);
  le(&z, cd, 4);
  le(&z, 0, 2);
  return z;
}

TEST(ZipTest, ReadsDeflatedMembers) {
  TempDir dir;
  std::vector<double> v(10000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 7);
  const std::string npy = MakeNpy(v);
  WriteFile(dir.Sub("d.npz"), DeflatedZip("x.npy", npy));
  auto r = ZipReader::Open(dir.Sub("d.npz"));
  CKPTDB_ASSERT_OK(r);
  ASSERT_EQ((*r)->members().size(), 1u);
  EXPECT_EQ((*r)->members()[0].method, 8);
  EXPECT_LT((*r)->members()[0].compressed_size, npy.size() / 4);
  std::string out;
  CKPTDB_ASSERT_OK((*r)->Read((*r)->members()[0], &out));
  EXPECT_EQ(out, npy);

  // Truncating the compressed stream is an error, not a short read.
  std::string z = DeflatedZip("x.npy", npy);
  const size_t data_start = 30 + 5;
  z[data_start + 20] ^= 0xff;
  WriteFile(dir.Sub("bad.npz"), z);
  auto rb = ZipReader::Open(dir.Sub("bad.npz"));
  CKPTDB_ASSERT_OK(rb);
  EXPECT_FALSE((*rb)->Read((*rb)->members()[0], &out).ok());
}

TEST(ZipTest, NotAZipIsInvalidArgument) {
  TempDir dir;
  WriteFile(dir.Sub("x.npz"), std::string(100, 'x'));
  EXPECT_THAT(ZipReader::Open(dir.Sub("x.npz")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a valid .npz/zip archive")));
  EXPECT_THAT(ZipReader::Open(dir.Sub("missing.npz")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot open")));
}

}  // namespace
}  // namespace ckptdb::npy
