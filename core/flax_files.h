// Legacy Flax msgpack checkpoints on disk: recognising a file, decoding it
// into a tree (core/flax_msgpack.h is the format) with its multi-process
// arrays, and finding the checkpoints of a legacy Flax directory as
// flax.training.checkpoints finds them.
#ifndef CKPTDB_CORE_FLAX_FILES_H_
#define CKPTDB_CORE_FLAX_FILES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/tree.h"

namespace ckptdb::flax_files {

// True if the regular file at `path` begins like a Flax msgpack checkpoint.
bool FileLooksLikeFlaxMsgpack(const std::string& path);

// Decodes the checkpoint `bytes` read from `path`; errors start with the
// path and name the byte offset. With `lists`, maps keyed "0".."n-1"
// become lists. String leaves "//GDAPlaceholder:<key path>" (the arrays
// save_checkpoint_multiprocess wrote apart) are replaced by the zarr array
// in "<path>_gda/<key path>"; DataLoss naming both if it is missing.
absl::StatusOr<Tree> DecodeFile(std::shared_ptr<const std::string> bytes,
                                const std::string& path, bool lists);

// Python's natural-sort key comparison of flax.training.checkpoints
// (signed floats compare as numbers, the text between them as text).
bool NaturalLess(absl::string_view a, absl::string_view b);

struct CheckpointFile {
  std::string path;  // dir/name
  std::string name;  // prefix + step text, as Flax named it
  int64_t step = 0;  // the step's value (an integral float counts)
};

struct Directory {
  std::vector<CheckpointFile> files;  // natural-sorted, as Flax sorts
  std::vector<std::string> skipped;   // entries not imported, and why
};

// The checkpoints in `dir` as Flax's _all_checkpoints finds them: names
// starting with `prefix`, except `prefix`tmp, *_tmp, *_gda and
// *.orbax-checkpoint-tmp*; natural-sorted. Folders (Orbax checkpoints) are
// skipped. The step text is read as Flax's available_steps(step_type=float)
// reads it ("2", "2.0", "1e3"); a value that is not a whole number >= 0 is
// InvalidArgument (ckptdb steps are integers), and so are two names of the
// same step ("checkpoint_10", "checkpoint_1e1").
absl::StatusOr<Directory> FindCheckpoints(const std::string& dir,
                                          const std::string& prefix);

}  // namespace ckptdb::flax_files

#endif  // CKPTDB_CORE_FLAX_FILES_H_
