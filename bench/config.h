// Command-line configuration of ckptdb_bench (see bench/README.md).
#ifndef CKPTDB_BENCH_CONFIG_H_
#define CKPTDB_BENCH_CONFIG_H_

#include <cstdint>
#include <set>
#include <string>

#include "ckptdb/checkpointer.h"

#ifndef CKPTDB_BENCH_DEFAULT_DIR
#define CKPTDB_BENCH_DEFAULT_DIR "bench_data"
#endif

namespace ckptdb_bench {

// Exit statuses of ckptdb_bench.
inline constexpr int kExitOk = 0;
inline constexpr int kExitCorrectness = 1;  // a restore differed, a call failed
inline constexpr int kExitUsage = 2;        // bad arguments
inline constexpr int kExitTargetMissed =
    3;  // --check: a guarded ratio fell short

struct Config {
  bool quick = false;
  // Recorded samples per comparison (A B B A blocks for W1/W2, sweeps for
  // W3, save sequences for W4, opens for OPEN).
  int pairs = 3;
  int warmup = 1;
  std::string dir = CKPTDB_BENCH_DEFAULT_DIR;
  std::string json;
  // LEVER runs only when asked for (--lever).
  std::set<std::string> workloads = {"W1",   "W2",    "W3",     "W4",  "RSS",
                                     "OPEN", "ASYNC", "FOLLOW", "MANY"};
  bool w2_per_leaf = false;
  bool keep = false;
  // --check: exit with kExitTargetMissed when a ratio of the issue-19
  // regression guard (bench/check.h) falls short.
  bool check = false;
  // --lever NAME[=BYTES]: the LEVER workload's A/B (bench/levers.h):
  // "writeback" (StoreTuning::writeback_bytes = lever_bytes, default
  // 1 MiB) or "mmap" (StoreTuning::mmap_reads).
  std::string lever;
  uint64_t lever_bytes = 1 << 20;
  // StoreTuning for every ckptdb store of the run (--chunk-bytes).
  ckptdb::StoreTuning tuning;
  bool chunk_bytes_set = false;
  // --follow-writer mode (internal): the FOLLOW workload's writer.
  std::string follow_writer;
  int writer_index = -1;  // --writer-index: one of MANY's writers
  // --many-child mode (internal): a MANY child process.
  std::string many_child, many_db;
  int many_index = 0, many_saves = 0;
  // --many-parts: which parts of MANY to run (1 sweep, 2 commit, 3 reader).
  std::set<std::string> many_parts = {"1", "2", "3"};
  // --rss-child mode (internal).
  std::string rss_child;
  std::string rss_dir, rss_db, rss_raw;
};

// Parses the command line; prints the usage and exits with kExitUsage on a
// bad argument (with kExitOk for --help).
Config ParseArgs(int argc, char** argv);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_CONFIG_H_
