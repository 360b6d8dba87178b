#include "api/restore.h"

#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "absl/container/btree_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/save_validation.h"
#include "ckptdb/status.h"
#include "util/buffer_pool.h"

namespace ckptdb::internal {
namespace {

// "an array", "a dict", "None": a node kind in a sentence.
std::string KindInSentence(Tree::Kind kind) {
  const absl::string_view name = TreeKindName(kind);
  if (kind == Tree::Kind::kNone) return std::string(name);
  const bool vowel =
      absl::string_view("aeiou").find(name[0]) != absl::string_view::npos;
  return absl::StrCat(vowel ? "an " : "a ", name);
}

class Restorer {
 public:
  Restorer(const StoredItem& item, const RestoreOptions& options)
      : item_(item), options_(options) {}

  // A restore_args entry that matches two leaves (their paths print alike:
  // 'a/b' and a/b, 0 and '0') cannot tell them apart: InvalidArgument.
  // Adds the entries used to `used`.
  absl::Status CheckArgs(std::set<std::string>* used) const {
    for (const auto& [key, hits] : arg_hits_) {  // each hit at least once
      CKPTDB_RETURN_IF_ERROR(CheckArgHits(
          "restore_args", key, hits, "a restored leaf",
          absl::StrCat("step ", item_.step, " item '", item_.item, "'")));
      used->insert(key);
    }
    return absl::OkStatus();
  }

  // `path` is the node's path; children push and pop onto it.
  absl::StatusOr<Tree> Build(uint32_t node, const Tree* target,
                             TreePath& path) {
    const StoredNode& n = item_.nodes[node];
    const bool stored_container = n.kind == Tree::Kind::kList ||
                                  n.kind == Tree::Kind::kTuple ||
                                  n.kind == Tree::Kind::kDict;
    if (target != nullptr && target->kind() == Tree::Kind::kPlaceholder) {
      // Skipped, leaf or whole subtree (Orbax allows leaves only; skipping
      // a subtree is a ckptdb extension the Python layer relies on).
      return Tree::Placeholder();
    }
    if (target != nullptr && target->is_container() != stored_container) {
      return Mismatch(
          path,
          absl::StrCat("the checkpoint has ", KindInSentence(n.kind),
                       ", the target has ", KindInSentence(target->kind())));
    }
    if (!stored_container) return Leaf(node, target, path);
    if (target == nullptr) {
      Tree out = n.kind == Tree::Kind::kDict   ? Tree::Dict()
                 : n.kind == Tree::Kind::kList ? Tree::List()
                                               : Tree::Tuple();
      out.mutable_children().reserve(n.children.size());
      for (uint32_t c : n.children) {
        const StoredNode& cn = item_.nodes[c];
        if (n.kind == Tree::Kind::kDict) {
          path.Push(cn.key);
          absl::StatusOr<Tree> child = Build(c, nullptr, path);
          path.Pop();
          if (!child.ok()) return child.status();
          out.InsertNew(cn.key, *std::move(child));  // saved keys differ
        } else {
          path.Push(cn.index);
          absl::StatusOr<Tree> child = Build(c, nullptr, path);
          path.Pop();
          if (!child.ok()) return child.status();
          out.Append(*std::move(child));
        }
      }
      return out;
    }
    if ((n.kind == Tree::Kind::kDict) !=
        (target->kind() == Tree::Kind::kDict)) {
      return Mismatch(
          path,
          absl::StrCat("the checkpoint has ", KindInSentence(n.kind),
                       ", the target has ", KindInSentence(target->kind())));
    }
    if (n.kind != Tree::Kind::kDict) {
      if (target->size() != n.children.size()) {
        return Mismatch(
            path, absl::StrCat("the checkpoint has ", KindInSentence(n.kind),
                               " of ", n.children.size(),
                               " elements, the target has ", target->size()));
      }
      Tree out =
          target->kind() == Tree::Kind::kList ? Tree::List() : Tree::Tuple();
      for (size_t i = 0; i < n.children.size(); ++i) {
        path.Push(static_cast<int64_t>(i));
        absl::StatusOr<Tree> child =
            Build(n.children[i], &target->children()[i], path);
        path.Pop();
        if (!child.ok()) return child.status();
        out.Append(*std::move(child));
      }
      return out;
    }
    // Dict: the target's keys, in the target's order.
    std::vector<bool> used(n.children.size(), false);
    Tree out = Tree::Dict();
    for (size_t i = 0; i < target->size(); ++i) {
      const DictKey& key = target->keys()[i];
      int found = FindKey(n, key, i);
      if (found < 0) {
        return Mismatch(path.Child(key),
                        absl::StrCat("the target has this key, the "
                                     "checkpoint does not (it has: ",
                                     KeyList(n), ")"));
      }
      if (used[found]) {
        // Orbax's int/str key fallback matched a saved entry twice (the
        // target has both 1 and "1").
        return Mismatch(path.Child(key),
                        "another key of the target (an int key and an equal "
                        "str key) already takes this saved entry");
      }
      used[found] = true;
      path.Push(key);
      absl::StatusOr<Tree> child =
          Build(n.children[found], &target->children()[i], path);
      path.Pop();
      if (!child.ok()) return child.status();
      out.InsertNew(key, *std::move(child));  // the target's keys differ
    }
    if (!options_.partial_restore) {
      for (size_t k = 0; k < n.children.size(); ++k) {
        if (!used[k]) {
          return Mismatch(
              path.Child(item_.nodes[n.children[k]].key),
              "the checkpoint has this key, the target does not (pass "
              "partial_restore to restore a subset)");
        }
      }
    }
    return out;
  }

  std::vector<ArrayRead>& reads() { return reads_; }

 private:
  // `hint`: where the key is if the target lists keys in the saved order
  // (the usual case: then each lookup is one comparison).
  int FindKey(const StoredNode& n, const DictKey& key, size_t hint) const {
    if (hint < n.children.size() && item_.nodes[n.children[hint]].key == key) {
      return static_cast<int>(hint);
    }
    for (size_t k = 0; k < n.children.size(); ++k) {
      if (item_.nodes[n.children[k]].key == key) return static_cast<int>(k);
    }
    // Orbax compatibility: an int key matches its string form and a numeric
    // string matches an int key.
    for (size_t k = 0; k < n.children.size(); ++k) {
      const DictKey& stored = item_.nodes[n.children[k]].key;
      if (key.is_int() && !stored.is_int() && stored.str() == key.ToString()) {
        return static_cast<int>(k);
      }
      int64_t v;
      if (!key.is_int() && stored.is_int() && absl::SimpleAtoi(key.str(), &v) &&
          v == stored.int_value()) {
        return static_cast<int>(k);
      }
    }
    return -1;
  }

  std::string KeyList(const StoredNode& n) const {
    std::vector<std::string> keys;
    for (uint32_t c : n.children) {
      keys.push_back(absl::StrCat("'", item_.nodes[c].key.ToString(), "'"));
      if (keys.size() == 10 && n.children.size() > 10) {
        keys.push_back("...");
        break;
      }
    }
    return keys.empty() ? "no keys" : absl::StrJoin(keys, ", ");
  }

  absl::Status Mismatch(const TreePath& path, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "restore target does not match step ", item_.step, " item '",
        item_.item, "' at '", path.DisplayString(), "': ", what));
  }

  absl::StatusOr<Tree> Leaf(uint32_t node, const Tree* target,
                            const TreePath& path) {
    const StoredNode& n = item_.nodes[node];
    const LeafRestoreArgs* args = &options_.default_restore_args;
    if (!options_.restore_args.empty()) {
      auto it = options_.restore_args.find(path.ToString());
      if (it != options_.restore_args.end()) {
        args = &it->second;
        ++arg_hits_[it->first];
      }
    }
    if (n.kind != Tree::Kind::kArray) return n.scalar;
    DType dtype = n.dtype;
    if (args->dtype.has_value()) dtype = *args->dtype;
    const ShardedArray* sharded_target =
        target != nullptr ? target->sharded() : nullptr;
    if (args->sharding || sharded_target) {
      return ShardedLeaf(node, *args, sharded_target, dtype);
    }
    if (args->global_shape && *args->global_shape != n.shape) {
      CKPTDB_ASSIGN_OR_RETURN(Shape shape,
                              RequestedShape(node, *args, nullptr));
      Array out = Array::Zeros(dtype, shape);
      reads_.push_back({node, out.mutable_data(), dtype, WholeBox(shape)});
      return Tree(out);
    }
    if (target != nullptr && target->kind() == Tree::Kind::kArray) {
      const Array& t = target->array();
      if (t.writable() && t.dtype() == dtype && t.shape() == n.shape &&
          (t.data() != nullptr || t.nbytes() == 0) && ClaimInPlace(t)) {
        reads_.push_back({node, t.mutable_data(), dtype, std::nullopt});
        return Tree(t);
      }
    }
    const int64_t count = ShapeNumElements(n.shape);
    const size_t bytes = static_cast<size_t>(count) * DTypeSize(dtype);
    std::shared_ptr<void> buf = AcquireBuffer(bytes);
    if (buf == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          item_.Describe(node), ": cannot allocate ", bytes, " bytes"));
    }
    void* data = buf.get();
    reads_.push_back({node, data, dtype, std::nullopt});
    return Tree(Array::Share(dtype, n.shape, std::move(buf), data));
  }

  // The global shape a leaf is restored with: the requested one (args, or
  // a sharded target's), which must equal the saved one when strict.
  absl::StatusOr<Shape> RequestedShape(uint32_t node,
                                       const LeafRestoreArgs& args,
                                       const ShardedArray* target) const {
    const StoredNode& n = item_.nodes[node];
    Shape shape = args.global_shape ? *args.global_shape
                  : target          ? target->global_shape
                                    : n.shape;
    if (shape != n.shape && (args.strict || shape.size() != n.shape.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          item_.Describe(node), ": the checkpoint has shape ",
          ShapeToString(n.shape), ", the restore asks for ",
          ShapeToString(shape),
          shape.size() != n.shape.size()
              ? " (another rank: cannot pad or truncate)"
              : " (strict; pass strict=false to pad with zeros or truncate)"));
    }
    if (ShapeNumElements(shape) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          item_.Describe(node), ": invalid shape ", ShapeToString(shape)));
    }
    return shape;
  }

  // A sharded leaf: this process's boxes of the global array, each read
  // from the chunks it overlaps.
  absl::StatusOr<Tree> ShardedLeaf(uint32_t node, const LeafRestoreArgs& args,
                                   const ShardedArray* target, DType dtype) {
    CKPTDB_ASSIGN_OR_RETURN(Shape global, RequestedShape(node, args, target));
    ShardedArray out;
    out.dtype = dtype;
    out.global_shape = global;
    out.sharding = args.sharding ? *args.sharding : target->sharding;
    out.process = options_.process.value_or(target ? target->process : 0);
    auto boxes = ProcessBoxes(out.sharding, global, out.process);
    if (!boxes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(item_.Describe(node), ": ", boxes.status().message()));
    }
    const bool padded = global != item_.nodes[node].shape;
    for (const ProcessBox& pb : *boxes) {
      Array data = padded ? Array::Zeros(dtype, pb.box.shape)
                          : Array::Allocate(dtype, pb.box.shape);
      reads_.push_back({node, data.mutable_data(), dtype, pb.box});
      out.shards.push_back({pb.box, std::move(data)});
    }
    return Tree::Sharded(std::move(out));
  }

  // A target buffer is filled in place only if no other leaf of this
  // restore fills memory overlapping it (tied weights: two leaves, one
  // buffer); the later leaves get new arrays.
  bool ClaimInPlace(const Array& t) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data());
    const uintptr_t end = begin + t.nbytes();
    if (begin == end) return true;
    auto next = claimed_.lower_bound(begin);
    if (next != claimed_.end() && next->first < end) return false;
    if (next != claimed_.begin() && std::prev(next)->second > begin) {
      return false;
    }
    claimed_.emplace(begin, end);
    return true;
  }

  const StoredItem& item_;
  const RestoreOptions& options_;
  std::vector<ArrayRead> reads_;
  absl::btree_map<uintptr_t, uintptr_t> claimed_;  // in-place [begin, end)
  std::map<std::string, int> arg_hits_;
};

}  // namespace

absl::Status CheckRestoreArgsUsed(const RestoreOptions& options,
                                  const std::set<std::string>& used,
                                  absl::string_view what) {
  for (const auto& [key, args] : options.restore_args) {
    if (used.count(key) == 0) {
      return CheckArgHits("restore_args", key, 0, "a restored leaf", what);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Tree> RestoreItem(const Store& store, const StoredItem& item,
                                 const Tree* target,
                                 const RestoreOptions& options,
                                 std::set<std::string>* used_args) {
  Restorer r(item, options);
  TreePath path;
  CKPTDB_ASSIGN_OR_RETURN(Tree out, r.Build(0, target, path));
  std::set<std::string> used;
  CKPTDB_RETURN_IF_ERROR(r.CheckArgs(used_args ? used_args : &used));
  if (used_args == nullptr) {
    CKPTDB_RETURN_IF_ERROR(CheckRestoreArgsUsed(
        options, used,
        absl::StrCat("step ", item.step, " item '", item.item, "'")));
  }
  CKPTDB_RETURN_IF_ERROR(store.ReadArrays(item, r.reads()));
  return out;
}

}  // namespace ckptdb::internal
