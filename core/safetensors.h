// The safetensors file format (huggingface/safetensors), decoded and encoded
// in memory, no I/O:
//
//   [8 bytes: N, little-endian u64][N bytes: JSON header][data]
//
// The header is an object: each key but "__metadata__" names a tensor,
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, offsets
// relative to the start of the data; "__metadata__" is an optional object of
// strings. Decoding validates as upstream does: N at most kMaxHeaderSize and
// inside the file, a strict JSON object, known dtypes, end >= begin,
// end - begin == product(shape) * dtype size, and the tensors sorted by
// offset tile the data exactly (no overlap, no hole, nothing after).
// Errors name the file and the byte offset in it.
#ifndef CKPTDB_CORE_SAFETENSORS_H_
#define CKPTDB_CORE_SAFETENSORS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/dtype.h"

namespace ckptdb::safetensors {

// Upstream's limit on the header's length (100 MB).
inline constexpr uint64_t kMaxHeaderSize = 100'000'000;

// The safetensors name of a DType ("F32", "BF16", "BOOL", "C64"); NotFound
// for one safetensors has no name for (complex128).
absl::StatusOr<absl::string_view> DTypeToSafetensors(DType dtype);
// The DType of a safetensors name; InvalidArgument for names ckptdb cannot
// hold (F8_E4M3, F8_E5M2, F8_E8M0, F6_*, F4) or unknown ones.
absl::StatusOr<DType> DTypeFromSafetensors(absl::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  uint64_t begin = 0;  // data offsets, relative to the start of the data
  uint64_t end = 0;
};

struct Header {
  // "__metadata__", in the file's order; empty if absent.
  std::vector<std::pair<std::string, std::string>> metadata;
  bool has_metadata = false;
  std::vector<TensorInfo> tensors;  // in the header's order
  uint64_t data_start = 0;          // 8 + N
};

// True if `prefix` (the file's first bytes, at least 9 of them) starts like
// a safetensors file of `file_size` bytes: a header length that fits the
// file and the limit, followed by '{'.
bool LooksLikeSafetensors(absl::string_view prefix, uint64_t file_size);

// Parses and validates the header of the whole file `file`. `what` names the
// file in errors.
absl::StatusOr<Header> ParseHeader(absl::string_view file,
                                   absl::string_view what);

struct Tensor {
  std::string name;
  Array array;
};
struct Decoded {
  std::vector<std::pair<std::string, std::string>> metadata;
  bool has_metadata = false;
  std::vector<Tensor> tensors;  // in the header's order
};

// Parses the file and returns its tensors. The arrays share `file`'s buffer
// (copied when the data is not aligned to the element size).
absl::StatusOr<Decoded> Decode(std::shared_ptr<const std::string> file,
                               absl::string_view what);

// A tensor to encode: its bytes are written by the caller (or by Encode).
struct EncodeInput {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
};

struct EncodedHeader {
  std::string bytes;            // the 8-byte length, the JSON, space padding
  std::vector<size_t> order;    // indices into the inputs, in data order
  std::vector<uint64_t> sizes;  // bytes of each input
};

// The header for `tensors` as upstream's serialize() writes it: tensors
// ordered by dtype (widest first, upstream's order) then name, data offsets
// in that order, "__metadata__" (if `metadata` is non-empty, keys sorted)
// first, compact JSON padded with spaces to a multiple of 8 bytes.
// InvalidArgument for duplicate names, "__metadata__" as a name, or a dtype
// safetensors cannot hold.
absl::StatusOr<EncodedHeader> EncodeHeader(
    const std::vector<EncodeInput>& tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata);

// The whole file for `tensors` (header, then each array's bytes in order).
absl::StatusOr<std::string> Encode(
    const std::vector<std::pair<std::string, Array>>& tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace ckptdb::safetensors

#endif  // CKPTDB_CORE_SAFETENSORS_H_
