#include "core/orbax_metadata.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/limits.h"

namespace ckptdb::orbax {
namespace {

using json::Json;

absl::Status Bad(absl::string_view what, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", msg));
}

absl::StatusOr<Json> ParseObject(absl::string_view text,
                                 absl::string_view what) {
  json::JsonParser p(text, 0, what);
  p.set_allow_nonfinite(true);
  return p.ParseDocument("not a JSON object");
}

absl::StatusOr<LeafMetadata> ParseLeaf(const std::string& name, const Json& v,
                                       absl::string_view what) {
  LeafMetadata leaf;
  const Json* keys = v.Find("key_metadata");
  if (keys == nullptr || keys->kind != Json::Kind::kArray) {
    return Bad(what, absl::StrCat("entry ", name, " has no key_metadata"));
  }
  if (keys->items.size() > 256) {
    return Bad(what,
               absl::StrCat("entry ", name, " is nested deeper than 256"));
  }
  std::vector<std::string> names;
  for (const Json& k : keys->items) {
    const Json* key = k.Find("key");
    const Json* type = k.Find("key_type");
    if (key == nullptr || (key->kind != Json::Kind::kString &&
                           key->kind != Json::Kind::kNumber)) {
      return Bad(what, absl::StrCat("entry ", name, ": a key is not a string"));
    }
    KeyEntry e;
    e.key = key->str;
    e.sequence = type != nullptr && type->AsInt64() == 1;
    if (e.sequence) {
      int64_t index;
      if (!absl::SimpleAtoi(e.key, &index) || index < 0) {
        return Bad(what, absl::StrCat("entry ", name, ": sequence key '", e.key,
                                      "' is not an index"));
      }
    }
    names.push_back(e.key);
    leaf.path.push_back(std::move(e));
  }
  leaf.param_name = absl::StrJoin(names, ".");
  const Json* value = v.Find("value_metadata");
  const Json* type = value == nullptr ? nullptr : value->Find("value_type");
  if (type == nullptr || type->kind != Json::Kind::kString) {
    return Bad(what, absl::StrCat("entry ", name, " has no value_type"));
  }
  leaf.value_type = type->str;
  if (const Json* skip = value->Find("skip_deserialize"); skip != nullptr) {
    leaf.skip_deserialize = skip->str == "true";
  }
  return leaf;
}

// A container being rebuilt: children in first-seen order.
struct Node {
  bool is_leaf = false;
  bool sequence = false;
  Tree value;
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> children;
};

absl::StatusOr<Tree> ToTree(Node& n, const std::string& path,
                            absl::string_view what) {
  if (n.is_leaf) return std::move(n.value);
  if (!n.sequence) {
    Tree d = Tree::Dict();
    for (auto& [k, child] : n.children) {
      absl::StatusOr<Tree> t =
          ToTree(*child, path.empty() ? k : absl::StrCat(path, "/", k), what);
      if (!t.ok()) return t.status();
      d.Insert(DictKey(k), *std::move(t));
    }
    return d;
  }
  std::vector<std::pair<int64_t, Node*>> items;
  for (auto& [k, child] : n.children) {
    int64_t i = -1;  // ParseLeaf checked that sequence keys are indices
    if (!absl::SimpleAtoi(k, &i)) i = -1;
    items.emplace_back(i, child.get());
  }
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Tree> list;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].first != static_cast<int64_t>(i)) {
      return Bad(what, absl::StrCat("'", path, "': list indices are not 0..",
                                    items.size() - 1));
    }
    absl::StatusOr<Tree> t =
        ToTree(*items[i].second, absl::StrCat(path, "/", i), what);
    if (!t.ok()) return t.status();
    list.push_back(*std::move(t));
  }
  return Tree::List(std::move(list));
}

}  // namespace

absl::StatusOr<TreeMetadata> ParseTreeMetadata(absl::string_view text,
                                               absl::string_view what) {
  absl::StatusOr<Json> doc = ParseObject(text, what);
  if (!doc.ok()) return doc.status();
  TreeMetadata m;
  const Json* tree = doc->Find("tree_metadata");
  if (tree == nullptr || tree->kind != Json::Kind::kObject) {
    return Bad(what, "no \"tree_metadata\" object");
  }
  for (const auto& [name, v] : tree->fields) {
    absl::StatusOr<LeafMetadata> leaf = ParseLeaf(name, v, what);
    if (!leaf.ok()) return leaf.status();
    m.leaves.push_back(*std::move(leaf));
  }
  if (const Json* z3 = doc->Find("use_zarr3"); z3 != nullptr) {
    m.use_zarr3 = z3->str == "true";
  }
  if (const Json* o = doc->Find("use_ocdbt"); o != nullptr) {
    m.has_use_ocdbt = true;
    m.use_ocdbt = o->str == "true";
  }
  return m;
}

absl::StatusOr<StepMetadata> ParseStepMetadata(absl::string_view text,
                                               absl::string_view what) {
  absl::StatusOr<Json> doc = ParseObject(text, what);
  if (!doc.ok()) return doc.status();
  StepMetadata m;
  for (auto [field, out] : {std::pair<const char*, int64_t*>{
                                "init_timestamp_nsecs", &m.init_time_ns},
                            {"commit_timestamp_nsecs", &m.commit_time_ns}}) {
    const Json* t = doc->Find(field);
    if (t == nullptr || t->kind == Json::Kind::kNull) continue;
    std::optional<int64_t> v = t->AsInt64();
    if (!v.has_value() || *v < 0) {
      return Bad(what, absl::StrCat("\"", field, "\" is not a time in ns"));
    }
    *out = *v;
  }
  if (const Json* metrics = doc->Find("metrics");
      metrics != nullptr && metrics->kind == Json::Kind::kObject &&
      !metrics->fields.empty()) {
    m.has_metrics = true;
    m.metrics = JsonToTree(*metrics);
  }
  if (const Json* custom = doc->Find("custom_metadata");
      custom != nullptr && custom->kind == Json::Kind::kObject &&
      !custom->fields.empty()) {
    m.custom_metadata = JsonToTree(*custom);
  }
  return m;
}

Tree JsonToTree(const Json& v) {
  switch (v.kind) {
    case Json::Kind::kNull:
      return Tree::None();
    case Json::Kind::kBool:
      return Tree::Bool(v.str == "true");
    case Json::Kind::kString:
      return Tree::String(v.str);
    case Json::Kind::kNumber: {
      if (std::optional<int64_t> i = v.AsInt64(); i.has_value()) {
        return Tree::Int(*i);
      }
      if (v.str == "NaN") return Tree::Float(std::nan(""));
      if (v.str == "Infinity") return Tree::Float(HUGE_VAL);
      if (v.str == "-Infinity") return Tree::Float(-HUGE_VAL);
      return Tree::Float(std::strtod(v.str.c_str(), nullptr));
    }
    case Json::Kind::kArray: {
      std::vector<Tree> items;
      for (const Json& i : v.items) items.push_back(JsonToTree(i));
      return Tree::List(std::move(items));
    }
    case Json::Kind::kObject: {
      Tree d = Tree::Dict();
      for (const auto& [k, f] : v.fields) d.Insert(DictKey(k), JsonToTree(f));
      return d;
    }
  }
  return Tree::None();
}

bool IsEmptyValueType(absl::string_view t) {
  return t == "None" || t == "Dict" || t == "List" || t == "Tuple" ||
         t == "NamedTuple";
}

Tree EmptyValue(absl::string_view t) {
  if (t == "Dict") return Tree::Dict();
  if (t == "List") return Tree::List();
  if (t == "Tuple" || t == "NamedTuple") return Tree::Tuple();
  return Tree::None();
}

absl::StatusOr<Tree> BuildTree(const std::vector<LeafMetadata>& leaves,
                               std::vector<Tree> values,
                               absl::string_view what) {
  Node root;
  if (leaves.empty()) return Tree::Dict();
  for (size_t i = 0; i < leaves.size(); ++i) {
    const LeafMetadata& leaf = leaves[i];
    if (leaf.path.size() > static_cast<size_t>(limits::kMaxTreeDepth)) {
      return Bad(what, absl::StrCat("a key path of ", leaf.path.size(),
                                    " keys (the limit is ",
                                    limits::kMaxTreeDepth, ")"));
    }
    if (leaf.path.empty()) {
      if (leaves.size() != 1) return Bad(what, "a root leaf among others");
      return std::move(values[i]);
    }
    Node* cur = &root;
    for (size_t k = 0; k < leaf.path.size(); ++k) {
      const KeyEntry& key = leaf.path[k];
      if (cur->is_leaf) {
        return Bad(what,
                   absl::StrCat("'", leaf.param_name, "' lies under a leaf"));
      }
      if (!cur->children.empty() && cur->sequence != key.sequence) {
        return Bad(what, absl::StrCat("'", leaf.param_name,
                                      "' mixes list indices and dict keys"));
      }
      cur->sequence = key.sequence;
      Node* next = nullptr;
      for (auto& [name, child] : cur->children) {
        if (name == key.key) next = child.get();
      }
      if (next == nullptr) {
        cur->children.emplace_back(key.key, std::make_unique<Node>());
        next = cur->children.back().second.get();
      } else if (k + 1 == leaf.path.size()) {
        return Bad(what, absl::StrCat("'", leaf.param_name, "' appears twice"));
      }
      cur = next;
    }
    if (!cur->children.empty()) {
      return Bad(what, absl::StrCat("'", leaf.param_name,
                                    "' is both a leaf and a container"));
    }
    cur->is_leaf = true;
    cur->value = std::move(values[i]);
  }
  return ToTree(root, "", what);
}

}  // namespace ckptdb::orbax
