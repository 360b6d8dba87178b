#include "api/save_validation.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"

namespace ckptdb::internal {
namespace {

// A key that occurs twice in `keys`, or null.
const DictKey* DuplicateKey(const std::vector<DictKey>& keys) {
  if (keys.size() <= 16) {  // most dicts: no allocation
    for (size_t i = 1; i < keys.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (keys[i] == keys[j]) return &keys[i];
      }
    }
    return nullptr;
  }
  std::set<std::pair<bool, std::string>> seen;
  for (const DictKey& k : keys) {
    if (!seen.emplace(k.is_int(), k.ToString()).second) return &k;
  }
  return nullptr;
}

class Validator {
 public:
  Validator(const SaveOptions* options, absl::string_view item)
      : options_(options),
        args_(options != nullptr && !options->save_args.empty()
                  ? &options->save_args
                  : nullptr),
        item_(item) {}

  // The stored dtype of each array leaf checked so far, in preorder.
  std::vector<DType>& stored_dtypes() { return stored_dtypes_; }

  absl::Status Node(const Tree& t) {
    switch (t.kind()) {
      case Tree::Kind::kDict: {
        if (t.keys().size() != t.children().size()) {
          return Bad(absl::StrCat("a dict with ", t.keys().size(), " keys and ",
                                  t.children().size(), " values"));
        }
        if (const DictKey* dup = DuplicateKey(t.keys())) {
          return Bad(absl::StrCat("the dict has the key ",
                                  dup->is_int() ? "" : "'", dup->ToString(),
                                  dup->is_int() ? "" : "'", " twice"));
        }
        for (size_t i = 0; i < t.size(); ++i) {
          path_.push_back({&t.keys()[i], 0});
          CKPTDB_RETURN_IF_ERROR(Node(t.children()[i]));
          path_.pop_back();
        }
        return absl::OkStatus();
      }
      case Tree::Kind::kList:
      case Tree::Kind::kTuple:
        if (!t.keys().empty()) {
          return Bad(
              absl::StrCat("a ", TreeKindName(t.kind()), " with dict keys"));
        }
        for (size_t i = 0; i < t.size(); ++i) {
          path_.push_back({nullptr, static_cast<int64_t>(i)});
          CKPTDB_RETURN_IF_ERROR(Node(t.children()[i]));
          path_.pop_back();
        }
        return absl::OkStatus();
      default:
        break;
    }
    if (!t.children().empty() || !t.keys().empty()) {
      return Bad(
          absl::StrCat("a ", TreeKindName(t.kind()), " leaf with children"));
    }
    if (t.kind() == Tree::Kind::kPlaceholder) {
      return Bad("a Placeholder cannot be saved");
    }
    if (t.kind() == Tree::Kind::kArray) {
      const Array& a = t.array();
      const int64_t n = a.num_elements();
      if (n < 0)
        return Bad(absl::StrCat("invalid shape ", ShapeToString(a.shape())));
      if (n > 0 && a.data() == nullptr) return Bad("array has no data");
    }
    if (t.kind() == Tree::Kind::kShardedArray) {
      absl::Status s = t.sharded()->Validate();
      if (!s.ok()) return Bad(s.message());
      if (ShapeNumElements(t.sharded()->global_shape) < 0) {
        return Bad(absl::StrCat("invalid global shape ",
                                ShapeToString(t.sharded()->global_shape)));
      }
    }
    const LeafSaveArgs* leaf_args =
        options_ != nullptr ? &options_->default_save_args : nullptr;
    if (args_ != nullptr) {
      auto it = args_->find(Path().ToString());
      if (it != args_->end()) {
        ++hits_[it->first];
        leaf_args = &it->second;
      }
    }
    if (t.kind() == Tree::Kind::kArray ||
        t.kind() == Tree::Kind::kShardedArray) {
      const DType own = t.sharded() ? t.sharded()->dtype : t.array().dtype();
      stored_dtypes_.push_back(
          leaf_args != nullptr && leaf_args->dtype ? *leaf_args->dtype : own);
    }
    return absl::OkStatus();
  }

  absl::Status CheckArgs() const {
    if (args_ == nullptr) return absl::OkStatus();
    const std::string where = absl::StrCat("item '", item_, "'");
    for (const auto& [key, unused] : *args_) {
      auto it = hits_.find(key);
      CKPTDB_RETURN_IF_ERROR(CheckArgHits("save_args", key,
                                          it == hits_.end() ? 0 : it->second,
                                          "a leaf", where));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Bad(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "item '", item_, "' leaf '", Path().DisplayString(), "': ", what));
  }

  // The path of the node being checked (built only when needed).
  TreePath Path() const {
    TreePath p;
    for (const auto& [key, index] : path_) {
      if (key != nullptr) {
        p.Push(*key);
      } else {
        p.Push(index);
      }
    }
    return p;
  }

  const SaveOptions* options_;
  const std::map<std::string, LeafSaveArgs>* args_;
  std::string item_;
  std::vector<DType> stored_dtypes_;
  std::vector<std::pair<const DictKey*, int64_t>> path_;
  std::map<std::string, int> hits_;
};

}  // namespace

absl::Status CheckArgHits(absl::string_view args_name, absl::string_view key,
                          int hits, absl::string_view leaf_noun,
                          absl::string_view where) {
  if (hits == 0) {
    return absl::InvalidArgumentError(absl::StrCat(args_name, " names '", key,
                                                   "', which is not ",
                                                   leaf_noun, " of ", where));
  }
  if (hits > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        args_name, " entry '", key, "' matches ", hits, " leaves of ", where,
        " (their paths print alike: a key containing '/', or an int key and "
        "an equal str key); a per-leaf cast cannot tell them apart"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DType>> ValidateSaveTree(const Tree& tree,
                                                    const SaveOptions* options,
                                                    absl::string_view item) {
  Validator v(options, item);
  CKPTDB_RETURN_IF_ERROR(v.Node(tree));
  CKPTDB_RETURN_IF_ERROR(v.CheckArgs());
  return std::move(v.stored_dtypes());
}

absl::StatusOr<SaveItem> PrepareSaveItem(std::string name, const Tree& tree,
                                         const SaveOptions* options) {
  SaveItem item;
  CKPTDB_ASSIGN_OR_RETURN(item.stored_dtypes,
                          ValidateSaveTree(tree, options, name));
  item.name = std::move(name);
  item.tree = &tree;
  return item;
}

}  // namespace ckptdb::internal
