// Side-by-side comparisons for ckptdb_bench: A B B A blocks of ckptdb (A)
// against one contender (B) at a time, their results, and the table rows
// and JSON facts built from them.
#ifndef CKPTDB_BENCH_COMPARE_H_
#define CKPTDB_BENCH_COMPARE_H_

#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/config.h"

namespace ckptdb_bench {

// Results: table rows plus free-form facts for the JSON file.
struct Results {
  std::vector<Row> rows;
  std::vector<std::pair<std::string, std::string>> facts;  // key -> JSON
  void Fact(const std::string& key, const std::string& json_value) {
    facts.emplace_back(key, json_value);
  }
  void Fact(const std::string& key, double v) {
    std::ostringstream o;
    o.precision(9);
    o << v;
    Fact(key, o.str());
  }
};

// "[1, 2.5, 3]".
std::string JsonArray(const std::vector<double>& v);
// "0.93x vs raw" for Ratio(0.93, "vs raw").
std::string Ratio(double r, const std::string& what);
// "1.10x (1.02x-1.25x)": the median and the range of the samples, each
// formatted with `fmt` ("%.2fx"); "n/a" when empty.
std::string Spread(const std::vector<double>& v, const char* fmt);

// A measured operation: runs once and returns the seconds it measured.
using TimedOp = std::function<double()>;

struct Contender {
  std::string name;
  TimedOp op;
};

struct PairResult {
  std::vector<double> a;                             // every timed ckptdb run
  std::map<std::string, std::vector<double>> b;      // per baseline
  std::map<std::string, std::vector<double>> ratio;  // b time / a time
  double MedianA() const { return Median(a); }
  double MedianB(const std::string& n) const {
    auto it = b.find(n);
    return it == b.end() ? 0 : Median(it->second);
  }
  double MedianRatio(const std::string& n) const {
    auto it = ratio.find(n);
    return it == ratio.end() ? 0 : Median(it->second);
  }
  bool Has(const std::string& n) const { return b.count(n) > 0; }
};

// Compares ckptdb's op A with each baseline B, one baseline at a time (so
// a slow baseline's after-effects never sit between A and another B):
// `warmup` unrecorded A B pairs, then `pairs` samples, each an A B B A
// block. A block's ratio is (B1 + B2) / (A1 + A2): B's time over A's, i.e.
// ckptdb's speed over the baseline's; putting each side first once cancels
// any advantage of running first or second. --quick: one A B pair per
// sample. `bytes` > 0 shows rates on the progress lines.
PairResult RunPairs(const Config& cfg, const std::string& label,
                    const TimedOp& a, const std::vector<Contender>& bs,
                    double bytes);

// Fills the baseline columns of `row` from `pr` (rates when bytes > 0).
void FillColumns(const PairResult& pr, double bytes, Row* row);

// A row whose ratio is the median of pr's ratios against `baseline`, with
// the target ">= min_ratio baseline_label". min_ratio <= 0: an
// informational row (the ratio is shown, no target).
Row SpeedRow(const std::string& workload, const std::string& op,
             const PairResult& pr, double bytes, const std::string& baseline,
             const std::string& baseline_label, double min_ratio);

// Records every timed run and ratio of `pr` under `key` in the JSON facts.
void RecordPairs(Results* out, const std::string& key, const PairResult& pr);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_COMPARE_H_
