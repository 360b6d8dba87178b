// Read-only inspection: ls, tree, show, dump, stats. Every one opens the
// database read-only (no lock), so it works while a training job or a
// service has the database open for writing.
#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_tree.h"

namespace ckptdb::cli {
namespace {

std::vector<std::string> ItemNames(const StepInfo& info) {
  std::vector<std::string> names;
  for (const ItemSummary& s : info.items) names.push_back(s.name);
  return names;
}

// ---- ls ---------------------------------------------------------------------

// The store of ls's run: the default run, or the one args[1] names.
absl::StatusOr<std::unique_ptr<Store>> OpenLsRun(
    const Args& args, std::vector<std::string>* others) {
  CKPTDB_ASSIGN_OR_RETURN(auto store,
                          OpenDatabase(args[0], OpenMode::kReadOnly));
  const std::string run = args.size() > 1 ? args[1] : "";
  bool found = run.empty();
  for (const auto& r : store->Runs()) {
    if (r.run == run) {
      found = true;
    } else {
      others->push_back(r.run.empty() ? "(default)" : r.run);
    }
  }
  if (!found) {
    return WithExit(
        absl::NotFoundError(absl::StrCat(
            "no run '", run, "' in '", args[0], "' (",
            others->empty()
                ? "it has no steps"
                : absl::StrCat("runs: ", absl::StrJoin(*others, ", ")),
            ")")),
        Exit::kNoStep);
  }
  if (run.empty()) return store;
  return OpenDatabase(args[0], OpenMode::kReadOnly, false, 0, run);
}

// DataLoss (exit kCorrupt) naming each damaged step, or OK if none is.
absl::Status DamagedStepsError(const std::string& db,
                               const std::map<int64_t, std::string>& damaged) {
  if (damaged.empty()) return absl::OkStatus();
  std::vector<std::string> each;
  for (const auto& [step, what] : damaged) each.push_back(what);
  return WithExit(absl::DataLossError(absl::StrCat(
                      absl::StrJoin(each, "; "), " (`ckptdb verify ", db,
                      "` names what is damaged; the other steps are intact)")),
                  Exit::kCorrupt);
}

absl::Status RunLs(const Args& args) {
  std::vector<std::string> other_runs;
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenLsRun(args, &other_runs));
  const std::vector<StepInfo> steps = store->Steps();
  std::map<int64_t, std::string> damaged;
  CKPTDB_ASSIGN_OR_RETURN(auto unique, UniqueBytesPerStep(*store, &damaged));
  // Every step is listed; a damaged one without its unique bytes, and the
  // command fails after the listing, naming it.
  auto unique_of = [&](int64_t step) -> std::optional<uint64_t> {
    if (damaged.count(step)) return std::nullopt;
    return unique[step];
  };
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.Field("kind", store->kind());
    w.Field("run", store->run());
    w.Key("steps");
    w.BeginArray();
    for (const StepInfo& s : steps) {
      w.BeginObject();
      WriteStepFields(*store, s, unique_of(s.step), /*with_custom=*/false, &w);
      if (damaged.count(s.step)) w.Field("damage", damaged[s.step]);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Finish();
    return DamagedStepsError(args[0], damaged);
  }
  const std::string other_note =
      other_runs.empty()
          ? ""
          : absl::StrCat("other runs: ", absl::StrJoin(other_runs, ", "),
                         " (ckptdb ls DB RUN)\n");
  if (steps.empty()) {
    Print(absl::StrCat("no steps in '", args[0], "'\n", other_note));
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"STEP", "NAME", "COMMITTED (UTC)", "ITEMS", "LOGICAL", "UNIQUE",
       "METRICS"}};
  for (const StepInfo& s : steps) {
    const std::optional<uint64_t> u = unique_of(s.step);
    rows.push_back(
        {absl::StrCat(s.step), s.name, FormatTimeUtc(s.commit_time_ns),
         absl::StrJoin(ItemNames(s), ","), HumanBytes(s.logical_bytes),
         u ? HumanBytes(*u) : "damaged", MetricsSummary(s)});
  }
  Print(Table(rows, {true, false, false, false, true, true, false}));
  Print(other_note);
  return DamagedStepsError(args[0], damaged);
}

// ---- tree -------------------------------------------------------------------

absl::Status RunTree(const Args& args) {
  std::string spec;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store, OpenForStep(args[0], OpenMode::kReadOnly,
                              args.size() > 1 ? args[1] : "latest", &spec));
  CKPTDB_ASSIGN_OR_RETURN(StepInfo info, ResolveStep(*store, spec));
  std::optional<std::string> want = args.GetOptional("item");
  if (args.size() > 2) {
    if (want.has_value() && *want != args[2]) {
      return UsageError("give the item either as ITEM or with --item");
    }
    want = args[2];
  }
  std::vector<std::string> items;
  if (want.has_value()) {
    CKPTDB_ASSIGN_OR_RETURN(std::string it, ResolveItem(info, want));
    items.push_back(it);
  } else {
    items = ItemNames(info);
  }
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.FieldInt("step", info.step);
    w.Field("name", info.name);
    w.Key("items");
    w.BeginArray();
    for (const std::string& name : items) {
      CKPTDB_ASSIGN_OR_RETURN(StoredItem item, ReadItem(*store, info, name));
      w.BeginObject();
      w.Field("name", name);
      w.Key("tree");
      CKPTDB_RETURN_IF_ERROR(
          WriteNodeJson(*store, item, 0, /*all_values=*/false, &w));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  std::string out;
  for (const std::string& name : items) {
    CKPTDB_ASSIGN_OR_RETURN(StoredItem item, ReadItem(*store, info, name));
    const ItemSummary* sum = nullptr;
    for (const ItemSummary& s : info.items) {
      if (s.name == name) sum = &s;
    }
    if (!out.empty()) out += "\n";
    absl::StrAppend(&out, "step ", StepLabel(info), ", item '", name, "'");
    if (sum != nullptr) {
      absl::StrAppend(&out, ": ", sum->leaf_count,
                      sum->leaf_count == 1 ? " leaf, " : " leaves, ",
                      sum->array_count,
                      sum->array_count == 1 ? " array, " : " arrays, ",
                      HumanBytes(sum->logical_bytes));
    }
    out += "\n";
    out += RenderTree(item, 0, name, args.Has("paths"));
  }
  Print(out);
  return absl::OkStatus();
}

// ---- show -------------------------------------------------------------------

void WriteStatsJson(const ArrayStats& st, JsonWriter* w) {
  w->BeginObject();
  w->FieldInt("count", st.count);
  auto bound = [&](const char* key, double v, const std::string& repr) {
    w->Key(key);
    if (!st.has_min_max) {
      w->Null();
    } else if (st.integer) {
      // Exact: int64/uint64 extremes do not fit a double.
      int64_t i;
      uint64_t u;
      if (absl::SimpleAtoi(repr, &i)) {
        w->Int(i);
      } else if (absl::SimpleAtoi(repr, &u)) {
        w->Uint(u);
      } else {
        w->Double(v);
      }
    } else {
      w->Double(v);
    }
  };
  bound("min", st.min, st.min_repr);
  bound("max", st.max, st.max_repr);
  w->Key("mean");
  if (st.has_mean && st.complex) {
    w->BeginObject();
    w->Key("real");
    w->Double(st.mean);
    w->Key("imag");
    w->Double(st.mean_imag);
    w->EndObject();
  } else if (st.has_mean) {
    w->Double(st.mean);
  } else {
    w->Null();
  }
  w->FieldInt("nan_count", st.nan_count);
  w->FieldInt("inf_count", st.inf_count);
  w->EndObject();
}

absl::Status RunShow(const Args& args) {
  std::string spec;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store, OpenForStep(args[0], OpenMode::kReadOnly, args[1], &spec));
  CKPTDB_ASSIGN_OR_RETURN(StepInfo info, ResolveStep(*store, spec));
  CKPTDB_ASSIGN_OR_RETURN(std::string item_name,
                          ResolveItem(info, args.GetOptional("item")));
  CKPTDB_ASSIGN_OR_RETURN(StoredItem item, ReadItem(*store, info, item_name));
  const std::string path = args.size() > 2 ? args[2] : "";
  CKPTDB_ASSIGN_OR_RETURN(uint32_t node, ResolvePath(item, path));
  const StoredNode& n = item.nodes[node];
  const bool full = args.Has("full");
  const bool stats = args.Has("stats");
  ReprOptions ro;
  if (full) ro.threshold = INT64_MAX;
  const bool container = n.kind == Tree::Kind::kDict ||
                         n.kind == Tree::Kind::kList ||
                         n.kind == Tree::Kind::kTuple;
  if (stats && n.kind != Tree::Kind::kArray) {
    return WithExit(
        absl::InvalidArgumentError(absl::StrCat(
            "--stats needs an array; '", item.PathOf(node).DisplayString(),
            "' is not one (", TreeKindName(n.kind), ")")),
        Exit::kUsage);
  }
  Array a;
  if (n.kind == Tree::Kind::kArray) {
    CKPTDB_ASSIGN_OR_RETURN(a, ReadArray(*store, item, node));
  }
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.FieldInt("step", info.step);
    w.Field("name", info.name);
    w.Field("item", item_name);
    w.Field("path", item.PathOf(node).ToString());
    w.Key("node");
    const bool values = full || (n.kind == Tree::Kind::kArray &&
                                 a.num_elements() <= ro.threshold);
    CKPTDB_RETURN_IF_ERROR(WriteNodeJson(*store, item, node, values, &w));
    if (n.kind == Tree::Kind::kArray) {
      w.Field("repr", NumpyRepr(a, ro));
      if (stats) {
        w.Key("stats");
        WriteStatsJson(ComputeStats(a), &w);
      }
    }
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  if (container) {
    Print(RenderTree(item, node,
                     node == 0 ? item_name : item.PathOf(node).ToString(),
                     false));
    return absl::OkStatus();
  }
  if (n.kind != Tree::Kind::kArray) {
    Print(absl::StrCat(PyScalarRepr(n.scalar), "\n"));
    return absl::OkStatus();
  }
  if (!stats) {
    Print(absl::StrCat(NumpyRepr(a, ro), "\n"));
    return absl::OkStatus();
  }
  const ArrayStats st = ComputeStats(a);
  std::vector<std::vector<std::string>> rows = {
      {"path", item.PathOf(node).DisplayString()},
      {"dtype", std::string(DTypeName(a.dtype()))},
      {"shape", ShapeToString(a.shape())},
      {"count", absl::StrCat(st.count)},
      {"min", st.has_min_max ? st.min_repr
              : st.complex   ? "- (no order)"
                             : "-"},
      {"max", st.has_min_max ? st.max_repr
              : st.complex   ? "- (no order)"
                             : "-"},
      {"mean", !st.has_mean ? "-"
               : st.complex ? PyComplexRepr(st.mean, st.mean_imag)
                            : PyFloatRepr(st.mean)},
      {"nan_count", absl::StrCat(st.nan_count)},
      {"inf_count", absl::StrCat(st.inf_count)},
  };
  Print(Table(rows, {}));
  return absl::OkStatus();
}

// ---- dump -------------------------------------------------------------------

absl::Status RunDump(const Args& args) {
  std::string spec;
  CKPTDB_ASSIGN_OR_RETURN(auto store,
                          OpenForStep(args[0], OpenMode::kReadOnly,
                                      args.size() > 1 ? args[1] : "", &spec));
  std::vector<StepInfo> steps;
  if (args.size() > 1) {
    CKPTDB_ASSIGN_OR_RETURN(StepInfo s, ResolveStep(*store, spec));
    steps.push_back(s);
  } else {
    steps = store->Steps();
  }
  CKPTDB_ASSIGN_OR_RETURN(auto unique, UniqueBytesPerStep(*store));
  const std::optional<std::string> only_item = args.GetOptional("item");
  const bool full = args.Has("full");
  const internal::NamingRecord rec = store->GetNamingRecord();
  JsonWriter w(stdout);
  w.BeginObject();
  w.Field("database", args[0]);
  w.Field("kind", store->kind());
  w.Key("naming");
  w.BeginObject();
  w.Field("step_prefix", rec.step_prefix);
  w.Key("step_format_fixed_length");
  if (rec.step_format_fixed_length > 0) {
    w.Int(rec.step_format_fixed_length);
  } else {
    w.Null();
  }
  w.EndObject();
  w.Key("retention");
  w.BeginObject();
  auto opt = [&](const char* key, const std::optional<int64_t>& v) {
    w.Key(key);
    if (v.has_value()) {
      w.Int(*v);
    } else {
      w.Null();
    }
  };
  opt("max_to_keep", rec.max_to_keep);
  opt("keep_period", rec.keep_period);
  opt("keep_time_interval_secs", rec.keep_time_interval_secs);
  w.FieldBool("custom", rec.retention_is_custom);
  w.EndObject();
  w.Key("steps");
  w.BeginArray();
  for (const StepInfo& s : steps) {
    std::vector<std::string> items = ItemNames(s);
    if (only_item.has_value()) {
      CKPTDB_ASSIGN_OR_RETURN(std::string it, ResolveItem(s, only_item));
      items = {it};
    }
    w.BeginObject();
    WriteStepFields(*store, s, unique[s.step], /*with_custom=*/true, &w);
    w.Key("trees");
    w.BeginArray();
    for (const std::string& name : items) {
      CKPTDB_ASSIGN_OR_RETURN(StoredItem item, ReadItem(*store, s, name));
      w.BeginObject();
      w.Field("item", name);
      w.Key("tree");
      CKPTDB_RETURN_IF_ERROR(WriteNodeJson(*store, item, 0, full, &w));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  return absl::OkStatus();
}

// ---- stats ------------------------------------------------------------------

// RocksDB's table files: bytes per column family, the step column families
// (slots, some of them empty and ready for reuse) summed as "steps".
struct RocksFiles {
  std::map<std::string, uint64_t> cf_bytes;
  uint64_t step_cfs = 0;  // step column families, empty slots included
  uint64_t sst_files = 0;
};

RocksFiles ListRocksFiles(const Store& store, const std::string& path) {
  auto is_step_cf = [](const std::string& name) {
    return name != "default" && name != "chunks" && name != "chunk_index";
  };
  RocksFiles out;
  std::vector<rocksdb::LiveFileMetaData> files;
  store.rocks()->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    ++out.sst_files;
    out.cf_bytes[is_step_cf(f.column_family_name) ? "steps"
                                                  : f.column_family_name] +=
        f.size;
  }
  std::vector<std::string> names;
  if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names)
          .ok()) {
    for (const std::string& n : names) out.step_cfs += is_step_cf(n) ? 1 : 0;
  }
  return out;
}

// Stored bytes split by run: each run's unique bytes, then the shared ones.
void WriteRunsJson(const RunsBytes& runs, JsonWriter* w) {
  w->Key("runs");
  w->BeginArray();
  for (const RunBytes& r : runs.runs) {
    w->BeginObject(true);
    w->Field("run", r.summary.run);
    w->FieldUint("steps", r.summary.steps.size());
    w->FieldUint("logical_bytes", r.summary.logical_bytes);
    w->FieldUint("unique_bytes", r.unique_bytes);
    w->EndObject();
  }
  w->EndArray();
  w->FieldUint("shared_bytes", runs.shared_bytes);
}

// Only for a database with named runs (one run: its bytes are the total).
void AppendRunsTable(const RunsBytes& runs, std::string* out) {
  if (runs.runs.size() < 2 &&
      (runs.runs.empty() || runs.runs[0].summary.run.empty())) {
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"RUN", "STEPS", "LOGICAL", "UNIQUE"}};
  for (const RunBytes& r : runs.runs) {
    rows.push_back({r.summary.run.empty() ? "(default)" : r.summary.run,
                    absl::StrCat(r.summary.steps.size()),
                    HumanBytes(r.summary.logical_bytes),
                    HumanBytes(r.unique_bytes)});
  }
  rows.push_back({"(shared)", "", "", HumanBytes(runs.shared_bytes)});
  absl::StrAppend(out, "\n", Table(rows, {false, true, true, true}));
}

constexpr const char* kKindNames[] = {"full", "patch", "delta", "compressed"};

// Live chunks by how they are stored, and what each way saves.
void WriteKindsJson(const internal::StoreStats& st, JsonWriter* w) {
  w->Key("stored_as");
  w->BeginObject();
  for (size_t k = 0; k < st.by_kind.size(); ++k) {
    w->Key(kKindNames[k]);
    w->BeginObject(true);
    w->FieldUint("chunks", st.by_kind[k].chunks);
    w->FieldUint("decoded_bytes", st.by_kind[k].decoded_bytes);
    w->FieldUint("stored_bytes", st.by_kind[k].stored_bytes);
    w->EndObject();
  }
  w->EndObject();
}

// Kinds holding no chunk are left out (Full always shows).
void AppendKindsTable(const internal::StoreStats& st, std::string* out) {
  std::vector<std::vector<std::string>> rows = {
      {"STORED AS", "CHUNKS", "DECODED", "STORED", "SAVED"}};
  for (size_t k = 0; k < st.by_kind.size(); ++k) {
    const internal::KindBytes& b = st.by_kind[k];
    if (k > 0 && b.chunks == 0) continue;
    const double saved =
        b.decoded_bytes > 0
            ? 1 - static_cast<double>(b.stored_bytes) / b.decoded_bytes
            : 0;
    rows.push_back({kKindNames[k], absl::StrCat(b.chunks),
                    HumanBytes(b.decoded_bytes), HumanBytes(b.stored_bytes),
                    absl::StrFormat("%.0f%%", 100 * saved)});
  }
  absl::StrAppend(out, "\n", Table(rows, {false, true, true, true, true}));
}

absl::Status RunStats(const Args& args) {
  CKPTDB_ASSIGN_OR_RETURN(auto store,
                          OpenDatabase(args[0], OpenMode::kReadOnly));
  CKPTDB_ASSIGN_OR_RETURN(internal::StoreStats st, store->Stats());
  CKPTDB_ASSIGN_OR_RETURN(auto unique, UniqueBytesPerStep(*store));
  const std::vector<StepInfo> steps = store->Steps();
  RocksFiles rf = ListRocksFiles(*store, args[0]);
  CKPTDB_ASSIGN_OR_RETURN(RunsBytes runs, CollectRunBytes(args[0]));
  const uint64_t reclaimable =
      st.segment_bytes - std::min(st.segment_bytes, st.live_chunk_bytes);
  const double ratio =
      st.live_chunk_bytes > 0
          ? static_cast<double>(st.logical_bytes) / st.live_chunk_bytes
          : 0;
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.Field("kind", store->kind());
    w.FieldUint("steps", st.steps);
    w.FieldUint("logical_bytes", st.logical_bytes);
    w.FieldUint("stored_bytes", st.live_chunk_bytes);
    w.Key("dedup_ratio");
    if (st.live_chunk_bytes > 0) {
      w.Double(ratio);
    } else {
      w.Null();
    }
    w.FieldUint("chunks", st.live_chunks);
    w.FieldUint("segments", st.segments.size());
    w.FieldUint("segment_bytes", st.segment_bytes);
    w.FieldUint("reclaimable_bytes", reclaimable);
    WriteKindsJson(st, &w);
    WriteRunsJson(runs, &w);
    w.Key("per_step");
    w.BeginArray();
    for (const StepInfo& s : steps) {
      w.BeginObject(true);
      w.FieldInt("step", s.step);
      w.Field("name", s.name);
      w.FieldUint("logical_bytes", s.logical_bytes);
      w.FieldUint("unique_bytes", unique[s.step]);
      w.FieldUint("new_bytes", s.new_bytes);
      w.FieldUint("chunks", s.chunk_count);
      w.EndObject();
    }
    w.EndArray();
    w.Key("rocksdb");
    w.BeginObject();
    w.FieldUint("sst_files", rf.sst_files);
    w.FieldUint("sst_bytes", st.sst_bytes);
    w.FieldUint("disk_bytes", st.disk_bytes);
    w.FieldUint("step_column_families", rf.step_cfs);  // with empty slots
    w.Key("column_family_bytes");
    w.BeginObject();
    for (const char* cf : {"default", "chunks", "chunk_index", "steps"}) {
      w.FieldUint(cf, rf.cf_bytes[cf]);
    }
    w.EndObject();
    w.EndObject();
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  auto both = [](uint64_t b) {
    return absl::StrCat(HumanBytes(b), " (", b, ")");
  };
  std::vector<std::vector<std::string>> rows = {
      {"database", absl::StrCat(args[0], " (", store->kind(), ")")},
      {"steps", absl::StrCat(st.steps)},
      {"logical bytes", both(st.logical_bytes)},
      {"stored bytes", both(st.live_chunk_bytes)},
      {"dedup ratio",
       st.live_chunk_bytes > 0 ? absl::StrFormat("%.2fx", ratio) : "-"},
      {"chunks", absl::StrCat(st.live_chunks)},
      {"segments", absl::StrCat(st.segments.size(), " holding ",
                                HumanBytes(st.segment_bytes))},
      {"reclaimable", absl::StrCat(both(reclaimable),
                                   reclaimable > 0 ? ": run `ckptdb gc`" : "")},
  };
  std::string out = Table(rows, {});
  AppendKindsTable(st, &out);
  AppendRunsTable(runs, &out);
  std::vector<std::vector<std::string>> per = {
      {"STEP", "NAME", "LOGICAL", "UNIQUE", "NEW", "CHUNKS"}};
  for (const StepInfo& s : steps) {
    per.push_back({absl::StrCat(s.step), s.name, HumanBytes(s.logical_bytes),
                   HumanBytes(unique[s.step]), HumanBytes(s.new_bytes),
                   absl::StrCat(s.chunk_count)});
  }
  absl::StrAppend(&out, "\n",
                  Table(per, {true, false, true, true, true, true}));
  std::vector<std::vector<std::string>> rocks = {
      {"rocksdb", ""},
      {"  sst files",
       absl::StrCat(rf.sst_files, ", ", HumanBytes(st.sst_bytes))},
      {"  default", HumanBytes(rf.cf_bytes["default"])},
      {"  chunks", HumanBytes(rf.cf_bytes["chunks"])},
      {"  chunk_index", HumanBytes(rf.cf_bytes["chunk_index"])},
      {"  step families",
       absl::StrCat(rf.step_cfs, " (", steps.size(), " holding steps), ",
                    HumanBytes(rf.cf_bytes["steps"]))},
      {"  directory", HumanBytes(st.disk_bytes)},
  };
  absl::StrAppend(&out, "\n", Table(rocks, {}));
  Print(out);
  return absl::OkStatus();
}

}  // namespace

Command LsCommand() {
  Command c;
  c.name = "ls";
  c.synopsis = "ls DB [RUN] [--json]";
  c.summary = "List the steps: commit time, items, sizes, metrics.";
  c.description =
      "One line per committed step of the default run, or of RUN: its number\n"
      "and display name, commit time (UTC), items, logical size (all its\n"
      "arrays), unique size (stored bytes of chunks no other step shares:\n"
      "what deleting only this step frees) and metrics. The other runs are\n"
      "named below the table (ckptdb runs lists them).\n";
  c.flags = {JsonFlag()};
  c.min_args = 1;
  c.max_args = 2;
  c.example =
      "  ckptdb ls /ckpt/run1\n  ckptdb ls /ckpt/run1 --json | jq "
      "'.steps[].name'\n";
  c.run = RunLs;
  return c;
}

Command TreeCommand() {
  Command c;
  c.name = "tree";
  c.synopsis = "tree DB [STEP] [ITEM] [--item NAME] [--paths] [--json]";
  c.summary = "Show a step's trees: each leaf's dtype, shape and size.";
  c.description =
      "Prints every item of the step (or only ITEM) as an indented tree; no\n"
      "array bytes are read. STEP defaults to the latest. With --paths, one\n"
      "line per leaf with its full path instead.\n";
  c.flags = {ItemFlag(),
             {"paths", "", "one line per leaf, with its full path"},
             JsonFlag()};
  c.min_args = 1;
  c.max_args = 3;
  c.example =
      "  ckptdb tree /ckpt/run1 latest\n  ckptdb tree /ckpt/run1 test_4 "
      "default --paths\n";
  c.run = RunTree;
  return c;
}

Command ShowCommand() {
  Command c;
  c.name = "show";
  c.synopsis = "show DB STEP PATH [--item NAME] [--stats] [--full] [--json]";
  c.summary = "Print a leaf's value as numpy prints it, or its statistics.";
  c.description =
      "Arrays print like numpy's repr (summarised with '...' beyond 1000\n"
      "elements; --full prints everything); scalars as Python prints them; a\n"
      "container path shows its subtree. --stats prints count, min, max and\n"
      "mean (NaNs ignored, as numpy's nanmin/nanmax/nanmean) and the number\n"
      "of NaNs and infinities. PATH components are dict keys or sequence\n"
      "indices: params/dense0/kernel, opt_state/0/mu.\n";
  c.flags = {ItemFlag(),
             {"stats", "", "min, max, mean, NaN and inf counts"},
             {"full", "", "do not summarise large arrays"},
             JsonFlag()};
  c.min_args = c.max_args = 3;
  c.example =
      "  ckptdb show /ckpt/run1 latest params/dense0/kernel\n"
      "  ckptdb show /ckpt/run1 4 params/dense0/kernel --stats\n";
  c.run = RunShow;
  return c;
}

Command DumpCommand() {
  Command c;
  c.name = "dump";
  c.synopsis = "dump DB [STEP] [--item NAME] [--full]";
  c.summary = "Everything as JSON: structure, metadata, metrics.";
  c.description =
      "Writes the database's naming and retention options and, for every\n"
      "step (or only STEP), its commit record, metrics, custom metadata and\n"
      "trees. Values of arrays stored inline (at most 1 KiB) are included;\n"
      "larger arrays are summarised (dtype, shape, size, chunk count) unless\n"
      "--full, which reads and writes every value. Non-finite floats are the\n"
      "strings \"nan\", \"inf\", \"-inf\". dump always writes JSON.\n";
  c.flags = {ItemFlag(),
             {"full", "", "include the values of every array"},
             JsonFlag()};
  c.min_args = 1;
  c.max_args = 2;
  c.example =
      "  ckptdb dump /ckpt/run1 latest > step.json\n"
      "  ckptdb dump /ckpt/run1 | jq '.steps[].metrics'\n";
  c.run = RunDump;
  return c;
}

Command StatsCommand() {
  Command c;
  c.name = "stats";
  c.synopsis = "stats DB [--json]";
  c.summary = "Space: logical and stored bytes, dedup ratio, RocksDB sizes.";
  c.description =
      "Logical bytes (all steps' arrays), stored bytes (distinct live chunks;\n"
      "arrays of at most 1 KiB live in node records and are not counted),\n"
      "their ratio, chunk and segment counts, bytes that `ckptdb gc` would\n"
      "reclaim, per-step unique and new bytes, and RocksDB's table-file\n"
      "sizes per column family.\n";
  c.flags = {JsonFlag()};
  c.min_args = c.max_args = 1;
  c.example = "  ckptdb stats /ckpt/run1\n";
  c.run = RunStats;
  return c;
}

}  // namespace ckptdb::cli
