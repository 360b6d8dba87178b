// ThreadSanitizer builds only (CKPTDB_TSAN): makes absl::Mutex visible to
// TSAN.
//
// Debian's Abseil is not built with TSAN, so the acquire/release edges of
// absl::Mutex (atomics and futexes inside libabsl_synchronization.so) are
// invisible to it, and every access to ABSL_GUARDED_BY data from two
// threads would be reported as a race. The TSAN build links with
// -Wl,--wrap for the absl::Mutex members ckptdb uses (Lock, Unlock,
// ReaderLock, ReaderUnlock, Await, AwaitWithDeadline; a member used without
// a wrapper here makes TSAN report races on the data it guards, as
// AwaitWithDeadline in db/chunk_claims.cc did); each wrapper calls the real
// member and tells TSAN about the edge: an unlock (or the start of an
// Await) releases the mutex's address, a lock (or the end of an Await)
// acquires it. Reader
// locks are modelled like writer locks, which can only hide races between
// two readers (who must not write guarded data anyway).
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"

#ifndef CKPTDB_ABSL_MUTEX_MANGLED
#error "CMakeLists.txt defines CKPTDB_ABSL_MUTEX_MANGLED with CKPTDB_TSAN"
#endif

#define CKPTDB_REAL(sym) __asm__("__real_" CKPTDB_ABSL_MUTEX_MANGLED sym)
#define CKPTDB_WRAP(sym) __asm__("__wrap_" CKPTDB_ABSL_MUTEX_MANGLED sym)

namespace ckptdb::internal {

extern "C" {

// absl::Mutex members as plain functions of `this` (the same calling
// convention on the x86-64 and AArch64 ABIs).
void RealLock(absl::Mutex* mu) CKPTDB_REAL("4LockEv");
void RealUnlock(absl::Mutex* mu) CKPTDB_REAL("6UnlockEv");
void RealReaderLock(absl::Mutex* mu) CKPTDB_REAL("10ReaderLockEv");
void RealReaderUnlock(absl::Mutex* mu) CKPTDB_REAL("12ReaderUnlockEv");
void RealAwait(absl::Mutex* mu, const absl::Condition* cond)
    CKPTDB_REAL("5AwaitERKNS0_9ConditionE");

void WrapLock(absl::Mutex* mu) CKPTDB_WRAP("4LockEv");
void WrapLock(absl::Mutex* mu) {
  RealLock(mu);
  __tsan_acquire(mu);
}

void WrapUnlock(absl::Mutex* mu) CKPTDB_WRAP("6UnlockEv");
void WrapUnlock(absl::Mutex* mu) {
  __tsan_release(mu);
  RealUnlock(mu);
}

void WrapReaderLock(absl::Mutex* mu) CKPTDB_WRAP("10ReaderLockEv");
void WrapReaderLock(absl::Mutex* mu) {
  RealReaderLock(mu);
  __tsan_acquire(mu);
}

void WrapReaderUnlock(absl::Mutex* mu) CKPTDB_WRAP("12ReaderUnlockEv");
void WrapReaderUnlock(absl::Mutex* mu) {
  __tsan_release(mu);
  RealReaderUnlock(mu);
}

// Await releases the mutex while it waits and holds it again when it
// returns. Inside the library, `cond` is evaluated with the mutex held but
// without passing through the wrapped Lock (by the waiter, or by another
// thread in its Unlock), so the condition itself is wrapped: each
// evaluation acquires the mutex's address before and releases it after.
struct TsanCondition {
  absl::Mutex* mu;
  const absl::Condition* cond;
};

static bool EvalTsanCondition(TsanCondition* c) {
  __tsan_acquire(c->mu);
  const bool result = c->cond->Eval();
  __tsan_release(c->mu);
  return result;
}

void WrapAwait(absl::Mutex* mu, const absl::Condition* cond)
    CKPTDB_WRAP("5AwaitERKNS0_9ConditionE");
void WrapAwait(absl::Mutex* mu, const absl::Condition* cond) {
  TsanCondition c{mu, cond};
  const absl::Condition traced(&EvalTsanCondition, &c);
  __tsan_release(mu);
  RealAwait(mu, &traced);
  __tsan_acquire(mu);
}

// AwaitWithDeadline: as Await, and returns whether the condition held.
bool RealAwaitWithDeadline(absl::Mutex* mu, const absl::Condition* cond,
                           absl::Time deadline)
    CKPTDB_REAL("17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool WrapAwaitWithDeadline(absl::Mutex* mu, const absl::Condition* cond,
                           absl::Time deadline)
    CKPTDB_WRAP("17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
bool WrapAwaitWithDeadline(absl::Mutex* mu, const absl::Condition* cond,
                           absl::Time deadline) {
  TsanCondition c{mu, cond};
  const absl::Condition traced(&EvalTsanCondition, &c);
  __tsan_release(mu);
  const bool result = RealAwaitWithDeadline(mu, &traced, deadline);
  __tsan_acquire(mu);
  return result;
}

}  // extern "C"

namespace {

// Debian builds Abseil without NDEBUG, so absl::Mutex runs its deadlock
// detector on every lock. The detector's graph is guarded by a spin lock
// inside the uninstrumented library, while its memmove and mmap calls are
// intercepted by TSAN: every lock from two threads would be reported as a
// race inside GraphCycles. The TSAN build turns the detector off before
// main(); the wrappers above still give TSAN every real lock edge.
const bool kDeadlockDetectorOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace
}  // namespace ckptdb::internal
