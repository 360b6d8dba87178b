#include "core/orbax_item.h"

#include <sys/stat.h>

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_bytes.h"
#include "core/flax_msgpack.h"
#include "core/json.h"
#include "core/numpy_dtype.h"
#include "core/ocdbt_reader.h"
#include "core/orbax_metadata.h"
#include "core/zarr.h"

namespace ckptdb::orbax {
namespace {

using file_bytes::IsDir;
using file_bytes::IsFile;

constexpr absl::string_view kPlaceholder = "PLACEHOLDER://";

// Whether `options.only` selects `leaf`.
bool Selected(const LeafMetadata& leaf, const ReadItemOptions& options) {
  if (options.only.empty()) return true;
  for (const std::vector<std::string>& prefix : options.only) {
    if (prefix.size() > leaf.path.size()) continue;
    bool match = true;
    for (size_t i = 0; i < prefix.size() && match; ++i) {
      match = prefix[i] == leaf.path[i].key;
    }
    if (match) return true;
  }
  return false;
}

// Where an item's arrays live: an OCDBT database or zarr folders.
class ArrayStore {
 public:
  static absl::StatusOr<ArrayStore> Open(const std::string& dir,
                                         bool expect_ocdbt) {
    ArrayStore s;
    s.dir_ = dir;
    // d/ is OCDBT's data folder unless it is a zarr array named "d".
    const bool data_dir = IsDir(dir + "/d") && !IsFile(dir + "/d/.zarray") &&
                          !IsFile(dir + "/d/zarr.json");
    const bool has_ocdbt_files = IsFile(dir + "/manifest.ocdbt") || data_dir ||
                                 IsDir(dir + "/ocdbt.process_0");
    if (expect_ocdbt || has_ocdbt_files) {
      absl::StatusOr<ocdbt::OcdbtReader> r = ocdbt::OcdbtReader::Open(dir);
      if (!r.ok()) return r.status();
      s.ocdbt_.emplace(*std::move(r));
    }
    return s;
  }

  bool is_ocdbt() const { return ocdbt_.has_value(); }
  const ocdbt::OcdbtReader* ocdbt() const {
    return ocdbt_.has_value() ? &*ocdbt_ : nullptr;
  }

  // The value stored at `key` (param/...), or nullopt.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key) const {
    if (ocdbt_.has_value()) {
      auto it = ocdbt_->entries().find(key);
      if (it == ocdbt_->entries().end()) return std::nullopt;
      absl::StatusOr<std::string> v = ocdbt_->Read(it->second);
      if (!v.ok()) return v.status();
      return std::optional<std::string>(*std::move(v));
    }
    if (!file_bytes::IsContainedRelativePath(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", dir_, "': parameter path '", key,
                       "' leaves the checkpoint folder"));
    }
    const std::string path = absl::StrCat(dir_, "/", key);
    if (!IsFile(path)) return std::nullopt;
    absl::StatusOr<std::string> v = file_bytes::ReadAll(path);
    if (!v.ok()) return v.status();
    return std::optional<std::string>(*std::move(v));
  }

  // Where `key` is, for error messages.
  std::string Describe(const std::string& key) const {
    if (ocdbt_.has_value()) {
      return absl::StrCat("'", dir_, "' (OCDBT key '", key, "')");
    }
    return absl::StrCat("'", dir_, "/", key, "'");
  }

  // The zarr array stored under `param`.
  absl::StatusOr<Array> ReadArray(const std::string& param) const {
    absl::StatusOr<std::optional<std::string>> v3 = Get(param + "/zarr.json");
    if (!v3.ok()) return v3.status();
    absl::StatusOr<zarr::ArrayMeta> meta;
    std::string what;
    if (v3->has_value()) {
      what = Describe(param + "/zarr.json");
      meta = zarr::ParseZarrJsonV3(**v3, what);
    } else {
      absl::StatusOr<std::optional<std::string>> v2 = Get(param + "/.zarray");
      if (!v2.ok()) return v2.status();
      if (!v2->has_value()) {
        return absl::DataLossError(absl::StrCat(
            "'", dir_, "': no zarr metadata ('", param, "/.zarray' or '", param,
            "/zarr.json') for parameter '", param, "'"));
      }
      what = Describe(param + "/.zarray");
      meta = zarr::ParseZarrayV2(**v2, what);
    }
    if (!meta.ok()) return meta.status();
    return zarr::ReadArray(
        *meta,
        [&](const std::string& key) {
          return Get(absl::StrCat(param, "/", key));
        },
        Describe(param));
  }

 private:
  std::string dir_;
  std::optional<ocdbt::OcdbtReader> ocdbt_;
};

// A 0-d array as Orbax's ScalarHandler returns it: a Python number.
Tree ScalarFromArray(const Array& a) {
  if (a.num_elements() != 1) return Tree(a);
  if (a.dtype() == DType::kBool) {
    return Tree::Bool(*static_cast<const uint8_t*>(a.data()) != 0);
  }
  if (IsIntegerDType(a.dtype()) && a.dtype() != DType::kUInt64) {
    int64_t v = 0;
    CastElements(a.dtype(), a.data(), DType::kInt64, &v, 1);
    return Tree::Int(v);
  }
  if (IsFloatingDType(a.dtype())) {
    double v = 0;
    CastElements(a.dtype(), a.data(), DType::kFloat64, &v, 1);
    return Tree::Float(v);
  }
  return Tree(a);
}

// The aggregate msgpack file's tree, or None if there is none.
absl::StatusOr<std::optional<Tree>> ReadAggregate(const std::string& dir) {
  const std::string path = dir + "/checkpoint";
  if (!IsFile(path)) return std::optional<Tree>();
  absl::StatusOr<std::string> bytes = file_bytes::ReadAll(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<Tree> t = flax_msgpack::Decode(
      std::make_shared<const std::string>(*std::move(bytes)));
  if (!t.ok()) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': ", t.status().message()));
  }
  return std::optional<Tree>(*std::move(t));
}

// The value at `path` of a msgpack tree (lists are dicts keyed "0"...).
const Tree* FindByKeys(const Tree& t, const std::vector<KeyEntry>& path) {
  const Tree* cur = &t;
  for (const KeyEntry& k : path) {
    if (cur->kind() == Tree::Kind::kDict) {
      cur = cur->Find(DictKey(k.key));
    } else if (cur->is_sequence()) {
      int64_t i = 0;
      if (!absl::SimpleAtoi(k.key, &i) || i < 0 ||
          static_cast<size_t>(i) >= cur->size()) {
        return nullptr;
      }
      cur = &(*cur)[static_cast<size_t>(i)];
    } else {
      return nullptr;
    }
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

// The JSON form of a msgpack metadata tree (T5X keeps zarr metadata so).
json::Json TreeToJson(const Tree& t) {
  json::Json j;
  switch (t.kind()) {
    case Tree::Kind::kInt:
      j.kind = json::Json::Kind::kNumber;
      j.str = absl::StrCat(t.int_value());
      j.is_uint = t.int_value() >= 0;
      j.uint = static_cast<uint64_t>(t.int_value());
      break;
    case Tree::Kind::kFloat:
      j.kind = json::Json::Kind::kNumber;
      j.str = absl::StrCat(t.float_value());
      break;
    case Tree::Kind::kBool:
      j.kind = json::Json::Kind::kBool;
      j.str = t.bool_value() ? "true" : "false";
      break;
    case Tree::Kind::kString:
      j.kind = json::Json::Kind::kString;
      j.str = t.string_value();
      break;
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
      j.kind = json::Json::Kind::kArray;
      for (const Tree& c : t.children()) j.items.push_back(TreeToJson(c));
      break;
    case Tree::Kind::kDict:
      j.kind = json::Json::Kind::kObject;
      for (size_t i = 0; i < t.size(); ++i) {
        j.fields.emplace_back(t.keys()[i].ToString(),
                              TreeToJson(t.children()[i]));
      }
      break;
    default:
      break;
  }
  return j;
}

const std::string* StringAt(const Tree& t, absl::string_view key) {
  const Tree* v = t.Find(DictKey(key));
  return v != nullptr && v->kind() == Tree::Kind::kString ? &v->string_value()
                                                          : nullptr;
}

// A T5X TensorStore spec leaf: {"driver": "zarr", "dtype": "float32",
// "kvstore": {"path": "<param>/"}, "metadata": {zarr v2 .zarray fields}};
// the chunks are in the item folder, with no .zarray of their own.
bool IsTensorStoreSpec(const Tree& t) {
  if (t.kind() != Tree::Kind::kDict) return false;
  const std::string* driver = StringAt(t, "driver");
  const Tree* kv = t.Find(DictKey("kvstore"));
  const Tree* meta = t.Find(DictKey("metadata"));
  return driver != nullptr && *driver == "zarr" && kv != nullptr &&
         StringAt(*kv, "path") != nullptr && meta != nullptr &&
         meta->kind() == Tree::Kind::kDict;
}

absl::StatusOr<Array> ReadTensorStoreSpec(const Tree& spec,
                                          const ArrayStore& store) {
  std::string param = *StringAt(*spec.Find(DictKey("kvstore")), "path");
  while (!param.empty() && param.back() == '/') param.pop_back();
  json::Json meta = TreeToJson(*spec.Find(DictKey("metadata")));
  if (meta.Find("dtype") == nullptr) {
    const std::string* name = StringAt(spec, "dtype");
    absl::StatusOr<DType> d = name == nullptr
                                  ? absl::InvalidArgumentError("no dtype")
                                  : DTypeFromName(*name);
    if (!d.ok() || internal::NumpyTypestr(*d).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          store.Describe(param), ": TensorStore spec without a usable dtype"));
    }
    json::Json dt;
    dt.kind = json::Json::Kind::kString;
    dt.str = absl::StrCat(DTypeSize(*d) == 1 ? "|" : "<",
                          internal::NumpyTypestr(*d));
    meta.fields.emplace_back("dtype", std::move(dt));
  }
  absl::StatusOr<zarr::ArrayMeta> m =
      zarr::ZarrayV2FromJson(meta, store.Describe(param));
  if (!m.ok()) return m.status();
  return zarr::ReadArray(
      *m,
      [&](const std::string& key) {
        return store.Get(absl::StrCat(param, "/", key));
      },
      store.Describe(param));
}

// Replaces every "PLACEHOLDER://<param>" string in `t` with its array
// (and every T5X TensorStore spec).
absl::Status ResolvePlaceholders(Tree* t, const ArrayStore& store) {
  if (IsTensorStoreSpec(*t)) {
    absl::StatusOr<Array> a = ReadTensorStoreSpec(*t, store);
    if (!a.ok()) return a.status();
    *t = Tree(*std::move(a));
    return absl::OkStatus();
  }
  if (t->kind() == Tree::Kind::kString &&
      absl::StartsWith(t->string_value(), kPlaceholder)) {
    absl::StatusOr<Array> a =
        store.ReadArray(t->string_value().substr(kPlaceholder.size()));
    if (!a.ok()) return a.status();
    *t = Tree(*std::move(a));
    return absl::OkStatus();
  }
  for (Tree& c : t->mutable_children()) {
    absl::Status s = ResolvePlaceholders(&c, store);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ReadStrings(
    const std::string& dir) {
  std::map<std::string, std::string> out;
  const std::string path = dir + "/_strings.json";
  if (!IsFile(path)) return out;
  absl::StatusOr<std::string> text = file_bytes::ReadAll(path, 1u << 30);
  if (!text.ok()) return text.status();
  json::JsonParser p(*text, 0, path);
  absl::StatusOr<json::Json> doc = p.ParseDocument("not a JSON object");
  if (!doc.ok()) return doc.status();
  for (const auto& [k, v] : doc->fields) {
    if (v.kind == json::Json::Kind::kString) out[k] = v.str;
  }
  return out;
}

// One leaf's value as _METADATA describes it.
absl::StatusOr<Tree> ReadLeaf(const LeafMetadata& leaf, const Tree* aggregate,
                              const ArrayStore& store,
                              const std::map<std::string, std::string>& strings,
                              const std::string& dir) {
  if (aggregate != nullptr) {
    const Tree* v = FindByKeys(*aggregate, leaf.path);
    if (v != nullptr && !(v->kind() == Tree::Kind::kString &&
                          absl::StartsWith(v->string_value(), kPlaceholder))) {
      return *v;
    }
    if (v != nullptr) {
      absl::StatusOr<Array> a =
          store.ReadArray(v->string_value().substr(kPlaceholder.size()));
      if (!a.ok()) return a.status();
      return Tree(*std::move(a));
    }
  }
  if (IsEmptyValueType(leaf.value_type)) return EmptyValue(leaf.value_type);
  if (leaf.value_type == "string") {
    auto it = strings.find(leaf.param_name);
    if (it == strings.end()) {
      return absl::DataLossError(absl::StrCat(
          "'", dir, "/_strings.json': no string for '", leaf.param_name, "'"));
    }
    return Tree::String(it->second);
  }
  absl::StatusOr<Array> a = store.ReadArray(leaf.param_name);
  if (!a.ok()) return a.status();
  if (leaf.value_type == "scalar") return ScalarFromArray(*a);
  return Tree(*std::move(a));
}

// Without _METADATA or an aggregate file: the OCDBT parameter names.
absl::StatusOr<Tree> TreeFromParamNames(const ArrayStore& store,
                                        const std::string& dir,
                                        const ReadItemOptions& options) {
  if (!store.is_ocdbt()) {
    return absl::NotFoundError(absl::StrCat(
        "'", dir, "': missing '", dir,
        "/_METADATA' (the tree structure) and no aggregate 'checkpoint' file"));
  }
  std::vector<LeafMetadata> leaves;
  for (const auto& [key, v] : store.ocdbt()->entries()) {
    for (absl::string_view suffix : {"/.zarray", "/zarr.json"}) {
      if (!absl::EndsWith(key, suffix)) continue;
      LeafMetadata leaf;
      leaf.param_name = key.substr(0, key.size() - suffix.size());
      for (absl::string_view part : absl::StrSplit(leaf.param_name, '.')) {
        leaf.path.push_back({std::string(part), false});
      }
      leaf.value_type = "jax.Array";
      leaves.push_back(std::move(leaf));
    }
  }
  if (leaves.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "'", dir,
        "': missing _METADATA and the OCDBT database holds no arrays"));
  }
  std::vector<Tree> values;
  for (const LeafMetadata& leaf : leaves) {
    if (!Selected(leaf, options)) {
      values.push_back(Tree::None());
      continue;
    }
    absl::StatusOr<Array> a = store.ReadArray(leaf.param_name);
    if (!a.ok()) return a.status();
    values.push_back(Tree(*std::move(a)));
  }
  return BuildTree(leaves, std::move(values), dir);
}

}  // namespace

bool LooksLikeItem(const std::string& dir) {
  return IsFile(dir + "/_METADATA") || IsFile(dir + "/manifest.ocdbt") ||
         IsFile(dir + "/checkpoint");
}

absl::StatusOr<Array> ReadZarrFolder(const std::string& root,
                                     const std::string& param) {
  absl::StatusOr<ArrayStore> store =
      ArrayStore::Open(root, /*expect_ocdbt=*/false);
  if (!store.ok()) return store.status();
  return store->ReadArray(param);
}

absl::StatusOr<Tree> ReadItem(const std::string& dir,
                              const ReadItemOptions& options) {
  std::optional<TreeMetadata> meta;
  const std::string meta_path = dir + "/_METADATA";
  if (IsFile(meta_path)) {
    absl::StatusOr<std::string> text = file_bytes::ReadAll(meta_path, 1u << 30);
    if (!text.ok()) return text.status();
    absl::StatusOr<TreeMetadata> m = ParseTreeMetadata(*text, meta_path);
    if (!m.ok()) return m.status();
    meta = *std::move(m);
  }
  absl::StatusOr<std::optional<Tree>> aggregate = ReadAggregate(dir);
  if (!aggregate.ok()) return aggregate.status();
  const bool expect_ocdbt = meta.has_value() && meta->use_ocdbt;
  absl::StatusOr<ArrayStore> store = ArrayStore::Open(dir, expect_ocdbt);
  if (!store.ok()) return store.status();
  if (!meta.has_value()) {
    if (!aggregate->has_value())
      return TreeFromParamNames(*store, dir, options);
    Tree t = **std::move(aggregate);
    absl::Status s = ResolvePlaceholders(&t, *store);
    if (!s.ok()) return s;
    return t;
  }
  absl::StatusOr<std::map<std::string, std::string>> strings = ReadStrings(dir);
  if (!strings.ok()) return strings.status();
  std::vector<Tree> values;
  for (const LeafMetadata& leaf : meta->leaves) {
    if (!Selected(leaf, options)) {
      values.push_back(Tree::None());
      continue;
    }
    absl::StatusOr<Tree> v =
        ReadLeaf(leaf, aggregate->has_value() ? &**aggregate : nullptr, *store,
                 *strings, dir);
    if (!v.ok()) return v.status();
    values.push_back(*std::move(v));
  }
  return BuildTree(meta->leaves, std::move(values), meta_path);
}

}  // namespace ckptdb::orbax
