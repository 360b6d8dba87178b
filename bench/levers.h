// The LEVER workload of ckptdb_bench (issue 19's levers): W1 saved and
// restored by ckptdb with one StoreTuning lever (A) against the same
// without it (B), in the A B B A blocks of every comparison, so a lever's
// effect is a ratio measured side by side. Rows are informational; the
// results and the decision on each lever are in docs/design.md
// ("Performance against the disk ceiling").
#ifndef CKPTDB_BENCH_LEVERS_H_
#define CKPTDB_BENCH_LEVERS_H_

#include <string>

#include "bench/compare.h"
#include "bench/config.h"
#include "bench/workloads.h"

namespace ckptdb_bench {

// cfg.lever names the lever ("writeback" with cfg.lever_bytes, "mmap").
// src and dst are two arenas of `w` (W1).
void RunLever(const Config& cfg, const std::string& work, const Workload& w,
              const char* src, char* dst, Results* out);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_LEVERS_H_
