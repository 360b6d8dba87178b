#include "core/flax_msgpack.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/dtype.h"

namespace ckptdb::flax_msgpack {
namespace {

// Flax's ext codes (flax/serialization.py) and Orbax's tuple.
constexpr int8_t kExtNdarray = 1;
constexpr int8_t kExtComplex = 2;
constexpr int8_t kExtNpScalar = 3;
constexpr int8_t kExtTuple = 4;
constexpr char kChunkedKey[] = "__msgpack_chunked_array__";
// python/ckptdb/_tree.py BYTES_MARKER: a bytes leaf is {marker: uint8[n]}.
constexpr char kBytesMarker[] = "__ckptdb_bytes__";
// numpy allows 64 dimensions.
constexpr uint64_t kMaxRank = 64;
constexpr uint64_t kMaxReserve = 1024;

bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Concatenates the chunks of a "__msgpack_chunked_array__" map.
absl::StatusOr<Array> Unchunk(const Tree& dict);

class Decoder {
 public:
  Decoder(std::shared_ptr<const std::string> file, const DecodeOptions& opts)
      : file_(std::move(file)),
        data_(file_->data()),
        end_(file_->size()),
        opts_(opts) {}

  absl::StatusOr<Tree> Run() {
    absl::StatusOr<Tree> t = Value();
    if (!t.ok()) return t.status();
    if (pos_ != end_) {
      return Error(pos_, absl::StrCat(end_ - pos_,
                                      " unexpected bytes after the object"));
    }
    return t;
  }

 private:
  absl::Status Error(size_t at, absl::string_view msg) const {
    std::string where = absl::StrCat("byte ", at);
    if (!path_.empty())
      absl::StrAppend(&where, " (at '", path_.ToString(), "')");
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", msg));
  }

  absl::Status Need(size_t at, uint64_t n, absl::string_view what) const {
    if (end_ - pos_ < n) {
      return Error(at, absl::StrCat("truncated: ", what, " needs ", n,
                                    " bytes, ", end_ - pos_, " left"));
    }
    return absl::OkStatus();
  }

  // Reads an n-byte big-endian unsigned integer (after Need).
  uint64_t Be(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v = (v << 8) | static_cast<unsigned char>(data_[pos_++]);
    }
    return v;
  }

  absl::StatusOr<uint64_t> Length(size_t at, int n) {
    if (absl::Status s = Need(at, n, "a length"); !s.ok()) return s;
    return Be(n);
  }

  absl::StatusOr<Tree> Value();
  absl::StatusOr<Tree> Map(size_t at, uint64_t n);
  absl::StatusOr<Tree> List(size_t at, uint64_t n);
  absl::StatusOr<DictKey> Key();
  absl::StatusOr<Tree> Ext(size_t at, int8_t type, uint64_t len);
  absl::StatusOr<Tree> NdArray(size_t at, bool scalar);
  absl::StatusOr<Tree> Complex(size_t at);
  absl::StatusOr<uint64_t> ArrayHeader(size_t at);
  absl::StatusOr<int64_t> Integer(size_t at);
  absl::StatusOr<double> Number(size_t at);
  absl::StatusOr<absl::string_view> Bytes(size_t at, bool* is_str);
  absl::StatusOr<absl::string_view> Raw(size_t at, uint64_t n,
                                        absl::string_view what) {
    if (absl::Status s = Need(at, n, what); !s.ok()) return s;
    absl::string_view v(data_ + pos_, n);
    pos_ += n;
    return v;
  }
  // A container of `n` values at `at`: refused before any is decoded when
  // they alone would pass the limit on values (each is at least one).
  absl::Status Expect(size_t at, uint64_t n) {
    if (n > opts_.max_nodes - std::min(nodes_, opts_.max_nodes)) {
      return Error(at, absl::StrCat("more than ", opts_.max_nodes,
                                    " values in one file (the limit)"));
    }
    return absl::OkStatus();
  }
  absl::Status Enter(size_t at) {
    if (++depth_ > opts_.max_depth) {
      return Error(at, absl::StrCat("nesting deeper than ", opts_.max_depth));
    }
    return absl::OkStatus();
  }

  std::shared_ptr<const std::string> file_;
  const char* data_;
  size_t pos_ = 0;
  size_t end_;  // the end of the current window (an ext payload or the file)
  DecodeOptions opts_;
  int depth_ = 0;
  uint64_t nodes_ = 0;
  TreePath path_;
};

absl::StatusOr<Tree> Decoder::Value() {
  const size_t at = pos_;
  if (++nodes_ > opts_.max_nodes) {
    return Error(at, absl::StrCat("more than ", opts_.max_nodes,
                                  " values in one file (the limit)"));
  }
  if (absl::Status s = Need(at, 1, "a value"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_++]);
  if (b <= 0x7f) return Tree::Int(b);
  if (b >= 0xe0) return Tree::Int(static_cast<int8_t>(b));
  if (b >= 0x80 && b <= 0x8f) return Map(at, b & 0x0f);
  if (b >= 0x90 && b <= 0x9f) return List(at, b & 0x0f);
  if (b >= 0xa0 && b <= 0xbf) {
    pos_ = at;
    bool is_str;
    absl::StatusOr<absl::string_view> s = Bytes(at, &is_str);
    if (!s.ok()) return s.status();
    return Tree::String(std::string(*s));
  }
  absl::StatusOr<uint64_t> n;
  switch (b) {
    case 0xc0:
      return Tree::None();
    case 0xc2:
      return Tree::Bool(false);
    case 0xc3:
      return Tree::Bool(true);
    case 0xc4:
    case 0xc5:
    case 0xc6: {
      pos_ = at;
      bool is_str;
      absl::StatusOr<absl::string_view> v = Bytes(at, &is_str);
      if (!v.ok()) return v.status();
      // Python bytes, as the ckptdb Python package stores them.
      return Tree::Dict(
          {{kBytesMarker, Tree(Array::CopyFrom(
                              DType::kUInt8, {static_cast<int64_t>(v->size())},
                              v->data()))}});
    }
    case 0xc7:
    case 0xc8:
    case 0xc9: {
      n = Length(at, b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4);
      if (!n.ok()) return n.status();
      if (absl::Status s = Need(at, 1, "an ext type"); !s.ok()) return s;
      const auto type = static_cast<int8_t>(data_[pos_++]);
      return Ext(at, type, *n);
    }
    case 0xca:
    case 0xcb:
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      pos_ = at;
      if (b == 0xca || b == 0xcb) {
        absl::StatusOr<double> d = Number(at);
        if (!d.ok()) return d.status();
        return Tree::Float(*d);
      }
      absl::StatusOr<int64_t> i = Integer(at);
      if (!i.ok()) return i.status();
      return Tree::Int(*i);
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
      if (absl::Status s = Need(at, 1, "an ext type"); !s.ok()) return s;
      const auto type = static_cast<int8_t>(data_[pos_++]);
      return Ext(at, type, uint64_t{1} << (b - 0xd4));
    }
    case 0xd9:
    case 0xda:
    case 0xdb: {
      pos_ = at;
      bool is_str;
      absl::StatusOr<absl::string_view> s = Bytes(at, &is_str);
      if (!s.ok()) return s.status();
      return Tree::String(std::string(*s));
    }
    case 0xdc:
    case 0xdd:
      n = Length(at, b == 0xdc ? 2 : 4);
      if (!n.ok()) return n.status();
      return List(at, *n);
    case 0xde:
    case 0xdf:
      n = Length(at, b == 0xde ? 2 : 4);
      if (!n.ok()) return n.status();
      return Map(at, *n);
    default:
      return Error(
          at, absl::StrCat("0x", absl::Hex(b), " is not a msgpack type byte"));
  }
}

absl::StatusOr<Tree> Decoder::Map(size_t at, uint64_t n) {
  if (absl::Status s = Enter(at); !s.ok()) return s;
  // Each key and value takes at least one byte.
  if (n > (end_ - pos_) / 2) {
    return Error(at, absl::StrCat("map of ", n, " entries cannot fit in the ",
                                  end_ - pos_, " bytes left"));
  }
  if (absl::Status s = Expect(at, n); !s.ok()) return s;
  Tree dict = Tree::Dict();
  // Reserve little up front: a count is only checked against the bytes
  // left, and a node is much larger than its one-byte encoding.
  dict.mutable_children().reserve(std::min<uint64_t>(n, kMaxReserve));
  absl::flat_hash_map<std::string, size_t> seen;
  for (uint64_t i = 0; i < n; ++i) {
    absl::StatusOr<DictKey> key = Key();
    if (!key.ok()) return key.status();
    path_.Push(*key);
    absl::StatusOr<Tree> v = Value();
    path_.Pop();
    if (!v.ok()) return v.status();
    const std::string id =
        key->is_int() ? absl::StrCat("i", key->int_value()) : "s" + key->str();
    if (seen.emplace(id, i).second) {
      dict.InsertNew(std::move(*key), std::move(*v));
    } else {
      dict.Insert(std::move(*key), std::move(*v));  // Python: last one wins
    }
  }
  --depth_;
  for (const DictKey& k : dict.keys()) {
    if (k.is_int() || k.str() != kChunkedKey) continue;
    absl::StatusOr<Array> a = Unchunk(dict);
    if (!a.ok()) {
      return Error(at,
                   absl::StrCat("bad chunked array: ", a.status().message()));
    }
    return Tree(std::move(*a));
  }
  return dict;
}

absl::StatusOr<Tree> Decoder::List(size_t at, uint64_t n) {
  if (absl::Status s = Enter(at); !s.ok()) return s;
  if (n > end_ - pos_) {
    return Error(at, absl::StrCat("array of ", n, " values cannot fit in the ",
                                  end_ - pos_, " bytes left"));
  }
  if (absl::Status s = Expect(at, n); !s.ok()) return s;
  Tree list = Tree::List();
  list.mutable_children().reserve(std::min<uint64_t>(n, kMaxReserve));
  for (uint64_t i = 0; i < n; ++i) {
    path_.Push(static_cast<int64_t>(i));
    absl::StatusOr<Tree> v = Value();
    path_.Pop();
    if (!v.ok()) return v.status();
    list.Append(std::move(*v));
  }
  --depth_;
  return list;
}

absl::StatusOr<DictKey> Decoder::Key() {
  const size_t at = pos_;
  if (absl::Status s = Need(at, 1, "a map key"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_]);
  const bool is_str = (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
  if (is_str) {
    bool str;
    absl::StatusOr<absl::string_view> s = Bytes(at, &str);
    if (!s.ok()) return s.status();
    return DictKey(*s);
  }
  const bool is_int = b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3);
  if (is_int) {
    absl::StatusOr<int64_t> i = Integer(at);
    if (!i.ok()) return i.status();
    return DictKey(*i);
  }
  return Error(at, absl::StrCat("map key of type byte 0x", absl::Hex(b),
                                ": only str and int keys are supported"));
}

// Reads a str (valid UTF-8) or a bin; `is_str` tells which.
absl::StatusOr<absl::string_view> Decoder::Bytes(size_t at, bool* is_str) {
  if (absl::Status s = Need(at, 1, "a string"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_++]);
  uint64_t n;
  *is_str = true;
  if (b >= 0xa0 && b <= 0xbf) {
    n = b & 0x1f;
  } else if (b >= 0xd9 && b <= 0xdb) {
    absl::StatusOr<uint64_t> l = Length(at, b == 0xd9 ? 1 : b == 0xda ? 2 : 4);
    if (!l.ok()) return l.status();
    n = *l;
  } else if (b >= 0xc4 && b <= 0xc6) {
    *is_str = false;
    absl::StatusOr<uint64_t> l = Length(at, b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4);
    if (!l.ok()) return l.status();
    n = *l;
  } else {
    return Error(at, absl::StrCat("expected a str or bin, got type byte 0x",
                                  absl::Hex(b)));
  }
  absl::StatusOr<absl::string_view> v =
      Raw(at, n, *is_str ? "a string" : "a bin");
  if (!v.ok()) return v.status();
  if (*is_str && !IsUtf8(*v)) return Error(at, "string is not valid UTF-8");
  return v;
}

absl::StatusOr<int64_t> Decoder::Integer(size_t at) {
  if (absl::Status s = Need(at, 1, "an integer"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_++]);
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return static_cast<int8_t>(b);
  if (b >= 0xcc && b <= 0xd3) {
    const int n = 1 << ((b - 0xcc) & 3);
    if (absl::Status s = Need(at, n, "an integer"); !s.ok()) return s;
    const uint64_t u = Be(n);
    if (b >= 0xd0) {  // signed: sign-extend
      const int shift = 64 - 8 * n;
      return static_cast<int64_t>(u << shift) >> shift;
    }
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error(at, absl::StrCat("integer ", u, " does not fit in int64"));
    }
    return static_cast<int64_t>(u);
  }
  return Error(
      at, absl::StrCat("expected an integer, got type byte 0x", absl::Hex(b)));
}

// A float or an integer, as a double.
absl::StatusOr<double> Decoder::Number(size_t at) {
  if (absl::Status s = Need(at, 1, "a number"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_]);
  if (b == 0xca || b == 0xcb) {
    ++pos_;
    const int n = b == 0xca ? 4 : 8;
    if (absl::Status s = Need(at, n, "a float"); !s.ok()) return s;
    const uint64_t u = Be(n);
    if (n == 8) {
      double d;
      std::memcpy(&d, &u, 8);
      return d;
    }
    const auto u32 = static_cast<uint32_t>(u);
    float f;
    std::memcpy(&f, &u32, 4);
    return f;
  }
  absl::StatusOr<int64_t> i = Integer(at);
  if (!i.ok()) return i.status();
  return static_cast<double>(*i);
}

absl::StatusOr<uint64_t> Decoder::ArrayHeader(size_t at) {
  if (absl::Status s = Need(at, 1, "an array"); !s.ok()) return s;
  const auto b = static_cast<unsigned char>(data_[pos_++]);
  if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
  if (b == 0xdc || b == 0xdd) return Length(at, b == 0xdc ? 2 : 4);
  return Error(
      at, absl::StrCat("expected an array, got type byte 0x", absl::Hex(b)));
}

absl::StatusOr<Tree> Decoder::Ext(size_t at, int8_t type, uint64_t len) {
  if (absl::Status s = Need(at, len, "the ext payload"); !s.ok()) return s;
  if (absl::Status s = Enter(at); !s.ok()) return s;
  const size_t outer_end = end_;
  end_ = pos_ + len;
  absl::StatusOr<Tree> t;
  switch (type) {
    case kExtNdarray:
    case kExtNpScalar:
      t = NdArray(at, type == kExtNpScalar);
      break;
    case kExtComplex:
      t = Complex(at);
      break;
    case kExtTuple: {
      absl::StatusOr<uint64_t> n = ArrayHeader(pos_);
      if (!n.ok()) return n.status();
      absl::StatusOr<Tree> list = List(at, *n);
      if (!list.ok()) return list.status();
      t = Tree::Tuple(std::move(list->mutable_children()));
      break;
    }
    default:
      return Error(at, absl::StrCat("ext type ", static_cast<int>(type),
                                    " is not a Flax type (1 ndarray, 2 "
                                    "complex, 3 numpy scalar, 4 tuple)"));
  }
  if (!t.ok()) return t.status();
  if (pos_ != end_) {
    return Error(
        at, absl::StrCat("ext ", static_cast<int>(type), " payload of ", len,
                         " bytes has ", end_ - pos_, " bytes left over"));
  }
  end_ = outer_end;
  --depth_;
  return t;
}

// Payload [shape, dtype name, data] of ext 1 (an array) or 3 (a scalar).
absl::StatusOr<Tree> Decoder::NdArray(size_t at, bool scalar) {
  const absl::string_view what = scalar ? "numpy scalar" : "ndarray";
  absl::StatusOr<uint64_t> n = ArrayHeader(pos_);
  if (!n.ok()) return n.status();
  if (*n != 3) {
    return Error(at, absl::StrCat(what, " payload has ", *n,
                                  " fields, not 3 (shape, dtype, data)"));
  }
  const size_t shape_at = pos_;
  absl::StatusOr<uint64_t> rank = ArrayHeader(pos_);
  if (!rank.ok()) return rank.status();
  if (*rank > kMaxRank || *rank > end_ - pos_) {
    return Error(shape_at,
                 absl::StrCat(what, " rank ", *rank, " is too large"));
  }
  Shape shape;
  uint64_t elements = 1;
  bool overflow = false;
  for (uint64_t i = 0; i < *rank; ++i) {
    const size_t dim_at = pos_;
    absl::StatusOr<int64_t> d = Integer(pos_);
    if (!d.ok()) return d.status();
    if (*d < 0) return Error(dim_at, absl::StrCat("negative dimension ", *d));
    shape.push_back(*d);
    if (*d != 0 && elements > std::numeric_limits<uint64_t>::max() /
                                  static_cast<uint64_t>(*d)) {
      overflow = true;
    }
    elements *= static_cast<uint64_t>(*d);
  }
  if (scalar && !shape.empty()) {
    return Error(shape_at, absl::StrCat("numpy scalar with shape ",
                                        ShapeToString(shape), ", not ()"));
  }
  const size_t dtype_at = pos_;
  bool is_str;
  absl::StatusOr<absl::string_view> name = Bytes(pos_, &is_str);
  if (!name.ok()) return name.status();
  absl::StatusOr<DType> dtype = DTypeFromName(*name);
  if (!dtype.ok()) {
    return Error(dtype_at, absl::StrCat("unsupported dtype '",
                                        absl::CHexEscape(*name), "'"));
  }
  const size_t data_at = pos_;
  absl::StatusOr<absl::string_view> raw = Bytes(pos_, &is_str);
  if (!raw.ok()) return raw.status();
  const uint64_t size = DTypeSize(*dtype);
  if (overflow || elements > raw->size() / size ||
      elements * size != raw->size()) {
    return Error(
        data_at,
        absl::StrCat(what, " data is ", raw->size(), " bytes; shape ",
                     ShapeToString(shape), " of ", DTypeName(*dtype), " needs ",
                     overflow ? "more" : absl::StrCat(elements * size)));
  }
  if (*dtype == DType::kBool) {
    for (size_t i = 0; i < raw->size(); ++i) {
      if (static_cast<unsigned char>((*raw)[i]) > 1) {
        return Error(data_at, absl::StrCat("bool array holds the byte ",
                                           static_cast<int>((*raw)[i]),
                                           " (not 0 or 1) at index ", i));
      }
    }
  }
  if (reinterpret_cast<uintptr_t>(raw->data()) % size == 0) {
    std::shared_ptr<void> owner = std::const_pointer_cast<std::string>(file_);
    return Tree(Array::Share(*dtype, std::move(shape), owner,
                             const_cast<char*>(raw->data()),
                             /*writable=*/false));
  }
  return Tree(Array::CopyFrom(*dtype, std::move(shape), raw->data()));
}

// Payload [real, imag] of ext 2: a Python complex, as a 0-d complex128.
absl::StatusOr<Tree> Decoder::Complex(size_t at) {
  absl::StatusOr<uint64_t> n = ArrayHeader(pos_);
  if (!n.ok()) return n.status();
  if (*n != 2) {
    return Error(at, absl::StrCat("complex payload has ", *n,
                                  " fields, not 2 (real, imag)"));
  }
  double parts[2];
  for (double& p : parts) {
    absl::StatusOr<double> d = Number(pos_);
    if (!d.ok()) return d.status();
    p = *d;
  }
  return Tree(Array::CopyFrom(DType::kComplex128, {}, parts));
}

// The Dict `d`'s children "0".."n-1" in order, or false if the keys are not
// exactly those (in any order).
bool IndexedChildren(const Tree& d, std::vector<const Tree*>* out) {
  const size_t n = d.size();
  out->assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    const DictKey& k = d.keys()[i];
    uint64_t idx;
    if (k.is_int() || k.str().empty() ||
        (k.str().size() > 1 && k.str()[0] == '0') ||
        !std::all_of(k.str().begin(), k.str().end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(k.str(), &idx) || idx >= n || (*out)[idx]) {
      return false;
    }
    (*out)[idx] = &d.children()[i];
  }
  return true;
}

absl::StatusOr<Array> Unchunk(const Tree& dict) {
  const Tree* shape_t = nullptr;
  const Tree* chunks_t = nullptr;
  for (size_t i = 0; i < dict.size(); ++i) {
    const DictKey& k = dict.keys()[i];
    if (k == DictKey("shape")) shape_t = &dict.children()[i];
    if (k == DictKey("chunks")) chunks_t = &dict.children()[i];
  }
  std::vector<const Tree*> dims, chunks;
  if (!shape_t || !chunks_t || shape_t->kind() != Tree::Kind::kDict ||
      chunks_t->kind() != Tree::Kind::kDict ||
      !IndexedChildren(*shape_t, &dims) ||
      !IndexedChildren(*chunks_t, &chunks)) {
    return absl::InvalidArgumentError(
        "needs 'shape' and 'chunks' maps keyed '0', '1', ...");
  }
  Shape shape;
  for (const Tree* d : dims) {
    if (d->kind() != Tree::Kind::kInt || d->int_value() < 0) {
      return absl::InvalidArgumentError("shape entries must be ints >= 0");
    }
    shape.push_back(d->int_value());
  }
  DType dtype = DType::kFloat32;
  uint64_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Tree* c = chunks[i];
    if (c->kind() != Tree::Kind::kArray || c->array().rank() != 1 ||
        (i > 0 && c->array().dtype() != dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chunk ", i, " is not a 1-d array of the first chunk's dtype"));
    }
    dtype = c->array().dtype();
    total += c->array().num_elements();
  }
  const int64_t want = ShapeNumElements(shape);
  if (want < 0 || static_cast<uint64_t>(want) != total) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunks hold ", total, " elements; shape ",
                     ShapeToString(shape), " needs ", want));
  }
  Array out = Array::Allocate(dtype, std::move(shape));
  char* dst = static_cast<char*>(out.mutable_data());
  for (const Tree* c : chunks) {
    if (c->array().nbytes() == 0) continue;
    std::memcpy(dst, c->array().data(), c->array().nbytes());
    dst += c->array().nbytes();
  }
  return out;
}

}  // namespace

bool LooksLikeFlaxMsgpack(absl::string_view prefix) {
  if (prefix.empty()) return false;
  const auto b = static_cast<unsigned char>(prefix[0]);
  if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) return true;
  // A bare array: fixext/ext8/16/32 of type 1 or 3.
  size_t type_at = 0;
  if (b >= 0xd4 && b <= 0xd8) type_at = 1;
  if (b == 0xc7) type_at = 2;
  if (b == 0xc8) type_at = 3;
  if (b == 0xc9) type_at = 5;
  return type_at != 0 && prefix.size() > type_at &&
         (prefix[type_at] == kExtNdarray || prefix[type_at] == kExtNpScalar);
}

absl::StatusOr<Tree> Decode(std::shared_ptr<const std::string> file,
                            const DecodeOptions& options) {
  Decoder d(std::move(file), options);
  absl::StatusOr<Tree> t = d.Run();
  if (!t.ok() || !options.lists) return t;
  return IndexMapsToLists(std::move(*t));
}

Tree IndexMapsToLists(Tree tree) {
  if (!tree.is_container()) return tree;
  for (Tree& c : tree.mutable_children()) c = IndexMapsToLists(std::move(c));
  std::vector<const Tree*> order;
  if (tree.kind() != Tree::Kind::kDict || tree.size() == 0 ||
      !IndexedChildren(tree, &order)) {
    return tree;
  }
  std::vector<Tree> items;
  items.reserve(order.size());
  for (const Tree* c : order) items.push_back(*c);
  return Tree::List(std::move(items));
}

}  // namespace ckptdb::flax_msgpack
