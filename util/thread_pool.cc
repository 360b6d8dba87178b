#include "util/thread_pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace ckptdb::internal {
namespace {

// Lowers the calling thread's CPU priority by `nice` (on Linux,
// setpriority on a thread id affects that thread only). Best effort: a
// thread that cannot change its priority keeps working at the process's.
void LowerThisThreadsPriority(int nice) {
  if (nice <= 0) return;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return;
  (void)setpriority(PRIO_PROCESS, tid, current + nice);
}

}  // namespace

ThreadPool::ThreadPool(int threads, int nice) {
  caller_works_ = nice <= 0 || threads <= 0;
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this, nice] { WorkerLoop(nice); });
  }
  // Returns once every worker runs at its priority.
  absl::MutexLock l(&mu_);
  auto all_started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return started_ == static_cast<int>(workers_.size());
  };
  mu_.Await(absl::Condition(&all_started));
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

void ThreadPool::WorkerLoop(int nice) {
  LowerThisThreadsPriority(nice);
  {
    absl::MutexLock l(&mu_);
    ++started_;
  }
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
  if (workers_.empty() || (n == 1 && caller_works_)) {
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
  if (caller_works_) RunItems(job.get());
  // Wait until every item has returned. A worker that never woke for this
  // job finds no item left and does nothing.
  absl::MutexLock l(&mu_);
  auto all_done = [&] { return job->done.load() == n; };
  mu_.Await(absl::Condition(&all_done));
  job_.reset();
}

}  // namespace ckptdb::internal
