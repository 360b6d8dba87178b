// The MANY workload (issue 12, "Measured"): several processes saving into
// one database at once (db/store_remote.cc: the first process holds
// RocksDB's lock and commits for the others, which stage their own files).
//
//   1. W3's sweep (4 runs x 5 steps from one base) saved by one process,
//      run after run, vs by 4 processes at once, one run each: wall time
//      and stored bytes after a garbage collection.
//   2. The serialised part of a save (its commit) with 4 processes saving
//      small steps into a database that holds 1,000 steps.
//   3. A reader process's restore of the latest step while 4 writer
//      processes save, vs on the idle database (follow.cc with 4 writers).
//
// Child processes are this binary re-executed with --many-child.
#ifndef CKPTDB_BENCH_MANY_WRITERS_H_
#define CKPTDB_BENCH_MANY_WRITERS_H_

#include <string>
#include <vector>

namespace ckptdb_bench {

struct ManySweepResult {
  int processes = 0, runs = 0, steps = 0;
  double logical_bytes = 0;
  // Per recorded pair: (a) one process, run after run; (b) one process
  // per run, all at once. Wall time of the saves; `du` of the database
  // after Close, and after a CollectGarbage and Close.
  std::vector<double> seq_s, par_s, time_ratio;
  std::vector<double> seq_du, par_du, size_ratio;
  std::vector<double> seq_du_before_gc, par_du_before_gc;
  // (b): the serialised part of every save (see CommitResult).
  std::vector<double> par_commit_s;
};

// Pairs (a, b) alternate their order (a b, b a, ...); `warmup` unrecorded
// pairs first.
ManySweepResult RunManySweep(const std::string& self_exe,
                             const std::string& work, bool quick, int pairs,
                             int warmup);

struct ManyCommitResult {
  int processes = 0;
  int prefill_steps = 0;
  double prefill_s = 0;
  int saves_per_process = 0;
  double step_bytes = 0;
  // Per save: the serialised part, i.e. for a follower the time from
  // sending its commit to the writer's answer (hooks before_remote_commit
  // .. after_remote_commit), for the writer's own saves from its staged
  // files to its committed batch (after_step_file .. after_commit, which
  // includes waiting for the write lock); summed over a save's attempts.
  std::vector<double> remote_s, local_s, all_s;
  std::vector<double> save_s;  // whole Save calls
  int unmeasured = 0;          // saves that passed no commit hook
};

ManyCommitResult RunManyCommit(const std::string& self_exe,
                               const std::string& work, bool quick);

// A child process's main (--many-child KIND --many-db DB --many-index K
// --many-saves N): KIND "sweep" saves W3 run K, "commit" saves N small
// steps. Talks to its parent over stdin (commands) and stdout (lines).
int ManyChildMain(const std::string& kind, const std::string& db, int index,
                  int saves, bool quick);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_MANY_WRITERS_H_
