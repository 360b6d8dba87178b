#include "core/orbax_checkpoint.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_bytes.h"
#include "core/json.h"
#include "core/orbax_item.h"
#include "core/orbax_metadata.h"

namespace ckptdb::orbax {
namespace {

using file_bytes::IsDir;
using file_bytes::IsFile;

constexpr absl::string_view kTmp = ".orbax-checkpoint-tmp";
constexpr absl::string_view kCommitMarker = "commit_success.txt";

// Sorted names in `dir` (without "." and ".."); Unavailable if unreadable.
absl::StatusOr<std::vector<std::string>> List(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot list '", dir, "'"));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// The JSON file of a JSON item folder (a folder holding exactly one
// regular file that is not an item marker), or "".
std::string JsonItemFile(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = List(dir);
  if (!names.ok() || names->size() != 1) return "";
  const std::string path = absl::StrCat(dir, "/", (*names)[0]);
  if (!IsFile(path) || (*names)[0] == "_METADATA" ||
      (*names)[0] == "checkpoint") {
    return "";
  }
  return path;
}

absl::StatusOr<Tree> ReadJsonItem(const std::string& path) {
  absl::StatusOr<std::string> text = file_bytes::ReadAll(path, 1u << 30);
  if (!text.ok()) return text.status();
  json::JsonParser p(*text, 0, path);
  p.set_allow_nonfinite(true);
  absl::StatusOr<json::Json> doc = p.ParseDocument();
  if (!doc.ok()) return doc.status();
  return JsonToTree(*doc);
}

absl::Status ReadStepMetadata(const std::string& dir, Step* step) {
  const std::string path = dir + "/_CHECKPOINT_METADATA";
  if (!IsFile(path)) return absl::OkStatus();
  absl::StatusOr<std::string> text = file_bytes::ReadAll(path, 1u << 30);
  if (!text.ok()) return text.status();
  absl::StatusOr<StepMetadata> m = ParseStepMetadata(*text, path);
  if (!m.ok()) return m.status();
  step->has_step_metadata = true;
  step->init_time_ns = m->init_time_ns;
  step->commit_time_ns = m->commit_time_ns;
  step->has_metrics = m->has_metrics;
  step->metrics = std::move(m->metrics);
  step->custom_metadata = std::move(m->custom_metadata);
  return absl::OkStatus();
}

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// "<prefix>_<digits>" or "<digits>": the step and the prefix.
bool ParseStepName(const std::string& name, int64_t* step, std::string* prefix,
                   size_t* digits) {
  const size_t us = name.rfind('_');
  const std::string num = us == std::string::npos ? name : name.substr(us + 1);
  if (num.empty() || num.size() > 18 ||
      num.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  if (!absl::SimpleAtoi(num, step)) return false;
  *prefix = us == std::string::npos ? "" : name.substr(0, us);
  *digits = num.size();
  return true;
}

}  // namespace

bool LooksLikeOrbaxCheckpoint(const std::string& dir) {
  if (!IsDir(dir)) return false;
  if (LooksLikeItem(dir) || IsFile(dir + "/_CHECKPOINT_METADATA")) return true;
  absl::StatusOr<std::vector<std::string>> names = List(dir);
  if (!names.ok()) return false;
  for (const std::string& n : *names) {
    if (LooksLikeItem(absl::StrCat(dir, "/", n))) return true;
  }
  return false;
}

namespace {

// Problems inside a checkpoint folder are DataLoss (a damaged checkpoint):
// the metadata parsers report InvalidArgument, and the OCDBT reader
// NotFound for a missing manifest.
absl::Status AsDamage(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument ||
      s.code() == absl::StatusCode::kNotFound) {
    return absl::DataLossError(s.message());
  }
  return s;
}

absl::StatusOr<Step> ReadStepFolder(const std::string& dir,
                                    const ReadStepOptions& options);

}  // namespace

absl::StatusOr<Step> ReadStep(const std::string& path,
                              const ReadStepOptions& options) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!IsDir(dir)) {
    return absl::NotFoundError(absl::StrCat("'", dir, "' is not a folder"));
  }
  absl::StatusOr<Step> step = ReadStepFolder(dir, options);
  if (!step.ok()) return AsDamage(step.status());
  return step;
}

namespace {

absl::StatusOr<Step> ReadStepFolder(const std::string& dir,
                                    const ReadStepOptions& options) {
  if (absl::StrContains(BaseName(dir), kTmp)) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", dir, "' is an unfinished save (its name ends in ",
                     kTmp, "...): Orbax never committed it"));
  }
  Step step;
  absl::Status s = ReadStepMetadata(dir, &step);
  if (!s.ok()) return s;
  if (LooksLikeItem(dir)) {
    absl::StatusOr<Tree> t = ReadItem(dir, options.leaves);
    if (!t.ok()) return t.status();
    step.items.push_back({"", *std::move(t)});
    return step;
  }
  absl::StatusOr<std::vector<std::string>> names = List(dir);
  if (!names.ok()) return names.status();
  for (const std::string& n : *names) {
    const std::string sub = absl::StrCat(dir, "/", n);
    if (!IsDir(sub) || n[0] == '.' || absl::StrContains(n, kTmp)) continue;
    if (!options.items.empty() &&
        std::find(options.items.begin(), options.items.end(), n) ==
            options.items.end()) {
      continue;
    }
    absl::StatusOr<Tree> t;
    if (LooksLikeItem(sub)) {
      t = ReadItem(sub, options.leaves);
    } else if (std::string json = JsonItemFile(sub); !json.empty()) {
      t = ReadJsonItem(json);
    } else {
      return absl::DataLossError(
          absl::StrCat("'", sub,
                       "': an item folder Orbax's handlers did not write (no "
                       "_METADATA, manifest.ocdbt, checkpoint or JSON file)"));
    }
    if (!t.ok()) return t.status();
    step.items.push_back({n, *std::move(t)});
  }
  if (step.items.empty() && !options.items.empty()) {
    return absl::NotFoundError(
        absl::StrCat("'", dir, "' has no item '",
                     absl::StrJoin(options.items, "', '"), "'"));
  }
  if (step.items.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "'", dir,
        "' is not an Orbax checkpoint: no _METADATA, "
        "manifest.ocdbt, aggregate 'checkpoint' file or item folders"));
  }
  return step;
}

}  // namespace

absl::StatusOr<RootListing> FindSteps(const std::string& path) {
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  absl::StatusOr<std::vector<std::string>> names = List(root);
  if (!names.ok()) return names.status();
  RootListing out;
  std::map<int64_t, std::string> seen;
  bool first = true;
  std::map<size_t, int> widths;
  bool padded = false;
  for (const std::string& n : *names) {
    const std::string path = absl::StrCat(root, "/", n);
    if (absl::StrContains(n, kTmp)) {
      out.skipped.push_back(absl::StrCat(path, " (unfinished save)"));
      continue;
    }
    int64_t step = 0;
    std::string prefix;
    size_t digits = 0;
    if (!IsDir(path) || !ParseStepName(n, &step, &prefix, &digits)) {
      if (n[0] != '.')
        out.skipped.push_back(absl::StrCat(path, " (not a step)"));
      continue;
    }
    if (!LooksLikeOrbaxCheckpoint(path)) {
      out.skipped.push_back(absl::StrCat(path, " (not an Orbax checkpoint)"));
      continue;
    }
    if (!first && prefix != out.prefix) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", root, "': steps named with different prefixes ('",
                       out.prefix, "' and '", prefix, "')"));
    }
    first = false;
    out.prefix = prefix;
    if (auto [it, inserted] = seen.emplace(step, path); !inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", root, "': '", it->second, "' and '", path,
                       "' are both step ", step));
    }
    ++widths[digits];
    if (digits > absl::StrCat(step).size()) padded = true;
    out.steps.push_back({path, n, step});
  }
  if (padded && widths.size() == 1) {
    out.fixed_length = static_cast<int>(widths.begin()->first);
  }
  // On object stores Orbax marks a finished step with commit_success.txt
  // (folders there cannot be renamed into place). A root copied from one
  // has the marker in its committed steps; a step without it there is an
  // unfinished save.
  bool markers = false;
  for (const RootStep& s : out.steps) {
    markers |= IsFile(s.dir + "/" + std::string(kCommitMarker));
  }
  if (markers) {
    std::vector<RootStep> committed;
    for (RootStep& s : out.steps) {
      if (IsFile(s.dir + "/" + std::string(kCommitMarker))) {
        committed.push_back(std::move(s));
      } else {
        out.skipped.push_back(absl::StrCat(s.dir, " (uncommitted: no ",
                                           kCommitMarker,
                                           " while other steps have one)"));
      }
    }
    out.steps = std::move(committed);
  }
  std::sort(
      out.steps.begin(), out.steps.end(),
      [](const RootStep& a, const RootStep& b) { return a.step < b.step; });
  return out;
}

}  // namespace ckptdb::orbax
