// Orbax's preservation policies (orbax/checkpoint/_src/checkpoint_managers/
// preservation_policy.py), evaluated over the manager's list of steps.
#include "ckptdb/preservation_policy.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ckptdb {
namespace {

std::string OptStr(const std::optional<int64_t>& v) {
  return v.has_value() ? absl::StrCat(*v) : "None";
}

class PreserveAllPolicy : public PreservationPolicy {
 public:
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    return std::vector<bool>(c.size(), true);
  }
  std::string DebugString() const override { return "PreserveAll()"; }
};

class LatestNPolicy : public PreservationPolicy {
 public:
  explicit LatestNPolicy(std::optional<int64_t> n) : n_(n) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    const int64_t size = static_cast<int64_t>(c.size());
    if (!n_.has_value() || size <= *n_)
      return std::vector<bool>(c.size(), true);
    std::vector<bool> out(c.size(), false);
    for (int64_t i = std::max<int64_t>(0, size - *n_); i < size; ++i) {
      out[i] = true;
    }
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("LatestN(n=", OptStr(n_), ")");
  }

 private:
  std::optional<int64_t> n_;
};

class EveryNSecondsPolicy : public PreservationPolicy {
 public:
  explicit EveryNSecondsPolicy(int64_t secs) : secs_(secs) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    std::vector<bool> out(c.size(), false);
    if (c.empty()) return out;
    out[0] = true;
    int64_t last = c[0].time_ns;
    for (size_t i = 1; i < c.size(); ++i) {
      // Orbax compares timedeltas: (c.time - last.time) >= interval.
      if (c[i].time_ns - last >= secs_ * 1000000000LL) {
        out[i] = true;
        last = c[i].time_ns;
      }
    }
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("EveryNSeconds(interval_secs=", secs_, ")");
  }

 private:
  int64_t secs_;
};

// Keeps only the last `max_to_keep` of the true flags.
void TrimToLast(std::vector<bool>* flags, std::optional<int64_t> max_to_keep) {
  if (!max_to_keep.has_value()) return;
  int64_t kept = 0;
  for (size_t i = flags->size(); i-- > 0;) {
    if (!(*flags)[i]) continue;
    if (kept >= *max_to_keep) {
      (*flags)[i] = false;
    } else {
      ++kept;
    }
  }
}

// Python's modulo: the result has the sign of the divisor.
int64_t PyMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

class EveryNStepsPolicy : public PreservationPolicy {
 public:
  EveryNStepsPolicy(int64_t interval, bool exact,
                    std::optional<int64_t> max_to_keep)
      : interval_(interval), exact_(exact), max_to_keep_(max_to_keep) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    if (interval_ == 0) {
      return absl::InvalidArgumentError("interval_steps must not be 0.");
    }
    std::vector<bool> out(c.size(), false);
    if (exact_) {
      for (size_t i = 0; i < c.size(); ++i) {
        out[i] = PyMod(c[i].step, interval_) == 0;
      }
    } else if (!c.empty()) {
      out[0] = true;
      int64_t last = c[0].step;
      for (size_t i = 1; i < c.size(); ++i) {
        if (c[i].step - last >= interval_) {
          out[i] = true;
          last = c[i].step;
        }
      }
    }
    TrimToLast(&out, max_to_keep_);
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("EveryNSteps(interval_steps=", interval_,
                        ", exact_interval=", exact_ ? "True" : "False",
                        ", max_to_keep=", OptStr(max_to_keep_), ")");
  }

 private:
  int64_t interval_;
  bool exact_;
  std::optional<int64_t> max_to_keep_;
};

// round(x) as Python 3 does it: half to even.
int64_t PyRound(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

class EveryNStepsClosestPolicy : public PreservationPolicy {
 public:
  EveryNStepsClosestPolicy(int64_t interval, std::optional<int64_t> max_to_keep)
      : interval_(interval), max_to_keep_(max_to_keep) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    if (interval_ <= 0) {
      return absl::InvalidArgumentError("interval_steps must be positive.");
    }
    std::vector<bool> out(c.size(), false);
    if (c.empty()) return out;
    // k -> (distance, index) of the closest step; ties go to the later one.
    std::map<int64_t, std::pair<int64_t, size_t>> best;
    for (size_t i = 0; i < c.size(); ++i) {
      const int64_t k = PyRound(static_cast<double>(c[i].step) / interval_);
      const int64_t dist = std::llabs(c[i].step - k * interval_);
      auto it = best.find(k);
      if (it == best.end() || dist <= it->second.first) best[k] = {dist, i};
    }
    for (const auto& [k, v] : best) out[v.second] = true;
    out.back() = true;
    TrimToLast(&out, max_to_keep_);
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("EveryNStepsClosest(interval_steps=", interval_,
                        ", max_to_keep=", OptStr(max_to_keep_), ")");
  }

 private:
  int64_t interval_;
  std::optional<int64_t> max_to_keep_;
};

class CustomStepsPolicy : public PreservationPolicy {
 public:
  explicit CustomStepsPolicy(std::vector<int64_t> steps)
      : steps_(steps.begin(), steps.end()) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    std::vector<bool> out(c.size());
    for (size_t i = 0; i < c.size(); ++i) out[i] = steps_.count(c[i].step) > 0;
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("CustomSteps(steps=[", absl::StrJoin(steps_, ", "),
                        "])");
  }

 private:
  std::set<int64_t> steps_;
};

class BestNPolicy : public PreservationPolicy {
 public:
  BestNPolicy(std::function<double(const Tree&)> fn, bool reverse,
              std::optional<int64_t> n, bool keep_without)
      : fn_(std::move(fn)),
        reverse_(reverse),
        n_(n),
        keep_without_(keep_without) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t) const override {
    const int64_t size = static_cast<int64_t>(c.size());
    if (!n_.has_value() || size <= *n_)
      return std::vector<bool>(c.size(), true);
    std::vector<bool> out(c.size(), false);
    if (*n_ == 0) return out;
    std::vector<std::pair<double, size_t>> with;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i].has_metrics) {
        with.emplace_back(fn_(c[i].metrics), i);
      } else if (keep_without_) {
        out[i] = true;
      }
    }
    // Python's sorted(key=..., reverse=...) is stable either way; NaN is
    // placed first (worst) in both directions so the order is total.
    std::stable_sort(with.begin(), with.end(),
                     [&](const auto& a, const auto& b) {
                       const bool an = std::isnan(a.first);
                       const bool bn = std::isnan(b.first);
                       if (an || bn) return an && !bn;
                       return reverse_ ? a.first > b.first : a.first < b.first;
                     });
    const int64_t keep = std::min<int64_t>(*n_, with.size());
    for (int64_t k = static_cast<int64_t>(with.size()) - keep;
         k < static_cast<int64_t>(with.size()); ++k) {
      out[with[k].second] = true;
    }
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat(
        "BestN(reverse=", reverse_ ? "True" : "False", ", n=", OptStr(n_),
        ", keep_checkpoints_without_metrics=", keep_without_ ? "True" : "False",
        ")");
  }

 private:
  std::function<double(const Tree&)> fn_;
  bool reverse_;
  std::optional<int64_t> n_;
  bool keep_without_;
};

class LatestDurationPolicy : public PreservationPolicy {
 public:
  explicit LatestDurationPolicy(int64_t secs) : secs_(secs) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t now_ns) const override {
    std::vector<bool> out(c.size(), false);
    for (size_t i = 0; i < c.size(); ++i) {
      if (now_ns - c[i].time_ns <= secs_ * 1000000000LL) {
        for (size_t k = i; k < c.size(); ++k) out[k] = true;
        break;
      }
    }
    return out;
  }
  std::string DebugString() const override {
    return absl::StrCat("LatestDuration(duration=", secs_, "s)");
  }

 private:
  int64_t secs_;
};

class AnyOfPolicy : public PreservationPolicy {
 public:
  explicit AnyOfPolicy(std::vector<PolicyPtr> p) : policies_(std::move(p)) {}
  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& c, int64_t now_ns) const override {
    std::vector<bool> out(c.size(), false);
    for (const PolicyPtr& p : policies_) {
      auto flags = p->ShouldPreserve(c, now_ns);
      if (!flags.ok()) return flags.status();
      for (size_t i = 0; i < c.size(); ++i) out[i] = out[i] || (*flags)[i];
    }
    return out;
  }
  std::string DebugString() const override {
    std::vector<std::string> parts;
    for (const PolicyPtr& p : policies_) parts.push_back(p->DebugString());
    return absl::StrCat("AnyOf([", absl::StrJoin(parts, ", "), "])");
  }

 private:
  std::vector<PolicyPtr> policies_;
};

}  // namespace

PolicyPtr PreserveAll() { return std::make_shared<PreserveAllPolicy>(); }
PolicyPtr LatestN(std::optional<int64_t> n) {
  return std::make_shared<LatestNPolicy>(n);
}
PolicyPtr EveryNSeconds(int64_t interval_secs) {
  return std::make_shared<EveryNSecondsPolicy>(interval_secs);
}
PolicyPtr EveryNSteps(int64_t interval, bool exact_interval,
                      std::optional<int64_t> max_to_keep) {
  return std::make_shared<EveryNStepsPolicy>(interval, exact_interval,
                                             max_to_keep);
}
PolicyPtr EveryNStepsClosest(int64_t interval,
                             std::optional<int64_t> max_to_keep) {
  return std::make_shared<EveryNStepsClosestPolicy>(interval, max_to_keep);
}
PolicyPtr CustomSteps(std::vector<int64_t> steps) {
  return std::make_shared<CustomStepsPolicy>(std::move(steps));
}
PolicyPtr BestN(std::function<double(const Tree&)> metric_fn, bool reverse,
                std::optional<int64_t> n,
                bool keep_checkpoints_without_metrics) {
  return std::make_shared<BestNPolicy>(std::move(metric_fn), reverse, n,
                                       keep_checkpoints_without_metrics);
}
PolicyPtr LatestDuration(int64_t duration_secs) {
  return std::make_shared<LatestDurationPolicy>(duration_secs);
}
PolicyPtr AnyOf(std::vector<PolicyPtr> policies) {
  return std::make_shared<AnyOfPolicy>(std::move(policies));
}

}  // namespace ckptdb
