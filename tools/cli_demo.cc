// demo: saves a few steps of a small model into a fresh database, lists
// them, and restores with and without a target (the README's first
// command runs it).
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/status.h"
#include "tools/cli.h"

namespace ckptdb::cli {
namespace {

// A small model-like state: two dense layers, Adam moments, a step counter.
Tree ModelState(int64_t step) {
  auto layer = [&](int64_t in, int64_t out, uint64_t seed) {
    Array w = Array::Allocate(DType::kFloat32, {in, out});
    float* p = static_cast<float*>(w.mutable_data());
    for (int64_t i = 0; i < in * out; ++i) {
      // In int64: the unsigned expression used to wrap below zero.
      const int64_t v =
          static_cast<int64_t>((i * 2654435761u + seed) % 2001) - 1000;
      p[i] = static_cast<float>(v) / 1000.0f;
    }
    return Tree::Dict(
        {{"kernel", w}, {"bias", Array::Zeros(DType::kFloat32, {out})}});
  };
  Tree params = Tree::Dict(
      {{"dense0", layer(256, 512, 1)}, {"dense1", layer(512, 10, 2 + step)}});
  return Tree::Dict(
      {{"step", Tree::Int(step)},
       {"params", params},
       {"opt_state", Tree::Tuple({Tree::Dict({{"count", Tree::Int(step)}}),
                                  params.DeepCopy()})}});
}

// The demo starts afresh, but only ever removes a ckptdb database that no
// other process has open: anything else at `db` is left alone.
absl::Status RemoveOldDemoDatabase(const std::string& db) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(db, ec))) return absl::OkStatus();
  if (fs::is_directory(db, ec) && fs::is_empty(db, ec)) {
    return absl::OkStatus();
  }
  {
    // Takes the write lock: exit 7 while another process has it open,
    // exit 3 for anything that is not a ckptdb database.
    auto store = OpenDatabase(db, OpenMode::kReadWrite);
    if (!store.ok()) {
      return WithExit(
          absl::Status(store.status().code(),
                       absl::StrCat("demo will not replace '", db,
                                    "': ", store.status().message())),
          ExitCodeOf(store.status()));
    }
  }
  fs::remove_all(db, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot remove the old demo database '", db, "': ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status RunDemo(const Args& args) {
  const std::string db = args.size() > 0 ? args[0] : "ckptdb-demo-db";
  CKPTDB_RETURN_IF_ERROR(RemoveOldDemoDatabase(db));
  CheckpointManagerOptions options;
  options.max_to_keep = 3;
  options.keep_period = 2;
  options.step_prefix = "step";
  CKPTDB_ASSIGN_OR_RETURN(auto mgr, CheckpointManager::Open(db, options));
  printf("database: %s (max_to_keep=3, keep_period=2, async saves)\n",
         db.c_str());
  for (int64_t step = 0; step <= 5; ++step) {
    ManagerSaveOptions so;
    so.metrics = Tree::Dict({{"loss", Tree::Float(1.0 / (step + 1))}});
    CKPTDB_ASSIGN_OR_RETURN(bool saved, mgr->Save(step, ModelState(step), so));
    printf("save step %lld: %s\n", static_cast<long long>(step),
           saved ? "saved" : "skipped");
  }
  CKPTDB_RETURN_IF_ERROR(mgr->WaitUntilFinished());
  printf("\nsteps kept (retention: newest 3 plus every even step):\n");
  for (int64_t step : mgr->AllSteps()) {
    CKPTDB_ASSIGN_OR_RETURN(StepInfo info, mgr->StepMetadata(step));
    printf("  %-8s %8.1f KiB logical, %8.1f KiB new on disk\n",
           info.name.c_str(), info.logical_bytes / 1024.0,
           info.new_bytes / 1024.0);
  }
  const int64_t latest = *mgr->LatestStep();
  CKPTDB_ASSIGN_OR_RETURN(TreeMetadata meta, mgr->ItemMetadata(latest));
  Tree target = meta.ToTree();  // zero-filled arrays of the saved shapes
  CKPTDB_ASSIGN_OR_RETURN(Tree with_target, mgr->Restore(latest, target));
  printf("\nrestore step %lld into a target: step=%lld, filled in place: %s\n",
         static_cast<long long>(latest),
         static_cast<long long>(with_target["step"].int_value()),
         with_target["params"]["dense0"]["kernel"].array().data() ==
                 target["params"]["dense0"]["kernel"].array().data()
             ? "yes"
             : "no");
  CKPTDB_ASSIGN_OR_RETURN(Tree no_target, mgr->Restore(0));
  printf("restore step 0 without a target: exact tree back: %s\n",
         no_target == ModelState(0) ? "yes" : "NO");
  printf("  opt_state is still a %s\n",
         std::string(TreeKindName(no_target["opt_state"].kind())).c_str());
  printf("\nitem metadata of step %lld (no array bytes read):\n%s",
         static_cast<long long>(latest), meta.DebugString().c_str());
  return mgr->Close();
}

}  // namespace

Command DemoCommand() {
  Command c;
  c.name = "demo";
  c.synopsis = "demo [DB]";
  c.summary = "Save a few steps of a small model into DB and restore them.";
  c.description =
      "Creates DB afresh (default: ckptdb-demo-db), saves steps 0-5 with\n"
      "max_to_keep=3 and keep_period=2, lists the steps kept, restores with\n"
      "and without a target and prints the metadata. An existing DB is\n"
      "removed first only if it is a ckptdb database that no other process\n"
      "has open (else exit 3 or 7, and nothing is touched).\n";
  c.min_args = 0;
  c.max_args = 1;
  c.example = "  ckptdb demo /tmp/demo-db && ckptdb ls /tmp/demo-db\n";
  c.run = RunDemo;
  return c;
}

}  // namespace ckptdb::cli
