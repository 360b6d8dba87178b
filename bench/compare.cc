#include "bench/compare.h"

#include <algorithm>
#include <cstdio>

namespace ckptdb_bench {

std::string JsonArray(const std::vector<double>& v) {
  std::ostringstream o;
  o.precision(9);
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << "]";
  return o.str();
}

std::string Ratio(double r, const std::string& what) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.2fx %s", r, what.c_str());
  return buf;
}

PairResult RunPairs(const Config& cfg, const std::string& label,
                    const TimedOp& a, const std::vector<Contender>& bs,
                    double bytes) {
  PairResult res;
  auto fig = [&](double t) {
    std::string f = FormatSeconds(t);
    if (bytes > 0) f += " (" + FormatRate(bytes / t) + ")";
    return f;
  };
  for (const Contender& c : bs) {
    for (int r = 0; r < cfg.warmup; ++r) {
      const double ta = a();
      const double tb = c.op();
      std::printf("  %-24s vs %-8s warm-up %d/%d  A B: ckptdb %s, %s %s\n",
                  label.c_str(), c.name.c_str(), r + 1, cfg.warmup,
                  fig(ta).c_str(), c.name.c_str(), fig(tb).c_str());
      std::fflush(stdout);
    }
    for (int p = 0; p < cfg.pairs; ++p) {
      const double ta1 = a();
      const double tb1 = c.op();
      // --quick: one A B pair (correctness only).
      const double tb2 = cfg.quick ? 0 : c.op();
      const double ta2 = cfg.quick ? 0 : a();
      const double ratio = (tb1 + tb2) / (ta1 + ta2);
      std::printf("  %-24s vs %-8s sample  %d/%d  A B: ckptdb %s, %s %s",
                  label.c_str(), c.name.c_str(), p + 1, cfg.pairs,
                  fig(ta1).c_str(), c.name.c_str(), fig(tb1).c_str());
      if (!cfg.quick) {
        std::printf("  B A: %s %s, ckptdb %s", c.name.c_str(), fig(tb2).c_str(),
                    fig(ta2).c_str());
      }
      std::printf("  ratio %.2fx\n", ratio);
      std::fflush(stdout);
      res.ratio[c.name].push_back(ratio);
      res.a.push_back(ta1);
      res.b[c.name].push_back(tb1);
      if (cfg.quick) continue;
      res.a.push_back(ta2);
      res.b[c.name].push_back(tb2);
    }
  }
  return res;
}

void FillColumns(const PairResult& pr, double bytes, Row* row) {
  auto fig = [&](double t) {
    return bytes > 0 ? FormatRate(bytes / t) : FormatSeconds(t);
  };
  row->ckptdb = fig(pr.MedianA());
  if (pr.Has("raw")) row->raw = fig(pr.MedianB("raw"));
  if (pr.Has("per-leaf")) row->per_leaf = fig(pr.MedianB("per-leaf"));
  if (pr.Has("hdf5")) row->hdf5 = fig(pr.MedianB("hdf5"));
}

Row SpeedRow(const std::string& workload, const std::string& op,
             const PairResult& pr, double bytes, const std::string& baseline,
             const std::string& baseline_label, double min_ratio) {
  Row row;
  row.workload = workload;
  row.operation = op;
  FillColumns(pr, bytes, &row);
  row.has_target = min_ratio > 0;
  if (!pr.Has(baseline)) {
    row.has_target = false;
    row.ratio_text = "n/a";
    if (min_ratio > 0) {
      row.target = Ratio(min_ratio, baseline_label).insert(0, ">= ");
    }
    return row;
  }
  row.ratio = pr.MedianRatio(baseline);
  row.ratio_samples = pr.ratio.at(baseline);
  row.ratio_text = Spread(row.ratio_samples, "%.2fx") + " vs " + baseline_label;
  if (!row.has_target) return row;
  char buf[64];
  std::snprintf(buf, sizeof(buf), ">= %gx %s", min_ratio,
                baseline_label.c_str());
  row.target = buf;
  row.met = row.ratio >= min_ratio;
  return row;
}

void RecordPairs(Results* out, const std::string& key, const PairResult& pr) {
  out->Fact(key + ".ckptdb_s", JsonArray(pr.a));
  for (const auto& [name, v] : pr.b) {
    out->Fact(key + "." + name + "_s", JsonArray(v));
    out->Fact(key + "." + name + "_ratio", JsonArray(pr.ratio.at(name)));
  }
}

std::string Spread(const std::vector<double>& v, const char* fmt) {
  if (v.empty()) return "n/a";
  char buf[128], lo[32], hi[32], med[32];
  std::snprintf(med, sizeof(med), fmt, Median(v));
  std::snprintf(lo, sizeof(lo), fmt, *std::min_element(v.begin(), v.end()));
  std::snprintf(hi, sizeof(hi), fmt, *std::max_element(v.begin(), v.end()));
  if (v.size() == 1) return med;
  std::snprintf(buf, sizeof(buf), "%s (%s-%s)", med, lo, hi);
  return buf;
}

}  // namespace ckptdb_bench
