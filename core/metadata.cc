#include "ckptdb/metadata.h"

#include "absl/strings/str_cat.h"

namespace ckptdb {
namespace {

void ForEachLeafImpl(
    const TreeMetadata& m, const TreePath& path,
    const std::function<void(const TreePath&, const TreeMetadata&)>& fn) {
  if (!m.is_container()) {
    fn(path, m);
    return;
  }
  for (size_t i = 0; i < m.children.size(); ++i) {
    ForEachLeafImpl(m.children[i],
                    m.kind == Tree::Kind::kDict
                        ? path.Child(m.keys[i])
                        : path.Child(static_cast<int64_t>(i)),
                    fn);
  }
}

std::string HumanBytes(uint64_t b) {
  if (b < 1024) return absl::StrCat(b, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  return buf;
}

void Render(const TreeMetadata& m, const std::string& label, int depth,
            std::string* out) {
  out->append(std::string(2 * depth, ' '));
  out->append(label);
  if (m.is_container()) {
    absl::StrAppend(out, label.empty() ? "" : ": ", TreeKindName(m.kind), "[",
                    m.children.size(), "]\n");
    for (size_t i = 0; i < m.children.size(); ++i) {
      Render(
          m.children[i],
          m.kind == Tree::Kind::kDict ? m.keys[i].ToString() : absl::StrCat(i),
          depth + 1, out);
    }
    return;
  }
  if (m.kind == Tree::Kind::kArray) {
    absl::StrAppend(out, ": ", DTypeName(m.array.dtype), " ",
                    ShapeToString(m.array.shape), " ",
                    HumanBytes(m.array.nbytes), "\n");
  } else {
    absl::StrAppend(out, ": ", TreeKindName(m.kind), " = ",
                    m.scalar.DebugString(), "\n");
  }
}

}  // namespace

void TreeMetadata::ForEachLeaf(
    const std::function<void(const TreePath&, const TreeMetadata&)>& fn) const {
  ForEachLeafImpl(*this, TreePath(), fn);
}

Tree TreeMetadata::ToTree(bool abstract) const {
  switch (kind) {
    case Tree::Kind::kArray:
      return abstract ? Tree::Placeholder()
                      : Tree(Array::Zeros(array.dtype, array.shape));
    case Tree::Kind::kList:
    case Tree::Kind::kTuple: {
      std::vector<Tree> c;
      for (const TreeMetadata& m : children) c.push_back(m.ToTree(abstract));
      return kind == Tree::Kind::kList ? Tree::List(std::move(c))
                                       : Tree::Tuple(std::move(c));
    }
    case Tree::Kind::kDict: {
      Tree d = Tree::Dict();
      for (size_t i = 0; i < children.size(); ++i) {
        d.InsertNew(keys[i], children[i].ToTree(abstract));
      }
      return d;
    }
    default:
      return scalar;
  }
}

std::string TreeMetadata::DebugString() const {
  std::string out;
  Render(*this, "", 0, &out);
  return out;
}

}  // namespace ckptdb
