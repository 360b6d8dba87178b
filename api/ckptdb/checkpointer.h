// ckptdb::Checkpointer: save one tree to a path and restore it, with the
// semantics of Orbax's Checkpointer(PyTreeCheckpointHandler()).
//
// A checkpoint path is one ckptdb database (a RocksDB directory) holding a
// single checkpoint. Save is atomic and durable: the checkpoint becomes
// visible only once all of its bytes are on disk and its commit record is
// written; a crash before that leaves the previous state.
//
//   ckptdb::Checkpointer ckpt;
//   CKPTDB_RETURN_IF_ERROR(ckpt.Save("/tmp/ckpt", tree));
//   CKPTDB_ASSIGN_OR_RETURN(ckptdb::Tree back, ckpt.Restore("/tmp/ckpt"));
//
// Thread safety: a Checkpointer has no mutable state; calls may run
// concurrently (saves to one path are serialised by the database lock: a
// second writer gets FailedPrecondition).
#ifndef CKPTDB_CHECKPOINTER_H_
#define CKPTDB_CHECKPOINTER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/metadata.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"

namespace ckptdb {

// Open-time tuning shared by Checkpointer, AsyncCheckpointer and
// CheckpointManager.
struct StoreTuning {
  // Arrays are split into chunks of this many bytes, each stored once under
  // its XXH3-128 hash (a power of two, 4 KiB .. 64 MiB). Only affects new
  // saves. Default: 1 MiB.
  uint32_t chunk_bytes = 1 << 20;
  // Arrays of at most this many bytes are stored inside their tree-node
  // record. Default: 1 KiB.
  uint32_t inline_bytes = 1024;
  // Changed chunks that differ from the previous save's chunk in at most
  // this fraction of 4 KiB pages are stored as patches; 0 disables.
  // Default: 0.5.
  double patch_max_fraction = 0.5;
  // A changed chunk whose predecessor (the previous save's chunk at the same
  // leaf and position) has the same size is stored as the byte planes of its
  // difference from it, zstd-compressed, when a sample of it predicts at
  // least 10% saved (training steps: the sign, exponent and top mantissa
  // bits of most floats do not change). Restores decode it; reads verify the
  // decoded bytes. Default: true.
  bool delta_chunks = true;
  // A chunk stored whole is stored as compressed byte planes when a sample
  // predicts at least 20% saved (bfloat16 weights, integer tables; random
  // float32 values do not qualify and cost only the sample). Default: true.
  bool compress_chunks = true;
  // A chunk (stored whole, or coded: then decoded, its base read the same
  // way) is read with one pread from its file into a per-thread buffer, its
  // hash checked there, and copied into place, instead of through RocksDB's
  // Get (its table reader and block checksum, then the copy). false: every
  // chunk through RocksDB, about 3x slower restores (W1). Default: true
  // (docs/design.md, "Restore").
  bool direct_reads = true;
  // Chunks read through RocksDB (direct_reads off, or an unexpected layout)
  // are read through mmap: one copy from the page cache instead of a pread
  // and a copy, but the mapped page-cache pages count in the process's RSS
  // during a restore (shared and reclaimable, yet RSS doubles while
  // restoring). Default: false.
  bool mmap_reads = false;
  // A save asks the kernel to start writing a chunk file back to the disk
  // every this many bytes as it writes the file (RocksDB's bytes_per_sync:
  // sync_file_range without waiting), so that the disk works while the
  // save still hashes and copies and the final fsync finds less left to
  // write; the pages stay cached for the next restore. 0: only the final
  // fsync. Default: 1 MiB (W1 saves 1.35x faster than with 0; see
  // docs/design.md, "Performance against the disk ceiling").
  uint64_t writeback_bytes = 1 << 20;
  // Worker threads for reading, besides the caller (saves use
  // num_threads + 1 threads of their own: save_nice).
  // Default (-1): hardware threads - 1, at least 1.
  int num_threads = -1;
  // A save's hashing, coding and writing run on their own threads (as many
  // as num_threads + 1; the caller waits) niced by this much, so that
  // other work comes first: a reader's restore in another process, or the
  // training loop beside an async save. On an idle machine it changes
  // nothing. 0: save on the caller and the read threads at the caller's
  // priority. 0-19. Default: 10 (docs/design.md, "Saves yield the CPU").
  int save_nice = 10;
};

class Checkpointer {
 public:
  explicit Checkpointer(StoreTuning tuning = {});

  // Saves `tree` as the checkpoint at `path` (created if missing). Array
  // bytes are read in place (borrowed) for the duration of the call.
  //   AlreadyExists       a checkpoint exists and options.force is false
  //                       (nothing is changed)
  //   FailedPrecondition  `path` is not a ckptdb checkpoint (an unrelated
  //                       directory is never overwritten, even with force),
  //                       or another process is writing it
  //   InvalidArgument     invalid tree (bad shape, array without data,
  //                       Placeholder leaf, malformed container: dict key
  //                       and value counts differ or a key twice, a list
  //                       with keys, a leaf with children), or a save_args
  //                       entry naming no leaf or two leaves
  //   ResourceExhausted   the disk is full (the previous checkpoint stays)
  absl::Status Save(absl::string_view path, const Tree& tree,
                    const SaveOptions& options = {}) const;

  // Restores the exact saved tree (container kinds, key order and types,
  // scalars, dtypes, shapes, values).
  //   NotFound   no checkpoint at `path`
  //   DataLoss   corrupt bytes; the message names the leaf
  absl::StatusOr<Tree> Restore(absl::string_view path,
                               const RestoreOptions& options = {}) const;

  // Restores into the structure of `target`: leaves take the saved values
  // (cast per options.restore_args); target arrays of matching shape and
  // dtype are filled in place (a leaf whose memory overlaps another leaf's
  // gets a new array instead). InvalidArgument naming the first differing
  // path if the structures differ (see RestoreOptions::partial_restore).
  // If the restore fails part-way (DataLoss), filled-in-place arrays may
  // hold a mix of old and restored bytes.
  absl::StatusOr<Tree> Restore(absl::string_view path, const Tree& target,
                               const RestoreOptions& options = {}) const;

  // The saved tree's structure, dtypes and shapes without reading arrays.
  absl::StatusOr<TreeMetadata> Metadata(
      absl::string_view path, const RestoreOptions& options = {}) const;

  // The checkpoint's commit record: when its save started and was committed,
  // the custom metadata given to Save (None if none), its items and sizes.
  // No array or tree bytes are read.
  //   NotFound            no checkpoint at `path`
  //   FailedPrecondition  `path` is a CheckpointManager database
  absl::StatusOr<StepInfo> Info(absl::string_view path) const;

 private:
  StoreTuning tuning_;
};

}  // namespace ckptdb

#endif  // CKPTDB_CHECKPOINTER_H_
