#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ckptdb::safetensors {
namespace {

struct DTypeEntry {
  const char* name;
  DType dtype;
  int rank;  // upstream's Dtype declaration order (serialize sorts by it)
};

constexpr DTypeEntry kDTypes[] = {
    {"BOOL", DType::kBool, 0},      {"U8", DType::kUInt8, 4},
    {"I8", DType::kInt8, 5},        {"I16", DType::kInt16, 9},
    {"U16", DType::kUInt16, 10},    {"F16", DType::kFloat16, 11},
    {"BF16", DType::kBFloat16, 12}, {"I32", DType::kInt32, 13},
    {"U32", DType::kUInt32, 14},    {"F32", DType::kFloat32, 15},
    {"C64", DType::kComplex64, 16}, {"F64", DType::kFloat64, 17},
    {"I64", DType::kInt64, 18},     {"U64", DType::kUInt64, 19},
};

// Names upstream knows that ckptdb has no dtype for.
constexpr const char* kUnsupported[] = {"F4",      "F6_E2M3", "F6_E3M2",
                                        "F8_E5M2", "F8_E4M3", "F8_E8M0"};

int DTypeRank(DType d) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == d) return e.rank;
  }
  return -1;
}

// ---- a strict JSON reader, enough for the header ---------------------------

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  size_t pos = 0;        // offset of the value in the header
  std::string str;       // string value, or a number's text
  bool is_uint = false;  // a number that is a non-negative integer < 2^64
  uint64_t uint = 0;
  std::vector<Json> items;                           // array
  std::vector<std::pair<std::string, Json>> fields;  // object, in order
  std::vector<size_t> key_pos;                       // each field's key
};

const char* KindName(Json::Kind k) {
  switch (k) {
    case Json::Kind::kNull:
      return "null";
    case Json::Kind::kBool:
      return "a boolean";
    case Json::Kind::kNumber:
      return "a number";
    case Json::Kind::kString:
      return "a string";
    case Json::Kind::kArray:
      return "an array";
    case Json::Kind::kObject:
      return "an object";
  }
  return "?";
}

class JsonParser {
 public:
  JsonParser(absl::string_view text, uint64_t base, absl::string_view what)
      : s_(text), base_(base), what_(what) {}

  absl::StatusOr<Json> ParseDocument() {
    SkipSpace();
    if (i_ >= s_.size() || s_[i_] != '{') {
      return Error(i_, "the header does not start with '{'");
    }
    Json v;
    absl::Status st = ParseValue(&v, 0);
    if (!st.ok()) return st;
    SkipSpace();
    if (i_ != s_.size()) return Error(i_, "unexpected data after the header");
    return v;
  }

  absl::Status Error(size_t at, absl::string_view msg) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": byte ", base_ + at, ": ", msg));
  }

 private:
  static constexpr int kMaxDepth = 64;

  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' ||
                              s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }

  absl::Status ParseValue(Json* out, int depth) {
    if (depth > kMaxDepth) return Error(i_, "JSON nested too deeply");
    SkipSpace();
    if (i_ >= s_.size()) return Error(i_, "truncated JSON");
    out->pos = i_;
    const char c = s_[i_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      out->kind = Json::Kind::kString;
      return ParseString(&out->str);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    for (const char* lit : {"true", "false", "null"}) {
      const size_t n = std::strlen(lit);
      if (s_.substr(i_, n) == lit) {
        out->kind = lit[0] == 'n' ? Json::Kind::kNull : Json::Kind::kBool;
        i_ += n;
        return absl::OkStatus();
      }
    }
    return Error(i_, absl::StrCat("invalid JSON: unexpected character '",
                                  absl::string_view(&s_[i_], 1), "'"));
  }

  absl::Status Expect(char c) {
    SkipSpace();
    if (i_ >= s_.size()) return Error(i_, "truncated JSON");
    if (s_[i_] != c) {
      return Error(i_, absl::StrCat("invalid JSON: expected '",
                                    absl::string_view(&c, 1), "'"));
    }
    ++i_;
    return absl::OkStatus();
  }

  bool Peek(char c) {
    SkipSpace();
    return i_ < s_.size() && s_[i_] == c;
  }

  absl::Status ParseObject(Json* out, int depth) {
    out->kind = Json::Kind::kObject;
    ++i_;
    if (Peek('}')) {
      ++i_;
      return absl::OkStatus();
    }
    std::set<std::string> seen;
    while (true) {
      SkipSpace();
      if (i_ >= s_.size()) return Error(i_, "truncated JSON");
      if (s_[i_] != '"') return Error(i_, "invalid JSON: expected a key");
      const size_t key_pos = i_;
      std::string key;
      absl::Status st = ParseString(&key);
      if (!st.ok()) return st;
      if (!seen.insert(key).second) {
        return Error(key_pos, absl::StrCat("duplicate key \"", key, "\""));
      }
      st = Expect(':');
      if (!st.ok()) return st;
      Json v;
      st = ParseValue(&v, depth + 1);
      if (!st.ok()) return st;
      out->fields.emplace_back(std::move(key), std::move(v));
      out->key_pos.push_back(key_pos);
      if (Peek(',')) {
        ++i_;
        continue;
      }
      return Expect('}');
    }
  }

  absl::Status ParseArray(Json* out, int depth) {
    out->kind = Json::Kind::kArray;
    ++i_;
    if (Peek(']')) {
      ++i_;
      return absl::OkStatus();
    }
    while (true) {
      Json v;
      absl::Status st = ParseValue(&v, depth + 1);
      if (!st.ok()) return st;
      out->items.push_back(std::move(v));
      if (Peek(',')) {
        ++i_;
        continue;
      }
      return Expect(']');
    }
  }

  absl::Status ParseNumber(Json* out) {
    out->kind = Json::Kind::kNumber;
    const size_t start = i_;
    if (s_[i_] == '-') ++i_;
    auto digits = [&] {
      const size_t d = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - d;
    };
    const size_t int_start = i_;
    const size_t n = digits();
    if (n == 0) return Error(i_, "invalid JSON number");
    if (n > 1 && s_[int_start] == '0') {
      return Error(int_start, "invalid JSON number (leading zero)");
    }
    bool integral = true;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      integral = false;
      if (digits() == 0) return Error(i_, "invalid JSON number");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      integral = false;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (digits() == 0) return Error(i_, "invalid JSON number");
    }
    out->str = std::string(s_.substr(start, i_ - start));
    if (integral && s_[start] != '-') {
      uint64_t v = 0;
      out->is_uint = true;
      for (size_t k = int_start; k < int_start + n; ++k) {
        const uint64_t d = static_cast<uint64_t>(s_[k] - '0');
        if (v > (UINT64_MAX - d) / 10) {
          out->is_uint = false;
          break;
        }
        v = v * 10 + d;
      }
      out->uint = v;
    }
    return absl::OkStatus();
  }

  absl::Status Hex4(uint32_t* out) {
    if (s_.size() - i_ < 4) return Error(i_, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Error(i_ + k, "invalid \\u escape");
      }
    }
    i_ += 4;
    *out = v;
    return absl::OkStatus();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::Status ParseEscape(std::string* out) {
    if (i_ >= s_.size()) return Error(i_, "truncated JSON string");
    const char e = s_[i_++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out->push_back(e);
        return absl::OkStatus();
      case 'b':
        out->push_back('\b');
        return absl::OkStatus();
      case 'f':
        out->push_back('\f');
        return absl::OkStatus();
      case 'n':
        out->push_back('\n');
        return absl::OkStatus();
      case 'r':
        out->push_back('\r');
        return absl::OkStatus();
      case 't':
        out->push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        return Error(i_ - 1, "invalid escape in a JSON string");
    }
    const size_t at = i_ - 2;
    uint32_t cp = 0;
    absl::Status st = Hex4(&cp);
    if (!st.ok()) return st;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Error(at, "lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo = 0;
      if (s_.substr(i_, 2) != "\\u") return Error(at, "lone high surrogate");
      i_ += 2;
      st = Hex4(&lo);
      if (!st.ok()) return st;
      if (lo < 0xDC00 || lo > 0xDFFF) return Error(at, "lone high surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string* out) {
    ++i_;  // the opening quote
    while (true) {
      if (i_ >= s_.size()) return Error(i_, "truncated JSON string");
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error(i_, "control character in a JSON string");
      if (c == '\\') {
        ++i_;
        absl::Status st = ParseEscape(out);
        if (!st.ok()) return st;
        continue;
      }
      out->push_back(static_cast<char>(c));
      ++i_;
    }
  }

  absl::string_view s_;
  uint64_t base_;
  absl::string_view what_;
  size_t i_ = 0;
};

// Length of the valid UTF-8 prefix of `s`.
size_t ValidUtf8Prefix(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      min = 0x10000;
    } else {
      return i;
    }
    if (s.size() - i < n) return i;
    uint32_t cp = c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n;
  }
  return i;
}

uint64_t ReadLe64(absl::string_view s) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) {
    v = (v << 8) | static_cast<unsigned char>(s[static_cast<size_t>(k)]);
  }
  return v;
}

// Fills `t` from the tensor entry `v` (named t->name).
absl::Status ParseTensorEntry(const JsonParser& p, const Json& v,
                              TensorInfo* t) {
  const std::string quoted = absl::StrCat("tensor '", t->name, "'");
  if (v.kind != Json::Kind::kObject) {
    return p.Error(v.pos, absl::StrCat(quoted, ": expected an object, got ",
                                       KindName(v.kind)));
  }
  const Json* dtype = nullptr;
  const Json* shape = nullptr;
  const Json* offsets = nullptr;
  for (const auto& [k, f] : v.fields) {
    if (k == "dtype") dtype = &f;
    if (k == "shape") shape = &f;
    if (k == "data_offsets") offsets = &f;
  }
  if (dtype == nullptr || shape == nullptr || offsets == nullptr) {
    return p.Error(v.pos, absl::StrCat(quoted, ": missing \"",
                                       dtype == nullptr   ? "dtype"
                                       : shape == nullptr ? "shape"
                                                          : "data_offsets",
                                       "\""));
  }
  if (dtype->kind != Json::Kind::kString) {
    return p.Error(dtype->pos, absl::StrCat(quoted, ": dtype is not a string"));
  }
  absl::StatusOr<DType> d = DTypeFromSafetensors(dtype->str);
  if (!d.ok()) {
    return p.Error(dtype->pos,
                   absl::StrCat(quoted, ": ", d.status().message()));
  }
  t->dtype = *d;
  if (shape->kind != Json::Kind::kArray) {
    return p.Error(shape->pos, absl::StrCat(quoted, ": shape is not an array"));
  }
  for (const Json& dim : shape->items) {
    if (dim.kind != Json::Kind::kNumber || !dim.is_uint ||
        dim.uint > static_cast<uint64_t>(INT64_MAX)) {
      return p.Error(dim.pos, absl::StrCat(quoted,
                                           ": a shape entry is not a "
                                           "non-negative integer"));
    }
    t->shape.push_back(static_cast<int64_t>(dim.uint));
  }
  if (offsets->kind != Json::Kind::kArray || offsets->items.size() != 2 ||
      !offsets->items[0].is_uint || !offsets->items[1].is_uint) {
    return p.Error(offsets->pos,
                   absl::StrCat(quoted, ": data_offsets is not [begin, end]"));
  }
  t->begin = offsets->items[0].uint;
  t->end = offsets->items[1].uint;
  if (t->end < t->begin) {
    return p.Error(offsets->pos,
                   absl::StrCat(quoted, ": data_offsets end ", t->end,
                                " is before begin ", t->begin));
  }
  // product(shape) * dtype size, with overflow checks.
  uint64_t n = DTypeSize(t->dtype);
  bool overflow = false;
  for (int64_t dim : t->shape) {
    const uint64_t ud = static_cast<uint64_t>(dim);
    if (ud != 0 && n > UINT64_MAX / ud) {
      overflow = true;
      n = 0;
    } else {
      n *= ud;
    }
  }
  if (overflow || n != t->end - t->begin) {
    return p.Error(
        offsets->pos,
        absl::StrCat(quoted, ": data_offsets [", t->begin, ", ", t->end,
                     "] span ", t->end - t->begin, " bytes; dtype ", dtype->str,
                     " and shape "
                     "need ",
                     overflow ? "more than 2^64" : absl::StrCat(n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::string_view> DTypeToSafetensors(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return absl::string_view(e.name);
  }
  return absl::NotFoundError(
      absl::StrCat("safetensors has no dtype for ", DTypeName(dtype)));
}

absl::StatusOr<DType> DTypeFromSafetensors(absl::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) return e.dtype;
  }
  for (const char* u : kUnsupported) {
    if (name == u) {
      return absl::InvalidArgumentError(
          absl::StrCat("dtype ", name, " is not supported by ckptdb"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype \"", name, "\""));
}

bool LooksLikeSafetensors(absl::string_view prefix, uint64_t file_size) {
  if (prefix.size() < 9 || file_size < 10) return false;
  const uint64_t n = ReadLe64(prefix);
  return n >= 2 && n <= kMaxHeaderSize && n <= file_size - 8 &&
         prefix[8] == '{';
}

absl::StatusOr<Header> ParseHeader(absl::string_view file,
                                   absl::string_view what) {
  auto err = [&](uint64_t at, absl::string_view msg) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": byte ", at, ": ", msg));
  };
  if (file.size() < 8) {
    return err(0, absl::StrCat("truncated: ", file.size(),
                               " bytes, less than the 8-byte header length"));
  }
  const uint64_t n = ReadLe64(file);
  if (n > kMaxHeaderSize) {
    return err(0, absl::StrCat("header length ", n, " is above the limit ",
                               kMaxHeaderSize));
  }
  if (n > file.size() - 8) {
    return err(0, absl::StrCat("header length ", n,
                               " runs past the end of "
                               "the file (",
                               file.size(), " bytes)"));
  }
  const absl::string_view text = file.substr(8, n);
  if (const size_t ok = ValidUtf8Prefix(text); ok != text.size()) {
    return err(8 + ok, "the header is not valid UTF-8");
  }
  JsonParser parser(text, 8, what);
  absl::StatusOr<Json> doc = parser.ParseDocument();
  if (!doc.ok()) return doc.status();
  Header h;
  h.data_start = 8 + n;
  for (size_t k = 0; k < doc->fields.size(); ++k) {
    const auto& [key, v] = doc->fields[k];
    if (key == "__metadata__") {
      if (v.kind != Json::Kind::kObject) {
        return parser.Error(v.pos, "__metadata__ is not an object");
      }
      for (const auto& [mk, mv] : v.fields) {
        if (mv.kind != Json::Kind::kString) {
          return parser.Error(
              mv.pos,
              absl::StrCat("__metadata__ \"", mk, "\": expected a string, got ",
                           KindName(mv.kind)));
        }
        h.metadata.emplace_back(mk, mv.str);
      }
      h.has_metadata = true;
      continue;
    }
    TensorInfo t;
    t.name = key;
    absl::Status st = ParseTensorEntry(parser, v, &t);
    if (!st.ok()) return st;
    h.tensors.push_back(std::move(t));
  }
  // Sorted by offset, the tensors must tile the data exactly.
  std::vector<const TensorInfo*> sorted;
  for (const TensorInfo& t : h.tensors) sorted.push_back(&t);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const TensorInfo* a, const TensorInfo* b) {
                     return a->begin != b->begin ? a->begin < b->begin
                                                 : a->end < b->end;
                   });
  const uint64_t data_size = file.size() - h.data_start;
  uint64_t at = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : sorted) {
    if (t->begin != at) {
      const std::string after =
          prev == nullptr
              ? std::string("the start of the data")
              : absl::StrCat("tensor '", prev->name, "' (ends at ", at, ")");
      return err(h.data_start + std::min(t->begin, at),
                 absl::StrCat("tensor '", t->name, "' begins at data offset ",
                              t->begin,
                              t->begin < at ? ", overlapping "
                                            : ", leaving a hole "
                                              "after ",
                              after));
    }
    if (t->end > data_size) {
      return err(
          h.data_start + t->begin,
          absl::StrCat("tensor '", t->name, "' data_offsets end ", t->end,
                       " is outside the data (", data_size, " bytes)"));
    }
    at = t->end;
    prev = t;
  }
  if (at != data_size) {
    return err(h.data_start + at,
               absl::StrCat(data_size - at,
                            " bytes after the last tensor "
                            "are not covered by any tensor"));
  }
  return h;
}

absl::StatusOr<Decoded> Decode(std::shared_ptr<const std::string> file,
                               absl::string_view what) {
  absl::StatusOr<Header> h = ParseHeader(*file, what);
  if (!h.ok()) return h.status();
  Decoded out;
  out.metadata = std::move(h->metadata);
  out.has_metadata = h->has_metadata;
  std::shared_ptr<void> owner = std::const_pointer_cast<std::string>(file);
  for (TensorInfo& t : h->tensors) {
    const char* src = file->data() + h->data_start + t.begin;
    Tensor tensor;
    tensor.name = std::move(t.name);
    if (reinterpret_cast<uintptr_t>(src) % DTypeSize(t.dtype) == 0) {
      tensor.array = Array::Share(t.dtype, std::move(t.shape), owner,
                                  const_cast<char*>(src), /*writable=*/false);
    } else {
      tensor.array = Array::CopyFrom(t.dtype, std::move(t.shape), src);
    }
    out.tensors.push_back(std::move(tensor));
  }
  return out;
}

absl::StatusOr<EncodedHeader> EncodeHeader(
    const std::vector<EncodeInput>& tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  EncodedHeader out;
  std::set<std::string> names;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const EncodeInput& t = tensors[i];
    if (t.name == "__metadata__") {
      return absl::InvalidArgumentError(
          "a tensor cannot be named \"__metadata__\"");
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two tensors are named '", t.name, "'"));
    }
    if (DTypeRank(t.dtype) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", t.name, "': safetensors has no dtype for ",
                       DTypeName(t.dtype)));
    }
    uint64_t n = DTypeSize(t.dtype);
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    out.sizes.push_back(n);
    out.order.push_back(i);
  }
  std::sort(out.order.begin(), out.order.end(), [&](size_t a, size_t b) {
    const int ra = DTypeRank(tensors[a].dtype);
    const int rb = DTypeRank(tensors[b].dtype);
    if (ra != rb) return ra > rb;
    return tensors[a].name < tensors[b].name;
  });
  std::string json = "{";
  auto quote = [&](absl::string_view s) {
    json.push_back('"');
    for (const char c : s) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        json.push_back('\\');
        json.push_back(c);
      } else if (u < 0x20) {
        static const char* kHex = "0123456789abcdef";
        json += "\\u00";
        json.push_back(kHex[u >> 4]);
        json.push_back(kHex[u & 15]);
      } else {
        json.push_back(c);
      }
    }
    json.push_back('"');
  };
  if (!metadata.empty()) {
    std::map<std::string, std::string> sorted(metadata.begin(), metadata.end());
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : sorted) {
      if (!first) json.push_back(',');
      first = false;
      quote(k);
      json.push_back(':');
      quote(v);
    }
    json += "}";
  }
  uint64_t offset = 0;
  for (size_t i : out.order) {
    const EncodeInput& t = tensors[i];
    if (json.size() > 1) json.push_back(',');
    quote(t.name);
    absl::StrAppend(&json, ":{\"dtype\":\"", *DTypeToSafetensors(t.dtype),
                    "\",\"shape\":[");
    for (size_t k = 0; k < t.shape.size(); ++k) {
      absl::StrAppend(&json, k == 0 ? "" : ",", t.shape[k]);
    }
    absl::StrAppend(&json, "],\"data_offsets\":[", offset, ",",
                    offset + out.sizes[i], "]}");
    offset += out.sizes[i];
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  if (json.size() > kMaxHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("the safetensors header would be ", json.size(),
                     " bytes, above the limit ", kMaxHeaderSize));
  }
  out.bytes.resize(8);
  uint64_t len = json.size();
  for (int k = 0; k < 8; ++k) {
    out.bytes[static_cast<size_t>(k)] = static_cast<char>(len & 0xFF);
    len >>= 8;
  }
  out.bytes += json;
  return out;
}

absl::StatusOr<std::string> Encode(
    const std::vector<std::pair<std::string, Array>>& tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<EncodeInput> inputs;
  for (const auto& [name, a] : tensors) {
    inputs.push_back({name, a.dtype(), a.shape()});
  }
  absl::StatusOr<EncodedHeader> h = EncodeHeader(inputs, metadata);
  if (!h.ok()) return h.status();
  std::string out = std::move(h->bytes);
  for (size_t i : h->order) {
    const Array& a = tensors[i].second;
    out.append(static_cast<const char*>(a.data()), a.nbytes());
  }
  return out;
}

}  // namespace ckptdb::safetensors
