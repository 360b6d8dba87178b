#include "api/multiprocess_save.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "ckptdb/status.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(10);

// A tree without its unsharded arrays (None in their place, so that node
// numbers stay those of the primary's tree): what a process other than the
// primary saves. `dtypes` (stored dtypes of the array leaves, preorder)
// keeps the sharded leaves' entries.
Tree ShardsOnly(const Tree& t, const std::vector<DType>& dtypes, size_t* next,
                std::vector<DType>* kept) {
  if (t.kind() == Tree::Kind::kArray) {
    ++*next;
    return Tree::None();
  }
  if (t.kind() == Tree::Kind::kShardedArray) {
    if (!dtypes.empty()) kept->push_back(dtypes[*next]);
    ++*next;
    return t;
  }
  if (!t.is_container()) return t;
  Tree out = t;
  for (size_t i = 0; i < t.size(); ++i) {
    out.mutable_children()[i] = ShardsOnly(t.children()[i], dtypes, next, kept);
  }
  return out;
}

// InvalidArgument naming the first sharded leaf whose shards are another
// process's than this one.
absl::Status CheckShardProcess(const Tree& t, int process, TreePath* path) {
  if (t.sharded() && t.sharded()->process != process) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf '", path->DisplayString(), "' holds the shards of process ",
        t.sharded()->process, ", but this is process ", process,
        " (multiprocessing.process_index)"));
  }
  for (size_t i = 0; i < t.size(); ++i) {
    if (t.kind() == Tree::Kind::kDict) {
      path->Push(t.keys()[i]);
    } else {
      path->Push(static_cast<int64_t>(i));
    }
    absl::Status s = CheckShardProcess(t.children()[i], process, path);
    path->Pop();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<std::string> PartialRuns(const Store& store, int count) {
  std::vector<std::string> runs;
  for (int p = 0; p < count; ++p)
    runs.push_back(PartialRunName(store.run(), p));
  return runs;
}

// The processes whose part of `step` this store does not see yet.
std::vector<int> MissingParts(const Store& store,
                              const std::vector<std::string>& runs,
                              int64_t step) {
  std::vector<int> missing;
  for (size_t p = 0; p < runs.size(); ++p) {
    if (!store.HasRunStep(runs[p], step))
      missing.push_back(static_cast<int>(p));
  }
  return missing;
}

// Deletes the partial steps of `store`'s run (this save's, and any a
// crashed save left); failures only cost space until the next save.
void DeleteParts(Store& store) {
  std::map<std::string, std::vector<int64_t>> by_run;
  for (const auto& [run, step] : store.PartialSteps()) {
    by_run[run].push_back(step);
  }
  for (const auto& [run, steps] : by_run) {
    store.DeleteStepsOf(run, steps).IgnoreError();
  }
}

absl::Status Barrier(const MultiprocessingOptions& mp, absl::string_view what,
                     const Store& store, int64_t step) {
  if (!mp.barrier) return absl::OkStatus();
  return mp.barrier(absl::StrCat("ckptdb-", what, "-", store.run(), "-", step));
}

// The primary: waits for every part, commits, deletes the parts.
absl::Status CommitParts(Store& store, const StepSaveRequest& req,
                         const MultiprocessingOptions& mp) {
  const std::vector<std::string> runs = PartialRuns(store, mp.process_count);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(mp.timeout_ms);
  absl::Status s = Barrier(mp, "parts", store, req.step);
  std::vector<int> missing;
  while (s.ok()) {
    store.Refresh().IgnoreError();
    missing = MissingParts(store, runs, req.step);
    if (missing.empty()) break;
    if (absl::Now() > deadline) {
      s = absl::DeadlineExceededError(absl::StrCat(
          "step ", req.step, ": process(es) ", absl::StrJoin(missing, ", "),
          " of ", mp.process_count, " did not save their part within ",
          mp.timeout_ms / 1000.0, " s; nothing was committed"));
      break;
    }
    absl::SleepFor(kPoll);
  }
  if (s.ok()) {
    MergeRequest merge;
    merge.step = req.step;
    merge.partial_runs = runs;
    merge.primary = static_cast<size_t>(mp.primary);
    merge.replace = req.replace;
    merge.commit_time_ns = req.commit_time_ns;
    s = store.MergePartialSteps(merge).status();
  }
  DeleteParts(store);
  absl::Status b = Barrier(mp, "commit", store, req.step);
  return s.ok() ? b : s;
}

// The others: wait for the primary's commit (or its giving up: it deletes
// the parts without committing).
absl::Status AwaitCommit(Store& store, const StepSaveRequest& req,
                         const MultiprocessingOptions& mp) {
  CKPTDB_RETURN_IF_ERROR(Barrier(mp, "parts", store, req.step));
  CKPTDB_RETURN_IF_ERROR(Barrier(mp, "commit", store, req.step));
  const std::string own = PartialRunName(store.run(), mp.process_index);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(mp.timeout_ms);
  for (;;) {
    store.Refresh().IgnoreError();
    // The commit precedes the parts' deletion: a view without this
    // process's part holds the commit, if there was one.
    if (!store.HasRunStep(own, req.step)) {
      if (store.HasStep(req.step)) return absl::OkStatus();
      return absl::AbortedError(absl::StrCat(
          "step ", req.step, ": the primary process (", mp.primary,
          ") did not commit it (see its error); nothing was committed"));
    }
    if (absl::Now() > deadline) {
      if (store.HasStep(req.step)) return absl::OkStatus();
      return absl::DeadlineExceededError(absl::StrCat(
          "step ", req.step, ": the primary process (", mp.primary,
          ") did not commit it within ", mp.timeout_ms / 1000.0, " s"));
    }
    absl::SleepFor(kPoll);
  }
}

}  // namespace

absl::Status ValidateMultiprocessing(const MultiprocessingOptions& mp) {
  if (mp.process_count < 1 || mp.process_index < 0 ||
      mp.process_index >= mp.process_count || mp.primary < 0 ||
      mp.primary >= mp.process_count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "multiprocessing: process_index ", mp.process_index, " and primary ",
        mp.primary, " must be in [0, process_count = ", mp.process_count, ")"));
  }
  if (mp.timeout_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "multiprocessing: timeout_ms must be > 0, got ", mp.timeout_ms));
  }
  return absl::OkStatus();
}

absl::Status SaveAcrossProcesses(Store& store, StepSaveRequest req,
                                 const MultiprocessingOptions& mp) {
  const bool primary = mp.process_index == mp.primary;
  absl::Status part;
  for (const SaveItem& item : req.items) {
    TreePath path;
    absl::Status s = CheckShardProcess(*item.tree, mp.process_index, &path);
    if (!s.ok() && part.ok()) {
      part = absl::InvalidArgumentError(
          absl::StrCat("item '", item.name, "': ", s.message()));
    }
  }
  std::vector<Tree> stripped;
  stripped.reserve(req.items.size());
  if (!primary) {
    for (SaveItem& item : req.items) {
      size_t next = 0;
      std::vector<DType> kept;
      stripped.push_back(
          ShardsOnly(*item.tree, item.stored_dtypes, &next, &kept));
      item.tree = &stripped.back();
      item.stored_dtypes = std::move(kept);
    }
  }
  const bool replace = req.replace;
  req.run = PartialRunName(store.run(), mp.process_index);
  req.replace = true;  // a part a crashed save left behind
  if (part.ok()) part = store.SaveStep(req).status();
  req.replace = replace;
  if (!part.ok()) {
    // Still meet the others at the barriers, so that none of them waits
    // for this process past them; the primary then gives up on its part
    // (its deadline) and deletes the parts saved.
    if (primary) DeleteParts(store);
    Barrier(mp, "parts", store, req.step).IgnoreError();
    Barrier(mp, "commit", store, req.step).IgnoreError();
    return part;
  }
  return primary ? CommitParts(store, req, mp) : AwaitCommit(store, req, mp);
}

}  // namespace ckptdb::internal
