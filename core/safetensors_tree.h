// safetensors files as trees, for importers: tensor names split on '.'
// into nested dicts (or kept flat), the header's "__metadata__" as the
// step's custom metadata. The format itself is core/safetensors.h.
#ifndef CKPTDB_CORE_SAFETENSORS_TREE_H_
#define CKPTDB_CORE_SAFETENSORS_TREE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ckptdb/tree.h"

namespace ckptdb::safetensors {

// True if the regular file at `path` begins like a safetensors file.
bool FileLooksLikeSafetensors(const std::string& path);

struct FileTree {
  Tree tree;      // a dict
  Tree metadata;  // a dict of strings, or None without "__metadata__"
  uint64_t tensors = 0;
};

// Decodes the safetensors file `bytes` (read from `path`) into a tree:
// names split on '.' into nested dicts, or with `flat` one dict keyed by
// the names. A split where one name is a prefix of another ("a" and "a.b")
// or deeper than limits::kMaxTreeDepth is InvalidArgument naming the file.
absl::StatusOr<FileTree> FileToTree(std::shared_ptr<const std::string> bytes,
                                    const std::string& path, bool flat);

}  // namespace ckptdb::safetensors

#endif  // CKPTDB_CORE_SAFETENSORS_TREE_H_
