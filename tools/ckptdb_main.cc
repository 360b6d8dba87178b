// ckptdb: the command-line tool. Subcommands: demo (more to come).
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/status.h"

namespace {

using ckptdb::Array;
using ckptdb::DType;
using ckptdb::Tree;

// A small model-like state: two dense layers, Adam moments, a step counter.
Tree ModelState(int64_t step) {
  auto layer = [&](int64_t in, int64_t out, uint64_t seed) {
    Array w = Array::Allocate(DType::kFloat32, {in, out});
    float* p = static_cast<float*>(w.mutable_data());
    for (int64_t i = 0; i < in * out; ++i) {
      p[i] = static_cast<float>(((i * 2654435761u + seed) % 2001) - 1000) /
             1000.0f;
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

int Fail(const absl::Status& s) {
  fprintf(stderr, "ckptdb demo: %s\n", s.ToString().c_str());
  return 1;
}

int Demo(const std::string& db) {
  std::filesystem::remove_all(db);
  ckptdb::CheckpointManagerOptions options;
  options.max_to_keep = 3;
  options.keep_period = 2;
  options.step_prefix = "step";
  auto mgr = ckptdb::CheckpointManager::Open(db, options);
  if (!mgr.ok()) return Fail(mgr.status());
  printf("database: %s (max_to_keep=3, keep_period=2, async saves)\n",
         db.c_str());
  for (int64_t step = 0; step <= 5; ++step) {
    ckptdb::ManagerSaveOptions so;
    so.metrics = Tree::Dict({{"loss", Tree::Float(1.0 / (step + 1))}});
    auto saved = (*mgr)->Save(step, ModelState(step), so);
    if (!saved.ok()) return Fail(saved.status());
    printf("save step %lld: %s\n", static_cast<long long>(step),
           *saved ? "saved" : "skipped");
  }
  if (auto s = (*mgr)->WaitUntilFinished(); !s.ok()) return Fail(s);
  printf("\nsteps kept (retention: newest 3 plus every even step):\n");
  for (int64_t step : (*mgr)->AllSteps()) {
    auto info = (*mgr)->StepMetadata(step);
    if (!info.ok()) return Fail(info.status());
    printf("  %-8s %8.1f KiB logical, %8.1f KiB new on disk\n",
           info->name.c_str(), info->logical_bytes / 1024.0,
           info->new_bytes / 1024.0);
  }
  const int64_t latest = *(*mgr)->LatestStep();
  auto meta = (*mgr)->ItemMetadata(latest);
  if (!meta.ok()) return Fail(meta.status());
  Tree target = meta->ToTree();  // zero-filled arrays of the saved shapes
  auto with_target = (*mgr)->Restore(latest, target);
  if (!with_target.ok()) return Fail(with_target.status());
  printf("\nrestore step %lld into a target: step=%lld, filled in place: %s\n",
         static_cast<long long>(latest),
         static_cast<long long>((*with_target)["step"].int_value()),
         (*with_target)["params"]["dense0"]["kernel"].array().data() ==
                 target["params"]["dense0"]["kernel"].array().data()
             ? "yes"
             : "no");
  auto no_target = (*mgr)->Restore(0);
  if (!no_target.ok()) return Fail(no_target.status());
  printf("restore step 0 without a target: exact tree back: %s\n",
         *no_target == ModelState(0) ? "yes" : "NO");
  printf("  opt_state is still a %s\n",
         std::string(ckptdb::TreeKindName((*no_target)["opt_state"].kind()))
             .c_str());
  printf("\nitem metadata of step %lld (no array bytes read):\n%s",
         static_cast<long long>(latest), meta->DebugString().c_str());
  return (*mgr)->Close().ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  if (argc >= 2 && std::strcmp(argv[1], "demo") == 0) {
    return Demo(argc >= 3 ? argv[2] : "ckptdb-demo-db");
  }
  fprintf(stderr, "usage: ckptdb demo [DB]\n");
  return 2;
}
