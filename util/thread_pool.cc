#include "util/thread_pool.h"

namespace ckptdb::internal {

ThreadPool::ThreadPool(int threads) {
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
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
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;  // a snapshot: this worker works on this job only
    }
    if (job == nullptr) continue;  // woke after that job was over
    RunItems(job.get());
    { std::lock_guard<std::mutex> l(mu_); }
    done_cv_.notify_all();
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  std::lock_guard<std::mutex> run(run_mu_);
  if (workers_.empty() || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  {
    std::lock_guard<std::mutex> l(mu_);
    job_ = job;
    ++generation_;
  }
  cv_.notify_all();
  RunItems(job.get());
  // Every item was handed out; wait until each has returned. A worker that
  // never woke for this job finds no item left and does nothing.
  std::unique_lock<std::mutex> l(mu_);
  done_cv_.wait(l, [&] { return job->done.load() == n; });
  job_.reset();
}

}  // namespace ckptdb::internal
