// Importing checkpoints other libraries wrote: legacy Flax msgpack files,
// safetensors files, Orbax checkpoint folders (OCDBT, zarr v2/v3, the
// aggregate layout), .npz archives and .npy files or folders, recognised by
// their content.
//
//   CKPTDB_ASSIGN_OR_RETURN(auto mgr, ckptdb::CheckpointManager::Open(db));
//   CKPTDB_ASSIGN_OR_RETURN(ckptdb::ImportedStep s,
//       ckptdb::ImportCheckpoint(*mgr, 100, "old/checkpoint_100", {}));
//   CKPTDB_ASSIGN_OR_RETURN(ckptdb::ImportAllResult all,
//       ckptdb::ImportAll(*mgr, "orbax_run/", {}));
//   // Or read one in place, without storing it:
//   CKPTDB_ASSIGN_OR_RETURN(ckptdb::CheckpointContents c,
//       ckptdb::ReadCheckpoint("orbax_run/7", {}));
//
// Every source is read whole and checked before anything is saved: a bad
// file saves nothing. Errors name the file (and the byte offset where it
// means something): InvalidArgument for malformed files, trees ckptdb
// cannot hold and bad options; DataLoss for damaged Orbax checkpoints;
// NotFound for a missing source; AlreadyExists for a step the manager
// has; Unimplemented for an Orbax codec ckptdb lacks. docs/cli.md
// ("import") and docs/orbax-import.md describe each format.
//
// Imports commit through the manager (as its Save would: a manager that
// follows another writer has that writer commit), without its save
// decisions or retention: an imported step is kept until deleted (call
// ApplyRetention to apply the manager's policy). Thread safety: as the
// manager's Save.
#ifndef CKPTDB_IMPORT_H_
#define CKPTDB_IMPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/tree.h"

namespace ckptdb {

enum class ImportFormat {
  kAuto,         // recognise by content
  kOrbax,        // an Orbax step or item folder (--all: a manager root)
  kFlaxMsgpack,  // a legacy Flax msgpack file (--all: a Flax folder)
  kSafetensors,  // a safetensors file
  kNpz,          // an .npz archive
  kNpy,          // a .npy file or a folder of .npy files
};

struct ImportOptions {
  // Skip the detection. Default: kAuto.
  ImportFormat format = ImportFormat::kAuto;
  // safetensors: keep tensor names as flat dict keys instead of splitting
  // them on '.'. Default: false.
  bool flat = false;
  // Flax msgpack: maps keyed exactly "0".."n-1" become lists. Default:
  // false (Flax's own restore without a target keeps them as dicts).
  bool lists = false;
  // The item a single-item source becomes (Orbax step folders keep their
  // items' names). Default: "default".
  std::string item = "default";
  // ImportAll: the file name prefix of a legacy Flax folder. When set,
  // the root is read as a Flax folder only; unset, an Orbax manager root
  // is tried first, then a Flax folder with "checkpoint_". Default: unset.
  std::optional<std::string> flax_prefix;
  // ImportAll into a manager without steps whose options name steps
  // plainly ("<step>"): take the source's naming (Flax's prefix, Orbax's
  // prefix and width) for the manager and its database, so imported steps
  // keep their names. Default: true.
  bool adopt_naming = true;
  // ReadCheckpoint of an Orbax folder: read only these items (empty: all)
  // and only the leaves below these key paths (components as strings;
  // others come back as None, their chunks unread). Default: all.
  std::vector<std::string> only_items;
  std::vector<std::vector<std::string>> only_paths;
  // Called as work is done: ReadCheckpoint and ImportCheckpoint with
  // (bytes read, total bytes of the source), ImportAll with (sources
  // imported, sources to import). Default: none.
  std::function<void(uint64_t, uint64_t)> progress;
};

// A checkpoint read into memory (ReadCheckpoint), not stored.
struct CheckpointContents {
  std::string format;  // "orbax", "msgpack", "safetensors", "npz", "npy"
  // The items: a single-item source has one, named ImportOptions::item.
  std::map<std::string, Tree> items;
  std::vector<std::string> item_order;  // the items in the source's order
  std::optional<Tree> metrics;          // Orbax step metrics
  Tree custom_metadata;                 // None if none
  int64_t init_time_ns = 0;             // 0: unknown
  int64_t commit_time_ns = 0;           // 0: unknown
  uint64_t files = 0;  // .npy files, safetensors tensors, Orbax items
  uint64_t array_bytes = 0;
  std::vector<std::string> ignored;  // files that are not .npy files
};

struct ImportedStep {
  std::string source;  // the file or folder imported
  int64_t step = 0;
  std::string name;                // the step's name
  std::string format;              // as CheckpointContents::format
  std::vector<std::string> items;  // the items saved
  uint64_t files = 0;
  uint64_t logical_bytes = 0;  // array bytes of the step
  uint64_t new_bytes = 0;      // chunk bytes written (after dedup)
  std::vector<std::string> ignored;
};

struct ImportAllResult {
  std::string format;  // "orbax" (a manager root) or "msgpack" (Flax)
  std::vector<ImportedStep> steps;
  std::vector<std::string> skipped;  // entries not imported, and why
};

// Reads `src` (a file or folder, recognised by content) into memory.
absl::StatusOr<CheckpointContents> ReadCheckpoint(
    const std::string& src, const ImportOptions& options = {});

// Saves `src` as step `step` of `manager`, named as the manager names
// steps. AlreadyExists if the step exists; FailedPrecondition if the
// manager is read-only or closed. Nothing is saved on error.
absl::StatusOr<ImportedStep> ImportCheckpoint(
    CheckpointManager& manager, int64_t step, const std::string& src,
    const ImportOptions& options = {});

// Imports every checkpoint under `root`: the committed steps of an Orbax
// CheckpointManager root (folders <step>, zero-padded or <prefix>_<step>;
// unfinished and uncommitted ones skipped), or the files of a legacy Flax
// folder as Flax finds them (natural sort; <prefix>tmp, *_tmp, *_gda
// skipped; whole float steps such as "2.0" taken, named as Flax named
// them). Every step number is checked to be new first (AlreadyExists).
// Each source is read once, just before it is saved; if one fails, the
// steps this call already saved are deleted again, so nothing of the
// root is imported (a crash midway leaves the steps saved so far).
absl::StatusOr<ImportAllResult> ImportAll(CheckpointManager& manager,
                                          const std::string& root,
                                          const ImportOptions& options = {});

}  // namespace ckptdb

#endif  // CKPTDB_IMPORT_H_
