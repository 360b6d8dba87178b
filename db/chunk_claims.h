// In-flight deduplication across concurrent saves: before a save writes the
// chunks the index does not hold, it claims them here (at the writer, for
// its own saves and, through the commit service, for other processes'). A
// save that would write a chunk another save is writing waits for that
// save to commit and then reuses the chunk, instead of writing it too and
// losing the race at commit (docs/design.md, "Many writers").
//
// Claims are all or none: a save holds claims only while it writes, never
// while it waits, so waits cannot form a cycle. They are an optimisation
// only: a claim is released at the save's commit (or failure), when its
// connection closes, or ignored by a waiter past its deadline; the commit
// check (CheckStillStored) still decides what may be committed.
#ifndef CKPTDB_DB_CHUNK_CLAIMS_H_
#define CKPTDB_DB_CHUNK_CLAIMS_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "util/hash.h"

namespace ckptdb::internal {

class ChunkClaims {
 public:
  // Claims every hash for `save` (of `owner`: a connection, or 0 for this
  // process) unless another save holds one of them: returns 0 when
  // granted, else the save number of a holder.
  uint64_t TryClaim(uint64_t save, uint64_t owner,
                    const std::vector<Hash128>& hashes);
  // Drops the claims of `save` / of every save of `owner`; wakes waiters.
  void Release(uint64_t save);
  void ReleaseOwner(uint64_t owner);
  // Waits until `save` holds no claim, or until `deadline`: false then.
  bool WaitReleased(uint64_t save, absl::Time deadline);
  // Claims held (tests).
  size_t size() const;

 private:
  void ReleaseLocked(uint64_t save) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<Hash128, uint64_t> holder_ ABSL_GUARDED_BY(mu_);
  struct Held {
    uint64_t owner = 0;
    std::vector<Hash128> hashes;
  };
  std::map<uint64_t, Held> by_save_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_CHUNK_CLAIMS_H_
