// Background saving shared by AsyncCheckpointer and CheckpointManager: one
// worker thread, one save in flight, errors reported exactly once.
#ifndef CKPTDB_API_BACKGROUND_H_
#define CKPTDB_API_BACKGROUND_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "ckptdb/async_checkpointer.h"
#include "ckptdb/tree.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {

struct SaveState {
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool done = false;
  absl::Status status;
};

class BackgroundSaver {
 public:
  BackgroundSaver();
  // Waits for the in-flight task; its error, if unreported, goes to stderr.
  ~BackgroundSaver();

  // Blocks until no task is in flight; returns the unreported error of the
  // last task (and marks it reported).
  absl::Status WaitUntilFinished();
  // Blocks until no task is in flight, without reporting its error.
  void WaitIdle();
  // Returns (and marks reported) the error of a finished task, if any,
  // without blocking.
  absl::Status CheckForErrors();
  bool busy() const;

  // Runs `task` on the worker, after the in-flight task (if any) finished.
  // The task's failure becomes the pending error.
  SaveFuture Start(std::function<absl::Status()> task);

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::function<absl::Status()> task_;
  std::shared_ptr<SaveState> state_;
  bool running_ = false;
  bool stop_ = false;
  absl::Status pending_error_;
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
