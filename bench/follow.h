// The FOLLOW workload: a reader process restores the latest step of a
// database while the writer process saves (issue 12's "reader while writers
// save"), against the same restore while the writer is idle.
#ifndef CKPTDB_BENCH_FOLLOW_H_
#define CKPTDB_BENCH_FOLLOW_H_

#include <string>
#include <vector>

#include "ckptdb/checkpointer.h"

namespace ckptdb_bench {

struct FollowResult {
  double tree_bytes = 0;
  double restores_per_phase = 0;
  std::vector<double> idle_s;  // per phase: restore time, writer idle
  std::vector<double> busy_s;  // per phase: restore time, writer saving
  std::vector<double> ratio;   // per A B B A block: idle / busy time
  int writer_saves = 0;        // steps the writer committed meanwhile
};

// Spawns `writers` processes `self_exe --follow-writer DB` and measures
// `warmup` unrecorded and `pairs` recorded A B B A blocks (A: writers idle,
// B: every writer saving). writers == 1 is FOLLOW; MANY uses 4 (each with
// --writer-index k, saving its own steps; the reader restores the latest).
// The writers save with StoreTuning::save_nice = save_nice.
FollowResult RunFollowBlocks(const std::string& self_exe,
                             const std::string& work, bool quick, int pairs,
                             int warmup, int writers, int save_nice);

// The writer process's main: saves when told to (see follow.cc). index < 0:
// FOLLOW's single writer (max_to_keep 2); index >= 0: writer `index` of
// several (steps index * 1,000,000 + i, keeps its last two itself).
int FollowWriterMain(const std::string& db, bool quick, int index,
                     int save_nice);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_FOLLOW_H_
