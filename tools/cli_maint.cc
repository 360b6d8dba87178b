// Write commands: rm (delete steps) and gc (retention, then garbage
// collection). Both take the database's write lock: while another process
// has the database open for writing they fail with exit code 7.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/status.h"
#include "core/file_bytes.h"
#include "db/rocks_util.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_progress.h"

namespace ckptdb::cli {
namespace {

// Runs `fn` (garbage collection) while a progress bar shows the bytes the
// database directory has shrunk by.
absl::Status WithGcProgress(const Args& args, const std::string& path,
                            const std::function<absl::Status()>& fn) {
  Progress progress(args, "gc: disk freed", 0);
  if (!progress.enabled()) return fn();
  const uint64_t before = file_bytes::TreeBytes(path);
  std::atomic<bool> done{false};
  absl::Status result;
  std::thread worker([&] {
    result = fn();
    done.store(true);
  });
  while (!done.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t now = file_bytes::TreeBytes(path);
    progress.Set(before > now ? before - now : 0);
  }
  worker.join();
  const uint64_t now = file_bytes::TreeBytes(path);
  progress.Set(before > now ? before - now : 0);
  progress.Done();
  return result;
}

std::string StepList(const std::vector<StepInfo>& steps) {
  std::vector<std::string> out;
  for (const StepInfo& s : steps) out.push_back(StepLabel(s));
  return absl::StrJoin(out, ", ");
}

void WriteStepArray(const std::vector<StepInfo>& steps, JsonWriter* w) {
  w->BeginArray();
  for (const StepInfo& s : steps) {
    w->BeginObject(true);
    w->FieldInt("step", s.step);
    w->Field("name", s.name);
    w->EndObject();
  }
  w->EndArray();
}

// ---- rm ---------------------------------------------------------------------

absl::Status RunRm(const Args& args) {
  const std::string run = SplitRunStep(args[1]).run;
  for (size_t i = 2; i < args.size(); ++i) {
    if (SplitRunStep(args[i]).run != run) {
      return UsageError("rm deletes steps of one run per call");
    }
  }
  std::string unused;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store, OpenForStep(args[0], OpenMode::kReadWrite, args[1], &unused));
  std::vector<StepInfo> steps;
  std::vector<int64_t> numbers;
  for (size_t i = 1; i < args.size(); ++i) {
    CKPTDB_ASSIGN_OR_RETURN(StepInfo s,
                            ResolveStep(*store, SplitRunStep(args[i]).step));
    if (std::find(numbers.begin(), numbers.end(), s.step) != numbers.end()) {
      continue;
    }
    numbers.push_back(s.step);
    steps.push_back(s);
  }
  CKPTDB_RETURN_IF_ERROR(store->DeleteSteps(numbers));
  std::optional<internal::GcReport> gc;
  if (args.Has("gc")) {
    absl::Status s = WithGcProgress(args, args[0], [&]() -> absl::Status {
      CKPTDB_ASSIGN_OR_RETURN(gc, store->CollectGarbage(internal::GcOptions()));
      return absl::OkStatus();
    });
    CKPTDB_RETURN_IF_ERROR(s);
  }
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.Key("deleted");
    WriteStepArray(steps, &w);
    if (gc.has_value()) w.FieldUint("reclaimed_bytes", gc->bytes_reclaimed);
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  std::string out;
  for (const StepInfo& s : steps) {
    absl::StrAppend(&out, "deleted step ", StepLabel(s), "\n");
  }
  if (gc.has_value()) {
    absl::StrAppend(&out, "garbage collection: reclaimed ",
                    HumanBytes(gc->bytes_reclaimed), "\n");
  } else {
    absl::StrAppend(&out, "(run `ckptdb gc ", args[0],
                    "` to reclaim the space now)\n");
  }
  Print(out);
  return absl::OkStatus();
}

// ---- gc ---------------------------------------------------------------------

std::string RetentionText(const internal::NamingRecord& r) {
  std::vector<std::string> parts;
  if (r.max_to_keep.has_value()) {
    parts.push_back(absl::StrCat("max_to_keep=", *r.max_to_keep));
  }
  if (r.keep_period.has_value()) {
    parts.push_back(absl::StrCat("keep_period=", *r.keep_period));
  }
  if (r.keep_time_interval_secs.has_value()) {
    parts.push_back(
        absl::StrCat("keep_time_interval_secs=", *r.keep_time_interval_secs));
  }
  return absl::StrJoin(parts, ", ");
}

absl::Status RunGc(const Args& args) {
  const std::string db = args[0];
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenDatabase(db, OpenMode::kReadWrite));
  const internal::NamingRecord rec = store->GetNamingRecord();
  const std::string kind = store->kind();
  CKPTDB_ASSIGN_OR_RETURN(internal::StoreStats before, store->Stats());
  const std::vector<StepInfo> steps_before = store->Steps();
  const bool has_retention = rec.max_to_keep.has_value() ||
                             rec.keep_period.has_value() ||
                             rec.keep_time_interval_secs.has_value();
  std::string retention;
  std::vector<StepInfo> deleted;
  if (kind != "manager") {
    retention = "none (a Checkpointer database: no retention options)";
  } else if (rec.retention_is_custom) {
    retention =
        "custom (a best_fn or preservation_policy, which is code and not "
        "stored): no steps deleted, only garbage collected";
  } else if (!has_retention) {
    retention = "none configured (every step is kept)";
  } else {
    retention = RetentionText(rec);
  }
  if (kind == "manager" && !rec.retention_is_custom && has_retention) {
    // Retention exactly as the manager applies it: open one with the
    // persisted options (the database is closed first: one writer).
    store.reset();
    CheckpointManagerOptions o;
    o.create = false;
    o.enable_async_checkpointing = false;
    o.step_prefix = rec.step_prefix;
    if (rec.step_format_fixed_length > 0) {
      o.step_format_fixed_length = rec.step_format_fixed_length;
    }
    o.max_to_keep = rec.max_to_keep;
    o.keep_period = rec.keep_period;
    o.keep_time_interval_secs = rec.keep_time_interval_secs;
    auto mgr = CheckpointManager::Open(db, o);
    // A manager that follows another writer cannot apply retention.
    const bool busy = mgr.ok() ? (*mgr)->following()
                               : internal::DbLockHeldByAnotherProcess(db);
    if (busy) {
      return WithExit(
          absl::FailedPreconditionError(absl::StrCat(
              "database '", db,
              "' is busy: another process has it open for writing")),
          Exit::kBusy);
    }
    if (!mgr.ok()) return WithExit(mgr.status(), Exit::kError);
    CKPTDB_ASSIGN_OR_RETURN(std::vector<int64_t> gone,
                            (*mgr)->ApplyRetention());
    for (const StepInfo& s : steps_before) {
      if (std::find(gone.begin(), gone.end(), s.step) != gone.end()) {
        deleted.push_back(s);
      }
    }
    CKPTDB_RETURN_IF_ERROR(
        WithGcProgress(args, db, [&] { return (*mgr)->CollectGarbage(); }));
    CKPTDB_RETURN_IF_ERROR((*mgr)->Close());
    mgr->reset();
    CKPTDB_ASSIGN_OR_RETURN(store, OpenDatabase(db, OpenMode::kReadOnly));
  } else {
    CKPTDB_RETURN_IF_ERROR(WithGcProgress(args, db, [&]() -> absl::Status {
      return store->CollectGarbage(internal::GcOptions()).status();
    }));
  }
  CKPTDB_ASSIGN_OR_RETURN(internal::StoreStats after, store->Stats());
  const uint64_t reclaimed = before.segment_bytes > after.segment_bytes
                                 ? before.segment_bytes - after.segment_bytes
                                 : 0;
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", db);
    w.Field("retention", retention);
    w.Key("deleted");
    WriteStepArray(deleted, &w);
    w.FieldUint("steps", after.steps);
    w.FieldUint("reclaimed_bytes", reclaimed);
    w.FieldUint("segment_bytes_before", before.segment_bytes);
    w.FieldUint("segment_bytes_after", after.segment_bytes);
    w.FieldUint("disk_bytes_before", before.disk_bytes);
    w.FieldUint("disk_bytes_after", after.disk_bytes);
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  std::string out = absl::StrCat("retention: ", retention, "\n");
  if (!deleted.empty()) {
    absl::StrAppend(
        &out, "deleted ", deleted.size(),
        deleted.size() == 1 ? " step: " : " steps: ", StepList(deleted), "\n");
  } else if (kind == "manager" && has_retention && !rec.retention_is_custom) {
    absl::StrAppend(&out, "deleted no steps\n");
  }
  absl::StrAppend(&out, "garbage collection: reclaimed ", HumanBytes(reclaimed),
                  " of chunk data (", HumanBytes(before.segment_bytes), " -> ",
                  HumanBytes(after.segment_bytes), ")\n");
  absl::StrAppend(&out, "disk: ", HumanBytes(before.disk_bytes), " -> ",
                  HumanBytes(after.disk_bytes), "\n");
  Print(out);
  return absl::OkStatus();
}

}  // namespace

Command RmCommand() {
  Command c;
  c.name = "rm";
  c.synopsis = "rm DB STEP... [--gc] [--json] [--no-progress]";
  c.summary = "Delete steps (atomically; all or none).";
  c.description =
      "Deletes the given steps in one atomic write: if any does not exist\n"
      "nothing is deleted (exit code 4). Their chunks lose a reference; the\n"
      "space comes back with `ckptdb gc` (or --gc). Needs write access: fails\n"
      "with exit code 7 while another process has the database open.\n";
  c.flags = {{"gc", "", "collect garbage right after deleting"},
             JsonFlag(),
             NoProgressFlag()};
  c.min_args = 2;
  c.max_args = -1;
  c.example = "  ckptdb rm /ckpt/run1 test_1 test_3\n";
  c.run = RunRm;
  return c;
}

Command GcCommand() {
  Command c;
  c.name = "gc";
  c.synopsis = "gc DB [--json] [--no-progress]";
  c.summary = "Apply the stored retention policy now, then reclaim space.";
  c.description =
      "For a CheckpointManager database, applies the retention options its\n"
      "manager stored (max_to_keep, keep_period, keep_time_interval_secs),\n"
      "exactly as CheckpointManager::ApplyRetention does, deleting the steps\n"
      "they do not keep. A custom policy (best_fn, preservation_policy) is\n"
      "code and not stored: then gc deletes nothing. Then collects garbage:\n"
      "drops dead chunks and compacts. Needs write access: fails with exit\n"
      "code 7 while another process has the database open.\n";
  c.flags = {JsonFlag(), NoProgressFlag()};
  c.min_args = c.max_args = 1;
  c.example = "  ckptdb gc /ckpt/run1\n";
  c.run = RunGc;
  return c;
}

}  // namespace ckptdb::cli
