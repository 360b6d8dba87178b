#include "util/buffer_pool.h"

#include <sys/mman.h>

#include <cstdlib>
#include <list>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ckptdb::internal {
namespace {

constexpr size_t kPage = 4096;
// Below this, plain aligned_alloc: malloc's own free lists reuse small
// blocks well enough.
constexpr size_t kPoolMin = 256 << 10;

struct Pool {
  absl::Mutex mu;
  size_t limit ABSL_GUARDED_BY(mu) = size_t{2} << 30;
  size_t idle_bytes ABSL_GUARDED_BY(mu) = 0;
  // capacity -> buffer; best fit is the first entry >= the request.
  std::multimap<size_t, void*> idle ABSL_GUARDED_BY(mu);
  // Oldest first, for eviction.
  std::list<std::pair<size_t, void*>> order ABSL_GUARDED_BY(mu);
};

Pool& GetPool() {
  static Pool* pool = new Pool();
  return *pool;
}

void Unmap(void* p, size_t cap) { munmap(p, cap); }

// Transparent huge pages for a new buffer of 2 MiB or more, where the
// system leaves them to madvise (Debian's default): one fault per 2 MiB
// instead of per 4 KiB. On this VM a new 1 GiB mapping is first written at
// 0.35 GB/s with 4 KiB pages and at 11 GB/s with huge pages, and the
// kernel's first pread into memory the process has written runs at 0.7
// GB/s against 14 GB/s (docs/design.md, "Huge pages for restored
// arrays"). Advice only: without huge pages the buffer works the same.
void AskForHugePages(void* p, size_t cap) {
  constexpr size_t kHugePage = size_t{2} << 20;
  if (cap >= kHugePage) madvise(p, cap, MADV_HUGEPAGE);
}

void Release(void* p, size_t cap) {
  Pool& pool = GetPool();
  absl::MutexLock l(&pool.mu);
  if (cap > pool.limit) {
    Unmap(p, cap);
    return;
  }
  while (pool.idle_bytes + cap > pool.limit && !pool.order.empty()) {
    auto [ocap, op] = pool.order.front();
    pool.order.pop_front();
    auto range = pool.idle.equal_range(ocap);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == op) {
        pool.idle.erase(it);
        break;
      }
    }
    pool.idle_bytes -= ocap;
    Unmap(op, ocap);
  }
  pool.idle.emplace(cap, p);
  pool.order.emplace_back(cap, p);
  pool.idle_bytes += cap;
}

}  // namespace

std::shared_ptr<void> AcquireBuffer(size_t bytes) {
  if (bytes < kPoolMin) {
    void* p = std::aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
    if (p == nullptr) return nullptr;
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  const size_t cap_needed = (bytes + kPage - 1) / kPage * kPage;
  Pool& pool = GetPool();
  {
    absl::MutexLock l(&pool.mu);
    auto it = pool.idle.lower_bound(cap_needed);
    // Reuse a buffer at most twice the request, so that one huge idle
    // buffer does not serve (and pin) many small requests.
    if (it != pool.idle.end() && it->first <= 2 * cap_needed) {
      const size_t cap = it->first;
      void* p = it->second;
      pool.idle.erase(it);
      for (auto o = pool.order.begin(); o != pool.order.end(); ++o) {
        if (o->second == p) {
          pool.order.erase(o);
          break;
        }
      }
      pool.idle_bytes -= cap;
      return std::shared_ptr<void>(p, [cap](void* q) { Release(q, cap); });
    }
  }
  void* p = mmap(nullptr, cap_needed, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  AskForHugePages(p, cap_needed);
  return std::shared_ptr<void>(
      p, [cap_needed](void* q) { Release(q, cap_needed); });
}

size_t SetBufferPoolLimit(size_t bytes) {
  Pool& pool = GetPool();
  absl::MutexLock l(&pool.mu);
  const size_t old = pool.limit;
  pool.limit = bytes;
  while (pool.idle_bytes > pool.limit && !pool.order.empty()) {
    auto [cap, p] = pool.order.front();
    pool.order.pop_front();
    auto range = pool.idle.equal_range(cap);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == p) {
        pool.idle.erase(it);
        break;
      }
    }
    pool.idle_bytes -= cap;
    Unmap(p, cap);
  }
  return old;
}

size_t BufferPoolIdleBytes() {
  Pool& pool = GetPool();
  absl::MutexLock l(&pool.mu);
  return pool.idle_bytes;
}

}  // namespace ckptdb::internal
