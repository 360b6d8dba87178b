// Background saving shared by AsyncCheckpointer and CheckpointManager: one
// worker thread, one save in flight, errors reported exactly once.
#ifndef CKPTDB_API_BACKGROUND_H_
#define CKPTDB_API_BACKGROUND_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "ckptdb/async_checkpointer.h"
#include "ckptdb/tree.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {

// The result of one background save, shared with its SaveFuture.
struct SaveState {
  mutable absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
};

class BackgroundSaver {
 public:
  BackgroundSaver();
  // Waits for the in-flight task; its error, if unreported, goes to stderr.
  ~BackgroundSaver();

  // Blocks until no task is in flight; returns the unreported error of the
  // last task (and marks it reported).
  absl::Status WaitUntilFinished() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until no task is in flight, without reporting its error.
  void WaitIdle() ABSL_LOCKS_EXCLUDED(mu_);
  // Returns (and marks reported) the error of a finished task, if any,
  // without blocking.
  absl::Status CheckForErrors() ABSL_LOCKS_EXCLUDED(mu_);
  bool busy() const ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `task` on the worker, after the in-flight task (if any) finished.
  // The task's failure becomes the pending error.
  SaveFuture Start(std::function<absl::Status()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_; }

  // Lock order: mu_ before SaveState::mu (the worker marks a task's state
  // done while holding mu_, so that a finished future implies !busy() and
  // !busy() implies a finished future). Tasks run without either lock.
  // Waits use Mutex::Await: a waiter's condition is re-evaluated whenever
  // mu_ is released, so nothing needs to be signalled.
  mutable absl::Mutex mu_;
  std::function<absl::Status()> task_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<SaveState> state_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status pending_error_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

// A tree captured for a background save.
struct CapturedTree {
  Tree tree;
  std::shared_ptr<void> arena;  // owns the copied array bytes (kCopy)
};

// kCopy: copies every array into one pooled (already-faulted when reused)
// buffer, in parallel on `pool`; kBorrow: a shallow copy whose arrays keep
// pointing at the caller's memory.
CapturedTree CaptureTree(const Tree& tree, CaptureMode mode, ThreadPool* pool);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_BACKGROUND_H_
