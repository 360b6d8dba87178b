#include "ckptdb/dtype.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/numpy_dtype.h"

namespace ckptdb {
namespace {

// Storage types for the two 16-bit floating formats.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
// bool is stored as one byte; any nonzero byte reads as true.
struct Bool8 {
  uint8_t byte;
};

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf or NaN (payload kept)
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN
    if (abs == 0x7f800000u) return sign | 0x7c00;
    uint16_t payload = static_cast<uint16_t>((abs >> 13) & 0x3ff);
    return sign | 0x7c00 | (payload ? payload : 0x200);
  }
  if (abs >= 0x477ff000u) return sign | 0x7c00;  // rounds to inf
  if (abs < 0x38800000u) {                       // subnormal or zero half
    if (abs < 0x33000000u) return sign;          // rounds to zero
    const uint32_t exp = abs >> 23;
    uint32_t mant = (abs & 0x7fffff) | 0x800000;
    const int shift = 126 - static_cast<int>(exp);  // 14..24
    uint32_t half_mant = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1))) ++half_mant;
    return sign | static_cast<uint16_t>(half_mant);
  }
  uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);  // round to nearest even
  rounded -= (127 - 15) << 23;
  return sign | static_cast<uint16_t>(rounded >> 13);
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>((x >> 16) | 0x40);
  }
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

// `d` rounded to float with round-to-odd: truncated, then the last bit set
// if anything was cut off. Rounding that to half or bfloat16 (at least 2
// bits shorter) is then the correctly rounded result from `d`, with no
// double rounding (1 + 2^-11 + 2^-24 is 0x3c01 in half, not 0x3c00).
float RoundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) {
    f = std::nextafter(f, 0.0f);
  }
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= 1;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Loads a source element into the widest type of its family.
template <typename S>
auto Load(const S& v) {
  if constexpr (std::is_same_v<S, Bool8>) {
    return static_cast<int64_t>(v.byte != 0 ? 1 : 0);
  } else if constexpr (std::is_same_v<S, Half>) {
    return static_cast<double>(HalfToFloat(v.bits));
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return static_cast<double>(BFloat16ToFloat(v.bits));
  } else if constexpr (std::is_floating_point_v<S>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_same_v<S, std::complex<float>> ||
                       std::is_same_v<S, std::complex<double>>) {
    return std::complex<double>(v.real(), v.imag());
  } else if constexpr (std::is_signed_v<S>) {
    return static_cast<int64_t>(v);
  } else {
    return static_cast<uint64_t>(v);
  }
}

template <typename I>
I FloatToInt(double d) {
  if (std::isnan(d)) return 0;
  d = std::trunc(d);
  if (d <= static_cast<double>(std::numeric_limits<I>::min())) {
    return std::numeric_limits<I>::min();
  }
  // 2^64 and 2^63 are exact doubles; anything >= max+1 saturates.
  const double upper = std::ldexp(1.0, std::numeric_limits<I>::digits);
  if (d >= upper) return std::numeric_limits<I>::max();
  return static_cast<I>(d);
}

template <typename D, typename W>
D Store(const W& w) {
  constexpr bool kFromComplex = std::is_same_v<W, std::complex<double>>;
  constexpr bool kFromFloat = std::is_same_v<W, double>;
  if constexpr (std::is_same_v<D, Bool8>) {
    if constexpr (kFromComplex) {
      return Bool8{static_cast<uint8_t>(w.real() != 0 || w.imag() != 0)};
    } else {
      return Bool8{static_cast<uint8_t>(w != 0)};
    }
  } else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) {
    double d;
    if constexpr (kFromComplex) {
      d = w.real();
    } else {
      d = static_cast<double>(w);
    }
    const float f = RoundToOddFloat(d);
    if constexpr (std::is_same_v<D, Half>) {
      return Half{FloatToHalf(f)};
    } else {
      return BFloat16{FloatToBFloat16(f)};
    }
  } else if constexpr (std::is_floating_point_v<D>) {
    if constexpr (kFromComplex) {
      return static_cast<D>(w.real());
    } else {
      return static_cast<D>(w);
    }
  } else if constexpr (std::is_same_v<D, std::complex<float>> ||
                       std::is_same_v<D, std::complex<double>>) {
    using T = typename D::value_type;
    if constexpr (kFromComplex) {
      return D(static_cast<T>(w.real()), static_cast<T>(w.imag()));
    } else {
      return D(static_cast<T>(w), 0);
    }
  } else {  // integer destination
    if constexpr (kFromComplex) {
      return FloatToInt<D>(w.real());
    } else if constexpr (kFromFloat) {
      return FloatToInt<D>(w);
    } else {
      return static_cast<D>(w);  // integer to integer wraps, as numpy does
    }
  }
}

template <typename S, typename D>
void CastLoop(const void* src, void* dst, size_t count) {
  const char* in = static_cast<const char*>(src);
  char* out = static_cast<char*>(dst);
  for (size_t i = 0; i < count; ++i) {
    S s;
    std::memcpy(&s, in + i * sizeof(S), sizeof(S));
    D d = Store<D>(Load(s));
    std::memcpy(out + i * sizeof(D), &d, sizeof(D));
  }
}

template <typename F>
void VisitType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kBool:
      return f(Bool8{});
    case DType::kInt8:
      return f(int8_t{});
    case DType::kInt16:
      return f(int16_t{});
    case DType::kInt32:
      return f(int32_t{});
    case DType::kInt64:
      return f(int64_t{});
    case DType::kUInt8:
      return f(uint8_t{});
    case DType::kUInt16:
      return f(uint16_t{});
    case DType::kUInt32:
      return f(uint32_t{});
    case DType::kUInt64:
      return f(uint64_t{});
    case DType::kFloat16:
      return f(Half{});
    case DType::kBFloat16:
      return f(BFloat16{});
    case DType::kFloat32:
      return f(float{});
    case DType::kFloat64:
      return f(double{});
    case DType::kComplex64:
      return f(std::complex<float>{});
    case DType::kComplex128:
      return f(std::complex<double>{});
  }
}

// How numpy spells each DType; row i describes DType i.
struct NumpyRow {
  DType dtype;
  const char* name;     // numpy's name (ml_dtypes' for bfloat16)
  char kind;            // numpy's dtype.kind
  const char* typestr;  // without byte order; "" if numpy has none
  const char* chars;    // numpy's one-character codes
};
constexpr NumpyRow kNumpy[] = {
    {DType::kBool, "bool", 'b', "b1", "?"},
    {DType::kInt8, "int8", 'i', "i1", "b"},
    {DType::kInt16, "int16", 'i', "i2", "h"},
    {DType::kInt32, "int32", 'i', "i4", "i"},
    // long and long long are both 64-bit on LP64.
    {DType::kInt64, "int64", 'i', "i8", "lq"},
    {DType::kUInt8, "uint8", 'u', "u1", "B"},
    {DType::kUInt16, "uint16", 'u', "u2", "H"},
    {DType::kUInt32, "uint32", 'u', "u4", "I"},
    {DType::kUInt64, "uint64", 'u', "u8", "LQ"},
    {DType::kFloat16, "float16", 'f', "f2", "e"},
    // ml_dtypes registers bfloat16 as a 2-byte void dtype.
    {DType::kBFloat16, "bfloat16", 'V', "", ""},
    {DType::kFloat32, "float32", 'f', "f4", "f"},
    {DType::kFloat64, "float64", 'f', "f8", "d"},
    {DType::kComplex64, "complex64", 'c', "c8", "F"},
    {DType::kComplex128, "complex128", 'c', "c16", "D"},
};
static_assert(sizeof(kNumpy) / sizeof(kNumpy[0]) == kNumDTypes,
              "one kNumpy row per DType");

constexpr bool RowsInDTypeOrder() {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (static_cast<int>(kNumpy[i].dtype) != i) return false;
  }
  return true;
}
static_assert(RowsInDTypeOrder(), "kNumpy row i must describe DType i");

// Other spellings DTypeFromName accepts, after any byte-order character.
// "?" is numpy's code for bool; the other one-character codes are
// case-sensitive ('f' float32, 'F' complex64), so a case-insensitive parser
// does not take them.
struct Alias {
  const char* name;
  DType dtype;
};
constexpr Alias kAliases[] = {
    {"?", DType::kBool},         {"bf16", DType::kBFloat16},
    {"half", DType::kFloat16},   {"float", DType::kFloat64},
    {"double", DType::kFloat64},
};

std::optional<DType> DTypeForTypestr(absl::string_view typestr) {
  if (typestr.empty()) return std::nullopt;  // bfloat16's "" is no typestr
  for (const NumpyRow& r : kNumpy) {
    if (typestr == r.typestr) return r.dtype;
  }
  return std::nullopt;
}

}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8:
      return 1;
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64:
    case DType::kComplex64:
      return 8;
    case DType::kComplex128:
      return 16;
  }
  return 0;
}

absl::string_view DTypeName(DType dtype) {
  if (!IsValidDType(static_cast<uint8_t>(dtype))) return "invalid";
  return kNumpy[static_cast<size_t>(dtype)].name;
}

absl::StatusOr<DType> DTypeFromName(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  absl::string_view n = lower;
  for (const NumpyRow& r : kNumpy) {
    if (n == r.name) return r.dtype;
  }
  // numpy typestrings carry a byte-order character: '<' or '|' are fine on
  // this little-endian format, '>' is not.
  if (!n.empty() && (n[0] == '<' || n[0] == '|' || n[0] == '=')) {
    n.remove_prefix(1);
  }
  if (std::optional<DType> d = DTypeForTypestr(n)) return *d;
  for (const Alias& a : kAliases) {
    if (n == a.name) return a.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", name,
                   "' (expected a numpy name such as float32 or bfloat16)"));
}

bool IsValidDType(uint8_t value) { return value < kNumDTypes; }

bool IsFloatingDType(DType d) {
  return d == DType::kFloat16 || d == DType::kBFloat16 ||
         d == DType::kFloat32 || d == DType::kFloat64;
}
bool IsComplexDType(DType d) {
  return d == DType::kComplex64 || d == DType::kComplex128;
}
bool IsIntegerDType(DType d) {
  return d != DType::kBool && !IsFloatingDType(d) && !IsComplexDType(d);
}

void CastElements(DType from, const void* src, DType to, void* dst,
                  size_t count) {
  if (from == to) {
    if (src != dst) std::memmove(dst, src, count * DTypeSize(from));
    return;
  }
  VisitType(from, [&](auto s) {
    VisitType(to, [&](auto d) {
      CastLoop<decltype(s), decltype(d)>(src, dst, count);
    });
  });
}

namespace internal {

absl::string_view NumpyTypestr(DType dtype) {
  if (!IsValidDType(static_cast<uint8_t>(dtype))) return "";
  return kNumpy[static_cast<size_t>(dtype)].typestr;
}

std::optional<DType> DTypeForNumpyCode(absl::string_view code) {
  if (code.size() == 1) {
    for (const NumpyRow& r : kNumpy) {
      if (absl::string_view(r.chars).find(code[0]) != absl::string_view::npos) {
        return r.dtype;
      }
    }
  }
  return DTypeForTypestr(code);
}

std::optional<DType> DTypeForNumpyKind(char kind, size_t itemsize) {
  for (const NumpyRow& r : kNumpy) {
    if (r.kind == kind && DTypeSize(r.dtype) == itemsize) return r.dtype;
  }
  return std::nullopt;
}

}  // namespace internal
}  // namespace ckptdb
