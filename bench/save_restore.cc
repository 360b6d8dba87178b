#include "bench/save_restore.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/ceiling.h"
#include "ckptdb/checkpointer.h"

namespace ckptdb_bench {
namespace {

// Everything the contenders of one workload share. The ops capture it by
// reference.
struct Bench {
  const Config& cfg;
  const Workload& w;
  const char* src;
  char* dst;
  const FileSet& fs;
  CkptdbOps ck;
  double rate_bytes;  // > 0: progress lines show rates
  ScalarBits scalars;
  CeilingContenders ceilings;  // empty but for W1
};

double Timed(const std::function<void()>& op) {
  const double t0 = Now();
  op();
  return Now() - t0;
}

// Saves: each op first removes its previous output (not timed), so every
// contender writes into recycled page cache.
double RawSave(Bench& b) {
  RemoveAll(b.fs.raw);
  return Timed([&] { RawSingleSave(b.w, b.src, b.fs.raw); });
}

std::vector<Contender> SaveContenders(Bench& b, bool with_per_leaf) {
  std::vector<Contender> saves = {{"raw", [&b] { return RawSave(b); }}};
  if (with_per_leaf) {
    saves.push_back({"per-leaf", [&b] {
                       RemoveAll(b.fs.leaf);
                       return Timed(
                           [&] { PerLeafSave(b.w, b.src, b.fs.leaf); });
                     }});
  }
  saves.push_back({"hdf5", [&b] {
                     RemoveAll(b.fs.h5);
                     return Timed([&] { Hdf5Save(b.w, b.src, b.fs.h5); });
                   }});
  for (const Contender& c : b.ceilings.writes) saves.push_back(c);
  return saves;
}

// A baseline restore into the poisoned target, verified after the clock.
Contender VerifiedRestore(
    Bench& b, const char* name, const char* who,
    std::function<void(const Workload&, char*, ScalarBits*)> restore) {
  return {name, [&b, who, restore] {
            Poison(b.w, b.dst);
            const double t = Timed([&] { restore(b.w, b.dst, &b.scalars); });
            VerifyArena(b.w, b.src, b.dst, b.scalars, b.w.name + " " + who);
            return t;
          }};
}

// Restores read what the last saves wrote; every restore is verified.
std::vector<Contender> RestoreContenders(Bench& b, bool with_per_leaf) {
  const FileSet& fs = b.fs;
  std::vector<Contender> restores = {
      VerifiedRestore(b, "raw", "raw restore",
                      [&fs](const Workload& w, char* dst, ScalarBits* s) {
                        RawSingleRestore(w, dst, fs.raw, s);
                      })};
  if (with_per_leaf) {
    restores.push_back(
        VerifiedRestore(b, "per-leaf", "per-leaf restore",
                        [&fs](const Workload& w, char* dst, ScalarBits* s) {
                          PerLeafRestore(w, dst, fs.leaf, s);
                        }));
  }
  restores.push_back(
      VerifiedRestore(b, "hdf5", "HDF5 restore",
                      [&fs](const Workload& w, char* dst, ScalarBits* s) {
                        Hdf5Restore(w, dst, fs.h5, s);
                      }));
  for (const Contender& c : b.ceilings.reads) restores.push_back(c);
  return restores;
}

// The first restore after a save (is what the save wrote still cached?):
// A = ckptdb save (not timed), then a restore into the target; B = raw
// save (not timed), then a one-thread pread of the raw file.
PairResult RunRestoreAfterSave(Bench& b) {
  TimedOp a = [&b] { return b.ck.RestoreAfterSave(); };
  const Contender raw_then_pread = {kPread1, [&b] {
                                      RawSave(b);
                                      absl::StatusOr<double> t = PreadSeconds(
                                          b.fs.raw, b.dst, b.w.array_bytes, 1);
                                      CheckOk(t.status(), "ceiling read");
                                      return *t;
                                    }};
  return RunPairs(b.cfg, b.w.name + " restore after save", a, {raw_then_pread},
                  b.rate_bytes);
}

struct SaveRestoreResult {
  PairResult save, restore_target, restore_new, restore_after_save;
};

SaveRestoreResult RunSaveRestore(Bench& b, bool with_per_leaf) {
  const std::string& name = b.w.name;
  SaveRestoreResult res;
  res.save = RunPairs(
      b.cfg, name + " save", [&b] { return b.ck.Save(); },
      SaveContenders(b, with_per_leaf), b.rate_bytes);
  if (!b.ceilings.reads.empty())
    res.restore_after_save = RunRestoreAfterSave(b);
  const std::vector<Contender> restores = RestoreContenders(b, with_per_leaf);
  res.restore_target = RunPairs(
      b.cfg, name + " restore (target)",
      [&b] { return b.ck.RestoreIntoTarget(); }, restores, b.rate_bytes);
  res.restore_new = RunPairs(
      b.cfg, name + " restore (no target)", [&b] { return b.ck.RestoreNew(); },
      restores, b.rate_bytes);
  return res;
}

// A row of issue 19's regression guard: ckptdb against a ceiling, whose
// median rate goes into the reference column.
Row CeilingRow(const std::string& op, const PairResult& pr, double bytes,
               const std::string& ceiling, const std::string& label,
               double min_ratio) {
  Row row = SpeedRow("W1", op, pr, bytes, ceiling, label, min_ratio);
  if (pr.Has(ceiling)) {
    row.reference = label + " " + FormatRate(bytes / pr.MedianB(ceiling));
  }
  row.guarded = true;
  return row;
}

void AddW1Rows(const SaveRestoreResult& r, double bytes, Results* out) {
  const char* kSave = "durable save";
  const char* kTarget = "restore into target";
  const char* kNew = "restore, no target";
  out->rows.push_back(SpeedRow("W1", kSave, r.save, bytes, "raw", "raw", 0.9));
  // Issue 19: HDF5 stays a reported baseline, no longer a target.
  out->rows.push_back(SpeedRow("W1", kSave, r.save, bytes, "hdf5", "HDF5", 0));
  out->rows.push_back(
      CeilingRow(kSave, r.save, bytes, kDirect2, "O_DIRECT 2 thr", 0.85));
  out->rows.push_back(
      CeilingRow(kSave, r.save, bytes, kDirect4, "O_DIRECT 4 thr", 0.85));
  out->rows.push_back(CeilingRow("restore right after save",
                                 r.restore_after_save, bytes, kPread1,
                                 "pread 1 thr", 0.9));
  out->rows.push_back(SpeedRow("W1", kTarget, r.restore_target, bytes, "raw",
                               "raw pread", 0.9));
  out->rows.push_back(CeilingRow(kTarget, r.restore_target, bytes, kPread1,
                                 "pread 1 thr", 1.0));
  out->rows.push_back(CeilingRow(kTarget, r.restore_target, bytes, kPread2,
                                 "pread 2 thr", 0.8));
  out->rows.push_back(
      SpeedRow("W1", kNew, r.restore_new, bytes, "raw", "raw pread", 0.7));
  out->rows.push_back(
      CeilingRow(kNew, r.restore_new, bytes, kPread1, "pread 1 thr", 0.9));
}

}  // namespace

CkptdbOps::CkptdbOps(const ckptdb::StoreTuning& tuning, const Workload& w,
                     const char* src, char* dst, std::string path)
    : ck_(tuning),
      w_(w),
      src_(src),
      dst_(dst),
      path_(std::move(path)),
      tree_(BuildTree(w, const_cast<char*>(src))),
      target_(BuildTree(w, dst)) {}

double CkptdbOps::Save() {
  RemoveAll(path_);
  return Timed(
      [&] { CheckOk(ck_.Save(path_, tree_), w_.name + " ckptdb save"); });
}

double CkptdbOps::RestoreIntoTarget() {
  Poison(w_, dst_);
  absl::StatusOr<ckptdb::Tree> r;
  const double t = Timed([&] { r = ck_.Restore(path_, target_); });
  const std::string who = w_.name + " ckptdb restore with target";
  CheckOk(r.status(), who);
  VerifyTree(w_, src_, *r, who);
  std::string what;
  if (!ArenasEqual(w_, src_, dst_, &what) && !in_place_noted_) {
    std::printf("  note: ckptdb did not fill the target arrays in place (%s)\n",
                what.c_str());
  }
  in_place_noted_ = true;
  return t;
}

double CkptdbOps::RestoreNew() {
  absl::StatusOr<ckptdb::Tree> r;
  const double t = Timed([&] { r = ck_.Restore(path_); });
  const std::string who = w_.name + " ckptdb restore without target";
  CheckOk(r.status(), who);
  VerifyTree(w_, src_, *r, who);
  return t;
}

double CkptdbOps::RestoreIntoNewTarget() {
  Arena fresh(w_.arena_bytes);
  const ckptdb::Tree target = BuildTree(w_, fresh.data());
  absl::StatusOr<ckptdb::Tree> r;
  const double t = Timed([&] { r = ck_.Restore(path_, target); });
  const std::string who = w_.name + " ckptdb restore into a new target";
  CheckOk(r.status(), who);
  VerifyTree(w_, src_, *r, who);
  return t;
}

double CkptdbOps::RestoreAfterSave() {
  Save();
  return RestoreIntoTarget();
}

FileSet MakeFileSet(const std::string& work, const std::string& prefix) {
  const std::string p = work + "/" + prefix;
  return {p + ".ckptdb", p + ".raw", p + ".leaf", p + ".h5", p + ".direct"};
}

void Poison(const Workload& w, char* dst) {
  std::memset(dst, 0xA5, w.arena_bytes);
}

void VerifyArena(const Workload& w, const char* src, const char* dst,
                 const ScalarBits& scalars, const std::string& who) {
  std::string what;
  if (!ArenasEqual(w, src, dst, &what) || !ScalarsMatch(w, scalars, &what)) {
    Fail(who + ": " + what);
  }
}

void VerifyTree(const Workload& w, const char* src, const ckptdb::Tree& t,
                const std::string& who) {
  std::string what;
  if (!TreeMatches(w, src, t, &what)) Fail(who + ": " + what);
}

void RunW1(const Config& cfg, const std::string& work, const Workload& w,
           const char* src, char* dst, Results* out, FileSet* keep) {
  std::printf(
      "\n== W1: %zu arrays (%s) + %zu scalars; baselines raw file, "
      "file per leaf, HDF5; ceilings O_DIRECT write (2, 4 threads), "
      "page-cache pread (1, 2 threads)\n",
      w.num_arrays, FormatBytes(w.array_bytes).c_str(), w.num_scalars);
  const FileSet fs = MakeFileSet(work, "w1");
  const absl::Status direct = CheckDirectIo(work);
  if (!direct.ok()) {
    // A full run never gets here on a tmpfs (Main refuses it).
    if (!cfg.quick) CheckOk(direct, "W1 ceiling");
    std::printf("  note: %s\n", std::string(direct.message()).c_str());
  }
  Bench b{cfg,
          w,
          src,
          dst,
          fs,
          {cfg.tuning, w, src, dst, fs.ckpt},
          w.array_bytes >= (64u << 20) ? static_cast<double>(w.array_bytes) : 0,
          {},
          {}};
  b.ceilings = MakeCeilingContenders(fs.direct, fs.raw, src, dst, w.array_bytes,
                                     direct.ok());
  const SaveRestoreResult r = RunSaveRestore(b, /*with_per_leaf=*/true);
  AddW1Rows(r, static_cast<double>(w.array_bytes), out);
  RecordPairs(out, "w1.save", r.save);
  RecordPairs(out, "w1.restore_after_save", r.restore_after_save);
  RecordPairs(out, "w1.restore_target", r.restore_target);
  RecordPairs(out, "w1.restore_no_target", r.restore_new);
  *keep = fs;  // the RSS check restores from these
  RemoveAll(fs.leaf);
  RemoveAll(fs.h5);
  RemoveAll(fs.direct);
}

void RunW2(const Config& cfg, const std::string& work, Results* out) {
  const Workload w = MakeW2(cfg.quick);
  Arena src(w.arena_bytes), dst(w.arena_bytes);
  FillArrays(w, src.data(), 0x5732);
  const bool per_leaf = cfg.quick || cfg.w2_per_leaf;
  std::printf(
      "\n== W2: %zu leaves of 1..16 float32 (%s), depth 5; "
      "baselines raw file, %sHDF5\n",
      w.num_arrays, FormatBytes(w.array_bytes).c_str(),
      per_leaf ? "file per leaf, " : "");
  if (!per_leaf) {
    std::printf(
        "  (file per leaf skipped: %zu fsyncs take minutes here; "
        "--w2-per-leaf runs it)\n",
        w.leaves.size());
  }
  const FileSet fs = MakeFileSet(work, "w2");
  Bench b{cfg,        w,  src.data(),
          dst.data(), fs, {cfg.tuning, w, src.data(), dst.data(), fs.ckpt},
          0,          {}, {}};
  const SaveRestoreResult r = RunSaveRestore(b, per_leaf);
  Row save = SpeedRow("W2", "durable save", r.save, 0, "hdf5", "HDF5", 5);
  Row rt = SpeedRow("W2", "restore into target", r.restore_target, 0, "hdf5",
                    "HDF5", 5);
  Row rn =
      SpeedRow("W2", "restore, no target", r.restore_new, 0, "hdf5", "HDF5", 5);
  if (!per_leaf) save.per_leaf = rt.per_leaf = rn.per_leaf = "skipped";
  out->rows.push_back(save);
  out->rows.push_back(rt);
  out->rows.push_back(rn);
  RecordPairs(out, "w2.save", r.save);
  RecordPairs(out, "w2.restore_target", r.restore_target);
  RecordPairs(out, "w2.restore_no_target", r.restore_new);
  RemoveAll(fs.ckpt);
  RemoveAll(fs.raw);
  RemoveAll(fs.leaf);
  RemoveAll(fs.h5);
}

}  // namespace ckptdb_bench
