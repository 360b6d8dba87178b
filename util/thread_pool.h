// A small fixed-size thread pool for ckptdb's parallel hashing and reading.
#ifndef CKPTDB_UTIL_THREAD_POOL_H_
#define CKPTDB_UTIL_THREAD_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ckptdb::internal {

class ThreadPool {
 public:
  // `threads` workers in addition to the calling thread, which also works
  // inside ParallelFor. 0 runs everything on the caller.
  //
  // `nice` > 0: each worker lowers its own CPU priority by this much when
  // it starts (Linux sets the nice value per thread), and the caller only
  // waits, since an unprivileged thread cannot raise its priority back
  // after lowering it (with no workers the caller does the work, unniced).
  explicit ThreadPool(int threads, int nice = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Calls fn(i) for i in [0, n), spread over the workers and the caller;
  // returns when all calls have returned. Items are handed out in order.
  // Safe to call from several threads (calls are serialised).
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn)
      ABSL_LOCKS_EXCLUDED(run_mu_, mu_);

  int num_workers() const { return static_cast<int>(workers_.size()); }
  // How many threads run a ParallelFor's items: the workers, plus the
  // caller unless the pool is niced.
  int parallelism() const { return num_workers() + (caller_works_ ? 1 : 0); }

 private:
  // One ParallelFor call. A worker that wakes late holds the job it woke
  // for, whose items are all taken by then: it never touches a later job.
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};
    std::atomic<size_t> done{0};
  };
  void WorkerLoop(int nice) ABSL_LOCKS_EXCLUDED(mu_);
  static void RunItems(Job* job);

  // Lock order: run_mu_ before mu_. Waits use Mutex::Await, which
  // re-evaluates its condition whenever mu_ is released: a worker that
  // finishes its items releases mu_ once (without changing anything) so
  // that ParallelFor sees the new Job::done count.
  absl::Mutex run_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serialises ParallelFor
  absl::Mutex mu_;
  std::vector<std::thread> workers_;  // set in the constructor only
  bool caller_works_ = true;          // set in the constructor only
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int started_ ABSL_GUARDED_BY(mu_) = 0;  // workers running (and niced)
  std::shared_ptr<Job> job_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_THREAD_POOL_H_
