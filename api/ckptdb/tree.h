// ckptdb::Tree: a pytree value, the unit that ckptdb saves and restores.
//
// A Tree is one of:
//   leaves:     None, Bool, Int (int64), Float (float64), String, Array,
//               Placeholder (restore-target only: "skip this leaf", or
//               this whole subtree -- Orbax allows leaves only)
//   containers: List, Tuple (sequences of Trees) and Dict (insertion-ordered
//               mapping from DictKey -- a string or an int64 -- to Tree).
// Dict keys keep their type and order through a save and restore; tuples
// stay tuples (unlike Orbax, which turns int keys into strings and tuples
// into lists).
//
// Every leaf has a path (TreePath): the keys and indices from the root,
// written "params/layer0/kernel" or "opt_state/0/mu" (list and tuple indices
// and int dict keys print as numbers).
//
// Trees are values: copying a Tree copies the structure and scalars; Array
// leaves are handles, so copies share array memory (see array.h).
#ifndef CKPTDB_TREE_H_
#define CKPTDB_TREE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/sharding.h"

namespace ckptdb {

// A Dict key: a string or an int64, compared with its type (1 != "1").
class DictKey {
 public:
  DictKey() = default;
  DictKey(std::string s) : str_(std::move(s)) {}  // NOLINT: implicit
  DictKey(const char* s) : str_(s) {}             // NOLINT: implicit
  DictKey(absl::string_view s) : str_(s) {}       // NOLINT: implicit
  DictKey(int v) : is_int_(true), int_(v) {}      // NOLINT: implicit
  DictKey(int64_t v) : is_int_(true), int_(v) {}  // NOLINT: implicit
  DictKey(long long v)                            // NOLINT: implicit
      : is_int_(true), int_(static_cast<int64_t>(v)) {}

  bool is_int() const { return is_int_; }
  const std::string& str() const { return str_; }
  int64_t int_value() const { return int_; }
  // The key as printed in paths: the string itself, or the decimal integer.
  std::string ToString() const;

  friend bool operator==(const DictKey& a, const DictKey& b) {
    return a.is_int_ == b.is_int_ &&
           (a.is_int_ ? a.int_ == b.int_ : a.str_ == b.str_);
  }
  friend bool operator!=(const DictKey& a, const DictKey& b) {
    return !(a == b);
  }

 private:
  bool is_int_ = false;
  std::string str_;
  int64_t int_ = 0;
};

// One step of a TreePath: a dict key or a sequence index.
struct PathEntry {
  enum class Kind : uint8_t { kDictKey, kIndex };
  Kind kind = Kind::kIndex;
  DictKey key;        // when kind == kDictKey
  int64_t index = 0;  // when kind == kIndex
};

class TreePath {
 public:
  TreePath() = default;
  const std::vector<PathEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  TreePath Child(const DictKey& key) const;
  TreePath Child(int64_t index) const;
  // In-place variants, for walking a tree without copying paths.
  void Push(const DictKey& key);
  void Push(int64_t index);
  void Pop() { entries_.pop_back(); }
  // "params/layer0/kernel"; the root path prints as "" (see DisplayString).
  std::string ToString() const;
  // Like ToString, but the root prints as "<root>" for error messages.
  std::string DisplayString() const;

 private:
  std::vector<PathEntry> entries_;
};

class Tree {
 public:
  // The numeric values are part of the on-disk format: only append.
  enum class Kind : uint8_t {
    kNone = 0,
    kBool = 1,
    kInt = 2,
    kFloat = 3,
    kString = 4,
    kArray = 5,
    kList = 6,
    kTuple = 7,
    kDict = 8,
    kPlaceholder = 9,
    // In memory only: one process's shards of a global array (saved as an
    // Array node whose chunks form a grid, docs/format.md).
    kShardedArray = 10,
  };

  Tree() = default;  // None
  Tree(Array a);     // NOLINT: implicit, an Array leaf

  static Tree None() { return Tree(); }
  static Tree Bool(bool v);
  static Tree Int(int64_t v);
  static Tree Float(double v);
  static Tree String(std::string v);
  static Tree FromArray(Array a) { return Tree(std::move(a)); }
  static Tree List(std::vector<Tree> children = {});
  static Tree Tuple(std::vector<Tree> children = {});
  // A later duplicate key replaces the earlier value (linear time).
  static Tree Dict(std::vector<std::pair<DictKey, Tree>> items = {});
  static Tree Placeholder();
  static Tree Sharded(ShardedArray a);

  Kind kind() const { return kind_; }
  bool is_container() const {
    return kind_ == Kind::kList || kind_ == Kind::kTuple ||
           kind_ == Kind::kDict;
  }
  bool is_leaf() const { return !is_container(); }
  bool is_sequence() const {
    return kind_ == Kind::kList || kind_ == Kind::kTuple;
  }

  // Scalar accessors; calling the wrong one returns a zero value (false, 0,
  // 0.0, ""): int_value() of a Float is 0, not its bits.
  bool bool_value() const { return kind_ == Kind::kBool && int_ != 0; }
  int64_t int_value() const { return kind_ == Kind::kInt ? int_ : 0; }
  double float_value() const;
  uint64_t float_bits() const { return static_cast<uint64_t>(int_); }
  static Tree FloatFromBits(uint64_t bits);
  const std::string& string_value() const { return str_; }
  // The Array of an Array leaf (an empty array for other kinds).
  const Array& array() const { return array_ ? *array_ : EmptyArray(); }
  // Makes this node hold an Array if it did not.
  Array& mutable_array() {
    if (!array_) array_.emplace();
    return *array_;
  }

  // The shards of a ShardedArray leaf; nullptr for other kinds.
  const ShardedArray* sharded() const { return sharded_.get(); }

  // Containers. For a Dict, children()[i] is the value of keys()[i].
  size_t size() const { return children_.size(); }
  const std::vector<Tree>& children() const { return children_; }
  std::vector<Tree>& mutable_children() { return children_; }
  const std::vector<DictKey>& keys() const { return keys_; }

  // Appends to a List or Tuple; returns the new child.
  Tree& Append(Tree child);
  // Inserts into a Dict (replacing the value of an existing key). Linear in
  // the dict's size; builders that know their keys are distinct use
  // InsertNew.
  Tree& Insert(DictKey key, Tree value);
  // Appends to a Dict a key the caller knows it does not hold yet
  // (constant time; a duplicate key makes the Dict invalid).
  Tree& InsertNew(DictKey key, Tree value);
  // Dict lookup; nullptr if absent or not a Dict.
  const Tree* Find(const DictKey& key) const;
  Tree* Find(const DictKey& key);
  // Element access for sequences and dicts; aborts if out of range.
  const Tree& operator[](size_t i) const { return children_.at(i); }
  const Tree& operator[](const DictKey& key) const;

  // Follows a path; nullptr if it leads nowhere.
  const Tree* FindPath(const TreePath& path) const;
  // Parses "a/0/b" against this tree: each component matches a string key,
  // else an int key or sequence index with that value. NotFound naming the
  // first component that matches nothing.
  absl::StatusOr<TreePath> ResolvePath(absl::string_view path) const;

  // Visits every leaf (including None and empty containers are NOT leaves;
  // None is) in order, with its path.
  void ForEachLeaf(
      const std::function<void(const TreePath&, const Tree&)>& fn) const;
  // Number of leaves that carry data (arrays and scalars, not None).
  size_t CountValueLeaves() const;
  // Total bytes of all Array leaves.
  size_t TotalArrayBytes() const;

  // Deep equality: same kinds (a Tuple is not a List), same key types and
  // order, arrays and floats compared bitwise.
  bool Equals(const Tree& other) const;
  friend bool operator==(const Tree& a, const Tree& b) { return a.Equals(b); }
  friend bool operator!=(const Tree& a, const Tree& b) { return !a.Equals(b); }

  // A Python-like rendering: [12, {'bar': array([2, 3], dtype=int64)}, (1,)]
  // Arrays with more than `max_elements` elements are summarised.
  std::string DebugString(size_t max_elements = 16) const;

  // A deep copy in which every array owns a copy of its bytes.
  Tree DeepCopy() const;

 private:
  Kind kind_ = Kind::kNone;
  int64_t int_ = 0;  // bool, int, or the bits of a float
  std::string str_;
  // Engaged only for Array leaves: other nodes allocate nothing for it.
  std::optional<Array> array_;
  std::shared_ptr<const ShardedArray> sharded_;
  static const Array& EmptyArray();
  std::vector<Tree> children_;
  std::vector<DictKey> keys_;
};

absl::string_view TreeKindName(Tree::Kind kind);

// Renders the first elements of an array like numpy: "[1, 2, 3]",
// "[[0.5, 1.0], ...]"; summarised with "..." beyond `max_elements`.
std::string FormatArrayValues(const Array& a, size_t max_elements);

}  // namespace ckptdb

#endif  // CKPTDB_TREE_H_
