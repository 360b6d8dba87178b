#include "ckptdb/dtype.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/numpy_dtype.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

TEST(DTypeTest, NamesRoundTripAndSizesMatchNumpy) {
  const size_t sizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8, 16};
  for (int i = 0; i < kNumDTypes; ++i) {
    const DType d = static_cast<DType>(i);
    EXPECT_EQ(DTypeSize(d), sizes[i]) << DTypeName(d);
    auto parsed = DTypeFromName(DTypeName(d));
    ASSERT_TRUE(parsed.ok()) << DTypeName(d);
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(*DTypeFromName("<f4"), DType::kFloat32);
  EXPECT_EQ(*DTypeFromName("|b1"), DType::kBool);
  EXPECT_EQ(*DTypeFromName("c16"), DType::kComplex128);
  EXPECT_THAT(DTypeFromName(">f4"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("unknown dtype '>f4'")));
  EXPECT_THAT(
      DTypeFromName("float128"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float128")));
}

TEST(DTypeTest, AcceptsOnlyNumpyAliasesCaseInsensitively) {
  EXPECT_EQ(*DTypeFromName("<?"), DType::kBool);
  EXPECT_EQ(*DTypeFromName("BF16"), DType::kBFloat16);
  EXPECT_EQ(*DTypeFromName("half"), DType::kFloat16);
  EXPECT_EQ(*DTypeFromName("float"), DType::kFloat64);  // as np.dtype(float)
  EXPECT_EQ(*DTypeFromName("=double"), DType::kFloat64);
  EXPECT_EQ(*DTypeFromName("<F4"), DType::kFloat32);
  // One-character codes are case-sensitive in numpy ('F' is complex64), and
  // names do not take a byte-order character.
  for (const char* bad : {"F", "d", "", "<", "<float32", "bfloat"}) {
    EXPECT_THAT(DTypeFromName(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("unknown dtype")))
        << bad;
  }
  EXPECT_EQ(DTypeName(static_cast<DType>(kNumDTypes)), "invalid");
}

TEST(NumpyDTypeTest, TypestrsCodesAndKindsAgree) {
  for (int i = 0; i < kNumDTypes; ++i) {
    const DType d = static_cast<DType>(i);
    const absl::string_view typestr = internal::NumpyTypestr(d);
    if (d == DType::kBFloat16) {
      EXPECT_EQ(typestr, "");  // numpy has none
      EXPECT_EQ(internal::DTypeForNumpyKind('V', 2), d);
      continue;
    }
    EXPECT_EQ(internal::DTypeForNumpyCode(typestr), d) << typestr;
    EXPECT_EQ(internal::DTypeForNumpyKind(typestr[0], DTypeSize(d)), d)
        << typestr;
    EXPECT_EQ(*DTypeFromName(absl::StrCat("<", typestr)), d) << typestr;
  }
  EXPECT_EQ(internal::NumpyTypestr(static_cast<DType>(kNumDTypes)), "");
  EXPECT_EQ(internal::NumpyTypestr(DType::kBool), "b1");
  EXPECT_EQ(internal::DTypeForNumpyCode("?"), DType::kBool);
  EXPECT_EQ(internal::DTypeForNumpyCode("b"), DType::kInt8);
  EXPECT_EQ(internal::DTypeForNumpyCode("B"), DType::kUInt8);
  EXPECT_EQ(internal::DTypeForNumpyCode("l"), DType::kInt64);
  EXPECT_EQ(internal::DTypeForNumpyCode("Q"), DType::kUInt64);
  EXPECT_EQ(internal::DTypeForNumpyCode("e"), DType::kFloat16);
  EXPECT_EQ(internal::DTypeForNumpyCode("F"), DType::kComplex64);
  EXPECT_EQ(internal::DTypeForNumpyCode("D"), DType::kComplex128);
  for (absl::string_view bad :
       {absl::string_view(""), absl::string_view("\0", 1),
        absl::string_view("F4"), absl::string_view("bf16"),
        absl::string_view("f16"), absl::string_view("V2")}) {
    EXPECT_EQ(internal::DTypeForNumpyCode(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(internal::DTypeForNumpyKind('f', 16), std::nullopt);
  EXPECT_EQ(internal::DTypeForNumpyKind('b', 2), std::nullopt);
  EXPECT_EQ(internal::DTypeForNumpyKind('V', 1), std::nullopt);
}

uint16_t ToBits16(DType d, float f) {
  uint16_t out;
  CastElements(DType::kFloat32, &f, d, &out, 1);
  return out;
}

float FromBits16(DType d, uint16_t bits) {
  float out;
  CastElements(d, &bits, DType::kFloat32, &out, 1);
  return out;
}

TEST(DTypeTest, Float16ConversionsRoundToNearestEven) {
  EXPECT_EQ(ToBits16(DType::kFloat16, 1.0f), 0x3c00);
  EXPECT_EQ(ToBits16(DType::kFloat16, -2.0f), 0xc000);
  EXPECT_EQ(ToBits16(DType::kFloat16, 65504.0f), 0x7bff);
  EXPECT_EQ(ToBits16(DType::kFloat16, 65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(ToBits16(DType::kFloat16, 5.960464477539063e-08f), 0x0001);
  EXPECT_EQ(ToBits16(DType::kFloat16, -0.0f), 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(ToBits16(DType::kFloat16, 1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(ToBits16(DType::kFloat16, 1.0f + 3 * std::ldexp(1.0f, -11)),
            0x3c02);
  EXPECT_TRUE(std::isnan(FromBits16(DType::kFloat16, 0x7e00)));
  EXPECT_EQ(FromBits16(DType::kFloat16, 0x0001), 5.960464477539063e-08f);
  for (uint32_t b = 0; b < 0x7c00; ++b) {  // every finite half round-trips
    ASSERT_EQ(ToBits16(DType::kFloat16, FromBits16(DType::kFloat16, b)), b);
  }
}

// float64 -> float16 / bfloat16 rounds once, from the double (no double
// rounding through float32); expected bits from numpy's astype.
TEST(DTypeTest, Float64ToHalfRoundsOnce) {
  auto half = [](double d) {
    uint16_t out;
    CastElements(DType::kFloat64, &d, DType::kFloat16, &out, 1);
    return out;
  };
  auto bf16 = [](double d) {
    uint16_t out;
    CastElements(DType::kFloat64, &d, DType::kBFloat16, &out, 1);
    return out;
  };
  EXPECT_EQ(half(1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -24)), 0x3c01);
  EXPECT_EQ(half(1 + std::ldexp(1.0, -11)), 0x3c00);  // a true tie: even
  EXPECT_EQ(half(-(1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -30))), 0xbc01);
  EXPECT_EQ(half(65519.99), 0x7bff);
  EXPECT_EQ(half(65520.0), 0x7c00);
  EXPECT_EQ(half(1e-8), 0x0000);
  EXPECT_EQ(half(2.9802322387695312e-08 + 1e-20), 0x0001);
  EXPECT_EQ(half(1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)), 0x3c04);
  // bfloat16: 1 + 2^-8 is a tie (1.0); a hair above rounds up.
  EXPECT_EQ(bf16(1 + std::ldexp(1.0, -8)), 0x3f80);
  EXPECT_EQ(bf16(1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)), 0x3f81);
}

TEST(DTypeTest, BFloat16ConversionsRoundToNearestEvenAndKeepNaN) {
  EXPECT_EQ(ToBits16(DType::kBFloat16, 1.0f), 0x3f80);
  EXPECT_EQ(ToBits16(DType::kBFloat16, 3.140625f), 0x4049);
  // 1 + 2^-8 is halfway: ties to even.
  EXPECT_EQ(ToBits16(DType::kBFloat16, 1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_TRUE(std::isnan(FromBits16(
      DType::kBFloat16,
      ToBits16(DType::kBFloat16, std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(FromBits16(DType::kBFloat16, 0x4049), 3.140625f);
}

TEST(DTypeTest, FloatToIntTruncatesSaturatesAndMapsNaNToZero) {
  const double in[] = {1.9, -1.9, 1e300, -1e300,
                       std::numeric_limits<double>::quiet_NaN()};
  int8_t out8[5];
  CastElements(DType::kFloat64, in, DType::kInt8, out8, 5);
  EXPECT_EQ(out8[0], 1);
  EXPECT_EQ(out8[1], -1);
  EXPECT_EQ(out8[2], 127);
  EXPECT_EQ(out8[3], -128);
  EXPECT_EQ(out8[4], 0);
  uint64_t outu[5];
  CastElements(DType::kFloat64, in, DType::kUInt64, outu, 5);
  EXPECT_EQ(outu[2], std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(outu[3], 0u);
}

TEST(DTypeTest, IntegerCastsWrapLikeNumpy) {
  const int32_t in[] = {300, -1};
  uint8_t out[2];
  CastElements(DType::kInt32, in, DType::kUInt8, out, 2);
  EXPECT_EQ(out[0], 44);
  EXPECT_EQ(out[1], 255);
  const int64_t big = (int64_t{1} << 62) + 1;  // not exact in a double
  int64_t back;
  CastElements(DType::kInt64, &big, DType::kInt64, &back, 1);
  EXPECT_EQ(back, big);
  uint64_t as_u;
  CastElements(DType::kInt64, &big, DType::kUInt64, &as_u, 1);
  EXPECT_EQ(as_u, static_cast<uint64_t>(big));
}

TEST(DTypeTest, ComplexAndBoolConversions) {
  const std::complex<float> c[] = {{1.5f, -2.0f}, {0.0f, 0.0f}, {0.0f, 1.0f}};
  double re[3];
  CastElements(DType::kComplex64, c, DType::kFloat64, re, 3);
  EXPECT_EQ(re[0], 1.5);
  uint8_t b[3];
  CastElements(DType::kComplex64, c, DType::kBool, b, 3);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[2], 1);
  const uint8_t raw_bool[] = {0, 1, 7};  // any nonzero byte is True
  int32_t as_int[3];
  CastElements(DType::kBool, raw_bool, DType::kInt32, as_int, 3);
  EXPECT_EQ(as_int[2], 1);
  std::complex<double> cd[1];
  const float f = 2.5f;
  CastElements(DType::kFloat32, &f, DType::kComplex128, cd, 1);
  EXPECT_EQ(cd[0], std::complex<double>(2.5, 0.0));
}

}  // namespace
}  // namespace ckptdb
