#include "tools/cli_flax.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/flax_msgpack.h"

namespace ckptdb::cli {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

bool FileLooksLikeFlaxMsgpack(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char prefix[8] = {};
  in.read(prefix, sizeof(prefix));
  return flax_msgpack::LooksLikeFlaxMsgpack(
      absl::string_view(prefix, static_cast<size_t>(in.gcount())));
}

absl::StatusOr<Tree> FlaxMsgpackToTree(std::shared_ptr<const std::string> bytes,
                                       const std::string& path, bool lists) {
  flax_msgpack::DecodeOptions opts;
  opts.lists = lists;
  absl::StatusOr<Tree> t = flax_msgpack::Decode(std::move(bytes), opts);
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": ", t.status().message()));
  }
  return t;
}

bool FlaxNaturalLess(absl::string_view a, absl::string_view b) {
  // std::variant compares by index first; both keys alternate text and
  // numbers, so same positions hold the same alternative.
  return NaturalKey(std::string(a)) < NaturalKey(std::string(b));
}

absl::StatusOr<FlaxDirectory> FindFlaxCheckpoints(const std::string& dir,
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
  std::stable_sort(names.begin(), names.end(), FlaxNaturalLess);
  FlaxDirectory out;
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    if (!absl::StartsWith(name, prefix)) continue;
    if (name == prefix + "tmp" || absl::EndsWith(name, "_tmp") ||
        absl::EndsWith(name, "_gda") ||
        absl::StrContains(name, ".orbax-checkpoint-tmp")) {
      out.skipped.push_back(absl::StrCat(path, " (temporary or _gda)"));
      continue;
    }
    if (!fs::is_regular_file(path, ec)) {
      out.skipped.push_back(absl::StrCat(path,
                                         " (a folder: not a legacy "
                                         "msgpack checkpoint)"));
      continue;
    }
    const std::string step_text = name.substr(prefix.size());
    int64_t step;
    if (!absl::SimpleAtoi(step_text, &step) || step < 0 ||
        step_text.find_first_not_of("0123456789") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "': step '", step_text,
                       "' is not an integer >= 0 (ckptdb steps are integers)"));
    }
    out.files.push_back({path, name, step});
  }
  return out;
}

}  // namespace ckptdb::cli
