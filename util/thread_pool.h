// A small fixed-size thread pool for ckptdb's parallel hashing and reading.
#ifndef CKPTDB_UTIL_THREAD_POOL_H_
#define CKPTDB_UTIL_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ckptdb::internal {

class ThreadPool {
 public:
  // `threads` workers in addition to the calling thread, which also works
  // inside ParallelFor. 0 runs everything on the caller.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Calls fn(i) for i in [0, n), spread over the workers and the caller;
  // returns when all calls have returned. Items are handed out in order.
  // Safe to call from several threads (calls are serialised).
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

  int num_workers() const { return static_cast<int>(workers_.size()); }

 private:
  // One ParallelFor call. A worker that wakes late holds the job it woke
  // for, whose items are all taken by then: it never touches a later job.
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};
    std::atomic<size_t> done{0};
  };
  void WorkerLoop();
  static void RunItems(Job* job);

  std::mutex run_mu_;  // serialises ParallelFor calls
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  std::shared_ptr<Job> job_;  // guarded by mu_
  uint64_t generation_ = 0;   // guarded by mu_
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_THREAD_POOL_H_
