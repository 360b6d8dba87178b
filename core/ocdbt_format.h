// TensorStore's OCDBT key-value database format (the storage under Orbax's
// checkpoints since 2024), decoded in memory, no I/O: the manifest and the
// B+tree nodes. The byte layout is TensorStore's
// (tensorstore/kvstore/ocdbt/index.rst); docs/orbax-import.md summarises
// what ckptdb reads of it. Every encoded object is
//
//   magic (u32 big-endian) | length (u64 LE, whole object) | version
//   (uleb128, 0) | compression (uleb128: 0 none, 1 zstd) | body | crc32c
//   (u32 LE of everything before it)
//
// Data files are named by a "data file table" in each node; paths here are
// relative to the database's root, with the node's transitive base path
// already applied. Errors are DataLoss "<what>: <problem>".
#ifndef CKPTDB_CORE_OCDBT_FORMAT_H_
#define CKPTDB_CORE_OCDBT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ckptdb::ocdbt {

inline constexpr uint32_t kManifestMagic = 0x0cdb3a2a;
inline constexpr uint32_t kBtreeNodeMagic = 0x0cdb20de;

// Where an encoded node or an out-of-line value lives.
struct Reference {
  std::string file;        // data file path, relative to the database root
  std::string transitive;  // base path for the data file tables it holds
  uint64_t offset = 0;
  uint64_t length = 0;
  bool missing = false;  // an empty version's root
};

struct Version {
  uint64_t generation = 0;
  uint8_t root_height = 0;
  Reference root;
  uint64_t num_keys = 0;
  uint64_t commit_time_ns = 0;
};

struct Manifest {
  uint64_t manifest_kind = 0;  // 0 single file, 1 numbered files
  uint64_t max_inline_value_bytes = 0;
  uint64_t max_decoded_node_bytes = 0;
  uint8_t version_tree_arity_log2 = 0;
  uint64_t compression_method = 0;  // of nodes written: 0 none, 1 zstd
  // The newest versions (kind 0 only); the last is the latest. Older ones
  // are in version-tree nodes, which an import does not need.
  std::vector<Version> versions;
};

struct LeafEntry {
  std::string key;  // relative to the node's inherited prefix
  bool is_inline = true;
  std::string value;  // when inline
  Reference ref;      // when out of line (length = value length)
};

struct ChildEntry {
  std::string key;                     // relative to the inherited prefix
  uint64_t subtree_prefix_length = 0;  // of `key`, common to the subtree
  Reference ref;
  uint64_t num_keys = 0;
};

struct BtreeNode {
  uint8_t height = 0;
  std::vector<LeafEntry> leaves;     // height 0
  std::vector<ChildEntry> children;  // height > 0
};

// Decodes a manifest file. `max_bytes` bounds the decompressed body.
absl::StatusOr<Manifest> DecodeManifest(absl::string_view bytes,
                                        absl::string_view what,
                                        size_t max_bytes = 64u << 20);

// Decodes a B+tree node read through `ref` (whose `transitive` path applies
// to the node's data file table). `max_bytes` bounds the decompressed body
// (the manifest's max_decoded_node_bytes).
absl::StatusOr<BtreeNode> DecodeBtreeNode(absl::string_view bytes,
                                          absl::string_view transitive,
                                          absl::string_view what,
                                          size_t max_bytes);

}  // namespace ckptdb::ocdbt

#endif  // CKPTDB_CORE_OCDBT_FORMAT_H_
