#include "db/chunk_claims.h"

namespace ckptdb::internal {

uint64_t ChunkClaims::TryClaim(uint64_t save, uint64_t owner,
                               const std::vector<Hash128>& hashes) {
  absl::MutexLock l(&mu_);
  for (const Hash128& h : hashes) {
    auto it = holder_.find(h);
    if (it != holder_.end() && it->second != save) return it->second;
  }
  Held& held = by_save_[save];
  held.owner = owner;
  for (const Hash128& h : hashes) {
    if (holder_.emplace(h, save).second) held.hashes.push_back(h);
  }
  return 0;
}

void ChunkClaims::ReleaseLocked(uint64_t save) {
  auto it = by_save_.find(save);
  if (it == by_save_.end()) return;
  for (const Hash128& h : it->second.hashes) holder_.erase(h);
  by_save_.erase(it);
}

void ChunkClaims::Release(uint64_t save) {
  absl::MutexLock l(&mu_);
  ReleaseLocked(save);
}

void ChunkClaims::ReleaseOwner(uint64_t owner) {
  absl::MutexLock l(&mu_);
  std::vector<uint64_t> saves;
  for (const auto& [save, held] : by_save_) {
    if (held.owner == owner) saves.push_back(save);
  }
  for (uint64_t save : saves) ReleaseLocked(save);
}

bool ChunkClaims::WaitReleased(uint64_t save, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto released = [this, save]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return by_save_.count(save) == 0;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&released), deadline);
}

size_t ChunkClaims::size() const {
  absl::MutexLock l(&mu_);
  return holder_.size();
}

}  // namespace ckptdb::internal
