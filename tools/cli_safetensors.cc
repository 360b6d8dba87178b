#include "tools/cli_safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "core/safetensors.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_progress.h"

namespace ckptdb::cli {
namespace {

namespace fs = std::filesystem;

// ---- export -----------------------------------------------------------------

struct ExportLeaf {
  uint32_t node = 0;
  std::string name;  // the safetensors name
};

bool IsContainer(const StoredNode& n) {
  return n.kind == Tree::Kind::kDict || n.kind == Tree::Kind::kList ||
         n.kind == Tree::Kind::kTuple;
}

// Collects the array leaves below `node` (named `name`, "" for the root);
// what safetensors cannot hold goes to `refused` as "path: why".
void CollectLeaves(const StoredItem& item, uint32_t node,
                   const std::string& name, std::vector<ExportLeaf>* leaves,
                   std::vector<std::string>* refused) {
  const StoredNode& n = item.nodes[node];
  const std::string path = item.PathOf(node).ToString();
  if (IsContainer(n)) {
    if (n.children.empty() && node != 0) {
      refused->push_back(
          absl::StrCat("'", path, "' (an empty ", TreeKindName(n.kind), ")"));
    }
    for (uint32_t c : n.children) {
      const StoredNode& cn = item.nodes[c];
      std::string comp;
      if (cn.key_is_index) {
        comp = absl::StrCat(cn.index);
      } else if (cn.key.is_int()) {
        comp = absl::StrCat(cn.key.int_value());
      } else {
        comp = cn.key.str();
        if (comp.find('.') != std::string::npos) {
          refused->push_back(absl::StrCat("'", item.PathOf(c).ToString(),
                                          "' (the key contains '.')"));
          continue;
        }
      }
      CollectLeaves(item, c, node == 0 ? comp : absl::StrCat(name, ".", comp),
                    leaves, refused);
    }
    return;
  }
  if (n.kind != Tree::Kind::kArray) {
    const Tree::Kind k =
        n.kind == Tree::Kind::kPlaceholder || n.kind == Tree::Kind::kNone
            ? n.kind
            : n.scalar.kind();
    refused->push_back(
        absl::StrCat("'", path, "' (", TreeKindName(k),
                     k == Tree::Kind::kNone ? ")" : ", not an array)"));
    return;
  }
  if (!safetensors::DTypeToSafetensors(n.dtype).ok()) {
    refused->push_back(absl::StrCat("'", path, "' (", DTypeName(n.dtype),
                                    ": no safetensors dtype)"));
    return;
  }
  leaves->push_back({node, name});
}

// The step's custom metadata as "__metadata__" if it is a dict of strings.
bool MetadataOf(const Tree& custom,
                std::vector<std::pair<std::string, std::string>>* out) {
  if (custom.kind() != Tree::Kind::kDict) return false;
  for (size_t i = 0; i < custom.size(); ++i) {
    const Tree& v = custom.children()[i];
    const DictKey& k = custom.keys()[i];
    if (k.is_int() || v.kind() != Tree::Kind::kString) return false;
    out->emplace_back(k.str(), v.string_value());
  }
  return true;
}

absl::Status WriteAll(std::FILE* f, absl::string_view bytes,
                      const std::string& out) {
  if (!bytes.empty() &&
      std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    return absl::InternalError(
        absl::StrCat("cannot write '", out, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Writes the header and each tensor's bytes to `out`.
absl::Status WriteFile(const Store& store, const StoredItem& item,
                       const std::vector<ExportLeaf>& leaves,
                       const safetensors::EncodedHeader& header,
                       const std::string& out, Progress* progress) {
  std::FILE* f = std::fopen(out.c_str(), "wbx");
  if (f == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create '", out, "': ", std::strerror(errno)));
  }
  absl::Status s = WriteAll(f, header.bytes, out);
  for (size_t k = 0; s.ok() && k < header.order.size(); ++k) {
    const ExportLeaf& l = leaves[header.order[k]];
    absl::StatusOr<Array> a = ReadArray(store, item, l.node);
    if (!a.ok()) {
      s = a.status();
      break;
    }
    s = WriteAll(
        f, absl::string_view(static_cast<const char*>(a->data()), a->nbytes()),
        out);
    progress->Add(a->nbytes());
  }
  if (std::fclose(f) != 0 && s.ok()) {
    s = absl::InternalError(
        absl::StrCat("cannot write '", out, "': ", std::strerror(errno)));
  }
  return s;
}

}  // namespace

absl::Status ExportSafetensors(const Args& args, const Store& store,
                               const StepInfo& info, const StoredItem& item,
                               const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    return UsageError(absl::StrCat(
        "'", out, "' already exists; remove it or choose another name"));
  }
  if (!IsContainer(item.nodes[0])) {
    return UsageError(absl::StrCat(
        "item '", item.item,
        "' is a single leaf; a safetensors file holds named tensors"));
  }
  std::vector<ExportLeaf> leaves;
  std::vector<std::string> refused;
  CollectLeaves(item, 0, "", &leaves, &refused);
  if (!refused.empty()) {
    constexpr size_t kMaxListed = 20;
    std::string more;
    if (refused.size() > kMaxListed) {
      more = absl::StrCat(" and ", refused.size() - kMaxListed, " more");
      refused.resize(kMaxListed);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot export step ", StepLabel(info), " item '", item.item,
        "' as safetensors, which holds only arrays (of its dtypes, named by "
        "keys without '.'); these leaves cannot be written: ",
        absl::StrJoin(refused, ", "), more));
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  const bool has_meta = info.custom_metadata.kind() != Tree::Kind::kNone;
  const bool meta_ok = MetadataOf(info.custom_metadata, &metadata);
  std::vector<safetensors::EncodeInput> inputs;
  uint64_t total = 0;
  for (const ExportLeaf& l : leaves) {
    const StoredNode& n = item.nodes[l.node];
    inputs.push_back({l.name, n.dtype, n.shape});
    total += n.nbytes;
  }
  absl::StatusOr<safetensors::EncodedHeader> header =
      safetensors::EncodeHeader(inputs, metadata);
  if (!header.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot export step ", StepLabel(info), " item '", item.item,
        "' as safetensors: ", header.status().message()));
  }
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  Progress progress(args, "export", total);
  absl::Status s = WriteFile(store, item, leaves, *header, out, &progress);
  progress.Done();
  if (!s.ok()) {
    fs::remove(out, ec);  // nothing half-written
    return s;
  }
  uint64_t bytes = 0;
  for (uint64_t n : header->sizes) bytes += n;
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.FieldInt("step", info.step);
    w.Field("name", info.name);
    w.Field("item", item.item);
    w.Field("output", out);
    w.Field("format", "safetensors");
    w.FieldUint("bytes", bytes);
    w.FieldUint("tensors", leaves.size());
    w.FieldBool("metadata", !metadata.empty());
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  std::string text = absl::StrCat(
      "exported ", leaves.size(), leaves.size() == 1 ? " tensor" : " tensors",
      " (", HumanBytes(bytes), ") of step ", StepLabel(info), " item '",
      item.item, "' to ", out, " (safetensors)\n");
  if (has_meta && !meta_ok) {
    absl::StrAppend(&text,
                    "note: the step's custom metadata is not a dict of "
                    "strings; not written to __metadata__\n");
  }
  Print(text);
  return absl::OkStatus();
}

}  // namespace ckptdb::cli
