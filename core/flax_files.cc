#include "core/flax_files.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_bytes.h"
#include "core/flax_msgpack.h"
#include "core/orbax_item.h"

namespace ckptdb::flax_files {
namespace {

namespace fs = std::filesystem;

// flax.training.checkpoints.MP_ARRAY_PH: a multi-process array's leaf.
constexpr absl::string_view kGdaPlaceholder = "//GDAPlaceholder:";

// Flax's SIGNED_FLOAT_RE (flax/training/checkpoints.py).
const std::regex& SignedFloat() {
  static const std::regex* re =
      new std::regex(R"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)");
  return *re;
}

// re.split with a capturing group: text, number, text, ..., text.
std::vector<std::variant<std::string, double>> NaturalKey(
    const std::string& s) {
  std::vector<std::variant<std::string, double>> key;
  size_t last = 0;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), SignedFloat());
       it != std::sregex_iterator(); ++it) {
    key.emplace_back(s.substr(last, it->position() - last));
    key.emplace_back(std::strtod(it->str().c_str(), nullptr));
    last = it->position() + it->length();
  }
  key.emplace_back(s.substr(last));
  return key;
}

// Replaces GDA placeholders below `t` (at `path`) by their zarr arrays.
absl::Status ResolveGda(Tree* t, const std::string& file,
                        std::vector<std::string>* path) {
  if (t->kind() == Tree::Kind::kString &&
      absl::StartsWith(t->string_value(), kGdaPlaceholder)) {
    const std::string rel = t->string_value().substr(kGdaPlaceholder.size());
    const std::string gda = file + "_gda";
    std::string root = gda;
    std::string param = rel;
    if (rel.empty()) {  // a bare top-level array: the _gda folder itself
      root = fs::path(gda).parent_path().string();
      param = fs::path(gda).filename().string();
    }
    if (!rel.empty() && !file_bytes::IsContainedRelativePath(rel)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": placeholder '", t->string_value(),
                       "' names a path outside '", gda, "'"));
    }
    if (!file_bytes::IsDir(absl::StrCat(root, "/", param))) {
      return absl::DataLossError(absl::StrCat(
          file, ": leaf '", absl::StrJoin(*path, "/"),
          "' is a multi-process array saved apart, but '", root, "/", param,
          "' (save_checkpoint_multiprocess's _gda folder) is missing"));
    }
    absl::StatusOr<Array> a = orbax::ReadZarrFolder(root, param);
    if (!a.ok()) return a.status();
    *t = Tree(*std::move(a));
    return absl::OkStatus();
  }
  if (t->kind() != Tree::Kind::kDict && t->kind() != Tree::Kind::kList &&
      t->kind() != Tree::Kind::kTuple) {
    return absl::OkStatus();
  }
  std::vector<Tree>& children = t->mutable_children();
  for (size_t i = 0; i < children.size(); ++i) {
    path->push_back(t->kind() == Tree::Kind::kDict ? t->keys()[i].ToString()
                                                   : absl::StrCat(i));
    absl::Status s = ResolveGda(&children[i], file, path);
    path->pop_back();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// The step value of `text` as Python's float() reads it; nullopt if it is
// not a number.
std::optional<double> ParseStep(const std::string& text) {
  std::smatch m;
  if (!std::regex_match(text, m, SignedFloat())) return std::nullopt;
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace

bool FileLooksLikeFlaxMsgpack(const std::string& path) {
  if (!file_bytes::IsFile(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char prefix[8] = {};
  in.read(prefix, sizeof(prefix));
  return flax_msgpack::LooksLikeFlaxMsgpack(
      absl::string_view(prefix, static_cast<size_t>(in.gcount())));
}

absl::StatusOr<Tree> DecodeFile(std::shared_ptr<const std::string> bytes,
                                const std::string& path, bool lists) {
  flax_msgpack::DecodeOptions opts;
  opts.lists = lists;
  absl::StatusOr<Tree> t = flax_msgpack::Decode(std::move(bytes), opts);
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": ", t.status().message()));
  }
  std::vector<std::string> at;
  if (absl::Status s = ResolveGda(&*t, path, &at); !s.ok()) return s;
  return t;
}

bool NaturalLess(absl::string_view a, absl::string_view b) {
  // std::variant compares by index first; both keys alternate text and
  // numbers, so same positions hold the same alternative.
  return NaturalKey(std::string(a)) < NaturalKey(std::string(b));
}

absl::StatusOr<Directory> FindCheckpoints(const std::string& dir,
                                          const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot list '", dir, "': ", ec.message()));
  }
  std::sort(names.begin(), names.end());  // ties then keep a stable order
  std::stable_sort(names.begin(), names.end(), NaturalLess);
  Directory out;
  std::map<int64_t, std::string> seen;  // step -> path
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    if (!absl::StartsWith(name, prefix)) continue;
    if (name == prefix + "tmp" || absl::EndsWith(name, "_tmp") ||
        absl::EndsWith(name, "_gda") ||
        absl::StrContains(name, ".orbax-checkpoint-tmp")) {
      out.skipped.push_back(absl::StrCat(path, " (temporary or _gda)"));
      continue;
    }
    if (!file_bytes::IsFile(path)) {
      out.skipped.push_back(absl::StrCat(
          path, fs::is_directory(path, ec)
                    ? " (a folder: not a legacy msgpack checkpoint)"
                    : " (not a regular file)"));
      continue;
    }
    const std::string step_text = name.substr(prefix.size());
    // Decimal digits are read exactly (as an int64); other text as Flax
    // reads it, a float, and only where a float holds every integer.
    int64_t step;
    const bool digits =
        !step_text.empty() &&
        std::all_of(step_text.begin(), step_text.end(), absl::ascii_isdigit);
    if (digits && !absl::SimpleAtoi(step_text, &step)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "': step '", step_text,
                       "' is larger than ckptdb's largest step, 2^63 - 1"));
    }
    if (!digits) {
      const std::optional<double> value = ParseStep(step_text);
      if (!value.has_value() || !(*value >= 0) ||
          std::floor(*value) != *value) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", path, "': step '", step_text,
            "' is not a whole number >= 0 (ckptdb steps are integers; Flax "
            "float steps such as 2.0 or 1e3 are taken when whole)"));
      }
      if (*value > 9.0e15) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", path, "': step '", step_text,
            "' is beyond 9e15, where a float no longer holds every whole "
            "number (write it in decimal digits)"));
      }
      step = static_cast<int64_t>(*value);
    }
    auto [it, inserted] = seen.emplace(step, path);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", it->second, "' and '", path, "' are both step ",
                       step, " (Flax sorts them as equal)"));
    }
    out.files.push_back({path, name, step});
  }
  return out;
}

}  // namespace ckptdb::flax_files
