#include "core/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ckptdb/status.h"
#include "core/numpy_dtype.h"

namespace ckptdb::npy {

size_t DecodeUtf8At(absl::string_view s, size_t i, uint32_t* cp) {
  const uint8_t c = static_cast<uint8_t>(s[i]);
  size_t len;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2;
    *cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    *cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    *cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const uint8_t cc = static_cast<uint8_t>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (cc & 0x3f);
  }
  const bool overlong = (len == 2 && *cp < 0x80) || (len == 3 && *cp < 0x800) ||
                        (len == 4 && *cp < 0x10000);
  if (overlong || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) {
    return 0;
  }
  return len;
}

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    uint32_t cp;
    const size_t len = npy::DecodeUtf8At(s, i, &cp);
    if (len == 0) return false;
    i += len - 1;
  }
  return true;
}

std::string EscapeInvalidUtf8(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    const size_t len = npy::DecodeUtf8At(s, i, &cp);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.append(s.data() + i, len);
      i += len - 1;
    }
  }
  return out;
}

std::string EncodePathComponent(absl::string_view key) {
  if (key.empty()) return "%";
  if (key == "." || key == "..") {
    return key.size() == 1 ? "%2E" : "%2E%2E";
  }
  std::string out;
  for (char c : key) {
    if (c == '/' || c == '%' || c == '\0') {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<uint8_t>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string DecodePathComponent(absl::string_view name) {
  if (name == "%") return "";
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    int v = 0;
    if (name[i] == '%' && i + 2 < name.size() &&
        absl::ascii_isxdigit(name[i + 1]) &&
        absl::ascii_isxdigit(name[i + 2]) &&
        absl::SimpleHexAtoi(name.substr(i + 1, 2), &v)) {
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

// ---- UTF-8 <-> code points (invalid bytes round-trip as U+DC80..U+DCFF,
// Python's surrogateescape) ------------------------------------------------

std::vector<uint32_t> Utf8ToCodePoints(absl::string_view s) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    const size_t len = DecodeUtf8At(s, i, &cp);
    if (len == 0) {
      out.push_back(0xdc00 + static_cast<uint8_t>(s[i]));
      ++i;
    } else {
      out.push_back(cp);
      i += len;
    }
  }
  return out;
}

std::string CodePointsToUtf8(const std::vector<uint32_t>& cps) {
  std::string out;
  for (uint32_t cp : cps) {
    if (cp >= 0xdc80 && cp <= 0xdcff) {
      out.push_back(static_cast<char>(cp - 0xdc00));
    } else if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  return out;
}

// ---- the header dict: a tiny parser for the Python literal --------------

class DictParser {
 public:
  explicit DictParser(absl::string_view s) : s_(s) {}

  absl::Status Parse(NpyHeader* h) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    SkipSpace();
    if (!Eat('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Eat('}')) break;
      std::string key;
      CKPTDB_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Eat(':')) return Error("expected ':'");
      SkipSpace();
      if (key == "descr") {
        if (Peek() == '[') {
          return absl::InvalidArgumentError(
              "structured dtypes (record arrays) are not supported");
        }
        CKPTDB_RETURN_IF_ERROR(ParseString(&h->descr));
        have_descr = true;
      } else if (key == "fortran_order") {
        if (Consume("True")) {
          h->fortran_order = true;
        } else if (Consume("False")) {
          h->fortran_order = false;
        } else {
          return Error("fortran_order must be True or False");
        }
        have_fortran = true;
      } else if (key == "shape") {
        CKPTDB_RETURN_IF_ERROR(ParseShape(&h->shape));
        have_shape = true;
      } else {
        return Error(
            absl::StrCat("unexpected key '", EscapeInvalidUtf8(key), "'"));
      }
      SkipSpace();
      if (Eat(',')) continue;
      SkipSpace();
      if (Eat('}')) break;
      return Error("expected ',' or '}'");
    }
    if (!have_descr || !have_fortran || !have_shape) {
      return Error("the header lacks 'descr', 'fortran_order' or 'shape'");
    }
    return absl::OkStatus();
  }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool Consume(absl::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && absl::ascii_isspace(s_[pos_])) ++pos_;
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("bad .npy header (", what, " at offset ", pos_, ")"));
  }
  absl::Status ParseString(std::string* out) {
    const char q = Peek();
    if (q != '\'' && q != '"') return Error("expected a quoted string");
    ++pos_;
    const size_t end = s_.find(q, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    *out = std::string(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return absl::OkStatus();
  }
  absl::Status ParseShape(Shape* shape) {
    if (!Eat('(')) return Error("shape must be a tuple");
    shape->clear();
    while (true) {
      SkipSpace();
      if (Eat(')')) return absl::OkStatus();
      size_t start = pos_;
      while (pos_ < s_.size() && absl::ascii_isdigit(s_[pos_])) ++pos_;
      int64_t v;
      if (start == pos_ ||
          !absl::SimpleAtoi(s_.substr(start, pos_ - start), &v)) {
        return Error("shape entries must be non-negative integers");
      }
      Eat('L');  // Python 2 longs
      shape->push_back(v);
      SkipSpace();
      if (Eat(',')) continue;
      SkipSpace();
      if (Eat(')')) return absl::OkStatus();
      return Error("expected ',' or ')' in the shape");
    }
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

// Byte-swaps `count` elements of `elem` bytes each (complex numbers: each
// of their two halves).
void ByteSwap(char* p, size_t count, size_t elem, bool complex) {
  const size_t unit = complex ? elem / 2 : elem;
  const size_t units = count * (elem / unit);
  if (unit == 1) return;
  for (size_t i = 0; i < units; ++i)
    std::reverse(p + i * unit, p + (i + 1) * unit);
}

// Copies Fortran-ordered elements into C order.
void FortranToC(const char* src, char* dst, const Shape& shape, size_t elem) {
  const size_t rank = shape.size();
  const int64_t n = ShapeNumElements(shape);
  if (n <= 0) return;
  std::vector<int64_t> idx(rank, 0);
  std::vector<int64_t> fstride(rank, 1);
  for (size_t k = 1; k < rank; ++k) fstride[k] = fstride[k - 1] * shape[k - 1];
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t k = 0; k < rank; ++k) off += idx[k] * fstride[k];
    std::memcpy(dst + i * elem, src + off * elem, elem);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

}  // namespace

absl::StatusOr<std::string> DescrForDType(DType dtype) {
  const absl::string_view typestr = internal::NumpyTypestr(dtype);
  if (typestr.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("numpy has no ", DTypeName(dtype), " dtype"));
  }
  // numpy writes '|' (not applicable) as the byte order of 1-byte types.
  return absl::StrCat(DTypeSize(dtype) == 1 ? "|" : "<", typestr);
}

absl::StatusOr<DType> DTypeForDescr(absl::string_view descr,
                                    bool* byte_swapped) {
  *byte_swapped = false;
  absl::string_view d = descr;
  char order = '=';
  if (!d.empty() &&
      (d[0] == '<' || d[0] == '>' || d[0] == '=' || d[0] == '|')) {
    order = d[0];
    d.remove_prefix(1);
  }
  const std::optional<DType> dt = internal::DTypeForNumpyCode(d);
  if (!dt.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported numpy dtype '", EscapeInvalidUtf8(descr),
                     "' (ckptdb stores bool, integers, floats and complex)"));
  }
  *byte_swapped = order == '>' && DTypeSize(*dt) > 1;
  return *dt;
}

std::string EncodeNpyHeader(absl::string_view descr, const Shape& shape,
                            bool fortran_order) {
  std::string dict =
      absl::StrCat("{'descr': '", descr,
                   "', 'fortran_order': ", fortran_order ? "True" : "False",
                   ", 'shape': ", ShapeToString(shape), ", }");
  // Version 1.0 has a 2-byte length; 2.0 a 4-byte one.
  int len_bytes = 2;
  int major = 1;
  if (kMagicLen + 2 + 2 + dict.size() + 1 + kAlign > 65535) {
    len_bytes = 4;
    major = 2;
  }
  const size_t unpadded = kMagicLen + 2 + len_bytes + dict.size() + 1;
  const size_t pad = (kAlign - unpadded % kAlign) % kAlign;
  dict.append(pad, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  PutLe(&out, dict.size(), len_bytes);
  out += dict;
  return out;
}

absl::StatusOr<NpyHeader> DecodeNpyHeader(absl::string_view file) {
  if (file.size() < kMagicLen + 4 ||
      file.substr(0, kMagicLen) != absl::string_view(kMagic, kMagicLen)) {
    return absl::InvalidArgumentError("not a .npy file (bad magic)");
  }
  const int major = static_cast<uint8_t>(file[6]);
  size_t len_bytes;
  if (major == 1) {
    len_bytes = 2;
  } else if (major == 2 || major == 3) {
    len_bytes = 4;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy format version ", major));
  }
  if (file.size() < kMagicLen + 2 + len_bytes) {
    return absl::InvalidArgumentError("truncated .npy header");
  }
  const uint64_t hlen = GetLe(file.data() + 8, static_cast<int>(len_bytes));
  const size_t start = kMagicLen + 2 + len_bytes;
  if (file.size() < start + hlen) {
    return absl::InvalidArgumentError("truncated .npy header");
  }
  NpyHeader h;
  DictParser p(file.substr(start, hlen));
  CKPTDB_RETURN_IF_ERROR(p.Parse(&h));
  if (ShapeNumElements(h.shape) < 0) {
    return absl::InvalidArgumentError("bad .npy header (shape overflows)");
  }
  h.data_offset = start + hlen;
  return h;
}

std::string EncodeStringNpy(absl::string_view utf8) {
  const std::vector<uint32_t> cps = Utf8ToCodePoints(utf8);
  const size_t n = std::max<size_t>(1, cps.size());
  std::string out = EncodeNpyHeader(absl::StrCat("<U", n), {});
  for (size_t i = 0; i < n; ++i) PutLe(&out, i < cps.size() ? cps[i] : 0, 4);
  return out;
}

absl::StatusOr<NpyValue> DecodeNpy(std::shared_ptr<const std::string> file,
                                   absl::string_view what) {
  auto prefix = [&](const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message()));
  };
  auto h = DecodeNpyHeader(*file);
  if (!h.ok()) return prefix(h.status());
  NpyValue out;
  absl::string_view d = h->descr;
  if (!d.empty() &&
      (d[0] == '<' || d[0] == '>' || d[0] == '=' || d[0] == '|')) {
    d.remove_prefix(1);
  }
  if (!d.empty() && d[0] == 'U') {
    size_t chars;
    if (!absl::SimpleAtoi(d.substr(1), &chars) || !h->shape.empty()) {
      return prefix(absl::InvalidArgumentError(absl::StrCat(
          "unsupported numpy dtype '", EscapeInvalidUtf8(h->descr),
          "' (only a single string, a rank-0 str array, is supported)")));
    }
    if (file->size() < h->data_offset + chars * 4) {
      return prefix(absl::InvalidArgumentError("truncated data"));
    }
    const bool big = h->descr[0] == '>';
    std::vector<uint32_t> cps;
    for (size_t i = 0; i < chars; ++i) {
      const char* p = file->data() + h->data_offset + 4 * i;
      uint32_t cp =
          big ? static_cast<uint32_t>((static_cast<uint8_t>(p[0]) << 24) |
                                      (static_cast<uint8_t>(p[1]) << 16) |
                                      (static_cast<uint8_t>(p[2]) << 8) |
                                      static_cast<uint8_t>(p[3]))
              : static_cast<uint32_t>(GetLe(p, 4));
      cps.push_back(cp);
    }
    while (!cps.empty() && cps.back() == 0) cps.pop_back();
    out.is_string = true;
    out.str = CodePointsToUtf8(cps);
    return out;
  }
  bool swapped = false;
  auto dtype = DTypeForDescr(h->descr, &swapped);
  if (!dtype.ok()) return prefix(dtype.status());
  const int64_t n = ShapeNumElements(h->shape);
  const size_t elem = DTypeSize(*dtype);
  if (n < 0 || static_cast<uint64_t>(n) > (UINT64_MAX / 2) / elem) {
    return prefix(absl::InvalidArgumentError("shape too large"));
  }
  const uint64_t nbytes = static_cast<uint64_t>(n) * elem;
  if (file->size() < h->data_offset || file->size() - h->data_offset < nbytes) {
    return prefix(absl::InvalidArgumentError(absl::StrCat(
        "truncated data: the header declares ", nbytes, " bytes, the file has ",
        file->size() > h->data_offset ? file->size() - h->data_offset : 0)));
  }
  const char* src = file->data() + h->data_offset;
  const bool fortran = h->fortran_order && h->shape.size() > 1;
  if (!swapped && !fortran) {
    std::shared_ptr<void> owner = std::const_pointer_cast<std::string>(file);
    out.array = Array::Share(*dtype, h->shape, std::move(owner),
                             const_cast<char*>(src), /*writable=*/false);
    return out;
  }
  Array a = Array::Allocate(*dtype, h->shape);
  char* dst = static_cast<char*>(a.mutable_data());
  if (fortran) {
    FortranToC(src, dst, h->shape, elem);
  } else {
    std::memcpy(dst, src, nbytes);
  }
  if (swapped) ByteSwap(dst, n, elem, IsComplexDType(*dtype));
  out.array = std::move(a);
  return out;
}

// ---- ZipWriter --------------------------------------------------------------

namespace {
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint64_t kMax32 = 0xffffffffull;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
constexpr uint16_t kDosTime = 0;

uint32_t Crc32(uint32_t crc, absl::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}
}  // namespace

absl::StatusOr<std::unique_ptr<ZipWriter>> ZipWriter::Create(
    const std::string& path, const Options& options) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", path, "': ", std::strerror(errno)));
  }
  return std::unique_ptr<ZipWriter>(new ZipWriter(f, path, options));
}

ZipWriter::~ZipWriter() {
  if (f_ != nullptr) std::fclose(f_);
}

absl::Status ZipWriter::IoError(absl::string_view what) const {
  const int err = errno;
  std::string msg =
      absl::StrCat("cannot ", what, " '", path_, "': ", std::strerror(err));
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status ZipWriter::WriteRaw(absl::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
    return IoError("write");
  }
  offset_ += bytes.size();
  return absl::OkStatus();
}

// General-purpose flags of a member: bit 11 marks a UTF-8 name (as Python's
// zipfile, and so np.savez, writes it), without which readers take the name
// as CP437.
static uint16_t NameFlags(absl::string_view name) {
  for (unsigned char c : name) {
    if (c >= 0x80) return 1 << 11;
  }
  return 0;
}

absl::Status ZipWriter::BeginMember(absl::string_view name, uint64_t size) {
  if (f_ == nullptr || in_member_) {
    return absl::FailedPreconditionError("ZipWriter: member already open");
  }
  Entry e;
  e.name = std::string(name);
  e.size = size;
  e.offset = offset_;
  e.zip64 = options_.force_zip64 || size >= kMax32;
  std::string h;
  PutLe(&h, kLocalSig, 4);
  PutLe(&h, e.zip64 ? 45 : 20, 2);
  PutLe(&h, NameFlags(e.name), 2);  // flags
  PutLe(&h, 0, 2);                  // stored
  PutLe(&h, kDosTime, 2);
  PutLe(&h, kDosDate, 2);
  crc_pos_ = offset_ + h.size();
  PutLe(&h, 0, 4);  // crc, patched by EndMember
  PutLe(&h, e.zip64 ? kMax32 : size, 4);
  PutLe(&h, e.zip64 ? kMax32 : size, 4);
  PutLe(&h, e.name.size(), 2);
  PutLe(&h, e.zip64 ? 20 : 0, 2);
  h += e.name;
  if (e.zip64) {
    PutLe(&h, 0x0001, 2);
    PutLe(&h, 16, 2);
    PutLe(&h, size, 8);
    PutLe(&h, size, 8);
  }
  CKPTDB_RETURN_IF_ERROR(WriteRaw(h));
  entries_.push_back(std::move(e));
  in_member_ = true;
  written_ = 0;
  crc_ = 0;
  return absl::OkStatus();
}

absl::Status ZipWriter::Write(absl::string_view bytes) {
  if (!in_member_) {
    return absl::FailedPreconditionError("ZipWriter: no member open");
  }
  if (written_ + bytes.size() > entries_.back().size) {
    return absl::InvalidArgumentError(
        absl::StrCat("ZipWriter: member '", entries_.back().name,
                     "' is larger than declared"));
  }
  crc_ = Crc32(crc_, bytes);
  written_ += bytes.size();
  return WriteRaw(bytes);
}

absl::Status ZipWriter::EndMember() {
  if (!in_member_) {
    return absl::FailedPreconditionError("ZipWriter: no member open");
  }
  Entry& e = entries_.back();
  if (written_ != e.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("ZipWriter: member '", e.name, "' has ", written_,
                     " bytes, declared ", e.size));
  }
  e.crc = crc_;
  std::string crc;
  PutLe(&crc, crc_, 4);
  if (std::fflush(f_) != 0 ||
      fseeko(f_, static_cast<off_t>(crc_pos_), SEEK_SET) != 0 ||
      std::fwrite(crc.data(), 1, 4, f_) != 4 || std::fflush(f_) != 0 ||
      fseeko(f_, static_cast<off_t>(offset_), SEEK_SET) != 0) {
    return IoError("write");
  }
  in_member_ = false;
  return absl::OkStatus();
}

absl::Status ZipWriter::Finish() {
  if (f_ == nullptr) return absl::FailedPreconditionError("ZipWriter: closed");
  if (in_member_) CKPTDB_RETURN_IF_ERROR(EndMember());
  const uint64_t cd_offset = offset_;
  std::string cd;
  for (const Entry& e : entries_) {
    const bool big_offset = e.offset >= kMax32;
    std::string extra;
    if (e.zip64) {
      PutLe(&extra, e.size, 8);
      PutLe(&extra, e.size, 8);
    }
    if (big_offset) PutLe(&extra, e.offset, 8);
    PutLe(&cd, kCentralSig, 4);
    PutLe(&cd, (3 << 8) | 45, 2);  // made by: Unix, 4.5
    PutLe(&cd, (e.zip64 || big_offset) ? 45 : 20, 2);
    PutLe(&cd, NameFlags(e.name), 2);  // flags
    PutLe(&cd, 0, 2);                  // stored
    PutLe(&cd, kDosTime, 2);
    PutLe(&cd, kDosDate, 2);
    PutLe(&cd, e.crc, 4);
    PutLe(&cd, e.zip64 ? kMax32 : e.size, 4);
    PutLe(&cd, e.zip64 ? kMax32 : e.size, 4);
    PutLe(&cd, e.name.size(), 2);
    PutLe(&cd, extra.empty() ? 0 : extra.size() + 4, 2);
    PutLe(&cd, 0, 2);  // comment
    PutLe(&cd, 0, 2);  // disk
    PutLe(&cd, 0, 2);  // internal attributes
    PutLe(&cd, 0100644u << 16, 4);
    PutLe(&cd, big_offset ? kMax32 : e.offset, 4);
    cd += e.name;
    if (!extra.empty()) {
      PutLe(&cd, 0x0001, 2);
      PutLe(&cd, extra.size(), 2);
      cd += extra;
    }
  }
  CKPTDB_RETURN_IF_ERROR(WriteRaw(cd));
  const uint64_t n = entries_.size();
  const bool zip64_end =
      n >= 0xffff || cd_offset >= kMax32 || cd.size() >= kMax32;
  std::string end;
  if (zip64_end) {
    const uint64_t end64_offset = offset_;
    PutLe(&end, kEnd64Sig, 4);
    PutLe(&end, 44, 8);
    PutLe(&end, 45, 2);
    PutLe(&end, 45, 2);
    PutLe(&end, 0, 4);
    PutLe(&end, 0, 4);
    PutLe(&end, n, 8);
    PutLe(&end, n, 8);
    PutLe(&end, cd.size(), 8);
    PutLe(&end, cd_offset, 8);
    PutLe(&end, kEnd64LocatorSig, 4);
    PutLe(&end, 0, 4);
    PutLe(&end, end64_offset, 8);
    PutLe(&end, 1, 4);
  }
  PutLe(&end, kEndSig, 4);
  PutLe(&end, 0, 2);
  PutLe(&end, 0, 2);
  PutLe(&end, zip64_end ? 0xffff : n, 2);
  PutLe(&end, zip64_end ? 0xffff : n, 2);
  PutLe(&end, zip64_end ? kMax32 : cd.size(), 4);
  PutLe(&end, zip64_end ? kMax32 : cd_offset, 4);
  PutLe(&end, 0, 2);
  CKPTDB_RETURN_IF_ERROR(WriteRaw(end));
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fflush(f) != 0 || fsync(fileno(f)) != 0) {
    std::fclose(f);
    return IoError("write");
  }
  if (std::fclose(f) != 0) return IoError("close");
  return absl::OkStatus();
}

// ---- ZipReader --------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ZipReader>> ZipReader::Open(
    const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open '", path, "': ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    return absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("cannot stat '", path, "'"));
  }
  std::unique_ptr<ZipReader> r(
      new ZipReader(fd, path, static_cast<uint64_t>(st.st_size)));
  CKPTDB_RETURN_IF_ERROR(r->ReadDirectory());
  return r;
}

ZipReader::~ZipReader() { close(fd_); }

absl::Status ZipReader::ReadAt(uint64_t offset, size_t n,
                               std::string* out) const {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd_, out->data() + done, n - done,
                            static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      return absl::InternalError(
          absl::StrCat("cannot read '", path_, "': ", std::strerror(errno)));
    }
    if (r == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path_, "' is truncated"));
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status ZipReader::ReadDirectory() {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path_, "' is not a valid .npz/zip archive (", what, ")"));
  };
  if (file_size_ < 22) return bad("too short");
  const uint64_t tail = std::min<uint64_t>(file_size_, 22 + 65535);
  std::string buf;
  CKPTDB_RETURN_IF_ERROR(ReadAt(file_size_ - tail, tail, &buf));
  int64_t pos = -1;
  for (int64_t i = static_cast<int64_t>(buf.size()) - 22; i >= 0; --i) {
    if (GetLe(buf.data() + i, 4) == kEndSig &&
        i + 22 + GetLe(buf.data() + i + 20, 2) <= buf.size()) {
      pos = i;
      break;
    }
  }
  if (pos < 0) return bad("no end of central directory record");
  const char* e = buf.data() + pos;
  uint64_t count = GetLe(e + 10, 2);
  uint64_t cd_size = GetLe(e + 12, 4);
  uint64_t cd_offset = GetLe(e + 16, 4);
  if (GetLe(e + 4, 2) != 0 && GetLe(e + 4, 2) != 0xffff) {
    return bad("multi-disk archives are not supported");
  }
  if (count == 0xffff || cd_size == kMax32 || cd_offset == kMax32) {
    const uint64_t eocd_abs = file_size_ - tail + pos;
    if (eocd_abs < 20) return bad("missing Zip64 locator");
    std::string loc;
    CKPTDB_RETURN_IF_ERROR(ReadAt(eocd_abs - 20, 20, &loc));
    if (GetLe(loc.data(), 4) != kEnd64LocatorSig) {
      return bad("missing Zip64 locator");
    }
    const uint64_t end64 = GetLe(loc.data() + 8, 8);
    std::string rec;
    if (end64 + 56 > file_size_) return bad("bad Zip64 end record offset");
    CKPTDB_RETURN_IF_ERROR(ReadAt(end64, 56, &rec));
    if (GetLe(rec.data(), 4) != kEnd64Sig) return bad("bad Zip64 end record");
    count = GetLe(rec.data() + 32, 8);
    cd_size = GetLe(rec.data() + 40, 8);
    cd_offset = GetLe(rec.data() + 48, 8);
  }
  if (cd_offset > file_size_ || cd_size > file_size_ - cd_offset) {
    return bad("central directory out of range");
  }
  std::string cd;
  CKPTDB_RETURN_IF_ERROR(ReadAt(cd_offset, cd_size, &cd));
  size_t p = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + 46 > cd.size() || GetLe(cd.data() + p, 4) != kCentralSig) {
      return bad("corrupt central directory");
    }
    const char* c = cd.data() + p;
    Member m;
    m.flags = GetLe(c + 8, 2);
    m.method = GetLe(c + 10, 2);
    m.crc = GetLe(c + 16, 4);
    m.compressed_size = GetLe(c + 20, 4);
    m.size = GetLe(c + 24, 4);
    const size_t name_len = GetLe(c + 28, 2);
    const size_t extra_len = GetLe(c + 30, 2);
    const size_t comment_len = GetLe(c + 32, 2);
    m.local_header_offset = GetLe(c + 42, 4);
    if (p + 46 + name_len + extra_len + comment_len > cd.size()) {
      return bad("corrupt central directory");
    }
    m.name = cd.substr(p + 46, name_len);
    absl::string_view extra(cd.data() + p + 46 + name_len, extra_len);
    while (extra.size() >= 4) {
      const uint16_t id = GetLe(extra.data(), 2);
      const size_t len = GetLe(extra.data() + 2, 2);
      if (len + 4 > extra.size()) break;
      if (id == 0x0001) {
        absl::string_view f = extra.substr(4, len);
        auto take = [&](uint64_t* v) {
          if (*v == kMax32 && f.size() >= 8) {
            *v = GetLe(f.data(), 8);
            f.remove_prefix(8);
          }
        };
        take(&m.size);
        take(&m.compressed_size);
        take(&m.local_header_offset);
      }
      extra.remove_prefix(4 + len);
    }
    if (m.flags & 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path_, "': member '", m.name, "' is encrypted"));
    }
    // Deflate expands at most 1032:1; a larger declared size is a lie
    // that would only make us allocate it.
    if (m.method == 8 && m.size / 1032 > m.compressed_size + 1) {
      return bad(absl::StrCat("member '", m.name, "' declares ", m.size,
                              " bytes from ", m.compressed_size,
                              " compressed, beyond deflate's ratio"));
    }
    members_.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return CheckNoOverlap();
}

// Members must occupy disjoint byte ranges: overlapping entries (a "zip
// bomb" naming one member's bytes many times) would make a reader
// allocate the declared size once per entry.
absl::Status ZipReader::CheckNoOverlap() const {
  std::vector<const Member*> by_offset;
  for (const Member& m : members_) by_offset.push_back(&m);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Member* a, const Member* b) {
              return a->local_header_offset < b->local_header_offset;
            });
  for (size_t i = 0; i + 1 < by_offset.size(); ++i) {
    const Member& a = *by_offset[i];
    const Member& b = *by_offset[i + 1];
    const uint64_t a_end =
        a.local_header_offset + 30 + a.name.size() + a.compressed_size;
    if (a_end > b.local_header_offset) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path_, "' is not a valid .npz/zip archive (members '", a.name,
          "' and '", b.name, "' overlap at byte ", b.local_header_offset, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ZipReader::Read(
    const Member& m, std::string* out,
    const std::function<void(uint64_t)>& progress) const {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path_, "': member '", m.name, "': ", what));
  };
  std::string lh;
  if (m.local_header_offset + 30 > file_size_) {
    return bad("local header out of range");
  }
  CKPTDB_RETURN_IF_ERROR(ReadAt(m.local_header_offset, 30, &lh));
  if (GetLe(lh.data(), 4) != kLocalSig) return bad("bad local header");
  const uint64_t data = m.local_header_offset + 30 + GetLe(lh.data() + 26, 2) +
                        GetLe(lh.data() + 28, 2);
  if (data > file_size_ || m.compressed_size > file_size_ - data) {
    return bad("data out of range");
  }
  constexpr size_t kStep = 8 << 20;
  if (m.method == 0) {
    if (m.compressed_size != m.size) return bad("stored sizes differ");
    out->resize(m.size);
    std::string piece;
    for (uint64_t done = 0; done < m.size;) {
      const size_t n = std::min<uint64_t>(kStep, m.size - done);
      CKPTDB_RETURN_IF_ERROR(ReadAt(data + done, n, &piece));
      std::memcpy(out->data() + done, piece.data(), n);
      done += n;
      if (progress) progress(done);
    }
  } else if (m.method == 8) {
    out->resize(m.size);
    z_stream zs;
    std::memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
      return absl::InternalError("inflateInit2 failed");
    }
    std::string in;
    uint64_t consumed = 0;
    uint64_t produced = 0;
    int rc = Z_OK;
    while (true) {
      if (zs.avail_in == 0 && consumed < m.compressed_size) {
        const size_t n =
            std::min<uint64_t>(kStep, m.compressed_size - consumed);
        absl::Status s = ReadAt(data + consumed, n, &in);
        if (!s.ok()) {
          inflateEnd(&zs);
          return s;
        }
        consumed += n;
        zs.next_in = reinterpret_cast<Bytef*>(in.data());
        zs.avail_in = static_cast<uInt>(n);
        if (progress) progress(consumed);
      }
      const uInt room =
          static_cast<uInt>(std::min<uint64_t>(m.size - produced, 1u << 30));
      zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
      zs.avail_out = room;
      rc = inflate(&zs, Z_NO_FLUSH);
      produced += room - zs.avail_out;
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && zs.avail_in == 0 &&
          consumed < m.compressed_size) {
        continue;  // needs more input
      }
      if (rc != Z_OK) break;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || produced != m.size) {
      return bad(rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR
                     ? "corrupt deflate data"
                     : "deflate data is truncated or has the wrong size");
    }
  } else {
    return bad(absl::StrCat("unsupported compression method ", m.method,
                            " (only stored and deflated members)"));
  }
  if (Crc32(0, *out) != m.crc) return bad("CRC-32 mismatch");
  return absl::OkStatus();
}

}  // namespace ckptdb::npy
