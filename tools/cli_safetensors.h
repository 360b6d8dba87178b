// safetensors files for `ckptdb import` and `ckptdb export --safetensors`:
// tensor names split on '.' into nested dicts (and joined back), the
// header's "__metadata__" as the step's custom metadata. The format itself
// is core/safetensors.h.
#ifndef CKPTDB_TOOLS_CLI_SAFETENSORS_H_
#define CKPTDB_TOOLS_CLI_SAFETENSORS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/metadata.h"
#include "ckptdb/tree.h"
#include "tools/cli.h"

namespace ckptdb::cli {

// True if the regular file at `path` begins like a safetensors file.
bool FileLooksLikeSafetensors(const std::string& path);

struct SafetensorsTree {
  Tree tree;      // a dict
  Tree metadata;  // a dict of strings, or None without "__metadata__"
  uint64_t tensors = 0;
};

// Decodes the safetensors file `bytes` (read from `path`) into a tree:
// names split on '.' into nested dicts, or with `flat` one dict keyed by
// the names. A split where one name is a prefix of another ("a" and "a.b")
// is InvalidArgument naming both.
absl::StatusOr<SafetensorsTree> SafetensorsToTree(
    std::shared_ptr<const std::string> bytes, const std::string& path,
    bool flat);

// `ckptdb export ... --safetensors`: writes `item` of step `info` as the
// safetensors file `out` (which must not exist) and prints the summary.
absl::Status ExportSafetensors(const Args& args, const Store& store,
                               const StepInfo& info, const StoredItem& item,
                               const std::string& out);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_SAFETENSORS_H_
