// A writer-preferring shared mutex.
//
// std::shared_mutex on glibc prefers readers: with overlapping readers a
// writer can wait forever. ckptdb's exclusive holders (garbage collection
// removing chunks, recycling a step's column family, reopening after a
// failed write) must not starve behind a stream of restores, so once a
// writer waits, new readers wait behind it.
#ifndef CKPTDB_UTIL_SHARED_MUTEX_H_
#define CKPTDB_UTIL_SHARED_MUTEX_H_

#include <condition_variable>
#include <mutex>

namespace ckptdb::internal {

class SharedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> l(mu_);
    ++writers_waiting_;
    cv_.wait(l, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  bool try_lock() {
    std::lock_guard<std::mutex> l(mu_);
    if (writer_ || readers_ > 0) return false;
    writer_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> l(mu_);
      writer_ = false;
    }
    cv_.notify_all();
  }
  void lock_shared() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  bool try_lock_shared() {
    std::lock_guard<std::mutex> l(mu_);
    if (writer_ || writers_waiting_ > 0) return false;
    ++readers_;
    return true;
  }
  void unlock_shared() {
    bool last;
    {
      std::lock_guard<std::mutex> l(mu_);
      last = --readers_ == 0;
    }
    if (last) cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_SHARED_MUTEX_H_
