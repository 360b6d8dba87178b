#include "compaction/chunk_gc.h"

#include "schema/records.h"

namespace ckptdb::internal {

class ChunkGcFilter : public rocksdb::CompactionFilter {
 public:
  ChunkGcFilter(ChunkGcFilterFactory* factory,
                std::shared_ptr<const GcPlan> plan)
      : factory_(factory), plan_(std::move(plan)) {}

  ~ChunkGcFilter() override {
    if (dropped_ > 0) {
      absl::MutexLock l(&factory_->mu_);
      factory_->dropped_ += dropped_;
    }
  }

  Decision FilterV2(int /*level*/, const rocksdb::Slice& key,
                    ValueType value_type,
                    const rocksdb::Slice& /*existing_value*/,
                    std::string* /*new_value*/,
                    std::string* /*skip_until*/) const override {
    if (value_type != ValueType::kValue || plan_ == nullptr) {
      return Decision::kKeep;
    }
    uint64_t segment;
    uint32_t ordinal;
    if (!ParseChunkKey(absl::string_view(key.data(), key.size()), &segment,
                       &ordinal)) {
      return Decision::kKeep;
    }
    auto it = plan_->live.find(segment);
    if (it == plan_->live.end()) return Decision::kKeep;
    const std::vector<bool>& live = it->second;
    if (ordinal < live.size() && live[ordinal]) return Decision::kKeep;
    ++dropped_;
    return Decision::kRemove;
  }

  bool IgnoreSnapshots() const override { return true; }
  const char* Name() const override { return "ckptdb.ChunkGcFilter"; }

 private:
  ChunkGcFilterFactory* factory_;
  std::shared_ptr<const GcPlan> plan_;
  mutable uint64_t dropped_ = 0;
};

void ChunkGcFilterFactory::Publish(std::shared_ptr<const GcPlan> plan) {
  absl::MutexLock l(&mu_);
  plan_ = std::move(plan);
}

std::unique_ptr<rocksdb::CompactionFilter>
ChunkGcFilterFactory::CreateCompactionFilter(
    const rocksdb::CompactionFilter::Context& /*context*/) {
  absl::MutexLock l(&mu_);
  return std::make_unique<ChunkGcFilter>(this, plan_);
}

uint64_t ChunkGcFilterFactory::dropped() const {
  absl::MutexLock l(&mu_);
  return dropped_;
}

}  // namespace ckptdb::internal
