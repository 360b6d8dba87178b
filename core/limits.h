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
// nil is one byte but a tree node is about a hundred, so without this a
// 1 GiB file of nils would need ~100 GiB of memory.
inline constexpr uint64_t kMaxDecodedNodes = uint64_t{1} << 24;

}  // namespace ckptdb::limits

#endif  // CKPTDB_CORE_LIMITS_H_
