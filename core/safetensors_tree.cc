#include "core/safetensors_tree.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "core/file_bytes.h"
#include "core/limits.h"
#include "core/npy.h"
#include "core/safetensors.h"

namespace ckptdb::safetensors {
namespace {

namespace fs = std::filesystem;

// Inserts `leaf` under `root` at `name` split on '.'. `owners` maps each
// dict path made so far to the first name that made it, for messages.
absl::Status InsertSplit(const std::string& name, Tree leaf, Tree* root,
                         std::map<std::string, std::string>* owners,
                         const std::string& path) {
  const std::vector<std::string> comps = absl::StrSplit(name, '.');
  if (comps.size() > static_cast<size_t>(limits::kMaxTreeDepth)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "': tensor name '", name.substr(0, 64), "...' splits into ",
        comps.size(), " keys on '.' (the limit is ", limits::kMaxTreeDepth,
        "; use --flat to keep the names as they are)"));
  }
  Tree* cur = root;
  std::string prefix;
  for (size_t i = 0; i < comps.size(); ++i) {
    if (i > 0) prefix += '.';
    prefix += comps[i];
    Tree* next = cur->Find(DictKey(comps[i]));
    const bool last = i + 1 == comps.size();
    if (next != nullptr && (last || next->kind() != Tree::Kind::kDict)) {
      // `prefix` is a tensor while `name` goes below it, or the reverse.
      const std::string other =
          next->kind() == Tree::Kind::kDict ? (*owners)[prefix] : prefix;
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "': tensor names '", other, "' and '", name,
          "' collide when split on '.' into nested dicts (use --flat to "
          "keep the names as they are)"));
    }
    if (last) {
      cur->InsertNew(DictKey(comps[i]), std::move(leaf));
      return absl::OkStatus();
    }
    if (next == nullptr) {
      next = &cur->InsertNew(DictKey(comps[i]), Tree::Dict());
      owners->emplace(prefix, name);
    }
    cur = next;
  }
  return absl::OkStatus();
}

}  // namespace

bool FileLooksLikeSafetensors(const std::string& path) {
  std::error_code ec;
  if (!file_bytes::IsFile(path)) return false;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return false;
  std::ifstream in(path, std::ios::binary);
  char prefix[9] = {};
  in.read(prefix, 9);
  return in.gcount() == 9 &&
         LooksLikeSafetensors(absl::string_view(prefix, 9), size);
}

absl::StatusOr<FileTree> FileToTree(std::shared_ptr<const std::string> bytes,
                                    const std::string& path, bool flat) {
  CKPTDB_ASSIGN_OR_RETURN(Decoded d, Decode(std::move(bytes), path));
  FileTree out;
  out.tree = Tree::Dict();
  std::map<std::string, std::string> owners;
  for (Tensor& t : d.tensors) {
    if (!npy::IsValidUtf8(t.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "': tensor name '",
                       npy::EscapeInvalidUtf8(t.name), "' is not valid UTF-8"));
    }
    Tree leaf = Tree::FromArray(std::move(t.array));
    if (flat) {
      out.tree.InsertNew(DictKey(t.name), std::move(leaf));
    } else {
      CKPTDB_RETURN_IF_ERROR(
          InsertSplit(t.name, std::move(leaf), &out.tree, &owners, path));
    }
    ++out.tensors;
  }
  if (d.has_metadata) {
    out.metadata = Tree::Dict();
    for (auto& [k, v] : d.metadata) {
      out.metadata.InsertNew(DictKey(k), Tree::String(std::move(v)));
    }
  }
  return out;
}

}  // namespace ckptdb::safetensors
