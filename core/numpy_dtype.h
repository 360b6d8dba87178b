// How numpy spells each DType: typestrings ("f4"), one-character codes
// ("f") and dtype kinds ('f'). One table in api/dtype.cc answers these,
// DTypeName and DTypeFromName; the CLI's .npy code (tools/npy.cc) and the
// Python binding (python/src/convert.cc) use it. Internal: not part of the
// public API.
#ifndef CKPTDB_CORE_NUMPY_DTYPE_H_
#define CKPTDB_CORE_NUMPY_DTYPE_H_

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"
#include "ckptdb/dtype.h"

namespace ckptdb::internal {

// numpy's typestring for `dtype` without its byte-order character: "b1",
// "i8", "f4", "c16". Empty for bfloat16, which numpy itself does not have,
// and for invalid values.
absl::string_view NumpyTypestr(DType dtype);

// The DType of a numpy typestring without byte order ("f4", "u1", "b1") or
// of a one-character type code ("f", "d", "?", "b" (int8), "F"
// (complex64), "l" and "q" (int64)). Case-sensitive, as numpy is; nullopt
// for anything else.
std::optional<DType> DTypeForNumpyCode(absl::string_view code);

// The DType of a numpy dtype of kind `kind` ('b', 'i', 'u', 'f', 'c', as
// numpy's dtype.kind) and `itemsize` bytes; nullopt if there is none.
// ml_dtypes registers bfloat16 as a 2-byte void ('V') dtype, so ('V', 2)
// gives kBFloat16: callers must check that the dtype's name is "bfloat16"
// (other void dtypes are raw bytes).
std::optional<DType> DTypeForNumpyKind(char kind, size_t itemsize);

}  // namespace ckptdb::internal

#endif  // CKPTDB_CORE_NUMPY_DTYPE_H_
