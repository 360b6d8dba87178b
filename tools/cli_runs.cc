// ckptdb runs: the runs of a database (docs/cli.md).
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"

namespace ckptdb::cli {

// Each run's distinct chunks, then which of them only that run holds.
absl::StatusOr<RunsBytes> CollectRunBytes(const std::string& db) {
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenDatabase(db, OpenMode::kReadOnly));
  RunsBytes out;
  std::map<internal::Hash128, std::set<size_t>> holders;
  for (const auto& summary : store->Runs()) {
    CKPTDB_ASSIGN_OR_RETURN(auto view, OpenDatabase(db, OpenMode::kReadOnly,
                                                    false, 0, summary.run));
    for (int64_t step : summary.steps) {
      auto hashes = view->StepChunkHashes(step);
      if (!hashes.ok()) continue;  // deleted meanwhile, or damaged (verify)
      for (const internal::Hash128& h : *hashes) {
        holders[h].insert(out.runs.size());
      }
    }
    out.runs.push_back({summary, 0});
  }
  for (const auto& [hash, runs] : holders) {
    auto entry = store->LookupChunk(hash);
    if (!entry.ok()) continue;
    if (runs.size() == 1) {
      out.runs[*runs.begin()].unique_bytes += entry->location.stored_size;
    } else {
      out.shared_bytes += entry->location.stored_size;
    }
  }
  return out;
}

namespace {

absl::Status RunRuns(const Args& args) {
  CKPTDB_ASSIGN_OR_RETURN(RunsBytes all, CollectRunBytes(args[0]));
  const std::vector<RunBytes>& runs = all.runs;
  const uint64_t shared = all.shared_bytes;
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.FieldInt("shared_bytes", static_cast<int64_t>(shared));
    w.Key("runs");
    w.BeginArray();
    for (const RunBytes& r : runs) {
      w.BeginObject();
      w.Field("run", r.summary.run);
      w.FieldInt("steps", static_cast<int64_t>(r.summary.steps.size()));
      w.FieldInt("latest", r.summary.steps.back());
      w.FieldInt("logical_bytes",
                 static_cast<int64_t>(r.summary.logical_bytes));
      w.FieldInt("unique_bytes", static_cast<int64_t>(r.unique_bytes));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  if (runs.empty()) {
    Print(absl::StrCat("no steps in '", args[0], "'\n"));
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"RUN", "STEPS", "LATEST", "LOGICAL", "UNIQUE"}};
  for (const RunBytes& r : runs) {
    rows.push_back({r.summary.run.empty() ? "(default)" : r.summary.run,
                    absl::StrCat(r.summary.steps.size()),
                    absl::StrCat(r.summary.steps.back()),
                    HumanBytes(r.summary.logical_bytes),
                    HumanBytes(r.unique_bytes)});
  }
  Print(Table(rows, {false, true, true, true, true}));
  Print(absl::StrCat("shared by several runs: ", HumanBytes(shared), "\n"));
  return absl::OkStatus();
}

}  // namespace

Command RunsCommand() {
  Command c;
  c.name = "runs";
  c.synopsis = "runs DB [--json]";
  c.summary = "List the runs: steps, latest step, logical and unique bytes.";
  c.description =
      "One line per run of the database (the default run shows as\n"
      "(default)): its number of steps, latest step, logical size, and unique\n"
      "size (stored bytes of chunks no other run references), then the bytes\n"
      "several runs share. Commands that take a step take RUN:STEP for a\n"
      "step of a named run (ckptdb diff DB base:0 lr-3e-4:latest).\n";
  c.flags = {JsonFlag()};
  c.min_args = c.max_args = 1;
  c.example = "  ckptdb runs /ckpt/sweep\n";
  c.run = RunRuns;
  return c;
}

}  // namespace ckptdb::cli
