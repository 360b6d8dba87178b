// Limits every importer applies to the trees it decodes from files
// (legacy Flax msgpack, safetensors names, .npz member paths, .npy folders,
// Orbax _METADATA key paths), so that a hostile or damaged file gets a
// clear error instead of exhausting the stack or memory.
#ifndef CKPTDB_CORE_LIMITS_H_
#define CKPTDB_CORE_LIMITS_H_

#include <cstdint>

namespace ckptdb::limits {

// Deepest tree an importer builds: containers nested inside each other (a
// path of this many components). Real checkpoints nest a few dozen levels;
// Python's restore recurses once per level (its default recursion limit is
// 1000), and C++ recursion over deeper trees would risk the stack.
inline constexpr int kMaxTreeDepth = 256;

// Most tree nodes (containers and leaves) decoded from one file. A msgpack
// nil is one byte but costs about 390 bytes of memory as a tree node
// (`ckptdb import` of a file of 4,000,000 nils: 1.57 GB peak RSS), so this
// bounds an import's tree to about 1.6 GB whatever the file; a real
// checkpoint has far fewer values (its arrays are one value each).
inline constexpr uint64_t kMaxDecodedNodes = uint64_t{1} << 22;

}  // namespace ckptdb::limits

#endif  // CKPTDB_CORE_LIMITS_H_
