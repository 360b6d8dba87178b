// Element types of ckptdb arrays, named as numpy names them.
//
// The numeric value of each DType is part of the on-disk format (see
// docs/format.md): never renumber, only append.
#ifndef CKPTDB_DTYPE_H_
#define CKPTDB_DTYPE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ckptdb {

enum class DType : uint8_t {
  kBool = 0,
  kInt8 = 1,
  kInt16 = 2,
  kInt32 = 3,
  kInt64 = 4,
  kUInt8 = 5,
  kUInt16 = 6,
  kUInt32 = 7,
  kUInt64 = 8,
  kFloat16 = 9,
  kBFloat16 = 10,
  kFloat32 = 11,
  kFloat64 = 12,
  kComplex64 = 13,
  kComplex128 = 14,
};

// Number of DType values; valid values are 0 .. kNumDTypes-1.
inline constexpr int kNumDTypes = 15;

// Size in bytes of one element (bool is one byte, 0 or 1).
size_t DTypeSize(DType dtype);

// The numpy name: "bool", "int8", ..., "bfloat16", "float32", "complex128".
absl::string_view DTypeName(DType dtype);

// Parses a numpy name (also accepts numpy's short codes "f4", "<f4", "i8",
// "u1", "b1", "c8", "c16", "f2", "bf16"). InvalidArgument for anything else.
absl::StatusOr<DType> DTypeFromName(absl::string_view name);

// True if `value` is a valid DType (used when decoding untrusted bytes).
bool IsValidDType(uint8_t value);

bool IsFloatingDType(DType dtype);  // float16, bfloat16, float32, float64
bool IsComplexDType(DType dtype);
bool IsIntegerDType(DType dtype);  // signed or unsigned integers

// Converts `count` elements from `src` (of type `from`) into `dst` (of type
// `to`), like numpy's `astype` with unsafe casting: floats to integers
// truncate toward zero and saturate at the integer's range (NaN becomes 0),
// complex to real keeps the real part, anything to bool is `value != 0`,
// float16/bfloat16 conversions round to nearest even. `src` and `dst` must
// not overlap unless `from == to`.
void CastElements(DType from, const void* src, DType to, void* dst,
                  size_t count);

}  // namespace ckptdb

#endif  // CKPTDB_DTYPE_H_
