// Retention (preservation) policies: which of a manager's steps survive.
//
// These are Orbax's preservation policies (orbax.checkpoint
// .checkpoint_managers), evaluated exactly as Orbax evaluates them: after
// every successful save, over the manager's list of surviving steps in
// insertion order (loaded steps sorted ascending, new saves appended),
// including the step just saved. A step a policy does not preserve is
// deleted; deleted steps never come back, so time- and step-based results
// depend on history, as in Orbax.
//
//   auto policy = ckptdb::AnyOf({ckptdb::LatestN(3),
//                                ckptdb::BestN(loss_fn, /*reverse=*/true, 2)});
#ifndef CKPTDB_PRESERVATION_POLICY_H_
#define CKPTDB_PRESERVATION_POLICY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ckptdb/tree.h"

namespace ckptdb {

// What a policy knows about one step.
struct CheckpointInfo {
  int64_t step = 0;
  // When the manager recorded it (Unix ns): the save's time, or after a
  // reopen the step's commit time.
  int64_t time_ns = 0;
  bool has_metrics = false;
  Tree metrics;
};

class PreservationPolicy {
 public:
  virtual ~PreservationPolicy() = default;
  // One flag per checkpoint, in order: true to keep it. `now_ns` is the
  // manager clock's current time. Called with the manager's lock held: it
  // must not call back into the manager.
  virtual absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& checkpoints, int64_t now_ns) const = 0;
  // "LatestN(n=3)", for error messages and the CLI.
  virtual std::string DebugString() const = 0;
};

using PolicyPtr = std::shared_ptr<const PreservationPolicy>;

// Keeps everything.
PolicyPtr PreserveAll();
// Keeps the last `n` in list order; nullopt keeps all, 0 keeps none.
PolicyPtr LatestN(std::optional<int64_t> n);
// Keeps the first step, then each step at least `interval_secs` after the
// last kept one.
PolicyPtr EveryNSeconds(int64_t interval_secs);
// exact_interval: keeps steps with step % interval == 0; otherwise keeps
// the first step and each step at least `interval` after the last kept one.
// Then, if max_to_keep is set, only the last max_to_keep of those.
// interval == 0 is InvalidArgument (when evaluated).
PolicyPtr EveryNSteps(int64_t interval, bool exact_interval = true,
                      std::optional<int64_t> max_to_keep = std::nullopt);
// For each k, keeps the step closest to k * interval (ties: the later
// step; k rounded half to even, as Python's round), and always the last
// step; then optionally only the last max_to_keep kept.
PolicyPtr EveryNStepsClosest(int64_t interval,
                             std::optional<int64_t> max_to_keep = std::nullopt);
// Keeps exactly the listed steps.
PolicyPtr CustomSteps(std::vector<int64_t> steps);
// Keeps the `n` best steps by metric_fn(metrics): the highest, or the
// lowest when `reverse` (best_mode 'min'). Ties keep the newer steps. Steps
// without metrics are always kept when keep_checkpoints_without_metrics,
// never otherwise; nullopt n keeps all; when there are at most n steps
// (with or without metrics) all are kept. A NaN metric ranks worst.
PolicyPtr BestN(std::function<double(const Tree&)> metric_fn, bool reverse,
                std::optional<int64_t> n,
                bool keep_checkpoints_without_metrics = true);
// Keeps steps recorded within `duration_secs` of now (and all after the
// first such step).
PolicyPtr LatestDuration(int64_t duration_secs);
// Keeps a step if any of the policies keeps it.
PolicyPtr AnyOf(std::vector<PolicyPtr> policies);

}  // namespace ckptdb

#endif  // CKPTDB_PRESERVATION_POLICY_H_
