// Reading a checkpoint someone else wrote into memory, recognised by its
// content: a legacy Flax msgpack file, a safetensors file, an Orbax step or
// item folder, an .npz archive, a .npy file or a folder of .npy files. The
// reading half of every importer (api/import.cc stores what this returns;
// the Python package restores it directly). Nothing here writes.
//
// Everything is read and checked before anything is returned, so an import
// that fails saves nothing. Errors name the file (and, for the byte
// formats, the byte offset): InvalidArgument for files that are malformed
// or that a tree cannot hold, DataLoss for damaged Orbax checkpoints,
// NotFound for a missing source, Unimplemented for an Orbax codec ckptdb
// lacks.
#ifndef CKPTDB_CORE_IMPORT_SOURCE_H_
#define CKPTDB_CORE_IMPORT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/tree.h"
#include "core/orbax_checkpoint.h"

namespace ckptdb::import_source {

enum class Format {
  kAuto,         // recognise by content
  kOrbax,        // an Orbax step or item folder
  kFlaxMsgpack,  // a legacy Flax msgpack file
  kSafetensors,  // a safetensors file
  kNpz,          // an .npz archive
  kNpy,          // a .npy file, or a folder of .npy files
};

// "orbax", "msgpack", "safetensors", "npz", "npy" ("auto" for kAuto).
absl::string_view FormatName(Format format);
// The inverse; InvalidArgument naming the accepted names.
absl::StatusOr<Format> ParseFormat(absl::string_view name);

struct ReadOptions {
  // Default: kAuto.
  Format format = Format::kAuto;
  // safetensors: keep tensor names as flat dict keys. Default: false.
  bool flat = false;
  // Flax msgpack: maps keyed "0".."n-1" become lists. Default: false.
  bool lists = false;
  // Orbax: which items and leaves to read (others are not read).
  orbax::ReadStepOptions orbax;
  // Called with (bytes read so far, total bytes) while reading; may be
  // empty. Default: none.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct Source {
  Format format = Format::kAuto;  // what was read (never kAuto)
  // The step: items (name "" when the source is a single item), times,
  // metrics and custom metadata (safetensors' __metadata__, Orbax's).
  orbax::Step step;
  uint64_t files = 0;  // .npy files, safetensors tensors, Orbax items
  uint64_t array_bytes = 0;
  std::vector<std::string> ignored;  // files that are not .npy files
};

// The format of `path` (a file or folder) for `forced` (kAuto: by content).
// InvalidArgument if a forced format does not fit (a folder for a file
// format) or if `path` is an Orbax CheckpointManager root (one step at a
// time; ImportAll reads roots).
absl::StatusOr<Format> DetectFormat(const std::string& path, Format forced);

// Reads `path` whole. NotFound if it does not exist; InvalidArgument if it
// is neither a regular file nor a folder (a FIFO, a device).
absl::StatusOr<Source> Read(const std::string& path,
                            const ReadOptions& options);

// Reads a regular file whole (refusing FIFOs and devices without opening
// them for blocking reads), reporting `progress(bytes)` as it goes.
absl::StatusOr<std::shared_ptr<const std::string>> ReadWholeFile(
    const std::string& path,
    const std::function<void(uint64_t)>& progress = nullptr);

}  // namespace ckptdb::import_source

#endif  // CKPTDB_CORE_IMPORT_SOURCE_H_
