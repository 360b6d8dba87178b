// A process-wide cache of large, already-faulted buffers for restored
// arrays.
//
// On the machines ckptdb targets, the first touch of fresh memory runs at a
// fraction of a GB/s, far below the speed of copying from the page cache;
// glibc returns large blocks to the kernel on free, so every restore into
// new arrays would pay that again. Restores without a target therefore take
// their array buffers from this pool: a buffer returns to the pool when the
// last array using it is destroyed, and the next restore of similar sizes
// reuses it. The pool keeps at most `limit` bytes of idle buffers.
#ifndef CKPTDB_UTIL_BUFFER_POOL_H_
#define CKPTDB_UTIL_BUFFER_POOL_H_

#include <cstddef>
#include <memory>

namespace ckptdb::internal {

// A buffer of at least `bytes` bytes (64-byte aligned), owned by the
// returned pointer; nullptr if memory is exhausted.
std::shared_ptr<void> AcquireBuffer(size_t bytes);

// Sets how many bytes of idle buffers the pool may keep (default 2 GiB);
// 0 disables pooling. Returns the previous limit.
size_t SetBufferPoolLimit(size_t bytes);

// Bytes of idle buffers held now.
size_t BufferPoolIdleBytes();

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_BUFFER_POOL_H_
