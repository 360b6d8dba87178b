// ckptdb::CheckpointManager: numbered steps in one database, with Orbax's
// CheckpointManager semantics (save decisions, retention, metrics, items).
//
//   ckptdb::CheckpointManagerOptions options;
//   options.max_to_keep = 3;
//   options.keep_period = 2;
//   CKPTDB_ASSIGN_OR_RETURN(auto mgr,
//       ckptdb::CheckpointManager::Open("/ckpts/run1", options));
//   for (int64_t step = 0; step < 5; ++step) {
//     CKPTDB_ASSIGN_OR_RETURN(bool saved, mgr->Save(step, state));
//   }
//   CKPTDB_RETURN_IF_ERROR(mgr->WaitUntilFinished());
//   CKPTDB_ASSIGN_OR_RETURN(ckptdb::Tree latest, mgr->Restore(std::nullopt));
//
// The database is one RocksDB directory; each step is a column family, and
// array bytes are content-hashed chunks shared by every step that contains
// them (a step that changed little stores little). Deciding which steps
// survive is immediate (AllSteps reflects it as soon as Save returns);
// their space comes back through RocksDB compaction.
//
// Differences from Orbax, all deliberate: restoring without a target keeps
// tuples and int dict keys; metrics are always persisted (so BestN keeps
// working after a restart without best_fn); a failed save puts back the
// steps its retention would have deleted; deletion is atomic.
//
// Thread safety: all methods may be called from any thread; saves are
// serialised. Any number of processes open one database and save: the
// first holds it (the writer); another process (or another manager of this
// one) that opens it with default options follows that writer: following()
// is true, it reads every step, and each call that lists or reads steps
// first picks up new commits (any step committed 100 ms or more before the
// call is seen); its Save writes the step's files here and has the writer
// commit them, its Delete and CollectGarbage run in the writer, and any
// write makes it the writer once that one has closed, exited or been
// killed (docs/design.md, "Many writers"). With read_only
// = true a manager sees the steps committed when it opened, and Reload()
// to see newer ones.
#ifndef CKPTDB_CHECKPOINT_MANAGER_H_
#define CKPTDB_CHECKPOINT_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/async_checkpointer.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/metadata.h"
#include "ckptdb/options.h"
#include "ckptdb/preservation_policy.h"
#include "ckptdb/tree.h"

namespace ckptdb {

namespace internal {
class ManagerAccess;  // the library's own importers (api/manager_access.h)
}  // namespace internal

// Saving each step from several processes at once (multi-host training:
// every process holds some shards of each array, as ShardedArray leaves).
// Every process opens the manager with its own process_index and calls
// Save(step, ...) with the same tree; each writes the shards it holds
// (replicated shards once) into a hidden partial step, in parallel; the
// primary then commits the step once, atomically, from all the parts
// (docs/design.md, "Sharded saves"). Only the primary applies retention.
struct MultiprocessingOptions {
  // This process and how many save each step together (JAX's
  // process_index() and process_count()). Default: 0 of 1 (alone).
  int process_index = 0;
  int process_count = 1;
  // The process that commits each step (Orbax's primary_host). Default: 0.
  int primary = 0;
  // A barrier across the processes (JAX's sync_global_devices, say),
  // called with a name unique to the save, by every process: once when its
  // part is written, once after the primary's commit. Default: none; the
  // processes then meet through the database, polling its commit records
  // every 10 ms.
  std::function<absl::Status(const std::string& name)> barrier;
  // How long the primary waits for every part, and the others wait for the
  // commit; then the save fails with DeadlineExceeded naming the processes
  // that did not save, and commits nothing. Default: 300 s (Orbax's).
  int64_t timeout_ms = 300000;
};

struct CheckpointManagerOptions {
  // ---- save decisions (Orbax's save_decision options) ----
  // Save when step % save_interval_steps == 0 (absolute, not "since the
  // last save"); must be > 0. Ignored when should_save_fn is set.
  // Default: 1.
  int64_t save_interval_steps = 1;
  // Also save these steps. Ignored when should_save_fn is set.
  std::optional<std::set<int64_t>> save_on_steps;
  // should_save_fn(step, latest_step) replaces the rules above, including
  // "the first save always happens". Default: unset.
  std::function<bool(int64_t, std::optional<int64_t>)> should_save_fn;

  // ---- retention (legacy options, turned into a preservation policy) ----
  // Keep the newest N steps (or the best N with best_fn); nullopt keeps all;
  // 0 deletes every step, even the one just saved; < 0 is InvalidArgument.
  std::optional<int64_t> max_to_keep;
  // Also keep every step with step % keep_period == 0 (0 is invalid).
  std::optional<int64_t> keep_period;
  // Also keep one step per interval of this many seconds (whole seconds, as
  // Orbax truncates its timedelta).
  std::optional<int64_t> keep_time_interval_secs;
  // Maps a step's metrics to a number; with it, max_to_keep keeps the best
  // steps by this number instead of the newest, and BestStep works. It is
  // called while the manager applies retention, with its lock held: it must
  // not call back into the manager (that would deadlock).
  std::function<double(const Tree&)> best_fn;
  // "max" (higher is better) or "min". Anything else is InvalidArgument.
  std::string best_mode = "max";
  // With best_fn: steps saved without metrics are always kept (true) or
  // never kept by the best-N rule (false). Default: true.
  bool keep_checkpoints_without_metrics = true;
  // Replaces all the legacy retention options above (combining it with
  // max_to_keep > 0, keep_period or keep_time_interval_secs is
  // InvalidArgument, as in Orbax). Default: unset.
  PolicyPtr preservation_policy;

  // ---- naming and opening ----
  // Step names are "<prefix>_<step>" (or just "<step>"), zero-padded to
  // step_format_fixed_length digits when set. Shown by the CLI.
  std::string step_prefix;
  std::optional<int> step_format_fixed_length;
  // Create the database if missing. Default: true.
  bool create = true;
  // Open for reading only: Save and ShouldSave return false, Delete does
  // nothing; works while another process writes the database.
  bool read_only = false;

  // ---- async ----
  // Save in the background (see AsyncCheckpointer). Default: true, as in
  // Orbax; the capture mode of each save is in ManagerSaveOptions.
  bool enable_async_checkpointing = true;

  // ---- space ----
  // After retention deletes steps, compact segments with at least this
  // fraction of dead bytes (segments entirely dead are always dropped, at
  // no cost). CollectGarbage() compacts everything. Default: 0.25.
  double gc_garbage_fraction = 0.25;

  // ---- several processes saving each step ----
  MultiprocessingOptions multiprocessing;

  // ---- storage tuning, clock ----
  StoreTuning tuning;
  // Current time in Unix ns, for keep_time_interval_secs and the steps'
  // recorded times (tests use a fake clock). Default: the system clock.
  std::function<int64_t()> clock_ns;
};

// Per-save options of CheckpointManager::Save.
struct ManagerSaveOptions {
  // The step's metrics (a tree of scalars), used by best_fn / BestN and
  // persisted with the step. Default: none.
  std::optional<Tree> metrics;
  // Save even if ShouldSave(step) is false. Saving a step that exists is
  // still AlreadyExists (Orbax: force "will not overwrite").
  bool force = false;
  // Per-item save arguments (dtype casts), keyed by item name.
  std::map<std::string, SaveOptions> item_options;
  // User metadata stored with the step.
  Tree custom_metadata;
  // Async capture mode. Default: kCopy.
  CaptureMode capture = CaptureMode::kCopy;
};

class CheckpointManager {
 public:
  // Opens (or creates, with options.create) the database at `directory`.
  // InvalidArgument for invalid option combinations; NotFound if it is
  // missing and !create; FailedPrecondition if it is not a ckptdb manager
  // database. If another process (or manager) has it open for writing,
  // the manager follows that writer (see following()).
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> Open(
      const std::string& directory, CheckpointManagerOptions options = {});
  // The same, for a named run of the database: a database holds any number
  // of runs (a sweep's fine-tuning jobs, say), each with its own steps and
  // retention, all sharing one chunk store: bytes any two runs share are
  // stored once. "" is the database's default run (Open without a run).
  // A run name is 1-128 characters of [A-Za-z0-9._-] (InvalidArgument
  // otherwise); a run exists once it has a step.
  static absl::StatusOr<std::unique_ptr<CheckpointManager>> Open(
      const std::string& directory, CheckpointManagerOptions options,
      const std::string& run);
  // The run this manager saves and reads ("" for the default run).
  const std::string& run() const;
  // Starts run `new_run` of this database from step `step` of run
  // `from_run` (the new run's step `step`), the way a fine-tuning sweep
  // starts every job from one pretrained checkpoint: the new step shares
  // every chunk, no array byte is copied. NotFound for a missing source
  // step; AlreadyExists if `new_run` has that step; InvalidArgument for a
  // bad run name or from_run == new_run.
  absl::Status Fork(const std::string& from_run, int64_t step,
                    const std::string& new_run);
  // Close(), logging an error to stderr.
  ~CheckpointManager();
  CheckpointManager(const CheckpointManager&) = delete;
  CheckpointManager& operator=(const CheckpointManager&) = delete;

  // Saves `item` as the step's "default" item, or several named items.
  // Returns false (and saves nothing) when ShouldSave is false and not
  // forced, or when read-only. With async, returns once the tree is
  // captured; otherwise once the step is durable and committed. Then
  // applies retention. Errors: a previous async save's error;
  // AlreadyExists (forced save of an existing step, or a step another
  // process committed first); InvalidArgument; Unavailable when another
  // process holds the database but serves no commits within the commit
  // timeout (60 s).
  absl::StatusOr<bool> Save(int64_t step, const Tree& item,
                            const ManagerSaveOptions& options = {});
  absl::StatusOr<bool> Save(int64_t step,
                            const std::map<std::string, Tree>& items,
                            const ManagerSaveOptions& options = {});

  // Orbax's should_save: false if read-only or step <= LatestStep() (a
  // follower answers as a writer would: its Save then reports why not);
  // else should_save_fn, or step % save_interval_steps == 0, step in
  // save_on_steps, or no step saved yet.
  bool ShouldSave(int64_t step) const;

  // Restores the "default" item (step nullopt: the latest). Waits if that
  // step's save is in flight. NotFound if there is no such step.
  absl::StatusOr<Tree> Restore(std::optional<int64_t> step,
                               const RestoreOptions& options = {});
  absl::StatusOr<Tree> Restore(std::optional<int64_t> step, const Tree& target,
                               const RestoreOptions& options = {});
  // Restores several items: each name maps to a target (or nullptr for the
  // exact saved tree). An empty map restores every item of the step.
  absl::StatusOr<std::map<std::string, Tree>> RestoreItems(
      std::optional<int64_t> step,
      const std::map<std::string, const Tree*>& targets = {},
      const RestoreOptions& options = {});

  // Steps in the manager's order (ascending unless a lower step was
  // force-saved later), including an in-flight async save.
  std::vector<int64_t> AllSteps() const;
  std::optional<int64_t> LatestStep() const;
  // With best_fn: the best step among those with metrics (nullopt if
  // none); without: LatestStep().
  std::optional<int64_t> BestStep() const;
  // The step's metrics; nullopt if it was saved without. NotFound if the
  // step does not exist.
  absl::StatusOr<std::optional<Tree>> Metrics(int64_t step) const;
  // The step's commit record (times, items, sizes, metrics).
  absl::StatusOr<StepInfo> StepMetadata(int64_t step) const;
  // An item's structure, dtypes and shapes, without reading arrays.
  absl::StatusOr<TreeMetadata> ItemMetadata(
      int64_t step, const std::string& item = "default") const;
  // The display name of a step ("test_4", "00000004", "4").
  std::string StepName(int64_t step) const;

  // Deletes a step now. NotFound if it does not exist; a no-op when
  // read-only.
  absl::Status Delete(int64_t step);
  // Re-reads the steps from the database (a read-only manager sees steps
  // committed since it opened).
  absl::Status Reload();
  // True while another writer holds the database: this manager follows it
  // (reads see its new steps; its writes are committed by that writer, and
  // a write makes it the writer once the other has gone).
  bool following() const;
  // Evaluates the preservation policy over the current steps (no save) and
  // deletes what it does not keep; returns the deleted steps. Orbax only
  // does this after a save; tools use it (ckptdb gc).
  absl::StatusOr<std::vector<int64_t>> ApplyRetention();
  // Drops dead chunks and compacts now (CLI: ckptdb gc). DataLoss, naming
  // segment and file, when a segment's table file fails its block
  // checksums: that segment's garbage stays, the rest is collected (the
  // collection after retention skips such a segment without an error).
  absl::Status CollectGarbage();

  absl::Status WaitUntilFinished();
  absl::Status CheckForErrors();
  bool IsSavingInProgress() const;
  // Waits for the in-flight save and closes; later calls fail with
  // FailedPrecondition. Returns the in-flight save's error, if any.
  absl::Status Close();

  const std::string& directory() const;
  const CheckpointManagerOptions& options() const;

  class Impl;

 private:
  friend class internal::ManagerAccess;
  explicit CheckpointManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Orbax's step directory name: "<prefix>_<step>" or "<step>", zero-padded
// to `fixed_length` digits when given.
std::string FormatStepName(int64_t step, const std::string& prefix,
                           std::optional<int> fixed_length);

}  // namespace ckptdb

#endif  // CKPTDB_CHECKPOINT_MANAGER_H_
