// CheckpointManager: Orbax's save decisions and retention over a Store.
//
// Save protocol (sync or async):
//   1. Report the previous async save's error, if any (once).
//   2. Decide: ShouldSave (unless forced); a forced save of an existing step
//      is AlreadyExists.
//   3. Capture the items (async copy or borrow), record the step in the
//      in-memory list with the clock's time and its metrics, and evaluate
//      the preservation policy over the list (the new step included);
//      steps it does not keep leave the list at once (AllSteps shows the
//      decision immediately).
//   4. Write and commit the step (Store::SaveStep), then delete the
//      dropped steps and collect garbage -- in the background when async.
//      If the save fails, the step leaves the list and the dropped steps
//      come back (they were never deleted).
//
// Locking: Impl::mu_ guards the in-memory list, the in-flight step and the
// closed flag. The retention policy (and so a user's best_fn or custom
// policy) and BestStep's best_fn run with mu_ held, so that the decision
// and the list it is applied to cannot diverge; they must not call back
// into the manager. should_save_fn runs without it. Lock order: mu_ before
// the Store's locks (ApplyRetention deletes steps under mu_); the
// BackgroundSaver's lock is never held while mu_ is taken (a background
// save runs without it), and the Store never calls back into the manager.
#include "ckptdb/checkpoint_manager.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "api/background.h"
#include "api/common.h"
#include "api/manager_access.h"
#include "api/multiprocess_save.h"
#include "api/restore.h"
#include "api/save_validation.h"
#include "ckptdb/status.h"

namespace ckptdb {

std::string FormatStepName(int64_t step, const std::string& prefix,
                           std::optional<int> fixed_length) {
  std::string num = fixed_length.has_value()
                        ? absl::StrFormat("%0*d", *fixed_length, step)
                        : absl::StrCat(step);
  return prefix.empty() ? num : absl::StrCat(prefix, "_", num);
}

namespace {

constexpr char kDefaultItem[] = "default";

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status ValidateOptions(const CheckpointManagerOptions& o) {
  CKPTDB_RETURN_IF_ERROR(internal::ValidateMultiprocessing(o.multiprocessing));
  if (o.read_only) return absl::OkStatus();  // retention is unused
  if (!o.should_save_fn && o.save_interval_steps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "save_interval_steps must be > 0, got ", o.save_interval_steps));
  }
  if (o.best_mode != "max" && o.best_mode != "min") {
    return absl::InvalidArgumentError(absl::StrCat(
        "best_mode must be 'max' or 'min', got '", o.best_mode, "'"));
  }
  if (o.preservation_policy != nullptr) {
    if ((o.max_to_keep.has_value() && *o.max_to_keep != 0) ||
        o.keep_period.has_value() || o.keep_time_interval_secs.has_value()) {
      return absl::InvalidArgumentError(
          "preservation_policy and max_to_keep / keep_period / "
          "keep_time_interval are mutually exclusive");
    }
  } else if (o.max_to_keep.has_value() && *o.max_to_keep < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_to_keep must be >= 0 or unset, got ", *o.max_to_keep));
  }
  if (o.keep_period.has_value() && *o.keep_period == 0) {
    return absl::InvalidArgumentError("interval_steps must not be 0.");
  }
  if (o.keep_period.has_value() && *o.keep_period < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_period must be > 0, got ", *o.keep_period));
  }
  if (o.keep_time_interval_secs.has_value() && *o.keep_time_interval_secs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_time_interval must be >= 0 seconds, got ",
                     *o.keep_time_interval_secs));
  }
  if (o.step_format_fixed_length.has_value() &&
      (*o.step_format_fixed_length <= 0 || *o.step_format_fixed_length > 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("step_format_fixed_length must be in 1..30, got ",
                     *o.step_format_fixed_length));
  }
  if (o.step_prefix.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step_prefix must not contain '/': '", o.step_prefix, "'"));
  }
  if (!(o.gc_garbage_fraction >= 0 && o.gc_garbage_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gc_garbage_fraction must be in [0, 1], got ", o.gc_garbage_fraction));
  }
  return absl::OkStatus();
}

// Orbax's _get_default_preservation_policy.
PolicyPtr DefaultPolicy(const CheckpointManagerOptions& o) {
  if (o.preservation_policy != nullptr) return o.preservation_policy;
  std::vector<PolicyPtr> policies;
  if (o.keep_period.has_value()) {
    policies.push_back(EveryNSteps(*o.keep_period));
  }
  if (o.keep_time_interval_secs.has_value()) {
    policies.push_back(EveryNSeconds(*o.keep_time_interval_secs));
  }
  if (o.best_fn) {
    policies.push_back(BestN(o.best_fn, o.best_mode == "min", o.max_to_keep,
                             o.keep_checkpoints_without_metrics));
  } else {
    policies.push_back(LatestN(o.max_to_keep));
  }
  return AnyOf(std::move(policies));
}

}  // namespace

class CheckpointManager::Impl {
 public:
  Impl(std::string dir, CheckpointManagerOptions options, std::string run)
      : dir_(std::move(dir)),
        run_(std::move(run)),
        options_(std::move(options)),
        policy_(DefaultPolicy(options_)),
        pool_(1) {
    if (!options_.clock_ns) options_.clock_ns = SystemNowNs;
  }

  absl::Status Open() {
    internal::StoreOptions so = internal::ToStoreOptions(options_.tuning);
    so.mode = options_.read_only ? internal::StoreOptions::Mode::kReadOnly
                                 : internal::StoreOptions::Mode::kReadWrite;
    so.create_if_missing = options_.create && !options_.read_only;
    so.create_kind = "manager";
    so.run = run_;
    // Without read_only, a database another process writes is followed
    // (a tool's manager fails busy instead).
    so.follow_if_busy = !options_.read_only && !tool_mode_;
    CKPTDB_ASSIGN_OR_RETURN(store_, internal::Store::Open(dir_, so));
    if (store_->kind() != "manager") {
      return absl::FailedPreconditionError(
          absl::StrCat("'", dir_,
                       "' holds a single Checkpointer checkpoint, not a "
                       "CheckpointManager database"));
    }
    if (tool_mode_) {
      // A tool names steps as the database's writer recorded, and leaves
      // that record alone.
      const internal::NamingRecord r = store_->GetNamingRecord();
      options_.step_prefix = r.step_prefix;
      options_.step_format_fixed_length =
          r.step_format_fixed_length > 0
              ? std::optional<int>(r.step_format_fixed_length)
              : std::nullopt;
    } else if (!options_.read_only) {
      // A follower's record goes through the writer.
      CKPTDB_RETURN_IF_ERROR(WriteNamingRecord());
    }
    LoadList();
    return absl::OkStatus();
  }

  // Opened by a tool (ManagerAccess::OpenForTool); call before Open.
  void set_tool_mode() { tool_mode_ = true; }

  // Commits a step read from elsewhere (ManagerAccess::CommitStep).
  absl::StatusOr<StepInfo> CommitStep(const internal::StepSaveRequest& req)
      ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) {
      return absl::FailedPreconditionError(
          absl::StrCat("the manager of '", dir_, "' is read-only"));
    }
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    saver_.WaitIdle();
    Follow();
    if (store_->HasStep(req.step)) {
      return absl::AlreadyExistsError(
          absl::StrCat("step ", req.step, " already exists in '", dir_, "'"));
    }
    absl::StatusOr<StepInfo> saved = store_->SaveStep(req);
    LoadList();
    return saved;
  }

  // Takes `prefix` and `width` as the step naming if this manager has no
  // steps and names them plainly (ManagerAccess::AdoptNaming).
  absl::Status AdoptNaming(const std::string& prefix, int width) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (reads_only() || !store_->Steps().empty() ||
        !options_.step_prefix.empty() ||
        options_.step_format_fixed_length.has_value() ||
        (prefix.empty() && width == 0)) {
      return absl::OkStatus();
    }
    options_.step_prefix = prefix;
    if (width > 0) options_.step_format_fixed_length = width;
    internal::NamingRecord r = store_->GetNamingRecord();
    r.step_prefix = prefix;
    r.step_format_fixed_length = width;
    return store_->SetNamingRecord(r);
  }

  // Records this run's naming and retention for tools (ckptdb gc replays
  // each run's); the store writes it only when it changed.
  absl::Status WriteNamingRecord() {
    internal::NamingRecord r;
    r.step_prefix = options_.step_prefix;
    r.step_format_fixed_length = options_.step_format_fixed_length.value_or(0);
    r.max_to_keep = options_.max_to_keep;
    r.keep_period = options_.keep_period;
    r.keep_time_interval_secs = options_.keep_time_interval_secs;
    r.retention_is_custom =
        options_.best_fn != nullptr || options_.preservation_policy != nullptr;
    return store_->SetNamingRecord(r);
  }

  // Read-only or following another writer.
  bool reads_only() const { return options_.read_only || following(); }
  bool following() const { return store_ != nullptr && store_->following(); }

  // A follower re-reads the database when it has changed, at most once per
  // kFollowInterval: every step committed that long before a call is seen.
  void Follow() const ABSL_LOCKS_EXCLUDED(mu_, follow_mu_) {
    if (store_ != nullptr && !following()) {
      // The writer: other processes' commits and deletes went through it.
      const uint64_t changes = store_->change_count();
      if (changes != seen_changes_.exchange(changes)) LoadList();
      return;
    }
    if (!following()) return;
    {
      // Its own writes (committed by the writer) are seen at once.
      const uint64_t changes = store_->change_count();
      const bool own = changes != seen_changes_.exchange(changes);
      absl::MutexLock l(&follow_mu_);
      const auto now = std::chrono::steady_clock::now();
      if (!own && now - last_follow_ < kFollowInterval) return;
      last_follow_ = now;
    }
    {
      absl::MutexLock l(&mu_);
      if (closed_) return;
    }
    absl::StatusOr<bool> reopened = store_->Refresh();
    // A failed refresh keeps the last view; the next call tries again.
    if (reopened.ok() && *reopened) LoadList();
  }

  // Before a write: a follower whose writer has gone becomes the writer.
  // While another writer holds the database, a follower's writes go
  // through it (the store stages saves here and the writer commits them).
  absl::Status EnsureWriter() {
    if (!following()) return absl::OkStatus();
    CKPTDB_ASSIGN_OR_RETURN(const bool writes, store_->BecomeWriter());
    if (writes) {
      CKPTDB_RETURN_IF_ERROR(WriteNamingRecord());
      LoadList();
    }
    return absl::OkStatus();
  }

  // The list as the store has it: ascending, times = commit times; and
  // the step this manager is saving, until it commits.
  void LoadList() const ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<CheckpointInfo> list;
    for (const StepInfo& s : store_->Steps()) {
      CheckpointInfo c;
      c.step = s.step;
      c.time_ns = s.commit_time_ns;
      c.has_metrics = s.has_metrics;
      c.metrics = s.metrics;
      list.push_back(std::move(c));
    }
    absl::MutexLock l(&mu_);
    if (inflight_step_.has_value()) {
      const int64_t inflight = *inflight_step_;
      auto mine = std::find_if(list_.begin(), list_.end(), [&](const auto& c) {
        return c.step == inflight;
      });
      auto there = std::find_if(list.begin(), list.end(), [&](const auto& c) {
        return c.step == inflight;
      });
      if (mine != list_.end() && there == list.end()) {
        list.insert(std::upper_bound(list.begin(), list.end(), *mine,
                                     [](const auto& a, const auto& b) {
                                       return a.step < b.step;
                                     }),
                    *mine);
      }
    }
    list_ = std::move(list);
  }

  absl::Status CheckOpen() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    if (closed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("CheckpointManager for '", dir_, "' is closed"));
    }
    return absl::OkStatus();
  }

  std::optional<int64_t> LatestStep() const ABSL_LOCKS_EXCLUDED(mu_) {
    Follow();
    absl::MutexLock l(&mu_);
    if (list_.empty()) return std::nullopt;
    return list_.back().step;
  }

  // A follower answers as a writer would, so that code guarding Save with
  // ShouldSave reaches Save's error instead of silently not saving.
  bool ShouldSave(int64_t step) const ABSL_LOCKS_EXCLUDED(mu_) {
    if (options_.read_only) return false;
    const std::optional<int64_t> last = LatestStep();
    if (last.has_value() && *last >= step) return false;
    if (options_.should_save_fn) return options_.should_save_fn(step, last);
    if (options_.save_interval_steps > 0 &&
        step % options_.save_interval_steps == 0) {
      return true;
    }
    if (options_.save_on_steps.has_value() &&
        options_.save_on_steps->count(step)) {
      return true;
    }
    return !last.has_value();  // the initial save
  }

  absl::StatusOr<bool> Save(int64_t step,
                            const std::map<std::string, Tree>& items,
                            const ManagerSaveOptions& options)
      ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) return false;
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    CKPTDB_RETURN_IF_ERROR(saver_.WaitUntilFinished());
    if (step < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("step must be >= 0, got ", step));
    }
    if (items.empty()) {
      return absl::InvalidArgumentError("Save needs at least one item");
    }
    if (!options.force && !ShouldSave(step)) return false;
    {
      absl::MutexLock l(&mu_);
      for (const CheckpointInfo& c : list_) {
        if (c.step == step) {
          return absl::AlreadyExistsError(
              absl::StrCat("Checkpoint for step ", step, " already exists."));
        }
      }
    }
    // Validated (and save_args resolved) before anything is captured or
    // listed: a bad tree fails this call, in both modes.
    auto job = std::make_shared<Job>();
    for (const auto& [name, tree] : items) {
      auto it = options.item_options.find(name);
      CKPTDB_ASSIGN_OR_RETURN(
          internal::SaveItem item,
          internal::PrepareSaveItem(
              name, tree,
              it != options.item_options.end() ? &it->second : nullptr));
      job->items.push_back(std::move(item));
    }
    // Capture.
    const bool async = options_.enable_async_checkpointing;
    // The items point into job->captured: it must not reallocate.
    job->captured.reserve(items.size());
    for (internal::SaveItem& item : job->items) {
      if (!async) continue;
      job->captured.push_back(
          internal::CaptureTree(*item.tree, options.capture, &pool_));
      item.tree = &job->captured.back().tree;
    }
    for (const auto& [name, opts] : options.item_options) {
      if (!items.count(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "item_options names item '", name, "' which is not being saved"));
      }
    }
    // Metrics and metadata are small: always copied, arrays included.
    if (options.metrics) job->metrics = options.metrics->DeepCopy();
    job->custom_metadata = options.custom_metadata.DeepCopy();
    job->step = step;
    job->name = FormatStepName(step, options_.step_prefix,
                               options_.step_format_fixed_length);
    // Record the step and decide retention now.
    const int64_t now = options_.clock_ns();
    {
      absl::MutexLock l(&mu_);
      job->list_before = list_;
      CheckpointInfo info;
      info.step = step;
      info.time_ns = now;
      info.has_metrics = options.metrics.has_value();
      if (options.metrics) info.metrics = *options.metrics;
      list_.push_back(info);
      auto flags = policy_->ShouldPreserve(list_, now);
      if (!flags.ok()) {
        list_ = job->list_before;
        return flags.status();
      }
      std::vector<CheckpointInfo> kept;
      for (size_t i = 0; i < list_.size(); ++i) {
        if ((*flags)[i] || !primary()) {  // only the primary deletes
          kept.push_back(list_[i]);
        } else {
          job->to_delete.push_back(list_[i].step);
        }
      }
      list_ = std::move(kept);
      inflight_step_ = step;
      job->commit_time_ns = now;
    }
    if (async) {
      saver_.Start([this, job] { return Run(*job); });
    } else {
      CKPTDB_RETURN_IF_ERROR(Run(*job));
    }
    return true;
  }

  absl::Status WaitForStep(int64_t step) const ABSL_LOCKS_EXCLUDED(mu_) {
    if (!options_.enable_async_checkpointing) {
      // A synchronous save running on another thread: wait until it has
      // committed or failed (its error is that thread's to report).
      absl::MutexLock l(&mu_);
      auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !inflight_step_.has_value() || *inflight_step_ != step;
      };
      mu_.Await(absl::Condition(&done));
      return absl::OkStatus();
    }
    bool inflight;
    {
      absl::MutexLock l(&mu_);
      inflight = inflight_step_.has_value() && *inflight_step_ == step;
    }
    if (inflight) return saver_.WaitUntilFinished();
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> ResolveStep(std::optional<int64_t> step) const {
    if (step.has_value()) return *step;
    std::optional<int64_t> last = LatestStep();
    if (!last.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("No steps found in '", dir_, "'"));
    }
    return *last;
  }

  absl::StatusOr<std::map<std::string, Tree>> RestoreItems(
      std::optional<int64_t> step,
      const std::map<std::string, const Tree*>& targets,
      const RestoreOptions& options) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    Follow();
    CKPTDB_ASSIGN_OR_RETURN(int64_t s, ResolveStep(step));
    CKPTDB_RETURN_IF_ERROR(WaitForStep(s));
    CKPTDB_ASSIGN_OR_RETURN(StepInfo info, store_->Step(s));
    std::map<std::string, const Tree*> wanted = targets;
    if (wanted.empty()) {
      for (const ItemSummary& is : info.items) wanted[is.name] = nullptr;
    }
    std::map<std::string, Tree> out;
    std::set<std::string> used_args;
    for (const auto& [name, target] : wanted) {
      CKPTDB_ASSIGN_OR_RETURN(internal::StoredItem item,
                              store_->ReadItem(s, name));
      CKPTDB_ASSIGN_OR_RETURN(
          out[name], internal::RestoreItem(*store_, item, target,
                                           WithProcess(options), &used_args));
    }
    CKPTDB_RETURN_IF_ERROR(internal::CheckRestoreArgsUsed(
        options, used_args, absl::StrCat("any restored item of step ", s)));
    return out;
  }

  absl::StatusOr<Tree> Restore(std::optional<int64_t> step, const Tree* target,
                               const RestoreOptions& options) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    Follow();
    CKPTDB_ASSIGN_OR_RETURN(int64_t s, ResolveStep(step));
    CKPTDB_RETURN_IF_ERROR(WaitForStep(s));
    const std::string item_name =
        options.item.empty() ? kDefaultItem : options.item;
    CKPTDB_ASSIGN_OR_RETURN(internal::StoredItem item,
                            store_->ReadItem(s, item_name));
    return internal::RestoreItem(*store_, item, target, WithProcess(options));
  }

  // Sharded leaves restore this process's shards unless told otherwise.
  RestoreOptions WithProcess(const RestoreOptions& options) const {
    RestoreOptions o = options;
    if (!o.process) o.process = options_.multiprocessing.process_index;
    return o;
  }

  bool multiprocess() const {
    return options_.multiprocessing.process_count > 1;
  }
  bool primary() const {
    return options_.multiprocessing.process_index ==
           options_.multiprocessing.primary;
  }

  std::vector<int64_t> AllSteps() const ABSL_LOCKS_EXCLUDED(mu_) {
    Follow();
    absl::MutexLock l(&mu_);
    std::vector<int64_t> out;
    for (const CheckpointInfo& c : list_) out.push_back(c.step);
    return out;
  }

  std::optional<int64_t> BestStep() const ABSL_LOCKS_EXCLUDED(mu_) {
    if (!options_.best_fn) return LatestStep();
    Follow();
    absl::MutexLock l(&mu_);
    std::vector<std::pair<double, int64_t>> with;
    for (const CheckpointInfo& c : list_) {
      if (c.has_metrics) with.emplace_back(options_.best_fn(c.metrics), c.step);
    }
    if (with.empty()) return std::nullopt;
    const bool reverse = options_.best_mode == "min";
    std::stable_sort(with.begin(), with.end(),
                     [&](const auto& a, const auto& b) {
                       const bool an = std::isnan(a.first);
                       const bool bn = std::isnan(b.first);
                       if (an || bn) return an && !bn;
                       return reverse ? a.first > b.first : a.first < b.first;
                     });
    return with.back().second;
  }

  absl::StatusOr<std::optional<Tree>> Metrics(int64_t step) const {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    Follow();
    CKPTDB_RETURN_IF_ERROR(WaitForStep(step));
    CKPTDB_ASSIGN_OR_RETURN(StepInfo info, store_->Step(step));
    if (!info.has_metrics) return std::optional<Tree>();
    return std::optional<Tree>(info.metrics);
  }

  absl::Status Delete(int64_t step) ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) {
      fprintf(stderr,
              "ckptdb: Delete(%lld) ignored: the manager is "
              "read-only\n",
              static_cast<long long>(step));
      return absl::OkStatus();
    }
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    saver_.WaitIdle();
    {
      absl::MutexLock l(&mu_);
      bool found = false;
      for (const CheckpointInfo& c : list_) found |= c.step == step;
      if (!found) {
        return absl::NotFoundError(
            absl::StrCat("no step ", step, " in '", dir_, "' to delete"));
      }
    }
    CKPTDB_RETURN_IF_ERROR(store_->DeleteSteps({step}));
    {
      absl::MutexLock l(&mu_);
      list_.erase(std::remove_if(
                      list_.begin(), list_.end(),
                      [&](const CheckpointInfo& c) { return c.step == step; }),
                  list_.end());
    }
    internal::GcOptions gc;
    gc.min_garbage_fraction = options_.gc_garbage_fraction;
    return store_->CollectGarbage(gc).status();
  }

  absl::Status Fork(const std::string& from_run, int64_t step,
                    const std::string& new_run) ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) {
      return absl::FailedPreconditionError("the manager is read-only");
    }
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    saver_.WaitIdle();
    CKPTDB_RETURN_IF_ERROR(store_->ForkStep(from_run, step, new_run).status());
    if (new_run == run_) LoadList();
    return absl::OkStatus();
  }

  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    saver_.WaitIdle();
    CKPTDB_RETURN_IF_ERROR(store_->Reload());
    LoadList();
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int64_t>> ApplyRetention()
      ABSL_LOCKS_EXCLUDED(mu_) {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) {
      return absl::FailedPreconditionError("the manager is read-only");
    }
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    saver_.WaitIdle();
    std::vector<int64_t> to_delete;
    {
      absl::MutexLock l(&mu_);
      CKPTDB_ASSIGN_OR_RETURN(
          std::vector<bool> flags,
          policy_->ShouldPreserve(list_, options_.clock_ns()));
      std::vector<CheckpointInfo> kept;
      for (size_t i = 0; i < list_.size(); ++i) {
        if (flags[i]) {
          kept.push_back(list_[i]);
        } else {
          to_delete.push_back(list_[i].step);
        }
      }
      if (to_delete.empty()) return to_delete;
      CKPTDB_RETURN_IF_ERROR(DeleteExisting(to_delete));
      list_ = std::move(kept);
    }
    return to_delete;
  }

  absl::Status CollectGarbage() {
    CKPTDB_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) {
      return absl::FailedPreconditionError("the manager is read-only");
    }
    CKPTDB_RETURN_IF_ERROR(EnsureWriter());
    saver_.WaitIdle();
    CKPTDB_ASSIGN_OR_RETURN(internal::GcReport report,
                            store_->CollectGarbage(internal::GcOptions()));
    if (report.damaged_segments.empty()) return absl::OkStatus();
    return absl::DataLossError(absl::StrJoin(report.damaged_segments, "; "));
  }

  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Status s = saver_.WaitUntilFinished();
    absl::MutexLock l(&mu_);
    if (!closed_) {
      closed_ = true;
      store_.reset();
    }
    return s;
  }

  internal::Store* store() const { return store_.get(); }
  const std::string& dir() const { return dir_; }
  const std::string& run() const { return run_; }
  const CheckpointManagerOptions& options() const { return options_; }
  internal::BackgroundSaver& saver() const { return saver_; }

 private:
  struct Job {
    int64_t step = 0;
    std::string name;
    std::vector<internal::CapturedTree> captured;  // async only
    // Trees: the captured ones, or the caller's (sync).
    std::vector<internal::SaveItem> items;
    std::optional<Tree> metrics;
    Tree custom_metadata;
    int64_t commit_time_ns = 0;
    std::vector<int64_t> to_delete;
    std::vector<CheckpointInfo> list_before;
  };

  // Writes and commits the step, then applies retention. Runs on the
  // background thread when async.
  absl::Status Run(Job& job) ABSL_LOCKS_EXCLUDED(mu_) {
    internal::StepSaveRequest req;
    req.step = job.step;
    req.name = job.name;
    req.items = std::move(job.items);
    if (job.metrics) req.metrics = &*job.metrics;
    if (job.custom_metadata.kind() != Tree::Kind::kNone) {
      req.custom_metadata = &job.custom_metadata;
    }
    // Both from the manager clock: the time Save was called, which is what
    // retention records for the step (Orbax: CheckpointInfo.time).
    req.init_time_ns = job.commit_time_ns;
    req.commit_time_ns = job.commit_time_ns;
    absl::Status s = multiprocess()
                         ? internal::SaveAcrossProcesses(
                               *store_, req, options_.multiprocessing)
                         : store_->SaveStep(req).status();
    req.items.clear();
    job.captured.clear();  // release captured memory as soon as possible
    {
      absl::MutexLock l(&mu_);
      inflight_step_.reset();
      if (!s.ok()) {
        // Nothing was deleted: back to before.
        list_ = job.list_before;
      }
    }
    if (!s.ok()) {
      // A commit whose write failed may still have reached the disk: once
      // the store has reopened, list what is committed.
      if (store_->Reload().ok()) LoadList();
      return s;
    }
    if (multiprocess() && !primary()) {
      LoadList();  // the steps as the primary's retention left them
      return absl::OkStatus();
    }
    if (!job.to_delete.empty()) {
      if (absl::Status d = DeleteExisting(job.to_delete); !d.ok()) {
        LoadList();  // the steps are still there: list them again
        return d;
      }
      internal::GcOptions gc;
      gc.min_garbage_fraction = options_.gc_garbage_fraction;
      CKPTDB_RETURN_IF_ERROR(store_->CollectGarbage(gc).status());
    }
    return absl::OkStatus();
  }

  // Deletes those of `steps` that still exist: another process saving into
  // the database may have deleted some already.
  absl::Status DeleteExisting(const std::vector<int64_t>& steps) {
    absl::Status s;
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::vector<int64_t> existing;
      for (int64_t d : steps) {
        if (store_->HasStep(d)) existing.push_back(d);
      }
      s = store_->DeleteSteps(existing);
      if (s.code() != absl::StatusCode::kNotFound) return s;
      store_->Refresh().IgnoreError();
    }
    return s;
  }

  const std::string dir_;
  const std::string run_;
  CheckpointManagerOptions options_;
  PolicyPtr policy_;
  // Set by Open; reset by Close (under mu_, after the last save finished).
  // Callers check CheckOpen() before using it.
  std::unique_ptr<internal::Store> store_;
  internal::ThreadPool pool_;
  // See "Locking" at the top of this file.
  mutable absl::Mutex mu_;
  // Mutable: a follower's const reads refresh it (Follow).
  mutable std::vector<CheckpointInfo> list_ ABSL_GUARDED_BY(mu_);
  // Another writer holds the database; this manager reads (set by Open,
  // cleared when it becomes the writer).
  static constexpr std::chrono::milliseconds kFollowInterval{100};
  // The writer: the store's change count when the list was last loaded.
  mutable std::atomic<uint64_t> seen_changes_{0};
  mutable absl::Mutex follow_mu_;
  mutable std::chrono::steady_clock::time_point last_follow_
      ABSL_GUARDED_BY(follow_mu_);
  // The step being saved; reset when its save committed or failed
  // (WaitForStep awaits that).
  std::optional<int64_t> inflight_step_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool tool_mode_ = false;  // set before Open; see set_tool_mode
  // Declared last: destroyed first, so an in-flight save finishes while
  // the store still exists.
  mutable internal::BackgroundSaver saver_;
};

absl::StatusOr<std::unique_ptr<CheckpointManager>> CheckpointManager::Open(
    const std::string& directory, CheckpointManagerOptions options) {
  return Open(directory, std::move(options), "");
}

absl::StatusOr<std::unique_ptr<CheckpointManager>> CheckpointManager::Open(
    const std::string& directory, CheckpointManagerOptions options,
    const std::string& run) {
  CKPTDB_RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>(directory, std::move(options), run);
  CKPTDB_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<CheckpointManager>(
      new CheckpointManager(std::move(impl)));
}

CheckpointManager::CheckpointManager(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

CheckpointManager::~CheckpointManager() {
  absl::Status s = impl_->Close();
  if (!s.ok()) {
    fprintf(stderr,
            "ckptdb: CheckpointManager for '%s' closed with an "
            "unreported save error: %s\n",
            impl_->dir().c_str(), s.ToString().c_str());
  }
}

absl::StatusOr<bool> CheckpointManager::Save(
    int64_t step, const Tree& item, const ManagerSaveOptions& options) {
  std::map<std::string, Tree> items;
  items.emplace(kDefaultItem, item);
  return impl_->Save(step, items, options);
}

absl::StatusOr<bool> CheckpointManager::Save(
    int64_t step, const std::map<std::string, Tree>& items,
    const ManagerSaveOptions& options) {
  return impl_->Save(step, items, options);
}

bool CheckpointManager::ShouldSave(int64_t step) const {
  return impl_->ShouldSave(step);
}

absl::StatusOr<Tree> CheckpointManager::Restore(std::optional<int64_t> step,
                                                const RestoreOptions& options) {
  return impl_->Restore(step, nullptr, options);
}

absl::StatusOr<Tree> CheckpointManager::Restore(std::optional<int64_t> step,
                                                const Tree& target,
                                                const RestoreOptions& options) {
  return impl_->Restore(step, &target, options);
}

absl::StatusOr<std::map<std::string, Tree>> CheckpointManager::RestoreItems(
    std::optional<int64_t> step,
    const std::map<std::string, const Tree*>& targets,
    const RestoreOptions& options) {
  return impl_->RestoreItems(step, targets, options);
}

std::vector<int64_t> CheckpointManager::AllSteps() const {
  return impl_->AllSteps();
}

std::optional<int64_t> CheckpointManager::LatestStep() const {
  return impl_->LatestStep();
}

std::optional<int64_t> CheckpointManager::BestStep() const {
  return impl_->BestStep();
}

absl::StatusOr<std::optional<Tree>> CheckpointManager::Metrics(
    int64_t step) const {
  return impl_->Metrics(step);
}

absl::StatusOr<StepInfo> CheckpointManager::StepMetadata(int64_t step) const {
  CKPTDB_RETURN_IF_ERROR(impl_->CheckOpen());
  impl_->Follow();
  CKPTDB_RETURN_IF_ERROR(impl_->WaitForStep(step));
  return impl_->store()->Step(step);
}

absl::StatusOr<TreeMetadata> CheckpointManager::ItemMetadata(
    int64_t step, const std::string& item) const {
  CKPTDB_RETURN_IF_ERROR(impl_->CheckOpen());
  impl_->Follow();
  CKPTDB_RETURN_IF_ERROR(impl_->WaitForStep(step));
  CKPTDB_ASSIGN_OR_RETURN(internal::StoredItem stored,
                          impl_->store()->ReadItem(step, item));
  return stored.ToMetadata();
}

std::string CheckpointManager::StepName(int64_t step) const {
  return FormatStepName(step, impl_->options().step_prefix,
                        impl_->options().step_format_fixed_length);
}

absl::Status CheckpointManager::Delete(int64_t step) {
  return impl_->Delete(step);
}

absl::Status CheckpointManager::Reload() { return impl_->Reload(); }

bool CheckpointManager::following() const { return impl_->following(); }
const std::string& CheckpointManager::run() const { return impl_->run(); }

absl::Status CheckpointManager::Fork(const std::string& from_run, int64_t step,
                                     const std::string& new_run) {
  return impl_->Fork(from_run, step, new_run);
}

absl::StatusOr<std::vector<int64_t>> CheckpointManager::ApplyRetention() {
  return impl_->ApplyRetention();
}

absl::Status CheckpointManager::CollectGarbage() {
  return impl_->CollectGarbage();
}

absl::Status CheckpointManager::WaitUntilFinished() {
  return impl_->saver().WaitUntilFinished();
}

absl::Status CheckpointManager::CheckForErrors() {
  return impl_->saver().CheckForErrors();
}

bool CheckpointManager::IsSavingInProgress() const {
  return impl_->saver().busy();
}

absl::Status CheckpointManager::Close() { return impl_->Close(); }

const std::string& CheckpointManager::directory() const { return impl_->dir(); }

const CheckpointManagerOptions& CheckpointManager::options() const {
  return impl_->options();
}

}  // namespace ckptdb

namespace ckptdb::internal {

namespace {

// The chunk size of the latest step's first chunked array; 0 if none.
uint32_t LatestChunkBytes(const Store& store) {
  const std::vector<StepInfo> steps = store.Steps();
  if (steps.empty()) return 0;
  for (const ItemSummary& is : steps.back().items) {
    auto item = store.ReadItem(steps.back().step, is.name);
    if (!item.ok()) continue;
    for (const StoredNode& n : item->nodes) {
      if (!n.chunks.empty()) return n.chunk_bytes;
    }
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointManager>> ManagerAccess::OpenForTool(
    const std::string& directory, bool create) {
  CheckpointManagerOptions options;
  options.create = create;
  options.enable_async_checkpointing = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto impl = std::make_unique<CheckpointManager::Impl>(directory, options,
                                                          std::string());
    impl->set_tool_mode();
    CKPTDB_RETURN_IF_ERROR(impl->Open());
    // New chunks the size of the latest step's, so that arrays it already
    // holds deduplicate.
    const uint32_t cb = LatestChunkBytes(*impl->store());
    if (attempt == 0 && cb != 0 && cb != options.tuning.chunk_bytes) {
      options.tuning.chunk_bytes = cb;
      continue;  // `impl` closes here, before the reopen
    }
    return std::unique_ptr<CheckpointManager>(
        new CheckpointManager(std::move(impl)));
  }
  return absl::InternalError("unreachable");
}

absl::StatusOr<std::unique_ptr<CheckpointManager>>
ManagerAccess::OpenRunForTool(const std::string& directory,
                              const std::string& run,
                              CheckpointManagerOptions options) {
  CKPTDB_RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<CheckpointManager::Impl>(
      directory, std::move(options), run);
  impl->set_tool_mode();
  CKPTDB_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<CheckpointManager>(
      new CheckpointManager(std::move(impl)));
}

absl::StatusOr<StepInfo> ManagerAccess::CommitStep(
    CheckpointManager& manager, const StepSaveRequest& request) {
  return manager.impl_->CommitStep(request);
}

absl::Status ManagerAccess::AdoptNaming(CheckpointManager& manager,
                                        const std::string& prefix, int width) {
  return manager.impl_->AdoptNaming(prefix, width);
}

}  // namespace ckptdb::internal
