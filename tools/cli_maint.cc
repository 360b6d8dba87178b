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
#include "api/stored_retention.h"
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

// After a collection: DataLoss (exit code 6) naming each segment it left
// because a table file of it is damaged; everything else was collected.
absl::Status DamagedSegments(const internal::GcReport& report) {
  if (report.damaged_segments.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrJoin(report.damaged_segments, "; "));
}

// The table files of the database RocksDB cannot open (readers and rm and
// gc open around them).
std::vector<std::string> DamagedTableFiles(const Store& store) {
  std::vector<std::string> files;
  for (const internal::DamagedTable& t : store.LiveDamagedTables()) {
    files.push_back(t.file);
  }
  return files;
}

// "" for no files; otherwise which remain and what removes them.
std::string DamagedTablesText(const std::string& db,
                              const std::vector<std::string>& files) {
  if (files.empty()) return "";
  return absl::StrCat("damaged table files remain: ",
                      absl::StrJoin(files, ", "), " (`ckptdb verify ", db,
                      "` names the steps that need them; `ckptdb rm` of "
                      "those, then `ckptdb gc`, removes them)\n");
}

void WriteDamagedTablesJson(const std::vector<std::string>& files,
                            JsonWriter* w) {
  w->Key("damaged_tables");
  w->BeginArray();
  for (const std::string& f : files) w->String(f);
  w->EndArray();
}

absl::Status RunRm(const Args& args) {
  const std::string run = SplitRunStep(args[1]).run;
  for (size_t i = 2; i < args.size(); ++i) {
    if (SplitRunStep(args[i]).run != run) {
      return UsageError("rm deletes steps of one run per call");
    }
  }
  std::string unused;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store,
      OpenForStep(args[0], OpenMode::kReadWriteAroundDamage, args[1], &unused));
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
    WriteDamagedTablesJson(DamagedTableFiles(*store), &w);
    w.EndObject();
    w.Finish();
    return gc.has_value() ? DamagedSegments(*gc) : absl::OkStatus();
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
  out += DamagedTablesText(args[0], DamagedTableFiles(*store));
  Print(out);
  return gc.has_value() ? DamagedSegments(*gc) : absl::OkStatus();
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

// What gc does with one run's stored retention.
std::string RetentionSummary(const internal::RunRetention& r) {
  if (r.record.retention_is_custom) {
    return "custom (a best_fn or preservation_policy, which is code and not "
           "stored): no steps deleted, only garbage collected";
  }
  if (!r.HasOptions()) return "none configured (every step is kept)";
  return RetentionText(r.record);
}

// Each run's stored retention, replayed; nothing for a Checkpointer
// database (it has no retention options). Closes and reopens `store`
// around the replay (one writer: the replay's managers).
absl::StatusOr<std::vector<internal::RunRetention>> ApplyStoredRetention(
    const std::string& db, std::unique_ptr<Store>* store) {
  if ((*store)->kind() != "manager")
    return std::vector<internal::RunRetention>();
  CKPTDB_ASSIGN_OR_RETURN(std::vector<internal::RunRetention> runs,
                          internal::ReadStoredRetention(**store));
  if (std::none_of(runs.begin(), runs.end(),
                   [](const auto& r) { return r.Replayable(); })) {
    return runs;
  }
  store->reset();
  absl::Status s = internal::ReplayStoredRetention(db, &runs);
  if (!s.ok() && internal::DbLockHeldByAnotherProcess(db)) {
    return WithExit(absl::FailedPreconditionError(absl::StrCat(
                        "database '", db,
                        "' is busy: another process has it open for writing")),
                    Exit::kBusy);
  }
  CKPTDB_RETURN_IF_ERROR(s);
  CKPTDB_ASSIGN_OR_RETURN(*store, OpenDatabase(db, OpenMode::kReadWrite));
  return runs;
}

struct GcResult {
  std::vector<internal::RunRetention> runs;  // the default run first
  // Why retention was not applied ("" if it was, or there is none).
  std::string retention_skipped;
  std::vector<std::string> damaged_after;  // DamagedTableFiles after GC
  internal::StoreStats before, after;
  uint64_t steps_after = 0;  // of every run
};

// The retention line of the default run.
std::string RetentionLine(const GcResult& g) {
  if (!g.retention_skipped.empty()) {
    return absl::StrCat("not applied: ", g.retention_skipped);
  }
  return g.runs.empty() ? "none (a Checkpointer database: no retention options)"
                        : RetentionSummary(g.runs[0]);
}

void PrintGcJson(const std::string& db, const GcResult& g) {
  const uint64_t reclaimed =
      g.before.segment_bytes > g.after.segment_bytes
          ? g.before.segment_bytes - g.after.segment_bytes
          : 0;
  JsonWriter w(stdout);
  w.BeginObject();
  w.Field("database", db);
  w.Field("retention", RetentionLine(g));
  w.Key("deleted");
  WriteStepArray(g.runs.empty() ? std::vector<StepInfo>() : g.runs[0].deleted,
                 &w);
  w.Key("runs");
  w.BeginArray();
  for (size_t i = 1; i < g.runs.size(); ++i) {
    w.BeginObject();
    w.Field("run", g.runs[i].run);
    w.Field("retention", RetentionSummary(g.runs[i]));
    w.Key("deleted");
    WriteStepArray(g.runs[i].deleted, &w);
    w.EndObject();
  }
  w.EndArray();
  w.FieldUint("steps", g.steps_after);
  w.FieldUint("reclaimed_bytes", reclaimed);
  w.FieldUint("segment_bytes_before", g.before.segment_bytes);
  w.FieldUint("segment_bytes_after", g.after.segment_bytes);
  w.FieldUint("disk_bytes_before", g.before.disk_bytes);
  w.FieldUint("disk_bytes_after", g.after.disk_bytes);
  WriteDamagedTablesJson(g.damaged_after, &w);
  w.EndObject();
  w.Finish();
}

// "retention: ..." and "deleted ..." of one run; `prefix` names a named run.
void AppendRunRetention(const internal::RunRetention& r,
                        const std::string& prefix, std::string* out) {
  absl::StrAppend(out, prefix, "retention: ", RetentionSummary(r), "\n");
  if (!r.deleted.empty()) {
    absl::StrAppend(out, prefix, "deleted ", r.deleted.size(),
                    r.deleted.size() == 1 ? " step: " : " steps: ",
                    StepList(r.deleted), "\n");
  } else if (r.Replayable()) {
    absl::StrAppend(out, prefix, "deleted no steps\n");
  }
}

void PrintGcText(const std::string& db, const GcResult& g) {
  std::string out;
  if (g.runs.empty()) out = absl::StrCat("retention: ", RetentionLine(g), "\n");
  for (const internal::RunRetention& r : g.runs) {
    AppendRunRetention(
        r, r.run.empty() ? "" : absl::StrCat("run ", r.run, ": "), &out);
  }
  const uint64_t reclaimed =
      g.before.segment_bytes > g.after.segment_bytes
          ? g.before.segment_bytes - g.after.segment_bytes
          : 0;
  absl::StrAppend(&out, "garbage collection: reclaimed ", HumanBytes(reclaimed),
                  " of chunk data (", HumanBytes(g.before.segment_bytes),
                  " -> ", HumanBytes(g.after.segment_bytes), ")\n");
  absl::StrAppend(&out, "disk: ", HumanBytes(g.before.disk_bytes), " -> ",
                  HumanBytes(g.after.disk_bytes), "\n");
  out += DamagedTablesText(db, g.damaged_after);
  Print(out);
}

absl::Status RunGc(const Args& args) {
  const std::string db = args[0];
  CKPTDB_ASSIGN_OR_RETURN(auto store,
                          OpenDatabase(db, OpenMode::kReadWriteAroundDamage));
  GcResult g;
  CKPTDB_ASSIGN_OR_RETURN(g.before, store->Stats());
  // Retention opens managers, which refuse a database with damaged tables:
  // then only the garbage is collected (a damaged table whose chunks no
  // step uses any more goes with it).
  if (const std::vector<std::string> files = DamagedTableFiles(*store);
      !files.empty()) {
    g.retention_skipped =
        absl::StrCat("the database has table files RocksDB cannot open (",
                     absl::StrJoin(files, ", "), ")");
  } else {
    CKPTDB_ASSIGN_OR_RETURN(g.runs, ApplyStoredRetention(db, &store));
  }
  internal::GcReport report;
  CKPTDB_RETURN_IF_ERROR(WithGcProgress(args, db, [&]() -> absl::Status {
    CKPTDB_ASSIGN_OR_RETURN(report,
                            store->CollectGarbage(internal::GcOptions()));
    return absl::OkStatus();
  }));
  CKPTDB_ASSIGN_OR_RETURN(g.after, store->Stats());
  g.damaged_after = DamagedTableFiles(*store);
  for (const Store::RunSummary& r : store->Runs()) {
    g.steps_after += r.steps.size();
  }
  if (args.json()) {
    PrintGcJson(db, g);
  } else {
    PrintGcText(db, g);
  }
  return DamagedSegments(report);
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
      "For a CheckpointManager database, applies to each run the retention\n"
      "options its manager stored (max_to_keep, keep_period,\n"
      "keep_time_interval_secs), exactly as CheckpointManager::ApplyRetention\n"
      "does, deleting the steps they do not keep; named runs are listed as\n"
      "`run NAME: ...`. A custom policy (best_fn, preservation_policy) is\n"
      "code and not stored: then gc deletes nothing of that run. Then\n"
      "collects garbage: drops dead chunks and compacts. A damaged retention\n"
      "record deletes nothing (exit code 6, naming the run); a segment whose\n"
      "table file is damaged keeps its garbage (the rest is collected; exit\n"
      "code 6, naming segment and file). Needs write\n"
      "access: fails with exit code 7 while another process has the\n"
      "database open.\n";
  c.flags = {JsonFlag(), NoProgressFlag()};
  c.min_args = c.max_args = 1;
  c.example = "  ckptdb gc /ckpt/run1\n";
  c.run = RunGc;
  return c;
}

}  // namespace ckptdb::cli
