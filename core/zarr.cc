#include "core/zarr.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/crc32c.h"
#include "core/decompress.h"
#include "core/numpy_dtype.h"

namespace ckptdb::zarr {
namespace {

using json::Json;

absl::Status Bad(absl::string_view what, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", msg));
}
absl::Status Loss(absl::string_view what, absl::string_view msg) {
  return absl::DataLossError(absl::StrCat(what, ": ", msg));
}

absl::StatusOr<std::vector<int64_t>> Dims(const Json* v,
                                          absl::string_view field,
                                          absl::string_view what,
                                          bool positive) {
  if (v == nullptr || v->kind != Json::Kind::kArray) {
    return Bad(what,
               absl::StrCat("\"", field, "\" is missing or not an array"));
  }
  if (v->items.size() > 32)
    return Bad(what,
               absl::StrCat("\"", field, "\" has more than 32 dimensions"));
  std::vector<int64_t> out;
  for (const Json& d : v->items) {
    std::optional<int64_t> n = d.AsInt64();
    if (!n.has_value() || *n < (positive ? 1 : 0) || *n > (int64_t{1} << 48)) {
      return Bad(what, absl::StrCat("\"", field, "\" holds an invalid size"));
    }
    out.push_back(*n);
  }
  return out;
}

// Element component size for byte swapping (complex: each half).
size_t SwapUnit(DType d) {
  return IsComplexDType(d) ? DTypeSize(d) / 2 : DTypeSize(d);
}

void ByteSwap(std::string* bytes, size_t unit) {
  if (unit <= 1) return;
  for (size_t i = 0; i + unit <= bytes->size(); i += unit) {
    std::reverse(bytes->begin() + i, bytes->begin() + i + unit);
  }
}

absl::StatusOr<double> NumberValue(const Json& v, absl::string_view what) {
  const std::string& s = v.str;
  if (s == "NaN") return std::nan("");
  if (s == "Infinity") return HUGE_VAL;
  if (s == "-Infinity") return -HUGE_VAL;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return Bad(what, absl::StrCat("invalid fill_value '", s, "'"));
  }
  return d;
}

// One element of `dtype` holding the fill value `v`.
absl::StatusOr<std::string> FillBytes(const Json* v, DType dtype,
                                      absl::string_view what) {
  const size_t size = DTypeSize(dtype);
  std::string out(size, '\0');
  if (v == nullptr || v->kind == Json::Kind::kNull) return out;
  if (v->kind == Json::Kind::kBool) {
    const uint8_t b = v->str == "true" ? 1 : 0;
    CastElements(DType::kUInt8, &b, dtype, out.data(), 1);
    return out;
  }
  if (v->kind == Json::Kind::kString) {
    const std::string& s = v->str;
    if (s.size() > 2 && s[0] == '0' && s[1] == 'x' &&
        s.size() == 2 + 2 * size) {
      // v3: the element's bits, big-endian hex.
      for (size_t k = 0; k < size; ++k) {
        const std::string byte = s.substr(2 + 2 * k, 2);
        char* end = nullptr;
        const long b = std::strtol(byte.c_str(), &end, 16);
        if (end != byte.c_str() + 2) return Bad(what, "invalid hex fill_value");
        out[size - 1 - k] = static_cast<char>(b);
      }
      return out;
    }
    Json num;
    num.str = s;
    absl::StatusOr<double> d = NumberValue(num, what);
    if (!d.ok()) return d.status();
    CastElements(DType::kFloat64, &*d, dtype, out.data(), 1);
    return out;
  }
  if (v->kind == Json::Kind::kArray && v->items.size() == 2 &&
      IsComplexDType(dtype)) {
    double parts[2];
    for (int k = 0; k < 2; ++k) {
      absl::StatusOr<double> d = NumberValue(v->items[k], what);
      if (!d.ok()) return d.status();
      parts[k] = *d;
    }
    CastElements(DType::kComplex128, parts, dtype, out.data(), 1);
    return out;
  }
  if (v->kind != Json::Kind::kNumber) return Bad(what, "invalid fill_value");
  if (IsIntegerDType(dtype) || dtype == DType::kBool) {
    if (v->is_uint) {
      CastElements(DType::kUInt64, &v->uint, dtype, out.data(), 1);
      return out;
    }
    if (std::optional<int64_t> i = v->AsInt64(); i.has_value()) {
      CastElements(DType::kInt64, &*i, dtype, out.data(), 1);
      return out;
    }
  }
  absl::StatusOr<double> d = NumberValue(*v, what);
  if (!d.ok()) return d.status();
  CastElements(DType::kFloat64, &*d, dtype, out.data(), 1);
  return out;
}

absl::StatusOr<DType> V2DType(const Json* v, bool* big_endian,
                              absl::string_view what) {
  if (v == nullptr || v->kind != Json::Kind::kString) {
    return Bad(what,
               "\"dtype\" is missing or not a string (structured "
               "dtypes are not supported)");
  }
  const std::string& s = v->str;
  *big_endian = false;
  if (s == "bfloat16") return DType::kBFloat16;
  if (s.size() >= 2 && (s[0] == '<' || s[0] == '>' || s[0] == '|')) {
    std::optional<DType> d = internal::DTypeForNumpyCode(s.substr(1));
    if (d.has_value()) {
      *big_endian = s[0] == '>' && DTypeSize(*d) > 1;
      return *d;
    }
  }
  return Bad(what, absl::StrCat("unsupported zarr dtype '", s, "'"));
}

// The stored bytes of a v2 chunk, decompressed.
absl::StatusOr<std::string> DecompressV2(const Json& compressor,
                                         std::string data, size_t max,
                                         absl::string_view what) {
  if (compressor.kind == Json::Kind::kNull) return data;
  const Json* id = compressor.Find("id");
  if (id == nullptr || id->kind != Json::Kind::kString) {
    return Bad(what, "compressor without an \"id\"");
  }
  if (id->str == "zstd") return decompress::Zstd(data, max, what);
  if (id->str == "gzip") return decompress::Zlib(data, true, max, what);
  if (id->str == "zlib") return decompress::Zlib(data, false, max, what);
  if (id->str == "blosc") return decompress::Blosc(data, max, what);
  return absl::UnimplementedError(
      absl::StrCat(what, ": unsupported codec '", id->str, "'"));
}

absl::StatusOr<std::string> DecodeV3(const Json& codecs,
                                     const std::vector<int64_t>& shape,
                                     const ArrayMeta& meta, std::string data,
                                     absl::string_view what, int depth);

// Splits a v3 chain into its bytes->bytes tail (applied in reverse when
// decoding) and its array->bytes codec, checking any array->array one.
absl::Status SplitChain(const Json& codecs, const Json** array_to_bytes,
                        std::vector<const Json*>* bytes_to_bytes,
                        absl::string_view what) {
  if (codecs.kind != Json::Kind::kArray) {
    return Bad(what, "\"codecs\" is not an array");
  }
  *array_to_bytes = nullptr;
  for (const Json& c : codecs.items) {
    const Json* name = c.Find("name");
    if (name == nullptr || name->kind != Json::Kind::kString) {
      return Bad(what, "a codec without a \"name\"");
    }
    const std::string& n = name->str;
    if (n == "bytes" || n == "sharding_indexed") {
      if (*array_to_bytes != nullptr) {
        return Bad(what, "two array-to-bytes codecs");
      }
      *array_to_bytes = &c;
    } else if (n == "transpose") {
      const Json* conf = c.Find("configuration");
      const Json* order = conf == nullptr ? nullptr : conf->Find("order");
      bool identity = order != nullptr && order->kind == Json::Kind::kArray;
      if (identity) {
        for (size_t k = 0; k < order->items.size(); ++k) {
          if (order->items[k].AsInt64() != static_cast<int64_t>(k)) {
            identity = false;
          }
        }
      }
      if (!identity) {
        return absl::UnimplementedError(
            absl::StrCat(what, ": unsupported codec 'transpose'"));
      }
    } else if (*array_to_bytes == nullptr) {
      return Bad(what, absl::StrCat("codec '", n,
                                    "' before the array-to-bytes codec"));
    } else {
      bytes_to_bytes->push_back(&c);
    }
  }
  if (*array_to_bytes == nullptr) {
    return Bad(what, "no array-to-bytes codec (\"bytes\")");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ApplyBytesCodec(const Json& c, std::string data,
                                            size_t max,
                                            absl::string_view what) {
  const std::string& n = c.Find("name")->str;
  if (n == "zstd") return decompress::Zstd(data, max, what);
  if (n == "gzip") return decompress::Zlib(data, true, max, what);
  if (n == "blosc") return decompress::Blosc(data, max, what);
  if (n == "crc32c") {
    if (data.size() < 4) return Loss(what, "shorter than its crc32c");
    const size_t body = data.size() - 4;
    uint32_t stored = 0;
    for (int k = 3; k >= 0; --k) {
      stored = (stored << 8) | static_cast<uint8_t>(data[body + k]);
    }
    if (crc32c::Value(absl::string_view(data).substr(0, body)) != stored) {
      return Loss(what, "crc32c mismatch");
    }
    data.resize(body);
    return data;
  }
  return absl::UnimplementedError(
      absl::StrCat(what, ": unsupported codec '", n, "'"));
}

// Copies the C-order chunk `src` (shape `cshape`, at element origin
// `origin` of the array) into the C-order array `dst` (shape `ashape`),
// clipping at the array's edge. `fortran`: `src` is F-order.
void CopyChunk(const std::string& src, const std::vector<int64_t>& cshape,
               const std::vector<int64_t>& origin, bool fortran,
               const Shape& ashape, size_t item, char* dst) {
  const size_t rank = ashape.size();
  if (rank == 0) {
    std::memcpy(dst, src.data(), item);
    return;
  }
  std::vector<int64_t> extent(rank), sstride(rank), dstride(rank);
  for (size_t d = 0; d < rank; ++d) {
    extent[d] = std::min(cshape[d], ashape[d] - origin[d]);
    if (extent[d] <= 0) return;
  }
  int64_t s = 1, t = 1;
  for (size_t k = 0; k < rank; ++k) {
    const size_t d = fortran ? k : rank - 1 - k;
    sstride[d] = s;
    s *= cshape[d];
  }
  for (size_t d = rank; d-- > 0;) {
    dstride[d] = t;
    t *= ashape[d];
  }
  std::vector<int64_t> idx(rank, 0);
  const bool contiguous = sstride[rank - 1] == 1;
  const int64_t run = contiguous ? extent[rank - 1] : 1;
  while (true) {
    int64_t so = 0, dof = 0;
    for (size_t d = 0; d < rank; ++d) {
      so += idx[d] * sstride[d];
      dof += (origin[d] + idx[d]) * dstride[d];
    }
    std::memcpy(dst + dof * item, src.data() + so * item, run * item);
    size_t d = rank;
    idx[rank - 1] += run - 1;
    while (d-- > 0) {
      if (++idx[d] < extent[d]) break;
      idx[d] = 0;
      if (d == 0) return;
    }
  }
}

// Fills a buffer of `n` elements with `fill`.
std::string Filled(const std::string& fill, int64_t n) {
  std::string out;
  out.reserve(static_cast<size_t>(n) * fill.size());
  for (int64_t i = 0; i < n; ++i) out += fill;
  return out;
}

int64_t Product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

absl::StatusOr<std::string> DecodeShard(const Json& sharding,
                                        const std::vector<int64_t>& shape,
                                        const ArrayMeta& meta, std::string data,
                                        absl::string_view what, int depth) {
  const Json* conf = sharding.Find("configuration");
  if (conf == nullptr)
    return Bad(what, "sharding_indexed without configuration");
  absl::StatusOr<std::vector<int64_t>> inner =
      Dims(conf->Find("chunk_shape"), "chunk_shape", what, true);
  if (!inner.ok()) return inner.status();
  if (inner->size() != shape.size()) {
    return Bad(what, "inner chunk_shape rank differs from the shard's");
  }
  std::vector<int64_t> grid(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] % (*inner)[d] != 0) {
      return Bad(what, "shard shape is not a multiple of the inner chunks");
    }
    grid[d] = shape[d] / (*inner)[d];
  }
  const int64_t n = Product(grid);
  const Json* icodecs = conf->Find("index_codecs");
  const Json* loc = conf->Find("index_location");
  const bool at_start = loc != nullptr && loc->str == "start";
  // The index's encoded size: 16 bytes per inner chunk, plus 4 per crc32c.
  size_t index_size = static_cast<size_t>(n) * 16;
  if (icodecs != nullptr && icodecs->kind == Json::Kind::kArray) {
    for (const Json& c : icodecs->items) {
      const Json* name = c.Find("name");
      if (name != nullptr && name->str == "crc32c") index_size += 4;
    }
  }
  if (data.size() < index_size) {
    return Loss(what, absl::StrCat("shard of ", data.size(),
                                   " bytes is shorter than its index (",
                                   index_size, " bytes)"));
  }
  std::string index = at_start
                          ? data.substr(0, index_size)
                          : data.substr(data.size() - index_size, index_size);
  if (icodecs != nullptr) {
    ArrayMeta index_meta;
    index_meta.dtype = DType::kUInt64;
    absl::StatusOr<std::string> decoded =
        DecodeV3(*icodecs, {n, 2}, index_meta, std::move(index),
                 absl::StrCat(what, " (shard index)"), depth + 1);
    if (!decoded.ok()) return decoded.status();
    index = *std::move(decoded);
  }
  const size_t item = DTypeSize(meta.dtype);
  std::string out = Filled(meta.fill, Product(shape));
  std::vector<int64_t> pos(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t off = 0, len = 0;
    std::memcpy(&off, index.data() + i * 16, 8);
    std::memcpy(&len, index.data() + i * 16 + 8, 8);
    if (!(off == UINT64_MAX && len == UINT64_MAX)) {
      if (off > data.size() || len > data.size() - off) {
        return Loss(
            what,
            absl::StrCat("inner chunk ", i, " (", len, " bytes at ", off,
                         ") lies outside the shard (", data.size(), " bytes)"));
      }
      const Json* codecs = conf->Find("codecs");
      if (codecs == nullptr)
        return Bad(what, "sharding_indexed without codecs");
      absl::StatusOr<std::string> chunk =
          DecodeV3(*codecs, *inner, meta, data.substr(off, len),
                   absl::StrCat(what, " (inner chunk ", i, ")"), depth + 1);
      if (!chunk.ok()) return chunk.status();
      std::vector<int64_t> origin(shape.size());
      for (size_t d = 0; d < shape.size(); ++d)
        origin[d] = pos[d] * (*inner)[d];
      CopyChunk(*chunk, *inner, origin, false, Shape(shape), item, out.data());
    }
    for (size_t d = shape.size(); d-- > 0;) {
      if (++pos[d] < grid[d]) break;
      pos[d] = 0;
    }
  }
  return out;
}

absl::StatusOr<std::string> DecodeV3(const Json& codecs,
                                     const std::vector<int64_t>& shape,
                                     const ArrayMeta& meta, std::string data,
                                     absl::string_view what, int depth) {
  if (depth > 8) return Bad(what, "codecs nested too deeply");
  const Json* a2b = nullptr;
  std::vector<const Json*> b2b;
  absl::Status s = SplitChain(codecs, &a2b, &b2b, what);
  if (!s.ok()) return s;
  const uint64_t decoded_bytes =
      static_cast<uint64_t>(Product(shape)) * DTypeSize(meta.dtype);
  // Compressed layers may hold at most the decoded size plus headroom (a
  // shard's index, crc32c trailers).
  const size_t max = static_cast<size_t>(
      decoded_bytes + (1u << 20) + static_cast<uint64_t>(Product(shape)) * 16);
  for (auto it = b2b.rbegin(); it != b2b.rend(); ++it) {
    absl::StatusOr<std::string> next =
        ApplyBytesCodec(**it, std::move(data), max, what);
    if (!next.ok()) return next.status();
    data = *std::move(next);
  }
  if (a2b->Find("name")->str == "sharding_indexed") {
    return DecodeShard(*a2b, shape, meta, std::move(data), what, depth);
  }
  if (data.size() != decoded_bytes) {
    return Loss(what, absl::StrCat("chunk holds ", data.size(),
                                   " bytes, expected ", decoded_bytes));
  }
  const Json* conf = a2b->Find("configuration");
  const Json* endian = conf == nullptr ? nullptr : conf->Find("endian");
  if (endian != nullptr && endian->str == "big") {
    ByteSwap(&data, SwapUnit(meta.dtype));
  }
  return data;
}

absl::StatusOr<DType> V3DType(const Json* v, absl::string_view what) {
  if (v == nullptr || v->kind != Json::Kind::kString) {
    return Bad(what, "\"data_type\" is missing or not a string");
  }
  absl::StatusOr<DType> d = DTypeFromName(v->str);
  if (!d.ok() || v->str.find_first_of("<>|") != std::string::npos) {
    return Bad(what, absl::StrCat("unsupported zarr data_type '", v->str, "'"));
  }
  return *d;
}

}  // namespace

absl::StatusOr<ArrayMeta> ZarrayV2FromJson(const Json& doc,
                                           absl::string_view what) {
  if (doc.kind != Json::Kind::kObject) return Bad(what, "not a JSON object");
  const Json* fmt = doc.Find("zarr_format");
  if (fmt != nullptr && fmt->AsInt64() != 2) {
    return Bad(what, "\"zarr_format\" is not 2");
  }
  ArrayMeta m;
  m.zarr_format = 2;
  absl::StatusOr<std::vector<int64_t>> shape =
      Dims(doc.Find("shape"), "shape", what, false);
  if (!shape.ok()) return shape.status();
  m.shape = *shape;
  absl::StatusOr<std::vector<int64_t>> chunks =
      Dims(doc.Find("chunks"), "chunks", what, true);
  if (!chunks.ok()) return chunks.status();
  m.chunks = *chunks;
  if (m.chunks.size() != m.shape.size()) {
    return Bad(what, "\"chunks\" and \"shape\" differ in rank");
  }
  absl::StatusOr<DType> dt = V2DType(doc.Find("dtype"), &m.big_endian, what);
  if (!dt.ok()) return dt.status();
  m.dtype = *dt;
  if (const Json* order = doc.Find("order"); order != nullptr) {
    if (order->str != "C" && order->str != "F") {
      return Bad(what, "\"order\" is neither \"C\" nor \"F\"");
    }
    m.fortran_order = order->str == "F";
  }
  if (const Json* f = doc.Find("filters");
      f != nullptr && f->kind != Json::Kind::kNull &&
      !(f->kind == Json::Kind::kArray && f->items.empty())) {
    return absl::UnimplementedError(
        absl::StrCat(what, ": zarr filters are not supported"));
  }
  if (const Json* sep = doc.Find("dimension_separator"); sep != nullptr) {
    if (sep->str != "." && sep->str != "/") {
      return Bad(what, "\"dimension_separator\" is neither \".\" nor \"/\"");
    }
    m.separator = sep->str[0];
  }
  if (const Json* c = doc.Find("compressor"); c != nullptr) {
    if (c->kind != Json::Kind::kNull && c->kind != Json::Kind::kObject) {
      return Bad(what, "\"compressor\" is neither null nor an object");
    }
    m.compressor = *c;
  }
  absl::StatusOr<std::string> fill =
      FillBytes(doc.Find("fill_value"), m.dtype, what);
  if (!fill.ok()) return fill.status();
  m.fill = *fill;
  return m;
}

absl::StatusOr<ArrayMeta> ParseZarrayV2(absl::string_view text,
                                        absl::string_view what) {
  json::JsonParser p(text, 0, what);
  p.set_allow_nonfinite(true);
  absl::StatusOr<Json> doc = p.ParseDocument("not a JSON object");
  if (!doc.ok()) return doc.status();
  return ZarrayV2FromJson(*doc, what);
}

absl::StatusOr<ArrayMeta> ParseZarrJsonV3(absl::string_view text,
                                          absl::string_view what) {
  json::JsonParser p(text, 0, what);
  p.set_allow_nonfinite(true);
  absl::StatusOr<Json> doc = p.ParseDocument("not a JSON object");
  if (!doc.ok()) return doc.status();
  const Json* fmt = doc->Find("zarr_format");
  if (fmt == nullptr || fmt->AsInt64() != 3) {
    return Bad(what, "\"zarr_format\" is not 3");
  }
  const Json* node = doc->Find("node_type");
  if (node == nullptr || node->str != "array") {
    return Bad(what, "\"node_type\" is not \"array\"");
  }
  ArrayMeta m;
  m.zarr_format = 3;
  absl::StatusOr<std::vector<int64_t>> shape =
      Dims(doc->Find("shape"), "shape", what, false);
  if (!shape.ok()) return shape.status();
  m.shape = *shape;
  absl::StatusOr<DType> dt = V3DType(doc->Find("data_type"), what);
  if (!dt.ok()) return dt.status();
  m.dtype = *dt;
  const Json* grid = doc->Find("chunk_grid");
  const Json* gname = grid == nullptr ? nullptr : grid->Find("name");
  const Json* gconf = grid == nullptr ? nullptr : grid->Find("configuration");
  if (gname == nullptr || gname->str != "regular" || gconf == nullptr) {
    return Bad(what, "\"chunk_grid\" is not a regular grid");
  }
  absl::StatusOr<std::vector<int64_t>> chunks =
      Dims(gconf->Find("chunk_shape"), "chunk_shape", what, true);
  if (!chunks.ok()) return chunks.status();
  m.chunks = *chunks;
  if (m.chunks.size() != m.shape.size()) {
    return Bad(what, "\"chunk_shape\" and \"shape\" differ in rank");
  }
  m.v3_default_keys = true;
  m.separator = '/';
  if (const Json* enc = doc->Find("chunk_key_encoding"); enc != nullptr) {
    const Json* name = enc->Find("name");
    const Json* conf = enc->Find("configuration");
    const Json* sep = conf == nullptr ? nullptr : conf->Find("separator");
    if (name == nullptr || (name->str != "default" && name->str != "v2")) {
      return Bad(what, "unsupported \"chunk_key_encoding\"");
    }
    m.v3_default_keys = name->str == "default";
    m.separator = m.v3_default_keys ? '/' : '.';
    if (sep != nullptr) {
      if (sep->str != "." && sep->str != "/") {
        return Bad(what, "chunk key separator is neither \".\" nor \"/\"");
      }
      m.separator = sep->str[0];
    }
  }
  const Json* codecs = doc->Find("codecs");
  if (codecs == nullptr) return Bad(what, "\"codecs\" is missing");
  m.codecs = *codecs;
  const Json* a2b = nullptr;
  std::vector<const Json*> b2b;
  absl::Status s = SplitChain(m.codecs, &a2b, &b2b, what);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> fill =
      FillBytes(doc->Find("fill_value"), m.dtype, what);
  if (!fill.ok()) return fill.status();
  m.fill = *fill;
  return m;
}

std::string ChunkKey(const ArrayMeta& meta, const std::vector<int64_t>& index) {
  const std::string sep(1, meta.separator);
  if (meta.zarr_format == 3 && meta.v3_default_keys) {
    if (index.empty()) return "c";
    return absl::StrCat("c", sep, absl::StrJoin(index, sep));
  }
  if (index.empty()) return "0";
  return absl::StrJoin(index, sep);
}

absl::StatusOr<Array> ReadArray(const ArrayMeta& meta,
                                const ChunkSource& source,
                                absl::string_view what, uint64_t max_bytes) {
  const size_t item = DTypeSize(meta.dtype);
  uint64_t elements = 1;
  for (int64_t d : meta.shape) {
    if (d != 0 && elements > max_bytes / static_cast<uint64_t>(d)) {
      return Bad(what, "the array is too large");
    }
    elements *= static_cast<uint64_t>(d);
  }
  if (elements > max_bytes / item) return Bad(what, "the array is too large");
  uint64_t chunk_elements = 1;
  for (int64_t c : meta.chunks) {
    if (chunk_elements > max_bytes / static_cast<uint64_t>(c)) {
      return Bad(what, "the chunk shape is too large");
    }
    chunk_elements *= static_cast<uint64_t>(c);
  }
  if (chunk_elements > max_bytes / item) {
    return Bad(what, "the chunk shape is too large");
  }
  // Memory is allocated before any chunk is read: refuse what cannot fit
  // (a hostile shape must not end in an allocation failure).
  const uint64_t pages = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES));
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t ram = pages > 0 && page > 0 ? pages * page : 0;
  for (uint64_t bytes : {elements * item, chunk_elements * item}) {
    if (ram != 0 && bytes > ram) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, ": ", bytes, " bytes (shape ", ShapeToString(meta.shape),
          ", chunks ", ShapeToString(meta.chunks),
          ") do not fit in this machine's memory"));
    }
  }
  Array out = Array::Allocate(meta.dtype, meta.shape);
  char* dst = static_cast<char*>(out.mutable_data());
  for (uint64_t i = 0; i < elements; ++i) {
    std::memcpy(dst + i * item, meta.fill.data(), item);
  }
  if (elements == 0) return out;
  const size_t rank = meta.shape.size();
  std::vector<int64_t> grid(rank), idx(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    grid[d] = (meta.shape[d] + meta.chunks[d] - 1) / meta.chunks[d];
  }
  const uint64_t chunk_bytes = chunk_elements * item;
  while (true) {
    const std::string key = ChunkKey(meta, idx);
    const std::string cwhat = absl::StrCat(what, " chunk '", key, "'");
    absl::StatusOr<std::optional<std::string>> stored = source(key);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      absl::StatusOr<std::string> data;
      if (meta.zarr_format == 2) {
        data = DecompressV2(meta.compressor, **std::move(stored),
                            static_cast<size_t>(chunk_bytes), cwhat);
        if (data.ok() && data->size() != chunk_bytes) {
          return Loss(cwhat, absl::StrCat("holds ", data->size(),
                                          " bytes, expected ", chunk_bytes));
        }
        if (data.ok() && meta.big_endian)
          ByteSwap(&*data, SwapUnit(meta.dtype));
      } else {
        data = DecodeV3(meta.codecs, meta.chunks, meta, **std::move(stored),
                        cwhat, 0);
      }
      if (!data.ok()) return data.status();
      std::vector<int64_t> origin(rank);
      for (size_t d = 0; d < rank; ++d) origin[d] = idx[d] * meta.chunks[d];
      CopyChunk(*data, meta.chunks, origin, meta.fortran_order, meta.shape,
                item, dst);
    }
    size_t d = rank;
    while (d-- > 0) {
      if (++idx[d] < grid[d]) break;
      idx[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) break;
  }
  return out;
}

}  // namespace ckptdb::zarr
