// Unit tests of the tool's formatting: numpy-like reprs, Python reprs,
// JSON, path escaping and argument parsing. (numpy_test in cli_test.py
// compares `ckptdb show` with numpy's own repr.)
#include "tools/cli_format.h"

#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/cli.h"
#include "tools/cli_json.h"

namespace ckptdb::cli {
namespace {

template <typename T>
Array A(DType dt, Shape shape, std::vector<T> v) {
  return Array::FromValues<T>(dt, std::move(shape), v);
}

TEST(JsonQuoteTest, AlwaysValidUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonQuote("\xc3\xa9\xe2\x9c\x93"), "\"\xc3\xa9\xe2\x9c\x93\"");
  // Invalid bytes, a truncated sequence, an overlong form, a surrogate.
  EXPECT_EQ(JsonQuote("\xff\xfex"), "\"\\ufffd\\ufffdx\"");
  EXPECT_EQ(JsonQuote("\xe2\x9c"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_TRUE(IsValidUtf8("plain \xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(PyFloatReprTest, MatchesPython) {
  EXPECT_EQ(PyFloatRepr(0.1), "0.1");
  EXPECT_EQ(PyFloatRepr(1.0), "1.0");
  EXPECT_EQ(PyFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PyFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PyFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PyFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PyFloatRepr(0.00001), "1e-05");
  EXPECT_EQ(PyFloatRepr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(PyFloatRepr(1.5e-300), "1.5e-300");
  EXPECT_EQ(PyFloatRepr(std::nan("")), "nan");
  EXPECT_EQ(PyFloatRepr(-INFINITY), "-inf");
  // Shortest digits of the dtype: float32's 0.1f is 0.1, not
  // 0.10000000149011612.
  EXPECT_EQ(PyFloatRepr(static_cast<double>(0.1f), DType::kFloat32), "0.1");
  // float16: 0.1 rounds to 0.0999755859375, printed as numpy does.
  uint16_t h = 0x2e66;
  double d;
  CastElements(DType::kFloat16, &h, DType::kFloat64, &d, 1);
  EXPECT_EQ(PyFloatRepr(d, DType::kFloat16), "0.1");
}

TEST(PyScalarReprTest, MatchesPython) {
  EXPECT_EQ(PyScalarRepr(Tree::None()), "None");
  EXPECT_EQ(PyScalarRepr(Tree::Bool(true)), "True");
  EXPECT_EQ(PyScalarRepr(Tree::Int(-4)), "-4");
  EXPECT_EQ(PyScalarRepr(Tree::String("a'b")), "\"a'b\"");
  EXPECT_EQ(PyScalarRepr(Tree::String("x\ny")), "'x\\ny'");
}

// Expected strings are numpy 1.24's repr() of the same arrays.
TEST(NumpyReprTest, Floats) {
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {3}, {0.5, 0.25, 1.0})),
            "array([0.5 , 0.25, 1.  ])");
  EXPECT_EQ(NumpyRepr(A<float>(DType::kFloat32, {2, 2}, {1, 2, 3, 4})),
            "array([[1., 2.],\n       [3., 4.]], dtype=float32)");
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {2}, {1e-5, 2.5e-5})),
            "array([1.0e-05, 2.5e-05])");
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {2}, {1e10, 2e10})),
            "array([1.e+10, 2.e+10])");
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {4},
                                {1.0, std::nan(""), -INFINITY, INFINITY})),
            "array([  1.,  nan, -inf,  inf])");
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {1}, {1.0 / 3})),
            "array([0.33333333])");
  EXPECT_EQ(NumpyRepr(A<double>(DType::kFloat64, {}, {1.0})), "array(1.)");
  EXPECT_EQ(NumpyRepr(A<float>(DType::kFloat32, {}, {3.5f})),
            "array(3.5, dtype=float32)");
}

TEST(NumpyReprTest, IntsBoolsComplexEmpty) {
  EXPECT_EQ(NumpyRepr(A<int64_t>(DType::kInt64, {3}, {1, -20, 300})),
            "array([  1, -20, 300])");
  EXPECT_EQ(NumpyRepr(A<int8_t>(DType::kInt8, {2}, {-2, 2})),
            "array([-2,  2], dtype=int8)");
  EXPECT_EQ(NumpyRepr(A<uint8_t>(DType::kBool, {2}, {1, 0})),
            "array([ True, False])");
  EXPECT_EQ(NumpyRepr(A<std::complex<float>>(DType::kComplex64, {2},
                                             {{1, 2}, {-0.5, 0}})),
            "array([ 1. +2.j, -0.5+0.j], dtype=complex64)");
  EXPECT_EQ(NumpyRepr(Array::Zeros(DType::kFloat32, {0})),
            "array([], dtype=float32)");
  EXPECT_EQ(NumpyRepr(Array::Zeros(DType::kFloat64, {0, 3})),
            "array([], shape=(0, 3), dtype=float64)");
}

TEST(NumpyReprTest, SummarisesAndWraps) {
  std::vector<int64_t> v(2000);
  for (int i = 0; i < 2000; ++i) v[i] = i;
  EXPECT_EQ(NumpyRepr(A<int64_t>(DType::kInt64, {2000}, v)),
            "array([   0,    1,    2, ..., 1997, 1998, 1999])");
  std::vector<int64_t> w(30);
  for (int i = 0; i < 30; ++i) w[i] = i * 1000;
  EXPECT_EQ(NumpyRepr(A<int64_t>(DType::kInt64, {30}, w)),
            "array([    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  "
            "8000,\n"
            "        9000, 10000, 11000, 12000, 13000, 14000, 15000, 16000, "
            "17000,\n"
            "       18000, 19000, 20000, 21000, 22000, 23000, 24000, 25000, "
            "26000,\n"
            "       27000, 28000, 29000])");
  std::vector<int32_t> c(24);
  for (int i = 0; i < 24; ++i) c[i] = i;
  EXPECT_EQ(NumpyRepr(A<int32_t>(DType::kInt32, {2, 3, 4}, c)),
            "array([[[ 0,  1,  2,  3],\n"
            "        [ 4,  5,  6,  7],\n"
            "        [ 8,  9, 10, 11]],\n"
            "\n"
            "       [[12, 13, 14, 15],\n"
            "        [16, 17, 18, 19],\n"
            "        [20, 21, 22, 23]]], dtype=int32)");
}

TEST(StatsTest, IgnoresNaNs) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ArrayStats st =
      ComputeStats(A<float>(DType::kFloat32, {4}, {1.0f, nan, -2.0f, 0.25f}));
  EXPECT_EQ(st.count, 4);
  EXPECT_EQ(st.nan_count, 1);
  EXPECT_EQ(st.min_repr, "-2.0");
  EXPECT_EQ(st.max_repr, "1.0");
  EXPECT_DOUBLE_EQ(st.mean, -0.75 / 3);
  ArrayStats ints = ComputeStats(A<int8_t>(DType::kInt8, {3}, {-5, 0, 7}));
  EXPECT_EQ(ints.min_repr, "-5");
  EXPECT_EQ(ints.max_repr, "7");
  ArrayStats all_nan = ComputeStats(A<double>(DType::kFloat64, {1}, {NAN}));
  EXPECT_FALSE(all_nan.has_min_max);
  EXPECT_FALSE(all_nan.has_mean);
}

TEST(StatsTest, ComplexArraysGetTheirMeanAndNoOrder) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  using C = std::complex<float>;
  ArrayStats st = ComputeStats(A<C>(
      DType::kComplex64, {4}, {C(1, 2), C(nan, 0), C(-0.5f, 0), C(0, -1.5f)}));
  EXPECT_EQ(st.count, 4);
  EXPECT_EQ(st.nan_count, 1);
  EXPECT_TRUE(st.complex);
  EXPECT_FALSE(st.has_min_max);
  // numpy's nanmean: (0.16666666666666666+0.16666666666666666j).
  ASSERT_TRUE(st.has_mean);  // numpy: nanmean ==
                             // (0.16666666666666666+0.16666666666666666j)
  EXPECT_DOUBLE_EQ(st.mean, 0.5 / 3);
  EXPECT_DOUBLE_EQ(st.mean_imag, 0.5 / 3);
}

TEST(PyComplexReprTest, MatchesPython) {
  EXPECT_EQ(PyComplexRepr(2, 0.5), "(2+0.5j)");
  EXPECT_EQ(PyComplexRepr(0, 2.5), "2.5j");
  EXPECT_EQ(PyComplexRepr(-0.0, 1), "(-0+1j)");
  EXPECT_EQ(PyComplexRepr(1e20, -1e-7), "(1e+20-1e-07j)");
  EXPECT_EQ(PyComplexRepr(1.5, -0.0), "(1.5-0j)");
  EXPECT_EQ(PyComplexRepr(NAN, NAN), "(nan+nanj)");
}

TEST(JsonTest, PrettyAndCompact) {
  std::string out;
  {
    JsonWriter w(&out);
    w.BeginObject();
    w.Field("a", "x\"y");
    w.Key("shape");
    w.BeginArray(true);
    w.Int(2);
    w.Int(3);
    w.EndArray();
    w.FieldDouble("f", 1.0);
    w.FieldDouble("n", NAN);
    w.Key("e");
    w.BeginArray();
    w.EndArray();
    w.EndObject();
  }
  EXPECT_EQ(out,
            "{\n  \"a\": \"x\\\"y\",\n  \"shape\": [2, 3],\n  \"f\": 1.0,\n"
            "  \"n\": \"nan\",\n  \"e\": []\n}");
}

TEST(PathComponentTest, EscapesRoundTrip) {
  for (const std::string k : {"", ".", "..", "a/b", "50%", "plain", "x.npy"}) {
    const std::string e = EncodePathComponent(k);
    EXPECT_EQ(e.find('/'), std::string::npos) << k;
    EXPECT_NE(e, ".");
    EXPECT_NE(e, "..");
    EXPECT_EQ(DecodePathComponent(e), k);
  }
  EXPECT_EQ(EncodePathComponent("a/b"), "a%2Fb");
  EXPECT_EQ(EncodePathComponent(""), "%");
}

TEST(ArgsTest, ParsesFlags) {
  std::vector<FlagSpec> flags = {{"json", "", ""}, {"item", "NAME", ""}};
  auto a = ParseArgs(
      flags, {"db", "--json", "--item", "ema", "4", "--", "--not-a-flag"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->json());
  EXPECT_EQ(a->Get("item"), "ema");
  EXPECT_EQ(a->positional(),
            (std::vector<std::string>{"db", "4", "--not-a-flag"}));
  auto b = ParseArgs(flags, {"--item=x"});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->Get("item"), "x");
  EXPECT_EQ(ExitCodeOf(ParseArgs(flags, {"--nope"}).status()), Exit::kUsage);
  EXPECT_EQ(ExitCodeOf(ParseArgs(flags, {"--item"}).status()), Exit::kUsage);
  EXPECT_EQ(ExitCodeOf(ParseArgs(flags, {"--json=1"}).status()), Exit::kUsage);
}

}  // namespace
}  // namespace ckptdb::cli
