// `ckptdb export --safetensors`: nested keys joined with '.', the step's
// custom metadata as the header's "__metadata__". The format itself is
// core/safetensors.h; reading files as trees is core/safetensors_tree.h.
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

// `ckptdb export ... --safetensors`: writes `item` of step `info` as the
// safetensors file `out` (which must not exist) and prints the summary.
absl::Status ExportSafetensors(const Args& args, const Store& store,
                               const StepInfo& info, const StoredItem& item,
                               const std::string& out);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_SAFETENSORS_H_
