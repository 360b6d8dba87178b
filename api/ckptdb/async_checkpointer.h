// ckptdb::AsyncCheckpointer: Checkpointer whose saves write in the
// background, as Orbax's AsyncCheckpointer does.
//
// Save returns once the tree is safely captured; hashing, chunk writes and
// the commit run on a background thread. Two capture modes, per save:
//   kCopy    the arrays are copied (into reused, already-faulted memory):
//            the caller may mutate or free its arrays as soon as Save
//            returns.
//   kBorrow  zero-copy: the caller promises its array memory stays
//            unchanged and alive until the returned SaveFuture is done.
// One save is in flight at a time: the next Save waits for the previous
// one and returns its error if it failed. A background error is reported
// exactly once, by whichever comes first of WaitUntilFinished,
// CheckForErrors, the next Save, or Close. Nothing half-written is ever
// visible: a failed save leaves the previous checkpoint as it was.
//
// Thread safety: all methods may be called from any thread.
#ifndef CKPTDB_ASYNC_CHECKPOINTER_H_
#define CKPTDB_ASYNC_CHECKPOINTER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"

namespace ckptdb {

namespace internal {
class BackgroundSaver;
struct LoadedItem;
struct SaveState;
}  // namespace internal

enum class CaptureMode {
  kCopy,    // copy the arrays; the caller's buffers are free at once
  kBorrow,  // borrow them until the save is done (see SaveFuture)
};

// Completion of one background save.
class SaveFuture {
 public:
  SaveFuture() = default;
  // True once the save has committed or failed (or for an empty future).
  bool done() const;
  // Blocks until done; returns OK or the save's error (without consuming
  // it: WaitUntilFinished still reports it).
  absl::Status Wait() const;

 private:
  friend class internal::BackgroundSaver;
  explicit SaveFuture(std::shared_ptr<internal::SaveState> s)
      : state_(std::move(s)) {}
  std::shared_ptr<internal::SaveState> state_;
};

struct AsyncSaveOptions : SaveOptions {
  // Default: kCopy.
  CaptureMode capture = CaptureMode::kCopy;
};

class AsyncCheckpointer {
 public:
  explicit AsyncCheckpointer(StoreTuning tuning = {});
  // Drains the in-flight save (its error, if any, is logged to stderr).
  ~AsyncCheckpointer();
  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

  // Waits for the previous save, captures `tree` and saves it in the
  // background. Returns the previous save's error, or the validation error
  // of this one (AlreadyExists without force is checked before returning).
  absl::StatusOr<SaveFuture> Save(absl::string_view path, const Tree& tree,
                                  const AsyncSaveOptions& options = {});
  // As Checkpointer::Restore; waits first if a save to `path` is in flight.
  absl::StatusOr<Tree> Restore(absl::string_view path,
                               const RestoreOptions& options = {});
  absl::StatusOr<Tree> Restore(absl::string_view path, const Tree& target,
                               const RestoreOptions& options = {});
  absl::StatusOr<TreeMetadata> Metadata(absl::string_view path,
                                        const RestoreOptions& options = {});

  // Blocks until no save is in flight; returns its error once.
  absl::Status WaitUntilFinished();
  // Returns (and clears) the error of a finished save without blocking.
  absl::Status CheckForErrors();
  bool IsSaving() const;
  // WaitUntilFinished; later Saves return FailedPrecondition.
  absl::Status Close();

 private:
  class Impl;
  absl::StatusOr<internal::LoadedItem> Load(absl::string_view path,
                                            const RestoreOptions& options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ckptdb

#endif  // CKPTDB_ASYNC_CHECKPOINTER_H_
