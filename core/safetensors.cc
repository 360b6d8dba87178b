#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/json.h"

namespace ckptdb::safetensors {
namespace {

using ::ckptdb::json::Json;
using ::ckptdb::json::JsonParser;
using ::ckptdb::json::KindName;

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
  absl::StatusOr<Json> doc =
      parser.ParseDocument("the header does not start with '{'");
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
