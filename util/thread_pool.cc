#include "util/thread_pool.h"

namespace ckptdb::internal {

ThreadPool::ThreadPool(int threads) {
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunItems(Job* job) {
  for (;;) {
    const size_t i = job->next.fetch_add(1);
    if (i >= job->n) return;
    (*job->fn)(i);
    job->done.fetch_add(1);
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      absl::MutexLock l(&mu_);
      auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || generation_ != seen;
      };
      mu_.Await(absl::Condition(&woken));
      if (stop_) return;
      seen = generation_;
      job = job_;  // a snapshot: this worker works on this job only
    }
    if (job == nullptr) continue;  // woke after that job was over
    RunItems(job.get());
    // Releasing mu_ makes ParallelFor's Await look at job->done again.
    { absl::MutexLock l(&mu_); }
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  absl::MutexLock run(&run_mu_);
  if (workers_.empty() || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  {
    absl::MutexLock l(&mu_);
    job_ = job;
    ++generation_;
  }
  RunItems(job.get());
  // Every item was handed out; wait until each has returned. A worker that
  // never woke for this job finds no item left and does nothing.
  absl::MutexLock l(&mu_);
  auto all_done = [&] { return job->done.load() == n; };
  mu_.Await(absl::Condition(&all_done));
  job_.reset();
}

}  // namespace ckptdb::internal
