// W1 and W2 of ckptdb_bench: ckptdb's durable save and its restores (into a
// target, without one) against the file baselines, and for W1 against the
// disk's own ceilings too (bench/ceiling.h, issue 19). See bench/README.md.
#ifndef CKPTDB_BENCH_SAVE_RESTORE_H_
#define CKPTDB_BENCH_SAVE_RESTORE_H_

#include <string>

#include "bench/baselines.h"
#include "bench/compare.h"
#include "bench/config.h"
#include "bench/workloads.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/tree.h"

namespace ckptdb_bench {

// Where one workload's contenders write, under the run's directory.
struct FileSet {
  std::string ckpt, raw, leaf, h5, direct;
};
FileSet MakeFileSet(const std::string& work, const std::string& prefix);

// Poisons a restore target so a restore that writes nothing is caught.
void Poison(const Workload& w, char* dst);
// Fail()s naming `who` and the first differing leaf unless `dst` (and the
// scalars) hold what `src` holds.
void VerifyArena(const Workload& w, const char* src, const char* dst,
                 const ScalarBits& scalars, const std::string& who);
// Fail()s naming `who` and the first difference unless `t` is the workload.
void VerifyTree(const Workload& w, const char* src, const ckptdb::Tree& t,
                const std::string& who);

// ckptdb's timed operations on workload `w` (arrays in `src`; restores
// into `dst`, an arena of `w`) and the database at `path`, through the
// public Checkpointer with `tuning`. Each returns the seconds it measured,
// verifies what it restored and Fail()s on any error. Not thread-safe.
class CkptdbOps {
 public:
  CkptdbOps(const ckptdb::StoreTuning& tuning, const Workload& w,
            const char* src, char* dst, std::string path);
  CkptdbOps(const CkptdbOps&) = delete;
  CkptdbOps& operator=(const CkptdbOps&) = delete;

  // Removes the database (not timed), then a durable save.
  double Save();
  // Poisons `dst` (not timed), restores into the target tree over `dst`.
  double RestoreIntoTarget();
  // Restores without a target (ckptdb allocates the arrays).
  double RestoreNew();
  // Restores into a target over a new arena (made and touched, not timed):
  // memory the process has written but the kernel has not, as in a
  // process's first restore into freshly built arrays.
  double RestoreIntoNewTarget();
  // Save() (not timed), then RestoreIntoTarget(): the first restore after
  // a save.
  double RestoreAfterSave();

 private:
  const ckptdb::Checkpointer ck_;
  const Workload& w_;
  const char* src_;
  char* dst_;
  const std::string path_;
  const ckptdb::Tree tree_, target_;
  bool in_place_noted_ = false;
};

// W1 (src and dst: two arenas of `w`): rows for the save and the restores
// against the baselines and the ceilings, the restore right after a save;
// sets *keep to the files the RSS check restores from (the ckptdb
// database and the raw file stay on disk).
void RunW1(const Config& cfg, const std::string& work, const Workload& w,
           const char* src, char* dst, Results* out, FileSet* keep);
// W2: 100,000 small leaves against the file baselines.
void RunW2(const Config& cfg, const std::string& work, Results* out);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_SAVE_RESTORE_H_
