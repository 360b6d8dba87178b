#include "core/ocdbt_format.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/crc32c.h"
#include "core/decompress.h"

namespace ckptdb::ocdbt {
namespace {

// TensorStore's limits (format/btree.h, data_file_id.h).
constexpr uint64_t kMaxKeyLength = 65535;
constexpr uint64_t kMaxPathLength = 65535;
constexpr uint64_t kMaxNodeArity = 1024 * 1024;
constexpr uint64_t kMaxInlineValueLength = 1024 * 1024;

// A bounds-checked cursor over a decoded body. The first failure sticks.
class Cursor {
 public:
  Cursor(absl::string_view data, absl::string_view what)
      : data_(data), what_(what) {}

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  size_t pos() const { return pos_; }
  size_t left() const { return data_.size() - pos_; }

  bool Fail(absl::string_view msg) {
    if (status_.ok()) {
      status_ = absl::DataLossError(
          absl::StrCat(what_, ": byte ", pos_, " of the body: ", msg));
    }
    return false;
  }

  bool Varint(uint64_t* v) {
    uint64_t out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && b > 1) return Fail("varint overflows 64 bits");
      out |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = out;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  // A varint no greater than `max`, named `field` in the error.
  bool VarintMax(uint64_t* v, uint64_t max, absl::string_view field) {
    if (!Varint(v)) return false;
    if (*v > max) {
      return Fail(absl::StrCat(field, " ", *v, " exceeds the limit ", max));
    }
    return true;
  }

  bool Byte(uint8_t* v) {
    if (pos_ >= data_.size()) return Fail("truncated");
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }

  bool Le64(uint64_t* v) {
    if (left() < 8) return Fail("truncated");
    uint64_t out = 0;
    for (int k = 7; k >= 0; --k) {
      out = (out << 8) | static_cast<uint8_t>(data_[pos_ + k]);
    }
    pos_ += 8;
    *v = out;
    return true;
  }

  bool Bytes(size_t n, absl::string_view* out) {
    if (left() < n) {
      return Fail(
          absl::StrCat("truncated: ", n, " bytes needed, ", left(), " left"));
    }
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  absl::string_view data_;
  absl::string_view what_;
  size_t pos_ = 0;
  absl::Status status_;
};

uint64_t Le(absl::string_view s, size_t at, int n) {
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) {
    v = (v << 8) | static_cast<uint8_t>(s[at + k]);
  }
  return v;
}

// Checks the envelope of an encoded object and returns its decompressed
// body.
absl::StatusOr<std::string> OpenEnvelope(absl::string_view bytes,
                                         uint32_t magic, absl::string_view what,
                                         size_t max_bytes) {
  if (bytes.size() < 4 + 8 + 2 + 4) {
    return absl::DataLossError(absl::StrCat(
        what, ": ", bytes.size(), " bytes, too short for an OCDBT object"));
  }
  uint32_t m = 0;
  for (int k = 0; k < 4; ++k) m = (m << 8) | static_cast<uint8_t>(bytes[k]);
  if (m != magic) {
    return absl::DataLossError(absl::StrFormat(
        "%s: expected magic 0x%08x, found 0x%08x", what, magic, m));
  }
  const uint64_t length = Le(bytes, 4, 8);
  if (length != bytes.size()) {
    return absl::DataLossError(absl::StrCat(what, ": the header's length ",
                                            length, " != the ", bytes.size(),
                                            " bytes read (truncated?)"));
  }
  const uint32_t stored = static_cast<uint32_t>(Le(bytes, bytes.size() - 4, 4));
  const uint32_t actual = crc32c::Value(bytes.substr(0, bytes.size() - 4));
  if (stored != actual) {
    return absl::DataLossError(
        absl::StrFormat("%s: crc32c mismatch (stored 0x%08x, computed 0x%08x)",
                        what, stored, actual));
  }
  Cursor c(bytes.substr(12, bytes.size() - 16), what);
  uint64_t version = 0, compression = 0;
  if (!c.Varint(&version) || !c.Varint(&compression)) return c.status();
  if (version != 0) {
    return absl::DataLossError(
        absl::StrCat(what, ": unsupported OCDBT format version ", version));
  }
  absl::string_view body = bytes.substr(12 + c.pos(), c.left());
  if (compression == 0) {
    if (body.size() > max_bytes) {
      return absl::DataLossError(absl::StrCat(what, ": body of ", body.size(),
                                              " bytes exceeds ", max_bytes));
    }
    return std::string(body);
  }
  if (compression == 1) return decompress::Zstd(body, max_bytes, what);
  return absl::DataLossError(
      absl::StrCat(what, ": unknown compression format ", compression));
}

// The data file table: full paths (transitive + path), and each entry's
// transitive path for what it references.
struct DataFileTable {
  std::vector<std::string> file;
  std::vector<std::string> transitive;
};

bool ReadDataFileTable(Cursor& c, absl::string_view transitive,
                       DataFileTable* t) {
  uint64_t n = 0;
  if (!c.VarintMax(&n, c.left(), "num_files")) return false;
  std::vector<uint64_t> prefix(n, 0), suffix(n), base(n);
  for (uint64_t i = 1; i < n; ++i) {
    if (!c.VarintMax(&prefix[i], kMaxPathLength, "path prefix length")) {
      return false;
    }
  }
  for (uint64_t i = 0; i < n; ++i) {
    if (!c.VarintMax(&suffix[i], kMaxPathLength, "path suffix length")) {
      return false;
    }
  }
  for (uint64_t i = 0; i < n; ++i) {
    if (!c.VarintMax(&base[i], kMaxPathLength, "base path length")) {
      return false;
    }
  }
  std::string prev;
  for (uint64_t i = 0; i < n; ++i) {
    if (prefix[i] > prev.size()) {
      return c.Fail(absl::StrCat("data file ", i, ": prefix length ", prefix[i],
                                 " exceeds the previous path's ", prev.size()));
    }
    absl::string_view s;
    if (!c.Bytes(suffix[i], &s)) return false;
    std::string path = prev.substr(0, prefix[i]);
    path.append(s.data(), s.size());
    if (base[i] > path.size()) {
      return c.Fail(absl::StrCat("data file ", i, ": base path length ",
                                 base[i], " exceeds the path's ", path.size()));
    }
    t->file.push_back(absl::StrCat(transitive, path));
    t->transitive.push_back(absl::StrCat(transitive, path.substr(0, base[i])));
    prev = std::move(path);
  }
  return true;
}

// file_id[n] offset[n] length[n], the layout of node references.
bool ReadReferences(Cursor& c, const DataFileTable& t,
                    std::vector<Reference>* refs, bool allow_missing) {
  std::vector<uint64_t> ids(refs->size());
  for (uint64_t& id : ids) {
    if (!c.Varint(&id)) return false;
  }
  for (Reference& r : *refs) {
    if (!c.Varint(&r.offset)) return false;
  }
  for (Reference& r : *refs) {
    if (!c.Varint(&r.length)) return false;
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (size_t i = 0; i < refs->size(); ++i) {
    Reference& r = (*refs)[i];
    if (allow_missing && r.offset == kMax && r.length == kMax) {
      r.missing = true;
      continue;
    }
    if (ids[i] >= t.file.size()) {
      return c.Fail(absl::StrCat("data file id ", ids[i],
                                 " outside the table of ", t.file.size()));
    }
    if (r.length > static_cast<uint64_t>(INT64_MAX) - r.offset) {
      return c.Fail("invalid offset/length pair");
    }
    r.file = t.file[ids[i]];
    r.transitive = t.transitive[ids[i]];
  }
  return true;
}

// Three statistics per entry; we keep num_keys.
bool ReadStatistics(Cursor& c, std::vector<uint64_t>* num_keys) {
  uint64_t ignored = 0;
  for (uint64_t& k : *num_keys) {
    if (!c.Varint(&k)) return false;
  }
  for (size_t k = 0; k < 2 * num_keys->size(); ++k) {
    if (!c.Varint(&ignored)) return false;
  }
  return true;
}

// Prefix-compressed keys: prefix_length[n-1], suffix_length[n], (for
// interior nodes subtree_prefix_length[n]), suffixes.
bool ReadKeys(Cursor& c, size_t n, std::vector<std::string>* keys,
              std::vector<uint64_t>* subtree_prefix) {
  std::vector<uint64_t> prefix(n, 0), suffix(n);
  for (size_t i = 1; i < n; ++i) {
    if (!c.VarintMax(&prefix[i], kMaxKeyLength, "key prefix length")) {
      return false;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!c.VarintMax(&suffix[i], kMaxKeyLength, "key suffix length")) {
      return false;
    }
  }
  if (subtree_prefix != nullptr) {
    subtree_prefix->resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (!c.VarintMax(&(*subtree_prefix)[i], kMaxKeyLength,
                       "subtree prefix length")) {
        return false;
      }
    }
  }
  keys->resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& prev = i > 0 ? (*keys)[i - 1] : std::string();
    if (prefix[i] > prev.size()) {
      return c.Fail(absl::StrCat("key ", i, ": prefix length ", prefix[i],
                                 " exceeds the previous key's ", prev.size()));
    }
    if (prefix[i] + suffix[i] > kMaxKeyLength) {
      return c.Fail(absl::StrCat("key ", i, " is too long"));
    }
    absl::string_view s;
    if (!c.Bytes(suffix[i], &s)) return false;
    std::string key = prev.substr(0, prefix[i]);
    key.append(s.data(), s.size());
    if (i > 0 && !(prev < key)) {
      return c.Fail(absl::StrCat("key ", i, " is out of order"));
    }
    if (subtree_prefix != nullptr && (*subtree_prefix)[i] > key.size()) {
      return c.Fail(
          absl::StrCat("key ", i, ": subtree prefix length exceeds the key"));
    }
    (*keys)[i] = std::move(key);
  }
  return true;
}

bool ReadLeafValues(Cursor& c, const DataFileTable& t, BtreeNode* node) {
  const size_t n = node->leaves.size();
  std::vector<uint64_t> lengths(n);
  for (uint64_t& l : lengths) {
    if (!c.Varint(&l)) return false;
  }
  std::vector<size_t> indirect;
  for (size_t i = 0; i < n; ++i) {
    uint8_t kind = 0;
    if (!c.Byte(&kind)) return false;
    if (kind > 1) {
      return c.Fail(absl::StrCat("value kind ", int{kind}, " of entry ", i,
                                 " is not 0 or 1"));
    }
    node->leaves[i].is_inline = kind == 0;
    if (kind == 0 && lengths[i] > kMaxInlineValueLength) {
      return c.Fail(absl::StrCat("inline value ", i, " of ", lengths[i],
                                 " bytes exceeds the limit"));
    }
    if (kind == 1) indirect.push_back(i);
  }
  std::vector<uint64_t> ids(indirect.size());
  for (uint64_t& id : ids) {
    if (!c.Varint(&id)) return false;
  }
  for (size_t k = 0; k < indirect.size(); ++k) {
    LeafEntry& e = node->leaves[indirect[k]];
    if (!c.Varint(&e.ref.offset)) return false;
    e.ref.length = lengths[indirect[k]];
    if (ids[k] >= t.file.size()) {
      return c.Fail(absl::StrCat("data file id ", ids[k],
                                 " outside the table of ", t.file.size()));
    }
    if (e.ref.length > static_cast<uint64_t>(INT64_MAX) - e.ref.offset) {
      return c.Fail("invalid offset/length pair");
    }
    e.ref.file = t.file[ids[k]];
    e.ref.transitive = t.transitive[ids[k]];
  }
  for (size_t i = 0; i < n; ++i) {
    if (!node->leaves[i].is_inline) continue;
    absl::string_view v;
    if (!c.Bytes(lengths[i], &v)) return false;
    node->leaves[i].value = std::string(v);
  }
  return true;
}

}  // namespace

absl::StatusOr<Manifest> DecodeManifest(absl::string_view bytes,
                                        absl::string_view what,
                                        size_t max_bytes) {
  absl::StatusOr<std::string> body =
      OpenEnvelope(bytes, kManifestMagic, what, max_bytes);
  if (!body.ok()) return body.status();
  Cursor c(*body, what);
  Manifest m;
  absl::string_view uuid;
  if (!c.Bytes(16, &uuid) || !c.Varint(&m.manifest_kind) ||
      !c.Varint(&m.max_inline_value_bytes) ||
      !c.Varint(&m.max_decoded_node_bytes) ||
      !c.Byte(&m.version_tree_arity_log2) || !c.Varint(&m.compression_method)) {
    return c.status();
  }
  if (m.compression_method == 1) {
    absl::string_view zstd_level;  // used when writing only
    if (!c.Bytes(4, &zstd_level)) return c.status();
  } else if (m.compression_method != 0) {
    c.Fail(absl::StrCat("unknown compression method ", m.compression_method));
    return c.status();
  }
  if (m.manifest_kind == 1) return m;  // numbered: versions elsewhere
  if (m.manifest_kind != 0) {
    c.Fail(absl::StrCat("unknown manifest kind ", m.manifest_kind));
    return c.status();
  }
  if (m.version_tree_arity_log2 == 0 || m.version_tree_arity_log2 > 16) {
    c.Fail(absl::StrCat("version_tree_arity_log2 ",
                        int{m.version_tree_arity_log2}, " is out of range"));
    return c.status();
  }
  DataFileTable table;
  if (!ReadDataFileTable(c, "", &table)) return c.status();
  uint64_t n = 0;
  if (!c.VarintMax(&n, uint64_t{1} << m.version_tree_arity_log2,
                   "num_versions")) {
    return c.status();
  }
  m.versions.resize(n);
  for (Version& v : m.versions) {
    if (!c.Varint(&v.generation)) return c.status();
  }
  for (Version& v : m.versions) {
    if (!c.Byte(&v.root_height)) return c.status();
  }
  std::vector<Reference> refs(n);
  std::vector<uint64_t> num_keys(n);
  if (!ReadReferences(c, table, &refs, /*allow_missing=*/true) ||
      !ReadStatistics(c, &num_keys)) {
    return c.status();
  }
  for (size_t i = 0; i < n; ++i) {
    m.versions[i].root = std::move(refs[i]);
    m.versions[i].num_keys = num_keys[i];
    if (!c.Le64(&m.versions[i].commit_time_ns)) return c.status();
    if (m.versions[i].generation == 0 ||
        (i > 0 && m.versions[i].generation <= m.versions[i - 1].generation)) {
      c.Fail("generation numbers are not increasing");
      return c.status();
    }
  }
  // The version-tree nodes that follow reference older generations only:
  // checked for shape, not followed.
  uint64_t nodes = 0;
  if (!c.VarintMax(&nodes, c.left(), "num_children")) return c.status();
  std::vector<uint64_t> generations(nodes);
  for (uint64_t& g : generations) {
    if (!c.Varint(&g)) return c.status();
  }
  std::vector<Reference> node_refs(nodes);
  if (!ReadReferences(c, table, &node_refs, /*allow_missing=*/false)) {
    return c.status();
  }
  uint64_t ignored = 0;
  for (uint64_t i = 0; i < nodes; ++i) {
    if (!c.Varint(&ignored)) return c.status();  // num_generations
  }
  for (uint64_t i = 0; i < nodes; ++i) {
    if (!c.Le64(&ignored)) return c.status();  // commit_time
  }
  for (uint64_t i = 0; i < nodes; ++i) {
    uint8_t height = 0;
    if (!c.Byte(&height)) return c.status();
  }
  if (c.left() != 0) {
    c.Fail(absl::StrCat(c.left(), " unexpected bytes after the versions"));
    return c.status();
  }
  return m;
}

absl::StatusOr<BtreeNode> DecodeBtreeNode(absl::string_view bytes,
                                          absl::string_view transitive,
                                          absl::string_view what,
                                          size_t max_bytes) {
  absl::StatusOr<std::string> body =
      OpenEnvelope(bytes, kBtreeNodeMagic, what, max_bytes);
  if (!body.ok()) return body.status();
  Cursor c(*body, what);
  BtreeNode node;
  DataFileTable table;
  uint64_t n = 0;
  if (!c.Byte(&node.height) || !ReadDataFileTable(c, transitive, &table) ||
      !c.VarintMax(&n, kMaxNodeArity, "num_entries")) {
    return c.status();
  }
  if (n == 0) {
    c.Fail("empty B+tree node");
    return c.status();
  }
  if (n > c.left()) {
    c.Fail(absl::StrCat(n, " entries cannot fit in ", c.left(), " bytes"));
    return c.status();
  }
  std::vector<std::string> keys;
  if (node.height == 0) {
    if (!ReadKeys(c, n, &keys, nullptr)) return c.status();
    node.leaves.resize(n);
    for (size_t i = 0; i < n; ++i) node.leaves[i].key = std::move(keys[i]);
    if (!ReadLeafValues(c, table, &node)) return c.status();
  } else {
    std::vector<uint64_t> subtree;
    if (!ReadKeys(c, n, &keys, &subtree)) return c.status();
    std::vector<Reference> refs(n);
    std::vector<uint64_t> num_keys(n);
    if (!ReadReferences(c, table, &refs, false) ||
        !ReadStatistics(c, &num_keys)) {
      return c.status();
    }
    node.children.resize(n);
    for (size_t i = 0; i < n; ++i) {
      node.children[i].key = std::move(keys[i]);
      node.children[i].subtree_prefix_length = subtree[i];
      node.children[i].ref = std::move(refs[i]);
      node.children[i].num_keys = num_keys[i];
    }
  }
  if (c.left() != 0) {
    c.Fail(absl::StrCat(c.left(), " unexpected bytes after the entries"));
    return c.status();
  }
  return node;
}

}  // namespace ckptdb::ocdbt
