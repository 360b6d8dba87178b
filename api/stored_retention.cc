// Stored retention, replayed run by run: a CheckpointManager opened as a
// tool (no following: busy while another process writes; the naming record
// left as it is) on the run, with the options its record holds, applies
// its preservation policy (CheckpointManager::ApplyRetention). Every run's
// record is read before any step is deleted, so a damaged one deletes
// nothing.
#include "api/stored_retention.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/manager_access.h"
#include "ckptdb/status.h"

namespace ckptdb::internal {
namespace {

CheckpointManagerOptions ReplayOptions(const NamingRecord& r) {
  CheckpointManagerOptions o;
  o.create = false;
  o.enable_async_checkpointing = false;
  o.max_to_keep = r.max_to_keep;
  o.keep_period = r.keep_period;
  o.keep_time_interval_secs = r.keep_time_interval_secs;
  return o;
}

// Applies one run's options; fills run->deleted.
absl::Status ReplayRun(const std::string& directory, RunRetention* run) {
  CKPTDB_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointManager> mgr,
                          ManagerAccess::OpenRunForTool(
                              directory, run->run, ReplayOptions(run->record)));
  std::vector<StepInfo> before;
  for (int64_t step : mgr->AllSteps()) {
    CKPTDB_ASSIGN_OR_RETURN(StepInfo info, mgr->StepMetadata(step));
    before.push_back(std::move(info));
  }
  CKPTDB_ASSIGN_OR_RETURN(std::vector<int64_t> gone, mgr->ApplyRetention());
  for (const StepInfo& s : before) {
    if (std::find(gone.begin(), gone.end(), s.step) != gone.end()) {
      run->deleted.push_back(s);
    }
  }
  return mgr->Close();
}

}  // namespace

bool RunRetention::HasOptions() const {
  return record.max_to_keep.has_value() || record.keep_period.has_value() ||
         record.keep_time_interval_secs.has_value();
}

absl::StatusOr<std::vector<RunRetention>> ReadStoredRetention(
    const Store& store) {
  std::vector<RunRetention> out;
  std::vector<std::string> names = {""};
  for (const Store::RunSummary& r : store.Runs()) {
    if (!r.run.empty()) names.push_back(r.run);
  }
  for (const std::string& name : names) {
    RunRetention r;
    r.run = name;
    CKPTDB_ASSIGN_OR_RETURN(r.record, store.ReadNamingRecord(name));
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status ReplayStoredRetention(const std::string& directory,
                                   std::vector<RunRetention>* runs) {
  for (RunRetention& run : *runs) {
    if (!run.Replayable()) continue;
    absl::Status s = ReplayRun(directory, &run);
    if (!s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat(run.run.empty() ? std::string("the default run")
                                       : absl::StrCat("run '", run.run, "'"),
                       ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
