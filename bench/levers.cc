#include "bench/levers.h"

#include <cstdio>

#include "bench/bench_util.h"
#include "bench/save_restore.h"
#include "ckptdb/checkpointer.h"

namespace ckptdb_bench {
namespace {

// cfg.tuning with the lever on or off (whatever the library's default);
// *name describes the lever.
ckptdb::StoreTuning WithLever(const Config& cfg, bool on, std::string* name) {
  ckptdb::StoreTuning t = cfg.tuning;
  if (cfg.lever == "writeback") {
    t.writeback_bytes = on ? cfg.lever_bytes : 0;
    *name =
        "writeback every " + FormatBytes(static_cast<double>(cfg.lever_bytes));
  } else if (cfg.lever == "direct") {
    t.direct_reads = on;
    *name = "direct chunk reads";
  } else if (cfg.lever == "mmap") {
    t.mmap_reads = on;
    *name = "mmap reads";
  } else if (cfg.lever == "coding") {
    // Delta and compressed chunks (issue 18): on W1's random values the
    // sample's decision must cost nothing.
    t.delta_chunks = on;
    t.compress_chunks = on;
    *name = "delta and compressed chunks";
  } else if (cfg.lever == "nice") {
    // Niced save threads: on an idle machine they must cost nothing.
    t.save_nice = on ? ckptdb::StoreTuning().save_nice : 0;
    *name = "saves niced by " + std::to_string(ckptdb::StoreTuning().save_nice);
  } else {
    Fail("unknown lever '" + cfg.lever + "'");  // ParseArgs rejects it
  }
  return t;
}

Row LeverRow(const std::string& lever, const std::string& op,
             const PairResult& pr, double bytes) {
  Row row = SpeedRow("LEVER", lever + ": " + op, pr, bytes, "off", "off", 0);
  row.reference = "off " + FormatRate(bytes / pr.MedianB("off"));
  row.ratio_text += " (on/off speed)";
  return row;
}

}  // namespace

void RunLever(const Config& cfg, const std::string& work, const Workload& w,
              const char* src, char* dst, Results* out) {
  std::string lever;
  CkptdbOps on(WithLever(cfg, true, &lever), w, src, dst,
               work + "/lever-on.ckptdb");
  CkptdbOps off(WithLever(cfg, false, &lever), w, src, dst,
                work + "/lever-off.ckptdb");
  std::printf(
      "\n== LEVER %s: W1 (%s) with the lever (ckptdb) vs without (off)\n",
      lever.c_str(), FormatBytes(w.array_bytes).c_str());
  const double bytes = static_cast<double>(w.array_bytes);
  const double rate = w.array_bytes >= (64u << 20) ? bytes : 0;
  const PairResult save = RunPairs(
      cfg, "lever save", [&] { return on.Save(); },
      {{"off", [&] { return off.Save(); }}}, rate);
  const PairResult after = RunPairs(
      cfg, "lever restore after save", [&] { return on.RestoreAfterSave(); },
      {{"off", [&] { return off.RestoreAfterSave(); }}}, rate);
  const PairResult target = RunPairs(
      cfg, "lever restore (target)", [&] { return on.RestoreIntoTarget(); },
      {{"off", [&] { return off.RestoreIntoTarget(); }}}, rate);
  const PairResult fresh = RunPairs(
      cfg, "lever restore (no target)", [&] { return on.RestoreNew(); },
      {{"off", [&] { return off.RestoreNew(); }}}, rate);
  const PairResult new_target = RunPairs(
      cfg, "lever restore (new target)",
      [&] { return on.RestoreIntoNewTarget(); },
      {{"off", [&] { return off.RestoreIntoNewTarget(); }}}, rate);
  out->rows.push_back(LeverRow(lever, "durable save", save, bytes));
  out->rows.push_back(
      LeverRow(lever, "restore right after save", after, bytes));
  out->rows.push_back(LeverRow(lever, "restore into target", target, bytes));
  out->rows.push_back(LeverRow(lever, "restore, no target", fresh, bytes));
  out->rows.push_back(
      LeverRow(lever, "restore into a new target", new_target, bytes));
  RecordPairs(out, "lever.save", save);
  RecordPairs(out, "lever.restore_after_save", after);
  RecordPairs(out, "lever.restore_target", target);
  RecordPairs(out, "lever.restore_no_target", fresh);
  RecordPairs(out, "lever.restore_new_target", new_target);
  RemoveAll(work + "/lever-on.ckptdb");
  RemoveAll(work + "/lever-off.ckptdb");
}

}  // namespace ckptdb_bench
