#include "bench/check.h"

#include <cstdio>

#include "bench/config.h"

namespace ckptdb_bench {

std::vector<std::string> GuardShortfalls(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const Row& r : rows) {
    if (!r.guarded || (r.has_target && r.met)) continue;
    std::string line = r.workload + " " + r.operation + ": ";
    if (!r.has_target) {
      line += "not measured (" + r.ratio_text + "), target " + r.target;
    } else {
      line += r.ratio_text + ", target " + r.target;
    }
    out.push_back(line);
  }
  return out;
}

int CheckGuard(const std::vector<Row>& rows, bool quick) {
  size_t guarded = 0;
  for (const Row& r : rows) guarded += r.guarded ? 1 : 0;
  const std::vector<std::string> short_of = GuardShortfalls(rows);
  if (short_of.empty()) {
    std::printf("\n--check: all %zu guarded ratios met their targets\n",
                guarded);
    return kExitOk;
  }
  std::printf("\n--check: %zu of %zu guarded ratios fall short%s:\n",
              short_of.size(), guarded,
              quick ? " (quick run: reported, not enforced)" : "");
  for (const std::string& s : short_of) std::printf("  %s\n", s.c_str());
  std::fflush(stdout);
  return quick ? kExitOk : kExitTargetMissed;
}

}  // namespace ckptdb_bench
