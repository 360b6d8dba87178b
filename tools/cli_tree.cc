#include "tools/cli_tree.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ckptdb/status.h"
#include "tools/cli_format.h"

namespace ckptdb::cli {
namespace {

struct Row {
  std::string name;
  std::string type;
  std::string detail;
  std::string size;
};

uint64_t SubtreeBytes(const StoredItem& item, uint32_t node) {
  const StoredNode& n = item.nodes[node];
  uint64_t total = n.kind == Tree::Kind::kArray ? n.nbytes : 0;
  for (uint32_t c : n.children) total += SubtreeBytes(item, c);
  return total;
}

std::string Plural(size_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// " sharded {'x': 2} P('x'), cells (4, 8)" for a grid array, else "".
std::string GridText(const StoredNode& n) {
  if (!n.is_grid) return "";
  return absl::StrCat(" sharded ", n.sharding, ", cells ",
                      ShapeToString(n.chunk_shape));
}

Row NodeRow(const StoredItem& item, uint32_t node) {
  const StoredNode& n = item.nodes[node];
  Row r;
  switch (n.kind) {
    case Tree::Kind::kDict:
      r.type = "dict";
      r.detail = Plural(n.children.size(), "key", "keys");
      break;
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
      r.type = std::string(TreeKindName(n.kind));
      r.detail = Plural(n.children.size(), "item", "items");
      break;
    case Tree::Kind::kArray:
      r.type = std::string(DTypeName(n.dtype));
      r.detail = ShapeToString(n.shape);
      if (n.source_dtype != n.dtype) {
        absl::StrAppend(&r.detail, " saved from ", DTypeName(n.source_dtype));
      }
      absl::StrAppend(&r.detail, GridText(n));
      r.size = HumanBytes(n.nbytes);
      return r;
    default: {
      r.type = std::string(TreeKindName(n.kind));
      std::string v = PyScalarRepr(n.scalar);
      if (n.kind == Tree::Kind::kNone) v.clear();
      if (DisplayWidth(v) > 40) v = v.substr(0, 36) + "...'";
      r.detail = v;
      return r;
    }
  }
  const uint64_t bytes = SubtreeBytes(item, node);
  if (bytes > 0) r.size = HumanBytes(bytes);
  return r;
}

std::string ChildName(const StoredItem& item, uint32_t child) {
  const StoredNode& c = item.nodes[child];
  if (c.key_is_index) return absl::StrCat(c.index);
  // An empty key would be invisible.
  if (!c.key.is_int() && c.key.str().empty()) return "''";
  return c.key.ToString();
}

void CollectRows(const StoredItem& item, uint32_t node, const std::string& lead,
                 const std::string& cont, const std::string& name,
                 std::vector<Row>* rows) {
  Row r = NodeRow(item, node);
  r.name = lead + name;
  rows->push_back(std::move(r));
  const StoredNode& n = item.nodes[node];
  for (size_t i = 0; i < n.children.size(); ++i) {
    const bool last = i + 1 == n.children.size();
    CollectRows(item, n.children[i], cont + (last ? "└── " : "├── "),
                cont + (last ? "    " : "│   "), ChildName(item, n.children[i]),
                rows);
  }
}

void CollectLeafRows(const StoredItem& item, uint32_t node,
                     std::vector<Row>* rows) {
  const StoredNode& n = item.nodes[node];
  const bool container = n.kind == Tree::Kind::kDict ||
                         n.kind == Tree::Kind::kList ||
                         n.kind == Tree::Kind::kTuple;
  if (!container || n.children.empty()) {
    Row r = NodeRow(item, node);
    const TreePath path = item.PathOf(node);
    r.name = path.empty() ? path.DisplayString() : PathKey(path, false);
    rows->push_back(std::move(r));
  }
  for (uint32_t c : n.children) CollectLeafRows(item, c, rows);
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

}  // namespace

std::string PathKey(const TreePath& path, bool typed) {
  std::string out;
  for (const PathEntry& e : path.entries()) {
    if (!out.empty() || typed) out += '/';
    const bool is_str = e.kind == PathEntry::Kind::kDictKey && !e.key.is_int();
    if (typed) {
      out += is_str ? 's' : e.kind == PathEntry::Kind::kIndex ? 'i' : 'k';
    }
    if (is_str) {
      out += EncodePathComponent(e.key.str());
    } else {
      absl::StrAppend(&out, e.kind == PathEntry::Kind::kIndex
                                ? e.index
                                : e.key.int_value());
    }
  }
  return out;
}

std::string JsonKind(Tree::Kind kind) {
  if (kind == Tree::Kind::kNone) return "none";
  return std::string(TreeKindName(kind));
}

std::string NodeSummary(const StoredNode& n) {
  switch (n.kind) {
    case Tree::Kind::kArray:
      return absl::StrCat(DTypeName(n.dtype), " ", ShapeToString(n.shape),
                          GridText(n));
    case Tree::Kind::kDict:
      return absl::StrCat("dict (", Plural(n.children.size(), "key", "keys"),
                          ")");
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
      return absl::StrCat(TreeKindName(n.kind), " (",
                          Plural(n.children.size(), "item", "items"), ")");
    case Tree::Kind::kNone:
      return "None";
    default:
      return absl::StrCat(TreeKindName(n.kind), " ", PyScalarRepr(n.scalar));
  }
}

std::string RenderTree(const StoredItem& item, uint32_t root,
                       const std::string& root_label, bool flat) {
  std::vector<Row> rows;
  if (flat) {
    CollectLeafRows(item, root, &rows);
  } else {
    CollectRows(item, root, "", "", root_label, &rows);
  }
  size_t w[4] = {0, 0, 0, 0};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], DisplayWidth(r.name));
    w[1] = std::max(w[1], DisplayWidth(r.type));
    w[2] = std::max(w[2], DisplayWidth(r.detail));
    w[3] = std::max(w[3], DisplayWidth(r.size));
  }
  std::string out;
  for (const Row& r : rows) {
    std::string line =
        absl::StrCat(PadRight(r.name, w[0]), "  ", PadRight(r.type, w[1]), "  ",
                     PadRight(r.detail, w[2]), "  ", PadLeft(r.size, w[3]));
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::Status WriteNodeJson(const Store& store, const StoredItem& item,
                           uint32_t node, bool all_values, JsonWriter* w) {
  const StoredNode& n = item.nodes[node];
  w->BeginObject();
  w->Field("kind", JsonKind(n.kind));
  switch (n.kind) {
    case Tree::Kind::kDict:
      w->Key("entries");
      w->BeginArray();
      for (uint32_t c : n.children) {
        w->BeginObject();
        w->Key("key");
        const DictKey& k = item.nodes[c].key;
        if (k.is_int()) {
          w->Int(k.int_value());
        } else {
          w->String(k.str());
        }
        w->Key("value");
        CKPTDB_RETURN_IF_ERROR(WriteNodeJson(store, item, c, all_values, w));
        w->EndObject();
      }
      w->EndArray();
      break;
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
      w->Key("items");
      w->BeginArray();
      for (uint32_t c : n.children) {
        CKPTDB_RETURN_IF_ERROR(WriteNodeJson(store, item, c, all_values, w));
      }
      w->EndArray();
      break;
    case Tree::Kind::kArray: {
      w->Field("path", item.PathOf(node).ToString());
      w->Field("dtype", DTypeName(n.dtype));
      if (n.source_dtype != n.dtype) {
        w->Field("source_dtype", DTypeName(n.source_dtype));
      }
      w->Key("shape");
      w->BeginArray(true);
      for (int64_t d : n.shape) w->Int(d);
      w->EndArray();
      w->FieldUint("nbytes", n.nbytes);
      w->FieldUint("chunks", n.chunks.size());
      w->FieldBool("inline", n.is_inline);
      if (n.is_grid) {
        w->Key("grid");
        w->BeginArray(true);
        for (int64_t d : n.chunk_shape) w->Int(d);
        w->EndArray();
        w->Field("sharding", n.sharding);
      }
      if (n.is_inline || all_values) {
        CKPTDB_ASSIGN_OR_RETURN(Array a, ReadArray(store, item, node));
        w->Key("values");
        WriteArrayValues(a, w);
      }
      break;
    }
    case Tree::Kind::kNone:
      w->Field("path", item.PathOf(node).ToString());
      break;
    default:
      w->Field("path", item.PathOf(node).ToString());
      w->Key("value");
      WritePlainTree(n.scalar, w);
      break;
  }
  w->EndObject();
  return absl::OkStatus();
}

void WriteStepFields(const Store& store, const StepInfo& info,
                     std::optional<uint64_t> unique_bytes, bool with_custom,
                     JsonWriter* w) {
  w->FieldInt("step", info.step);
  w->Field("name", info.name);
  auto cf = store.StepColumnFamily(info.step);
  w->Field("column_family", cf.ok() ? *cf : "");
  w->Field("init_time", FormatTimeIso(info.init_time_ns));
  w->Field("commit_time", FormatTimeIso(info.commit_time_ns));
  w->FieldInt("init_time_ns", info.init_time_ns);
  w->FieldInt("commit_time_ns", info.commit_time_ns);
  w->Key("items");
  w->BeginArray();
  for (const ItemSummary& is : info.items) {
    w->BeginObject(true);
    w->Field("name", is.name);
    w->FieldUint("nodes", is.node_count);
    w->FieldUint("leaves", is.leaf_count);
    w->FieldUint("arrays", is.array_count);
    w->FieldUint("logical_bytes", is.logical_bytes);
    w->EndObject();
  }
  w->EndArray();
  w->FieldUint("logical_bytes", info.logical_bytes);
  w->FieldUint("new_bytes", info.new_bytes);
  if (unique_bytes.has_value()) w->FieldUint("unique_bytes", *unique_bytes);
  w->FieldUint("chunks", info.chunk_count);
  w->Key("metrics");
  if (info.has_metrics) {
    WritePlainTree(info.metrics, w);
  } else {
    w->Null();
  }
  if (with_custom) {
    w->Key("custom_metadata");
    WritePlainTree(info.custom_metadata, w);
  }
}

std::string MetricsSummary(const StepInfo& info) {
  if (!info.has_metrics) return "";
  std::vector<std::string> parts;
  info.metrics.ForEachLeaf([&](const TreePath& path, const Tree& t) {
    std::string v;
    switch (t.kind()) {
      case Tree::Kind::kFloat:
        v = absl::StrFormat("%.6g", t.float_value());
        break;
      case Tree::Kind::kArray:
        v = absl::StrCat(DTypeName(t.array().dtype()),
                         ShapeToString(t.array().shape()));
        break;
      default:
        v = PyScalarRepr(t);
    }
    parts.push_back(
        absl::StrCat(path.empty() ? "value" : path.ToString(), "=", v));
  });
  return absl::StrJoin(parts, " ");
}

}  // namespace ckptdb::cli
