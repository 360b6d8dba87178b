// Legacy Flax msgpack checkpoints for `ckptdb import`: recognising a file,
// decoding it into a tree (core/flax_msgpack.h is the format), and finding
// the checkpoints of a legacy Flax directory as Flax finds them.
#ifndef CKPTDB_TOOLS_CLI_FLAX_H_
#define CKPTDB_TOOLS_CLI_FLAX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/tree.h"

namespace ckptdb::cli {

// True if the regular file at `path` begins like a Flax msgpack checkpoint.
bool FileLooksLikeFlaxMsgpack(const std::string& path);

// Decodes the checkpoint `bytes` read from `path`; errors start with the
// path and name the byte offset. With `lists`, maps keyed "0".."n-1"
// become lists.
absl::StatusOr<Tree> FlaxMsgpackToTree(std::shared_ptr<const std::string> bytes,
                                       const std::string& path, bool lists);

// Python's natural-sort key comparison of flax.training.checkpoints
// (signed floats compare as numbers, the text between them as text).
bool FlaxNaturalLess(absl::string_view a, absl::string_view b);

struct FlaxCheckpointFile {
  std::string path;  // dir/name
  std::string name;  // prefix + step, as Flax named it
  int64_t step = 0;
};

struct FlaxDirectory {
  std::vector<FlaxCheckpointFile> files;  // natural-sorted, as Flax sorts
  std::vector<std::string> skipped;       // entries not imported, and why
};

// The checkpoints in `dir` as Flax's _all_checkpoints finds them: names
// starting with `prefix`, except `prefix`tmp, *_tmp, *_gda and
// *.orbax-checkpoint-tmp*; natural-sorted. Folders (Orbax checkpoints) are
// skipped. A name whose step is not an integer >= 0 is InvalidArgument
// (ckptdb steps are integers).
absl::StatusOr<FlaxDirectory> FindFlaxCheckpoints(const std::string& dir,
                                                  const std::string& prefix);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_FLAX_H_
