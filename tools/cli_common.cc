// Shared pieces of the ckptdb tool: exit codes, argument parsing, help
// text, opening databases and resolving steps, items and paths.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "tools/cli.h"

namespace ckptdb::cli {
namespace {

constexpr char kExitPayload[] = "type.googleapis.com/ckptdb.cli.ExitCode";

}  // namespace

// ---- exit codes -------------------------------------------------------------

std::string ExitCodeTable() {
  return "  0  success (verify: no problem found)\n"
         "  1  other error (I/O, internal; diff --exit-code: differences)\n"
         "  2  bad arguments\n"
         "  3  no such database (or not a ckptdb database)\n"
         "  4  no such step\n"
         "  5  no such item or leaf path\n"
         "  6  corruption found\n"
         "  7  database busy: another process has it open for writing\n"
         "  8  the step to create already exists\n";
}

absl::Status WithExit(absl::Status s, Exit code) {
  if (s.ok()) return s;
  s.SetPayload(kExitPayload, absl::Cord(absl::StrCat(static_cast<int>(code))));
  return s;
}

Exit ExitCodeOf(const absl::Status& s) {
  if (s.ok()) return Exit::kOk;
  if (auto p = s.GetPayload(kExitPayload); p.has_value()) {
    int v;
    if (absl::SimpleAtoi(std::string(*p), &v)) return static_cast<Exit>(v);
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return Exit::kUsage;
    case absl::StatusCode::kDataLoss:
      return Exit::kCorrupt;
    case absl::StatusCode::kAlreadyExists:
      return Exit::kExists;
    default:
      return Exit::kError;
  }
}

absl::Status UsageError(absl::string_view message) {
  return WithExit(absl::InvalidArgumentError(message), Exit::kUsage);
}

// ---- arguments --------------------------------------------------------------

bool Args::Has(absl::string_view flag) const {
  return flags_.find(flag) != flags_.end();
}

std::string Args::Get(absl::string_view flag,
                      const std::string& fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? fallback : it->second;
}

std::optional<std::string> Args::GetOptional(absl::string_view flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Args> ParseArgs(const std::vector<FlagSpec>& flags,
                               const std::vector<std::string>& argv) {
  Args args;
  bool only_positional = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (only_positional || w == "-" || w.size() < 2 || w[0] != '-') {
      args.positional_.push_back(w);
      continue;
    }
    if (w == "--") {
      only_positional = true;
      continue;
    }
    if (!absl::StartsWith(w, "--")) {
      return UsageError(absl::StrCat("unknown option '", w, "'"));
    }
    std::string name = w.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto spec = std::find_if(flags.begin(), flags.end(),
                             [&](const FlagSpec& f) { return f.name == name; });
    if (spec == flags.end()) {
      return UsageError(absl::StrCat("unknown option '--", name, "'"));
    }
    if (spec->value_name.empty()) {
      if (value.has_value()) {
        return UsageError(
            absl::StrCat("option '--", name, "' does not take a value"));
      }
      args.flags_[name] = "";
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= argv.size()) {
        return UsageError(absl::StrCat("option '--", name, "' needs a value (",
                                       spec->value_name, ")"));
      }
      value = argv[++i];
    }
    args.flags_[name] = *value;
  }
  return args;
}

FlagSpec JsonFlag() {
  return {"json", "", "print JSON (for scripts) instead of text"};
}
FlagSpec ItemFlag() {
  return {"item", "NAME",
          "the item (named tree) of the step; default: \"default\", or the "
          "step's only item"};
}
FlagSpec NoProgressFlag() {
  return {"no-progress", "",
          "no progress bar (it is shown only when stderr is a terminal)"};
}

const std::vector<Command>& Commands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      LsCommand(),     RunsCommand(),   TreeCommand(),   ShowCommand(),
      DumpCommand(),   StatsCommand(),  VerifyCommand(), DiffCommand(),
      ExportCommand(), ImportCommand(), RmCommand(),     GcCommand(),
      DemoCommand(),
  };
  return *commands;
}

std::string CommandHelp(const Command& c) {
  std::string out =
      absl::StrCat("usage: ckptdb ", c.synopsis, "\n\n", c.summary, "\n");
  if (!c.description.empty()) absl::StrAppend(&out, "\n", c.description);
  if (!absl::EndsWith(out, "\n")) out += "\n";
  out += "\noptions:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const FlagSpec& f : c.flags) {
    rows.emplace_back(
        absl::StrCat("--", f.name, f.value_name.empty() ? "" : " ",
                     f.value_name),
        f.help);
  }
  rows.emplace_back("-h, --help", "show this help");
  size_t w = 0;
  for (const auto& r : rows) w = std::max(w, r.first.size());
  for (const auto& r : rows) {
    absl::StrAppendFormat(&out, "  %-*s  %s\n", static_cast<int>(w), r.first,
                          r.second);
  }
  absl::StrAppend(&out, "\nexample:\n", c.example);
  if (!absl::EndsWith(out, "\n")) out += "\n";
  absl::StrAppend(&out, "\nexit codes:\n", ExitCodeTable());
  return out;
}

// ---- databases --------------------------------------------------------------

RunStep SplitRunStep(absl::string_view spec) {
  const size_t colon = spec.find(':');
  if (colon == absl::string_view::npos) return {"", std::string(spec)};
  return {std::string(spec.substr(0, colon)),
          std::string(spec.substr(colon + 1))};
}

absl::StatusOr<std::unique_ptr<Store>> OpenForStep(const std::string& path,
                                                   OpenMode mode,
                                                   absl::string_view spec,
                                                   std::string* step) {
  RunStep rs = SplitRunStep(spec);
  *step = rs.step;
  auto store = OpenDatabase(path, mode, false, 0, rs.run);
  if (!store.ok() &&
      store.status().code() == absl::StatusCode::kInvalidArgument) {
    return WithExit(store.status(), Exit::kUsage);
  }
  return store;
}

absl::StatusOr<std::unique_ptr<Store>> OpenDatabase(const std::string& path,
                                                    OpenMode mode, bool create,
                                                    uint32_t chunk_bytes,
                                                    const std::string& run) {
  internal::StoreOptions so;
  so.run = run;
  so.mode = mode == OpenMode::kReadOnly
                ? internal::StoreOptions::Mode::kReadOnly
                : internal::StoreOptions::Mode::kReadWrite;
  so.create_if_missing = create && mode == OpenMode::kReadWrite;
  so.open_around_damaged_tables = mode == OpenMode::kReadWriteAroundDamage;
  so.create_kind = "manager";
  if (chunk_bytes != 0) so.chunk_bytes = chunk_bytes;
  auto store = Store::Open(path, so);
  if (store.ok()) return store;
  return OpenError(path, mode, store.status());
}

absl::Status OpenError(const std::string& path, OpenMode mode,
                       const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return WithExit(s, Exit::kNoDatabase);
    case absl::StatusCode::kFailedPrecondition:
      if (mode != OpenMode::kReadOnly &&
          internal::DbLockHeldByAnotherProcess(path)) {
        return WithExit(
            absl::FailedPreconditionError(absl::StrCat(
                "database '", path,
                "' is busy: another process has it open for writing (read-only "
                "commands work meanwhile)")),
            Exit::kBusy);
      }
      if (absl::StrContains(s.message(), "newer ckptdb")) {
        return WithExit(s, Exit::kError);
      }
      if (absl::StrContains(s.message(), "' is busy: ")) {
        // The store found a writer; it may have gone since (a race the
        // lock probe above no longer sees): still busy, not "no database".
        return WithExit(s, Exit::kBusy);
      }
      return WithExit(s, Exit::kNoDatabase);
    case absl::StatusCode::kDataLoss:
      return WithExit(s, Exit::kCorrupt);
    default:
      return s;
  }
}

// ---- steps, items, paths ----------------------------------------------------

std::string StepLabel(const StepInfo& info) {
  if (info.name.empty() || info.name == absl::StrCat(info.step)) {
    return absl::StrCat(info.step);
  }
  return absl::StrCat(info.step, " (", info.name, ")");
}

bool ParseStepNumber(absl::string_view text, int64_t* step) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(text, step);
}

absl::StatusOr<StepInfo> ResolveStep(const Store& store,
                                     absl::string_view spec) {
  const std::vector<StepInfo> steps = store.Steps();
  if (spec == "latest") {
    if (steps.empty()) {
      return WithExit(absl::NotFoundError(absl::StrCat(
                          store.run().empty()
                              ? "database '"
                              : absl::StrCat("run '", store.run(), "' of '"),
                          store.path(), "' has no steps")),
                      Exit::kNoStep);
    }
    return steps.back();
  }
  for (const StepInfo& s : steps) {
    if (s.name == spec) return s;
  }
  int64_t n;
  if (ParseStepNumber(spec, &n)) {
    for (const StepInfo& s : steps) {
      if (s.step == n) return s;
    }
  }
  std::vector<std::string> names;
  for (const StepInfo& s : steps) {
    if (names.size() == 10) {
      names.push_back("...");
      break;
    }
    names.push_back(StepLabel(s));
  }
  return WithExit(
      absl::NotFoundError(absl::StrCat(
          "no step '", spec, "' in ",
          store.run().empty() ? ""
                              : absl::StrCat("run '", store.run(), "' of "),
          "'", store.path(), "' (",
          steps.empty() ? "it has no steps"
                        : absl::StrCat("steps: ", absl::StrJoin(names, ", ")),
          ")")),
      Exit::kNoStep);
}

absl::StatusOr<std::string> ResolveItem(
    const StepInfo& info, const std::optional<std::string>& item) {
  std::vector<std::string> names;
  for (const ItemSummary& s : info.items) names.push_back(s.name);
  if (item.has_value()) {
    if (std::find(names.begin(), names.end(), *item) != names.end()) {
      return *item;
    }
    return WithExit(absl::NotFoundError(absl::StrCat(
                        "step ", StepLabel(info), " has no item '", *item,
                        "' (items: ", absl::StrJoin(names, ", "), ")")),
                    Exit::kNoPath);
  }
  if (std::find(names.begin(), names.end(), "default") != names.end()) {
    return std::string("default");
  }
  if (names.size() == 1) return names[0];
  return WithExit(absl::NotFoundError(absl::StrCat(
                      "step ", StepLabel(info), " has items ",
                      absl::StrJoin(names, ", "), ": choose one with --item")),
                  Exit::kNoPath);
}

absl::StatusOr<StoredItem> ReadItem(const Store& store, const StepInfo& info,
                                    const std::string& item) {
  auto r = store.ReadItem(info.step, item);
  if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound) {
    return WithExit(r.status(), Exit::kNoPath);
  }
  return r;
}

absl::StatusOr<uint32_t> ResolvePath(const StoredItem& item,
                                     absl::string_view path) {
  uint32_t node = 0;
  std::string walked;
  for (absl::string_view comp : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    const StoredNode& n = item.nodes[node];
    const std::string where =
        walked.empty() ? "the root" : absl::StrCat("'", walked, "'");
    auto fail = [&](const std::string& why) {
      return WithExit(absl::NotFoundError(absl::StrCat(
                          "no path '", path, "' in step ", item.step,
                          item.step_name.empty() ||
                                  item.step_name == absl::StrCat(item.step)
                              ? ""
                              : absl::StrCat(" (", item.step_name, ")"),
                          " item '", item.item, "': ", why)),
                      Exit::kNoPath);
    };
    std::optional<uint32_t> next;
    if (n.kind == Tree::Kind::kDict) {
      const std::string decoded = DecodePathComponent(comp);
      for (uint32_t c : n.children) {
        const DictKey& k = item.nodes[c].key;
        if (!k.is_int() && k.str() == comp) {
          next = c;
          break;
        }
      }
      for (uint32_t c : n.children) {
        if (next.has_value()) break;
        const DictKey& k = item.nodes[c].key;
        if ((k.is_int() && k.ToString() == comp) ||
            (!k.is_int() && k.str() == decoded)) {
          next = c;
        }
      }
      if (!next.has_value()) {
        std::vector<std::string> keys;
        for (uint32_t c : n.children) {
          if (keys.size() == 10) {
            keys.push_back("...");
            break;
          }
          keys.push_back(item.nodes[c].key.ToString());
        }
        return fail(absl::StrCat(where, " has no key '", comp,
                                 "' (keys: ", absl::StrJoin(keys, ", "), ")"));
      }
    } else if (n.kind == Tree::Kind::kList || n.kind == Tree::Kind::kTuple) {
      int64_t idx;
      if (!absl::SimpleAtoi(comp, &idx) || idx < 0 ||
          idx >= static_cast<int64_t>(n.children.size())) {
        return fail(absl::StrCat(where, " is a ", TreeKindName(n.kind), " of ",
                                 n.children.size(), " elements; no index '",
                                 comp, "'"));
      }
      next = n.children[idx];
    } else {
      return fail(absl::StrCat(where, " is a leaf (", TreeKindName(n.kind),
                               "), not a container"));
    }
    node = *next;
    walked = item.PathOf(node).ToString();
  }
  return node;
}

absl::StatusOr<Array> ReadArray(const Store& store, const StoredItem& item,
                                uint32_t node) {
  const StoredNode& n = item.nodes[node];
  Array a = Array::Allocate(n.dtype, n.shape);
  if (a.nbytes() == 0) return a;
  internal::ArrayRead r;
  r.node = node;
  r.dest = a.mutable_data();
  r.dest_dtype = n.dtype;
  CKPTDB_RETURN_IF_ERROR(store.ReadArrays(item, {r}));
  return a;
}

absl::StatusOr<std::map<int64_t, uint64_t>> UniqueBytesPerStep(
    const Store& store, std::map<int64_t, std::string>* damaged) {
  std::map<int64_t, uint64_t> out;
  for (const StepInfo& s : store.Steps()) {
    absl::StatusOr<std::vector<internal::Hash128>> list =
        store.StepChunkHashes(s.step);
    if (!list.ok() && damaged != nullptr &&
        list.status().code() == absl::StatusCode::kDataLoss) {
      damaged->emplace(s.step, list.status().message());
      continue;
    }
    CKPTDB_ASSIGN_OR_RETURN(std::vector<internal::Hash128> hashes,
                            std::move(list));
    uint64_t unique = 0;
    for (const internal::Hash128& h : hashes) {
      auto c = store.LookupChunk(h);
      if (!c.ok()) {
        if (c.status().code() == absl::StatusCode::kNotFound) continue;
        return c.status();
      }
      if (c->refcount == 1) unique += c->location.stored_size;
    }
    out[s.step] = unique;
  }
  return out;
}

void Print(absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace ckptdb::cli
