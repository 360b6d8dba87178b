// Garbage collection of chunks through a RocksDB compaction filter.
//
// Chunks live in the "chunks" column family under (segment, ordinal) keys;
// each save writes one segment by SST ingestion. A chunk is live while its
// chunk_index entry exists and points at its key. When steps are deleted,
// their chunks' reference counts drop in the same atomic batch that removes
// the step, and entries that reach zero are deleted. The bytes stay in the
// segment's SST file until ckptdb compacts that segment's key range: before
// compacting, it publishes a GcPlan naming, for each segment being
// collected, which ordinals are still live; the filter then drops every
// other key of those segments. Segments that are entirely dead are removed
// first with DeleteFilesInRange (no rewrite), then compacted to drop any
// remainder. Keys of segments absent from the plan are always kept, so a
// compaction started by anyone else (or with no plan published) never drops
// data.
#ifndef CKPTDB_COMPACTION_CHUNK_GC_H_
#define CKPTDB_COMPACTION_CHUNK_GC_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/compaction_filter.h"

namespace ckptdb::internal {

// Which chunks of the segments under collection survive.
struct GcPlan {
  // segment -> live[ordinal]; a segment mapped to an empty vector is
  // entirely dead.
  absl::flat_hash_map<uint64_t, std::vector<bool>> live;
};

class ChunkGcFilterFactory : public rocksdb::CompactionFilterFactory {
 public:
  // Publishes `plan` for the compactions that start from now on; nullptr
  // withdraws it (every key is kept).
  void Publish(std::shared_ptr<const GcPlan> plan) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override
      ABSL_LOCKS_EXCLUDED(mu_);
  const char* Name() const override { return "ckptdb.ChunkGcFilter"; }

  // Number of chunks dropped by filters since creation (for tests/stats).
  uint64_t dropped() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class ChunkGcFilter;
  mutable absl::Mutex mu_;
  std::shared_ptr<const GcPlan> plan_ ABSL_GUARDED_BY(mu_);
  // Added to by each ChunkGcFilter when it is destroyed.
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_COMPACTION_CHUNK_GC_H_
