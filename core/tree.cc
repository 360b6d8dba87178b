#include "ckptdb/tree.h"

#include <cmath>
#include <complex>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ckptdb {

std::string DictKey::ToString() const {
  return is_int_ ? absl::StrCat(int_) : str_;
}

TreePath TreePath::Child(const DictKey& key) const {
  TreePath p = *this;
  PathEntry e;
  e.kind = PathEntry::Kind::kDictKey;
  e.key = key;
  p.entries_.push_back(std::move(e));
  return p;
}

void TreePath::Push(const DictKey& key) {
  PathEntry e;
  e.kind = PathEntry::Kind::kDictKey;
  e.key = key;
  entries_.push_back(std::move(e));
}

void TreePath::Push(int64_t index) {
  PathEntry e;
  e.kind = PathEntry::Kind::kIndex;
  e.index = index;
  entries_.push_back(std::move(e));
}

TreePath TreePath::Child(int64_t index) const {
  TreePath p = *this;
  PathEntry e;
  e.kind = PathEntry::Kind::kIndex;
  e.index = index;
  p.entries_.push_back(std::move(e));
  return p;
}

std::string TreePath::ToString() const {
  std::string out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out.push_back('/');
    const PathEntry& e = entries_[i];
    if (e.kind == PathEntry::Kind::kIndex) {
      absl::StrAppend(&out, e.index);
    } else {
      absl::StrAppend(&out, e.key.ToString());
    }
  }
  return out;
}

std::string TreePath::DisplayString() const {
  return entries_.empty() ? "<root>" : ToString();
}

Tree::Tree(Array a) : kind_(Kind::kArray), array_(std::move(a)) {}

const Array& Tree::EmptyArray() {
  static const Array* empty = new Array();
  return *empty;
}

Tree Tree::Bool(bool v) {
  Tree t;
  t.kind_ = Kind::kBool;
  t.int_ = v ? 1 : 0;
  return t;
}

Tree Tree::Int(int64_t v) {
  Tree t;
  t.kind_ = Kind::kInt;
  t.int_ = v;
  return t;
}

Tree Tree::Float(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return FloatFromBits(bits);
}

Tree Tree::FloatFromBits(uint64_t bits) {
  Tree t;
  t.kind_ = Kind::kFloat;
  t.int_ = static_cast<int64_t>(bits);
  return t;
}

double Tree::float_value() const {
  if (kind_ != Kind::kFloat) return 0.0;
  double d;
  std::memcpy(&d, &int_, 8);
  return d;
}

Tree Tree::String(std::string v) {
  Tree t;
  t.kind_ = Kind::kString;
  t.str_ = std::move(v);
  return t;
}

Tree Tree::List(std::vector<Tree> children) {
  Tree t;
  t.kind_ = Kind::kList;
  t.children_ = std::move(children);
  return t;
}

Tree Tree::Tuple(std::vector<Tree> children) {
  Tree t;
  t.kind_ = Kind::kTuple;
  t.children_ = std::move(children);
  return t;
}

namespace {
struct DictKeyHash {
  size_t operator()(const DictKey* k) const {
    return k->is_int() ? absl::HashOf(true, k->int_value())
                       : absl::HashOf(false, k->str());
  }
};
struct DictKeyEq {
  bool operator()(const DictKey* a, const DictKey* b) const { return *a == *b; }
};
}  // namespace

Tree Tree::Dict(std::vector<std::pair<DictKey, Tree>> items) {
  Tree t;
  t.kind_ = Kind::kDict;
  t.keys_.reserve(items.size());
  t.children_.reserve(items.size());
  // Position of each key: a later duplicate replaces the earlier value.
  absl::flat_hash_map<const DictKey*, size_t, DictKeyHash, DictKeyEq> at;
  for (auto& [k, v] : items) {
    auto it = at.find(&k);
    if (it != at.end()) {
      t.children_[it->second] = std::move(v);
      continue;
    }
    at.emplace(&k, t.keys_.size());
    t.keys_.push_back(k);
    t.children_.push_back(std::move(v));
  }
  return t;
}

Tree Tree::Sharded(ShardedArray a) {
  Tree t;
  t.kind_ = Kind::kShardedArray;
  t.sharded_ = std::make_shared<const ShardedArray>(std::move(a));
  return t;
}

Tree Tree::Placeholder() {
  Tree t;
  t.kind_ = Kind::kPlaceholder;
  return t;
}

Tree& Tree::Append(Tree child) {
  children_.push_back(std::move(child));
  return children_.back();
}

Tree& Tree::Insert(DictKey key, Tree value) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      children_[i] = std::move(value);
      return children_[i];
    }
  }
  keys_.push_back(std::move(key));
  children_.push_back(std::move(value));
  return children_.back();
}

Tree& Tree::InsertNew(DictKey key, Tree value) {
  keys_.push_back(std::move(key));
  children_.push_back(std::move(value));
  return children_.back();
}

const Tree* Tree::Find(const DictKey& key) const {
  if (kind_ != Kind::kDict) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &children_[i];
  }
  return nullptr;
}

Tree* Tree::Find(const DictKey& key) {
  return const_cast<Tree*>(static_cast<const Tree*>(this)->Find(key));
}

const Tree& Tree::operator[](const DictKey& key) const {
  const Tree* t = Find(key);
  if (t == nullptr) {
    static const Tree* kNone = new Tree();
    return *kNone;
  }
  return *t;
}

const Tree* Tree::FindPath(const TreePath& path) const {
  const Tree* t = this;
  for (const PathEntry& e : path.entries()) {
    if (e.kind == PathEntry::Kind::kDictKey) {
      t = t->Find(e.key);
    } else {
      if (!t->is_sequence() || e.index < 0 ||
          static_cast<size_t>(e.index) >= t->children_.size()) {
        return nullptr;
      }
      t = &t->children_[e.index];
    }
    if (t == nullptr) return nullptr;
  }
  return t;
}

absl::StatusOr<TreePath> Tree::ResolvePath(absl::string_view path) const {
  TreePath out;
  const Tree* t = this;
  if (path.empty() || path == "/" || path == "<root>") return out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    int64_t num = 0;
    const bool is_num = absl::SimpleAtoi(part, &num);
    if (t->kind_ == Kind::kDict) {
      if (const Tree* c = t->Find(DictKey(part))) {
        out = out.Child(DictKey(part));
        t = c;
        continue;
      }
      if (is_num) {
        if (const Tree* c = t->Find(DictKey(num))) {
          out = out.Child(DictKey(num));
          t = c;
          continue;
        }
      }
    } else if (t->is_sequence() && is_num && num >= 0 &&
               static_cast<size_t>(num) < t->children_.size()) {
      out = out.Child(num);
      t = &t->children_[num];
      continue;
    }
    return absl::NotFoundError(absl::StrCat(
        "no such path '", path, "': '", part, "' not found under '",
        out.DisplayString(), "' (", TreeKindName(t->kind_), ")"));
  }
  return out;
}

namespace {
void ForEachLeafImpl(
    const Tree& t, const TreePath& path,
    const std::function<void(const TreePath&, const Tree&)>& fn) {
  if (!t.is_container()) {
    fn(path, t);
    return;
  }
  for (size_t i = 0; i < t.size(); ++i) {
    ForEachLeafImpl(t.children()[i],
                    t.kind() == Tree::Kind::kDict
                        ? path.Child(t.keys()[i])
                        : path.Child(static_cast<int64_t>(i)),
                    fn);
  }
}
}  // namespace

void Tree::ForEachLeaf(
    const std::function<void(const TreePath&, const Tree&)>& fn) const {
  ForEachLeafImpl(*this, TreePath(), fn);
}

size_t Tree::CountValueLeaves() const {
  if (is_container()) {
    size_t n = 0;
    for (const Tree& c : children_) n += c.CountValueLeaves();
    return n;
  }
  return kind_ == Kind::kNone || kind_ == Kind::kPlaceholder ? 0 : 1;
}

size_t Tree::TotalArrayBytes() const {
  if (kind_ == Kind::kArray) return array().nbytes();
  if (kind_ == Kind::kShardedArray) return sharded_->local_nbytes();
  size_t n = 0;
  for (const Tree& c : children_) n += c.TotalArrayBytes();
  return n;
}

bool Tree::Equals(const Tree& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kNone:
    case Kind::kPlaceholder:
      return true;
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kFloat:
      return int_ == o.int_;
    case Kind::kString:
      return str_ == o.str_;
    case Kind::kArray:
      return array().BitwiseEquals(o.array());
    case Kind::kShardedArray: {
      const ShardedArray& a = *sharded_;
      const ShardedArray& b = *o.sharded_;
      if (a.dtype != b.dtype || a.global_shape != b.global_shape ||
          !(a.sharding.mesh == b.sharding.mesh) ||
          a.sharding.spec != b.sharding.spec ||
          a.shards.size() != b.shards.size()) {
        return false;
      }
      for (size_t i = 0; i < a.shards.size(); ++i) {
        if (a.shards[i].box != b.shards[i].box ||
            !a.shards[i].data.BitwiseEquals(b.shards[i].data)) {
          return false;
        }
      }
      return true;
    }
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
      if (children_.size() != o.children_.size() || keys_ != o.keys_) {
        return false;
      }
      for (size_t i = 0; i < children_.size(); ++i) {
        if (!children_[i].Equals(o.children_[i])) return false;
      }
      return true;
  }
  return false;
}

Tree Tree::DeepCopy() const {
  Tree t = *this;
  if (kind_ == Kind::kArray) t.array_ = array().Copy();
  if (kind_ == Kind::kShardedArray) {
    ShardedArray copy = *sharded_;
    for (Shard& s : copy.shards) s.data = s.data.Copy();
    t.sharded_ = std::make_shared<const ShardedArray>(std::move(copy));
  }
  for (Tree& c : t.children_) c = c.DeepCopy();
  return t;
}

absl::string_view TreeKindName(Tree::Kind kind) {
  switch (kind) {
    case Tree::Kind::kNone:
      return "None";
    case Tree::Kind::kBool:
      return "bool";
    case Tree::Kind::kInt:
      return "int";
    case Tree::Kind::kFloat:
      return "float";
    case Tree::Kind::kString:
      return "str";
    case Tree::Kind::kArray:
      return "array";
    case Tree::Kind::kList:
      return "list";
    case Tree::Kind::kTuple:
      return "tuple";
    case Tree::Kind::kDict:
      return "dict";
    case Tree::Kind::kPlaceholder:
      return "placeholder";
    case Tree::Kind::kShardedArray:
      return "sharded array";
  }
  return "invalid";
}

namespace {

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == std::floor(d) && std::fabs(d) < 1e16) {
    return absl::StrFormat("%.1f", d);  // numpy prints 2.0 as "2."
  }
  return absl::StrFormat("%.8g", d);
}

std::string FormatElement(const Array& a, int64_t i) {
  const DType dt = a.dtype();
  const char* p = static_cast<const char*>(a.data()) + i * DTypeSize(dt);
  if (dt == DType::kBool) return *p ? "True" : "False";
  if (IsComplexDType(dt)) {
    std::complex<double> c;
    CastElements(dt, p, DType::kComplex128, &c, 1);
    return absl::StrCat(FormatDouble(c.real()), c.imag() < 0 ? "" : "+",
                        FormatDouble(c.imag()), "j");
  }
  if (IsFloatingDType(dt)) {
    double d;
    CastElements(dt, p, DType::kFloat64, &d, 1);
    return FormatDouble(d);
  }
  if (dt == DType::kUInt64) {
    uint64_t u;
    std::memcpy(&u, p, 8);
    return absl::StrCat(u);
  }
  int64_t v;
  CastElements(dt, p, DType::kInt64, &v, 1);
  return absl::StrCat(v);
}

// Appends the sub-array at `offset` spanning dims [dim, rank).
void FormatDims(const Array& a, int dim, int64_t offset, bool summarise,
                std::string* out) {
  const Shape& s = a.shape();
  if (dim == a.rank()) {
    out->append(FormatElement(a, offset));
    return;
  }
  int64_t stride = 1;
  for (int d = dim + 1; d < a.rank(); ++d) stride *= s[d];
  out->push_back('[');
  const int64_t n = s[dim];
  constexpr int64_t kEdge = 3;
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdge && i == kEdge) {
      out->append("..., ");
      i = n - kEdge - 1;
      continue;
    }
    FormatDims(a, dim + 1, offset + i * stride, summarise, out);
    if (i + 1 < n) out->append(", ");
  }
  out->push_back(']');
}

}  // namespace

std::string FormatArrayValues(const Array& a, size_t max_elements) {
  std::string out;
  const int64_t n = a.num_elements();
  if (n < 0) return "<invalid shape>";
  FormatDims(a, 0, 0, static_cast<size_t>(n) > max_elements, &out);
  return out;
}

std::string Tree::DebugString(size_t max_elements) const {
  switch (kind_) {
    case Kind::kNone:
      return "None";
    case Kind::kPlaceholder:
      return "PLACEHOLDER";
    case Kind::kShardedArray:
      return sharded_->ToString();
    case Kind::kBool:
      return int_ ? "True" : "False";
    case Kind::kInt:
      return absl::StrCat(int_);
    case Kind::kFloat:
      return FormatDouble(float_value());
    case Kind::kString:
      return absl::StrCat("'", str_, "'");
    case Kind::kArray:
      return absl::StrCat(
          "array(", FormatArrayValues(array(), max_elements),
          ", dtype=", DTypeName(array().dtype()),
          array().rank() == 0
              ? ""
              : absl::StrCat(", shape=", ShapeToString(array().shape())),
          ")");
    case Kind::kList:
    case Kind::kTuple: {
      std::vector<std::string> parts;
      for (const Tree& c : children_) {
        parts.push_back(c.DebugString(max_elements));
      }
      if (kind_ == Kind::kList) {
        return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
      }
      return absl::StrCat("(", absl::StrJoin(parts, ", "),
                          parts.size() == 1 ? ",)" : ")");
    }
    case Kind::kDict: {
      std::vector<std::string> parts;
      for (size_t i = 0; i < keys_.size(); ++i) {
        parts.push_back(absl::StrCat(
            keys_[i].is_int() ? keys_[i].ToString()
                              : absl::StrCat("'", keys_[i].str(), "'"),
            ": ", children_[i].DebugString(max_elements)));
      }
      return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
    }
  }
  return "";
}

}  // namespace ckptdb
