// Legacy Flax msgpack checkpoints (flax.serialization.to_bytes, the files
// flax.training.checkpoints wrote before Orbax), decoded in memory into a
// Tree, no I/O. The format is one msgpack object:
//
//   map        -> Dict (key order kept; str or int keys)
//   array      -> List
//   nil/bool/int/float/str -> None/Bool/Int/Float/String
//   ext 1      -> Array   (payload: [shape, dtype name, C-order bytes])
//   ext 3      -> 0-d Array (a numpy scalar, same payload)
//   ext 2      -> 0-d complex128 Array (payload: [real, imag])
//   ext 4      -> Tuple   (Orbax's tuple: payload is an array of values)
//
// A map holding the key "__msgpack_chunked_array__" (Flax's encoding of
// arrays above 2^30 bytes) becomes the concatenated, reshaped Array.
// bin values (Python bytes) become {"__ckptdb_bytes__": uint8 array}, as
// the ckptdb Python package stores bytes (restored there as bytes). uint64
// above int64's range, other ext codes and other key types are refused: a
// Tree cannot hold them. Every error
// names the byte offset ("byte 123: ...") and, below the root, the path.
// Lengths are checked against the bytes left before anything is allocated,
// and nesting is limited, so hostile input cannot exhaust memory or stack.
#ifndef CKPTDB_CORE_FLAX_MSGPACK_H_
#define CKPTDB_CORE_FLAX_MSGPACK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/tree.h"
#include "core/limits.h"

namespace ckptdb::flax_msgpack {

struct DecodeOptions {
  // Maximum nesting of maps, arrays and tuples (ext payloads included).
  // Default: limits::kMaxTreeDepth.
  int max_depth = limits::kMaxTreeDepth;
  // Maximum number of values (containers and leaves) decoded; beyond it,
  // InvalidArgument (a one-byte nil costs about 390 bytes as a tree node:
  // limits.h). Default: limits::kMaxDecodedNodes.
  uint64_t max_nodes = limits::kMaxDecodedNodes;
  // Maps whose keys are exactly "0".."n-1" (n >= 1) become Lists (Flax
  // stores lists and tuples so).
  bool lists = false;
};

// True if `prefix` (the file's first bytes) can start a Flax checkpoint: a
// msgpack map, or a bare ext 1/3 array. Not a validation.
bool LooksLikeFlaxMsgpack(absl::string_view prefix);

// Decodes the whole of `file`. Arrays share `file`'s buffer when their
// data is aligned to the element size, and copy it otherwise.
// InvalidArgument (with the byte offset) for anything malformed or
// unsupported, including trailing bytes after the object.
absl::StatusOr<Tree> Decode(std::shared_ptr<const std::string> file,
                            const DecodeOptions& options = {});

// Turns every Dict whose keys are exactly the strings "0".."n-1" (in any
// order, n >= 1) into a List ordered by index, bottom-up.
Tree IndexMapsToLists(Tree tree);

}  // namespace ckptdb::flax_msgpack

#endif  // CKPTDB_CORE_FLAX_MSGPACK_H_
