// Store: in-flight deduplication (chunk_claims.h). Between phase 3 (dedup
// against the index) and phase 5 (writing) of a save, the chunks it would
// write are claimed at the writer. When another save is writing one of
// them, this save waits for that save's commit and reuses its chunks.
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ckptdb/status.h"
#include "db/save_plan.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "schema/commit_codec.h"

namespace ckptdb::internal {
namespace {

// How often a follower asks again while another save holds its chunks.
constexpr absl::Duration kClaimPoll = absl::Milliseconds(10);

std::vector<Hash128> NewHashes(const SavePlan& plan) {
  std::vector<Hash128> out;
  out.reserve(plan.new_jobs.size());
  for (uint32_t i : plan.new_jobs) out.push_back(plan.jobs[i].chunk.hash);
  return out;
}

// Chunks stored since the save's dedup: reused, and the rest renumbered.
void ApplyStored(const std::map<Hash128, ChunkEntry>& stored, uint64_t segment,
                 SavePlan* plan, ReusedChunks* reused) {
  for (uint32_t i : plan->unique_jobs) {
    ChunkJob& j = plan->jobs[i];
    j.is_new = false;
    auto it = stored.find(j.chunk.hash);
    if (it == stored.end()) continue;
    j.chunk = it->second.location;
    reused->entries[j.chunk.hash] = it->second;
  }
  plan->new_jobs.clear();
  plan->new_logical_bytes = 0;
  AssignNewChunks(plan, segment, [&](const Hash128& h) {
    return reused->entries.count(h) > 0;
  });
}

}  // namespace

CommitReply Store::ClaimHere(uint64_t owner, uint64_t save,
                             const std::vector<Hash128>& hashes) {
  CommitReply reply;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    if (db_ == nullptr) return reply;  // granted: nothing to dedup against
    for (const Hash128& h : hashes) {
      auto entry = ReadChunkEntry(h);
      if (entry.ok()) reply.stored[h] = *std::move(entry);
    }
  }
  if (!reply.stored.empty()) return reply;  // the saver claims the rest
  reply.claim_holder = claims_.TryClaim(save, owner, hashes);
  return reply;
}

absl::StatusOr<CommitReply> Store::ClaimOnce(
    uint64_t save, const std::vector<Hash128>& hashes) {
  if (!following_.load()) return ClaimHere(/*owner=*/0, save, hashes);
  CommitRequest r;
  r.op = CommitRequest::Op::kClaim;
  r.save_number = save;
  r.hashes = hashes;
  return CallWriter(r);
}

bool Store::ClaimNewChunks(SavePlan* plan, uint64_t save,
                           ReusedChunks* reused) {
  bool others_stored = false;
  const absl::Time deadline =
      absl::Now() + absl::Milliseconds(options_.commit_timeout_ms);
  while (!plan->new_jobs.empty() && absl::Now() < deadline) {
    absl::StatusOr<CommitReply> reply = ClaimOnce(save, NewHashes(*plan));
    // A writer that cannot claim (gone, or older): write unclaimed; the
    // commit's check still refuses a chunk stored twice.
    if (!reply.ok()) return others_stored;
    if (!reply->stored.empty()) {
      ApplyStored(reply->stored, save, plan, reused);
      others_stored = true;
      continue;
    }
    if (reply->claim_holder == 0) return others_stored;  // granted
    Hook("claim_wait");
    if (following_.load()) {
      absl::SleepFor(kClaimPoll);
    } else {
      claims_.WaitReleased(reply->claim_holder, deadline);
    }
  }
  return others_stored;
}

void Store::ReleaseClaims(uint64_t save) {
  if (!following_.load()) return claims_.Release(save);
  CommitRequest r;
  r.op = CommitRequest::Op::kRelease;
  r.save_number = save;
  CallWriter(r).IgnoreError();  // a lost release ends with the connection
}

}  // namespace ckptdb::internal
