// diff: compares two steps, of one database or of two. Leaves (and empty
// containers) are matched by item and path; arrays whose chunk hashes (or
// inline bytes) agree are identical without reading them, others are read
// and compared element by element (max abs difference, count of differing
// elements).
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_tree.h"

namespace ckptdb::cli {
namespace {

enum class Status { kIdentical, kChanged, kAdded, kRemoved };

const char* StatusName(Status s) {
  switch (s) {
    case Status::kIdentical:
      return "identical";
    case Status::kChanged:
      return "changed";
    case Status::kAdded:
      return "added";
    case Status::kRemoved:
      return "removed";
  }
  return "";
}

struct Entry {
  std::string item;
  std::string path;
  Status status = Status::kIdentical;
  std::string a;       // summary of the old value
  std::string b;       // summary of the new value
  std::string detail;  // how it changed or why it is identical
  // Array comparisons.
  bool compared = false;
  double max_abs_diff = 0;
  int64_t differing = 0;
  int64_t elements = 0;
  int64_t nan_mismatch = 0;
  std::string identical_by;  // "hash", "inline bytes", "values", "value"
};

struct Side {
  const Store* store;
  std::string db;
  StepInfo info;
};

bool IsContainer(const StoredNode& n) {
  return n.kind == Tree::Kind::kDict || n.kind == Tree::Kind::kList ||
         n.kind == Tree::Kind::kTuple;
}

// Leaves and empty containers in preorder, and containers, by their typed
// path; and how each path is printed.
struct Flat {
  std::vector<std::string> order;
  std::map<std::string, uint32_t> entries;
  std::map<std::string, uint32_t> containers;
  std::map<std::string, std::string> printed;
};

Flat Flatten(const StoredItem& item) {
  Flat f;
  for (uint32_t i = 0; i < item.nodes.size(); ++i) {
    const TreePath path = item.PathOf(i);
    const std::string p = PathKey(path, /*typed=*/true);
    f.printed.emplace(p, PathKey(path, /*typed=*/false));
    const StoredNode& n = item.nodes[i];
    if (IsContainer(n)) f.containers[p] = i;
    if (!IsContainer(n) || n.children.empty()) {
      if (f.entries.emplace(p, i).second) f.order.push_back(p);
    }
  }
  return f;
}

// True if typed paths `a` and `b` (which print the same) differ only where
// one side has a sequence index: a list or tuple that became a dict with
// keys "0", "1", ... (an export and import) or the other way round. An int
// key against a string key is a different key.
bool OnlySequencesChanged(absl::string_view a, absl::string_view b) {
  const std::vector<absl::string_view> ca = absl::StrSplit(a, '/');
  const std::vector<absl::string_view> cb = absl::StrSplit(b, '/');
  if (ca.size() != cb.size()) return false;
  for (size_t i = 0; i < ca.size(); ++i) {
    if (ca[i] == cb[i]) continue;
    if (ca[i].empty() || cb[i].empty()) return false;
    if (ca[i][0] != 'i' && cb[i][0] != 'i') return false;
  }
  return true;
}

// Pairs the paths of `a` (typed, as Flatten keys them) with those of `b`:
// the same typed path, else the one path of each side left unpaired that
// prints the same, where only sequences changed (OnlySequencesChanged).
std::map<std::string, std::string> PairPaths(
    const std::map<std::string, uint32_t>& a, const Flat& fa,
    const std::map<std::string, uint32_t>& b, const Flat& fb) {
  std::map<std::string, std::string> pairs;
  std::map<std::string, std::vector<std::string>> left_a, left_b;
  for (const auto& [path, node] : a) {
    if (b.count(path)) {
      pairs.emplace(path, path);
    } else {
      left_a[fa.printed.at(path)].push_back(path);
    }
  }
  for (const auto& [path, node] : b) {
    if (!a.count(path)) left_b[fb.printed.at(path)].push_back(path);
  }
  for (const auto& [printed, paths] : left_a) {
    auto it = left_b.find(printed);
    if (paths.size() == 1 && it != left_b.end() && it->second.size() == 1 &&
        OnlySequencesChanged(paths[0], it->second[0])) {
      pairs.emplace(paths[0], it->second[0]);
    }
  }
  return pairs;
}

bool SameChunks(const StoredNode& a, const StoredNode& b) {
  if (a.is_inline || b.is_inline || a.chunk_bytes != b.chunk_bytes ||
      a.chunks.size() != b.chunks.size()) {
    return false;
  }
  for (size_t i = 0; i < a.chunks.size(); ++i) {
    if (a.chunks[i].hash != b.chunks[i].hash) return false;
  }
  return true;
}

// Element k of integer array `a`, exactly.
__int128 IntegerAt(const Array& a, int64_t k) {
  const char* p = static_cast<const char*>(a.data()) + k * DTypeSize(a.dtype());
  auto get = [p](auto v) -> __int128 {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (a.dtype()) {
    case DType::kInt8:
      return get(int8_t{});
    case DType::kInt16:
      return get(int16_t{});
    case DType::kInt32:
      return get(int32_t{});
    case DType::kInt64:
      return get(int64_t{});
    case DType::kUInt8:
      return get(uint8_t{});
    case DType::kUInt16:
      return get(uint16_t{});
    case DType::kUInt32:
      return get(uint32_t{});
    default:
      return get(uint64_t{});
  }
}

// Counts the differing elements of two integer arrays of one shape, and
// their largest difference, exactly (as doubles they would be equal beyond
// 2^53).
void CountIntegerDifferences(const Array& xa, const Array& xb, Entry* e) {
  for (int64_t k = 0; k < xa.num_elements(); ++k) {
    const __int128 d = IntegerAt(xa, k) - IntegerAt(xb, k);
    if (d == 0) continue;
    ++e->differing;
    e->max_abs_diff =
        std::max(e->max_abs_diff, static_cast<double>(d < 0 ? -d : d));
  }
}

// The same for any other two arrays of one shape, element by element as
// complex128 (exact for every real dtype but 64-bit integers); NaN equals
// NaN, and a NaN against a number is counted apart.
void CountDifferences(const Array& xa, const Array& xb, Entry* e) {
  const int64_t n = xa.num_elements();
  constexpr int64_t kBlock = 1 << 14;
  std::vector<std::complex<double>> ba(kBlock), bb(kBlock);
  const size_t ea = DTypeSize(xa.dtype()), eb = DTypeSize(xb.dtype());
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i);
    CastElements(xa.dtype(), static_cast<const char*>(xa.data()) + i * ea,
                 DType::kComplex128, ba.data(), m);
    CastElements(xb.dtype(), static_cast<const char*>(xb.data()) + i * eb,
                 DType::kComplex128, bb.data(), m);
    for (int64_t k = 0; k < m; ++k) {
      const auto& x = ba[k];
      const auto& y = bb[k];
      const bool nx = std::isnan(x.real()) || std::isnan(x.imag());
      const bool ny = std::isnan(y.real()) || std::isnan(y.imag());
      if (nx || ny) {
        if (nx != ny) {
          ++e->differing;
          ++e->nan_mismatch;
        }
        continue;
      }
      if (x == y) continue;
      ++e->differing;
      const double d = std::abs(x - y);
      e->max_abs_diff = std::max(e->max_abs_diff, std::isnan(d) ? INFINITY : d);
    }
  }
}

absl::Status CompareArrays(const Side& sa, const StoredItem& ia, uint32_t na,
                           const Side& sb, const StoredItem& ib, uint32_t nb,
                           Entry* e) {
  const StoredNode& a = ia.nodes[na];
  const StoredNode& b = ib.nodes[nb];
  if (a.shape != b.shape) {
    e->status = Status::kChanged;
    e->detail = "shape changed";
    return absl::OkStatus();
  }
  if (a.dtype == b.dtype) {
    if (SameChunks(a, b)) {
      e->identical_by = "hash";
      e->detail = "same chunks";
      return absl::OkStatus();
    }
    if (a.is_inline && b.is_inline && a.inline_data == b.inline_data) {
      e->identical_by = "inline bytes";
      e->detail = "same bytes";
      return absl::OkStatus();
    }
  }
  CKPTDB_ASSIGN_OR_RETURN(Array xa, ReadArray(*sa.store, ia, na));
  CKPTDB_ASSIGN_OR_RETURN(Array xb, ReadArray(*sb.store, ib, nb));
  if (xa.BitwiseEquals(xb)) {
    e->identical_by = "values";
    e->detail = "same values";
    return absl::OkStatus();
  }
  const int64_t n = xa.num_elements();
  e->compared = true;
  e->elements = n;
  if (IsIntegerDType(xa.dtype()) && IsIntegerDType(xb.dtype())) {
    CountIntegerDifferences(xa, xb, e);
  } else {
    CountDifferences(xa, xb, e);
  }
  e->status = Status::kChanged;
  if (e->differing == 0) {
    e->detail = a.dtype != b.dtype
                    ? "dtype changed, values equal"
                    : "values equal, bits differ (-0.0 or NaN payloads)";
    return absl::OkStatus();
  }
  e->detail = absl::StrCat("max abs diff ", PyFloatRepr(e->max_abs_diff), ", ",
                           e->differing, " of ", n,
                           n == 1 ? " element differs" : " elements differ");
  if (e->nan_mismatch > 0) {
    absl::StrAppend(&e->detail, " (", e->nan_mismatch, " NaN vs number)");
  }
  return absl::OkStatus();
}

absl::Status DiffItem(const Side& sa, const Side& sb, const std::string& name,
                      std::vector<Entry>* out) {
  std::optional<StoredItem> ia, ib;
  auto has = [&](const StepInfo& info) {
    for (const ItemSummary& s : info.items) {
      if (s.name == name) return true;
    }
    return false;
  };
  if (has(sa.info)) {
    CKPTDB_ASSIGN_OR_RETURN(ia, ReadItem(*sa.store, sa.info, name));
  }
  if (has(sb.info)) {
    CKPTDB_ASSIGN_OR_RETURN(ib, ReadItem(*sb.store, sb.info, name));
  }
  const Flat fa = ia ? Flatten(*ia) : Flat();
  const Flat fb = ib ? Flatten(*ib) : Flat();
  // Containers whose kind changed (list -> tuple, dict -> list).
  for (const auto& [path, other] :
       PairPaths(fa.containers, fa, fb.containers, fb)) {
    const StoredNode& x = ia->nodes[fa.containers.at(path)];
    const StoredNode& y = ib->nodes[fb.containers.at(other)];
    if (x.kind != y.kind) {
      Entry e;
      e.item = name;
      e.path = fa.printed.at(path);
      e.status = Status::kChanged;
      e.a = NodeSummary(x);
      e.b = NodeSummary(y);
      e.detail = "container kind changed";
      out->push_back(e);
    }
  }
  const std::map<std::string, std::string> pairs =
      PairPaths(fa.entries, fa, fb.entries, fb);
  std::set<std::string> paired_b;
  for (const std::string& path : fa.order) {
    const uint32_t i = fa.entries.at(path);
    const StoredNode& x = ia->nodes[i];
    Entry e;
    e.item = name;
    e.path = fa.printed.at(path);
    e.a = NodeSummary(x);
    auto it = pairs.find(path);
    if (it == pairs.end()) {
      e.status = Status::kRemoved;
      out->push_back(e);
      continue;
    }
    paired_b.insert(it->second);
    const uint32_t j = fb.entries.at(it->second);
    const StoredNode& y = ib->nodes[j];
    e.b = NodeSummary(y);
    if (IsContainer(x) && IsContainer(y) && x.kind != y.kind) {
      continue;  // reported with the containers above
    }
    if (x.kind != y.kind) {
      e.status = Status::kChanged;
      e.detail = "kind changed";
    } else if (x.kind == Tree::Kind::kArray) {
      CKPTDB_RETURN_IF_ERROR(CompareArrays(sa, *ia, i, sb, *ib, j, &e));
    } else if (IsContainer(x)) {
      e.identical_by = "value";  // both empty, same kind
    } else if (x.scalar == y.scalar) {
      e.identical_by = "value";
    } else {
      e.status = Status::kChanged;
    }
    out->push_back(e);
  }
  for (const std::string& path : fb.order) {
    if (paired_b.count(path)) continue;
    Entry e;
    e.item = name;
    e.path = fb.printed.at(path);
    e.status = Status::kAdded;
    e.b = NodeSummary(ib->nodes[fb.entries.at(path)]);
    out->push_back(e);
  }
  return absl::OkStatus();
}

// The items to compare: --item, or every item of either step (in order of
// first appearance). NotFound (exit kNoPath) for an --item neither has.
absl::StatusOr<std::vector<std::string>> ItemsToCompare(const Args& args,
                                                        const Side& a,
                                                        const Side& b) {
  std::vector<std::string> items;
  if (auto only = args.GetOptional("item"); only.has_value()) {
    bool found = false;
    for (const StepInfo* info : {&a.info, &b.info}) {
      for (const ItemSummary& s : info->items) found |= s.name == *only;
    }
    if (!found) {
      return WithExit(absl::NotFoundError(absl::StrCat(
                          "neither step has an item '", *only, "'")),
                      Exit::kNoPath);
    }
    items.push_back(*only);
  } else {
    for (const StepInfo* info : {&a.info, &b.info}) {
      for (const ItemSummary& s : info->items) {
        if (std::find(items.begin(), items.end(), s.name) == items.end()) {
          items.push_back(s.name);
        }
      }
    }
  }
  return items;
}

void PrintDiffJson(const Side& a, const Side& b,
                   const std::vector<Entry>& entries,
                   const std::map<Status, int64_t>& counts, bool only_changes) {
  JsonWriter w(stdout);
  w.BeginObject();
  for (const Side* s : {&a, &b}) {
    w.Key(s == &a ? "a" : "b");
    w.BeginObject(true);
    w.Field("database", s->db);
    w.FieldInt("step", s->info.step);
    w.Field("name", s->info.name);
    w.EndObject();
  }
  w.Key("leaves");
  w.BeginArray();
  for (const Entry& e : entries) {
    if (only_changes && e.status == Status::kIdentical) continue;
    w.BeginObject();
    w.Field("item", e.item);
    w.Field("path", e.path);
    w.Field("status", StatusName(e.status));
    if (!e.a.empty()) w.Field("a", e.a);
    if (!e.b.empty()) w.Field("b", e.b);
    if (e.status == Status::kIdentical) w.Field("identical_by", e.identical_by);
    if (e.status == Status::kChanged && !e.detail.empty()) {
      w.Field("detail", e.detail);
    }
    if (e.compared) {
      w.FieldDouble("max_abs_diff", e.max_abs_diff);
      w.FieldInt("differing_elements", e.differing);
      w.FieldInt("elements", e.elements);
      w.FieldInt("nan_mismatches", e.nan_mismatch);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("summary");
  w.BeginObject(true);
  for (Status s : {Status::kAdded, Status::kRemoved, Status::kChanged,
                   Status::kIdentical}) {
    w.FieldInt(StatusName(s), counts.at(s));
  }
  w.EndObject();
  w.EndObject();
  w.Finish();
}

void PrintDiffText(const Side& a, const Side& b,
                   const std::vector<Entry>& entries,
                   const std::map<Status, int64_t>& counts, bool only_changes,
                   bool show_item) {
  std::string out =
      absl::StrCat("--- ", a.db, " step ", StepLabel(a.info), "\n+++ ", b.db,
                   " step ", StepLabel(b.info), "\n");
  std::vector<std::vector<std::string>> rows;
  for (const Entry& e : entries) {
    if (only_changes && e.status == Status::kIdentical) continue;
    std::string what;
    switch (e.status) {
      case Status::kAdded:
        what = e.b;
        break;
      case Status::kRemoved:
      case Status::kIdentical:
        what = e.a;
        break;
      case Status::kChanged:
        what = e.a == e.b ? e.a : absl::StrCat(e.a, " -> ", e.b);
        break;
    }
    std::string path = e.path.empty() ? "<root>" : e.path;
    if (show_item) path = absl::StrCat(e.item, ":", path);
    rows.push_back({StatusName(e.status), path, what, e.detail});
  }
  std::vector<size_t> w(4, 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < 4; ++i) w[i] = std::max(w[i], DisplayWidth(r[i]));
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < 4; ++i) {
      line += r[i];
      if (i < 3) line += std::string(w[i] - DisplayWidth(r[i]) + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  absl::StrAppend(&out, counts.at(Status::kAdded), " added, ",
                  counts.at(Status::kRemoved), " removed, ",
                  counts.at(Status::kChanged), " changed, ",
                  counts.at(Status::kIdentical), " identical\n");
  Print(out);
}

absl::Status RunDiff(const Args& args) {
  if (args.size() != 3 && args.size() != 4) {
    return UsageError(
        "diff takes DB STEP_A STEP_B, or DB_A STEP_A DB_B STEP_B");
  }
  const bool two = args.size() == 4;
  std::error_code ec;
  if (two && !std::filesystem::exists(args[2], ec)) {
    return UsageError(
        absl::StrCat("diff DB_A STEP_A DB_B STEP_B: there is no '", args[2],
                     "' (two steps of one database: diff DB STEP_A STEP_B)"));
  }
  const std::string db_a = args[0];
  const std::string db_b = two ? args[2] : args[0];
  const std::string spec_b = two ? args[3] : args[2];
  std::string step_a, step_b;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store_a, OpenForStep(db_a, OpenMode::kReadOnly, args[1], &step_a));
  // A second view when the other step is in another database or run.
  std::unique_ptr<Store> store_b_owned;
  const Store* store_b = store_a.get();
  step_b = SplitRunStep(spec_b).step;
  if (two || SplitRunStep(spec_b).run != store_a->run()) {
    CKPTDB_ASSIGN_OR_RETURN(
        store_b_owned, OpenForStep(db_b, OpenMode::kReadOnly, spec_b, &step_b));
    store_b = store_b_owned.get();
  }
  Side a{store_a.get(), db_a, {}};
  Side b{store_b, db_b, {}};
  CKPTDB_ASSIGN_OR_RETURN(a.info, ResolveStep(*a.store, step_a));
  CKPTDB_ASSIGN_OR_RETURN(b.info, ResolveStep(*b.store, step_b));
  CKPTDB_ASSIGN_OR_RETURN(const std::vector<std::string> items,
                          ItemsToCompare(args, a, b));
  std::vector<Entry> entries;
  for (const std::string& name : items) {
    CKPTDB_RETURN_IF_ERROR(DiffItem(a, b, name, &entries));
  }
  std::map<Status, int64_t> counts = {{Status::kAdded, 0},
                                      {Status::kRemoved, 0},
                                      {Status::kChanged, 0},
                                      {Status::kIdentical, 0}};
  for (const Entry& e : entries) ++counts[e.status];
  const bool differ = counts[Status::kAdded] + counts[Status::kRemoved] +
                          counts[Status::kChanged] >
                      0;
  const bool only_changes = args.Has("only-changes");
  if (args.json()) {
    PrintDiffJson(a, b, entries, counts, only_changes);
  } else {
    PrintDiffText(a, b, entries, counts, only_changes,
                  /*show_item=*/items.size() > 1);
  }
  if (differ && args.Has("exit-code")) {
    return WithExit(absl::AbortedError(""), Exit::kError);
  }
  return absl::OkStatus();
}

}  // namespace

Command DiffCommand() {
  Command c;
  c.name = "diff";
  c.synopsis =
      "diff DB STEP_A STEP_B | diff DB_A STEP_A DB_B STEP_B [--item NAME] "
      "[--only-changes] [--exit-code] [--json]";
  c.summary = "Compare two steps (of one database or two), leaf by leaf.";
  c.description =
      "Every leaf is added, removed, changed or identical. Arrays whose chunk\n"
      "hashes agree are identical without reading them (also across two\n"
      "databases: chunk hashes are content hashes); other arrays are read and\n"
      "compared: the maximum absolute difference and the number of differing\n"
      "elements (a NaN equals a NaN). Paths of an item other than the only\n"
      "one are shown as ITEM:PATH.\n";
  c.flags = {ItemFlag(),
             {"only-changes", "", "do not list identical leaves"},
             {"exit-code", "", "exit with 1 if the steps differ (as git diff)"},
             JsonFlag()};
  c.min_args = 3;
  c.max_args = 4;
  c.example =
      "  ckptdb diff /ckpt/run1 test_3 test_4\n"
      "  ckptdb diff /ckpt/run1 latest /ckpt/run2 latest "
      "--only-changes\n";
  c.run = RunDiff;
  return c;
}

}  // namespace ckptdb::cli
