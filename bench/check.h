// `ckptdb_bench --check`: issue 19's regression guard. The rows marked
// `guarded` (W1 against the disk's ceilings, peak RSS) must meet their
// targets; a later change that slows saves or restores is then seen as a
// non-zero exit. Not for CI: timings there are noise.
#ifndef CKPTDB_BENCH_CHECK_H_
#define CKPTDB_BENCH_CHECK_H_

#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace ckptdb_bench {

// One line per guarded row that falls short, naming the workload, the
// operation, the measured ratio and the target ("W1 durable save: 0.62x
// (0.55x-0.70x) vs O_DIRECT 2 thr, target >= 0.85x O_DIRECT 2 thr"); a
// guarded row without a measurement falls short too. Empty: all met.
std::vector<std::string> GuardShortfalls(const std::vector<Row>& rows);

// Prints the guard's verdict and returns the exit status: kExitOk when
// every guarded row met its target (or in a quick run, whose timings mean
// nothing: shortfalls are printed, not enforced), else kExitTargetMissed.
int CheckGuard(const std::vector<Row>& rows, bool quick);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_CHECK_H_
