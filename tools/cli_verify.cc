// verify: prints what Store::Verify finds (every record re-read, every
// chunk re-hashed, each step's chunk list, its leaves' chunk references and
// the chunk index cross-checked). Exit code 0 only when nothing is wrong;
// each problem names its step, item and leaf.
#include <algorithm>
#include <atomic>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_progress.h"

namespace ckptdb::cli {
namespace {

using internal::VerifyProblem;

// Drops the "step N item 'x' leaf 'p': " prefix that the store's messages
// repeat (the CLI prints step, item and leaf itself).
std::string StripPrefix(const VerifyProblem& p) {
  const std::string step = absl::StrCat("step ", p.step);
  const std::string item = absl::StrCat(step, " item '", p.item, "'");
  for (const std::string& prefix :
       {absl::StrCat(item, " leaf '", p.path, "': "), item + ": ", item + " ",
        step + ": "}) {
    if (absl::StartsWith(p.message, prefix)) {
      return p.message.substr(prefix.size());
    }
  }
  return p.message;
}

absl::Status RunVerify(const Args& args) {
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
  std::vector<int64_t> numbers;
  uint64_t total = 0;  // chunk bytes to read, for the progress bar
  for (const StepInfo& s : steps) {
    numbers.push_back(s.step);
    for (const ItemSummary& is : s.items) {
      auto item = store->ReadItem(s.step, is.name);
      if (!item.ok()) continue;  // reported by Verify
      for (const StoredNode& n : item->nodes) {
        for (const internal::ChunkLocation& c : n.chunks) total += c.size;
      }
    }
  }
  internal::VerifyReport report;
  {
    Progress progress(args, "verify", total);
    // The whole database (no STEP): every step, and the chunk bookkeeping
    // (reference counts, segment records, the tables of chunks no step
    // uses), which Store::Verify checks only when asked for all steps;
    // also when this run has no step (the others' may hold chunks).
    CKPTDB_ASSIGN_OR_RETURN(
        report,
        store->Verify(args.size() > 1 ? numbers : std::vector<int64_t>{},
                      [&](uint64_t n) { progress.Add(n); }));
  }
  const std::vector<VerifyProblem>& problems = report.problems;
  auto name_of = [&](int64_t step) {
    for (const StepInfo& s : steps) {
      if (s.step == step) return s;
    }
    StepInfo none;
    none.step = step;
    return none;
  };
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.FieldBool("ok", problems.empty());
    w.Key("steps");
    w.BeginArray(true);
    for (int64_t n : numbers) w.Int(n);
    w.EndArray();
    w.FieldUint("items", report.items);
    w.FieldUint("chunks", report.chunks);
    w.FieldUint("bytes", report.bytes);
    w.Key("problems");
    w.BeginArray();
    for (const VerifyProblem& p : problems) {
      w.BeginObject();
      w.FieldInt("step", p.step);
      w.Field("name", name_of(p.step).name);
      w.Field("item", p.item);
      w.Field("path", p.path);
      w.Field("message", StripPrefix(p));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Finish();
  } else {
    std::string out;
    for (const VerifyProblem& p : problems) {
      if (p.step < 0) {  // the chunk bookkeeping's
        absl::StrAppend(&out, "database: ", StripPrefix(p), "\n");
        continue;
      }
      absl::StrAppend(&out, "step ", StepLabel(name_of(p.step)));
      if (!p.item.empty()) absl::StrAppend(&out, ", item '", p.item, "'");
      if (!p.path.empty()) absl::StrAppend(&out, ", leaf '", p.path, "'");
      absl::StrAppend(&out, ": ", StripPrefix(p), "\n");
    }
    const std::string counts = absl::StrCat(
        steps.size(), steps.size() == 1 ? " step, " : " steps, ", report.items,
        report.items == 1 ? " item, " : " items, ", report.chunks,
        report.chunks == 1 ? " chunk, " : " chunks, ",
        HumanBytes(report.bytes));
    if (problems.empty()) {
      absl::StrAppend(&out, "ok: ", counts, " verified\n");
    } else {
      absl::StrAppend(&out, "FAILED: ", problems.size(),
                      problems.size() == 1 ? " problem" : " problems", " (",
                      counts, " checked)\n");
    }
    Print(out);
  }
  if (!problems.empty()) {
    return WithExit(absl::DataLossError(absl::StrCat(
                        "corruption found: ", problems.size(),
                        problems.size() == 1 ? " problem" : " problems")),
                    Exit::kCorrupt);
  }
  return absl::OkStatus();
}

}  // namespace

Command VerifyCommand() {
  Command c;
  c.name = "verify";
  c.synopsis = "verify DB [STEP] [--json] [--no-progress]";
  c.summary = "Re-hash every chunk and check every record; exit 0 only if ok.";
  c.description =
      "Reads every tree-node record (checksum, FlatBuffers verifier, place in\n"
      "the tree) and every chunk (XXH3-128 of its bytes) of all steps, or of\n"
      "STEP, and checks that each step's chunk list, its leaves' chunk\n"
      "references and the chunk index agree. Each problem is printed on its\n"
      "own line with its step, item and leaf path; the exit code is 6 if\n"
      "there is any. Without STEP it also checks the database's chunk\n"
      "bookkeeping (reference counts, segment records, the chunk tables of\n"
      "segments holding chunks no step uses): lines beginning 'database:'.\n";
  c.flags = {JsonFlag(), NoProgressFlag()};
  c.min_args = 1;
  c.max_args = 2;
  c.example = "  ckptdb verify /ckpt/run1 && echo intact\n";
  c.run = RunVerify;
  return c;
}

}  // namespace ckptdb::cli
