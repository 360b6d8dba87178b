#include "tools/cli_orbax.h"

#include <utility>

#include "api/save_validation.h"

namespace ckptdb::cli {

bool DirLooksLikeOrbax(const std::string& dir) {
  return orbax::LooksLikeOrbaxCheckpoint(dir);
}

absl::StatusOr<internal::StepSaveRequest> OrbaxSaveRequest(
    const orbax::Step& step, int64_t number, const std::string& name,
    const std::string& item_name) {
  internal::StepSaveRequest req;
  req.step = number;
  req.name = name;
  for (const orbax::Item& item : step.items) {
    absl::StatusOr<internal::SaveItem> si = internal::PrepareSaveItem(
        item.name.empty() ? item_name : item.name, item.tree, nullptr);
    if (!si.ok()) return si.status();
    req.items.push_back(*std::move(si));
  }
  if (step.has_metrics) req.metrics = &step.metrics;
  if (step.custom_metadata.kind() != Tree::Kind::kNone) {
    req.custom_metadata = &step.custom_metadata;
  }
  if (step.init_time_ns > 0) req.init_time_ns = step.init_time_ns;
  if (step.commit_time_ns > 0) req.commit_time_ns = step.commit_time_ns;
  return req;
}

uint64_t OrbaxArrayBytes(const orbax::Step& step) {
  uint64_t n = 0;
  for (const orbax::Item& item : step.items) n += item.tree.TotalArrayBytes();
  return n;
}

}  // namespace ckptdb::cli
