#include "tools/cli_json.h"

#include <charconv>
#include <cmath>
#include <complex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ckptdb/dtype.h"
#include "core/npy.h"
#include "tools/cli_format.h"

namespace ckptdb::cli {

// Bytes that are not valid UTF-8 (keys saved through the C++ API may hold
// any bytes) become U+FFFD, so that the output is always valid JSON.
std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      uint32_t cp;
      const size_t len = npy::DecodeUtf8At(s, i, &cp);
      if (len == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.data() + i, len);
        i += len - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out += "\"";
  return out;
}

void JsonWriter::Raw(absl::string_view s) {
  if (str_ != nullptr) {
    str_->append(s.data(), s.size());
    return;
  }
  // Held until Finish(): a command that fails part-way leaves no
  // truncated JSON on stdout.
  buf_.append(s.data(), s.size());
}

void JsonWriter::Flush() {
  if (file_ != nullptr && !buf_.empty()) {
    std::fwrite(buf_.data(), 1, buf_.size(), file_);
    buf_.clear();
  }
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (stack_.empty()) return;
  Level& l = stack_.back();
  if (l.count > 0) Raw(",");
  if (l.compact) {
    if (l.count > 0) Raw(" ");
  } else {
    Raw("\n");
    Raw(std::string(2 * stack_.size(), ' '));
  }
  ++l.count;
}

void JsonWriter::BeginObject(bool compact) {
  BeforeValue();
  Raw("{");
  const bool inherit = !stack_.empty() && stack_.back().compact;
  stack_.push_back({true, compact || inherit, 0});
}

void JsonWriter::EndObject() {
  const Level l = stack_.back();
  stack_.pop_back();
  if (l.count > 0 && !l.compact) {
    Raw("\n");
    Raw(std::string(2 * stack_.size(), ' '));
  }
  Raw("}");
}

void JsonWriter::BeginArray(bool compact) {
  BeforeValue();
  Raw("[");
  const bool inherit = !stack_.empty() && stack_.back().compact;
  stack_.push_back({false, compact || inherit, 0});
}

void JsonWriter::EndArray() {
  const Level l = stack_.back();
  stack_.pop_back();
  if (l.count > 0 && !l.compact) {
    Raw("\n");
    Raw(std::string(2 * stack_.size(), ' '));
  }
  Raw("]");
}

void JsonWriter::Key(absl::string_view key) {
  BeforeValue();
  Raw(JsonQuote(key));
  Raw(": ");
  after_key_ = true;
}

void JsonWriter::String(absl::string_view s) {
  BeforeValue();
  Raw(JsonQuote(s));
}

void JsonWriter::Int(int64_t v) {
  BeforeValue();
  Raw(absl::StrCat(v));
}

void JsonWriter::Uint(uint64_t v) {
  BeforeValue();
  Raw(absl::StrCat(v));
}

void JsonWriter::Double(double v) {
  BeforeValue();
  if (std::isnan(v)) {
    Raw("\"nan\"");
  } else if (std::isinf(v)) {
    Raw(v > 0 ? "\"inf\"" : "\"-inf\"");
  } else {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    Raw(s);
  }
}

void JsonWriter::Number(double v, DType dtype) {
  if (!std::isfinite(v)) {
    Double(v);
    return;
  }
  BeforeValue();
  Raw(PyFloatRepr(v, dtype));
}

void JsonWriter::Bool(bool v) {
  BeforeValue();
  Raw(v ? "true" : "false");
}

void JsonWriter::Null() {
  BeforeValue();
  Raw("null");
}

void JsonWriter::Finish() {
  Raw("\n");
  Flush();
  if (file_ != nullptr) std::fflush(file_);
}

void WritePlainTree(const Tree& t, JsonWriter* w) {
  switch (t.kind()) {
    case Tree::Kind::kNone:
    case Tree::Kind::kPlaceholder:
    case Tree::Kind::kShardedArray:  // not in a stored tree (a grid array)
      w->Null();
      return;
    case Tree::Kind::kBool:
      w->Bool(t.bool_value());
      return;
    case Tree::Kind::kInt:
      w->Int(t.int_value());
      return;
    case Tree::Kind::kFloat:
      w->Double(t.float_value());
      return;
    case Tree::Kind::kString:
      w->String(t.string_value());
      return;
    case Tree::Kind::kArray:
      WriteArrayValues(t.array(), w);
      return;
    case Tree::Kind::kList:
    case Tree::Kind::kTuple:
      w->BeginArray();
      for (const Tree& c : t.children()) WritePlainTree(c, w);
      w->EndArray();
      return;
    case Tree::Kind::kDict:
      w->BeginObject();
      for (size_t i = 0; i < t.size(); ++i) {
        w->Key(t.keys()[i].ToString());
        WritePlainTree(t.children()[i], w);
      }
      w->EndObject();
      return;
  }
}

namespace {

// Writes elements [first, first + count) of `f64` (already converted) or
// the integer view, recursively over the dimensions.
void WriteDims(const Array& a, const Array& conv, size_t dim, int64_t* next,
               JsonWriter* w) {
  if (dim == a.shape().size()) {
    const int64_t i = (*next)++;
    switch (a.dtype()) {
      case DType::kBool:
        w->Bool(a.data_as<uint8_t>()[i] != 0);
        return;
      case DType::kUInt64:
        w->Uint(a.data_as<uint64_t>()[i]);
        return;
      case DType::kUInt8:
      case DType::kUInt16:
      case DType::kUInt32:
      case DType::kInt8:
      case DType::kInt16:
      case DType::kInt32:
      case DType::kInt64:
        w->Int(conv.data_as<int64_t>()[i]);
        return;
      case DType::kComplex64:
      case DType::kComplex128: {
        const double* p = conv.data_as<double>() + 2 * i;
        w->BeginArray(true);
        const DType part =
            a.dtype() == DType::kComplex64 ? DType::kFloat32 : DType::kFloat64;
        w->Number(p[0], part);
        w->Number(p[1], part);
        w->EndArray();
        return;
      }
      default:
        w->Number(conv.data_as<double>()[i], a.dtype());
        return;
    }
  }
  w->BeginArray(/*compact=*/dim + 1 == a.shape().size());
  for (int64_t k = 0; k < a.shape()[dim]; ++k) {
    WriteDims(a, conv, dim + 1, next, w);
  }
  w->EndArray();
}

}  // namespace

void WriteArrayValues(const Array& a, JsonWriter* w) {
  Array conv;
  if (IsIntegerDType(a.dtype()) && a.dtype() != DType::kUInt64) {
    conv = a.AsType(DType::kInt64);
  } else if (IsComplexDType(a.dtype())) {
    conv = a.AsType(DType::kComplex128);
  } else if (IsFloatingDType(a.dtype())) {
    conv = a.AsType(DType::kFloat64);
  }
  int64_t next = 0;
  WriteDims(a, conv, 0, &next, w);
}

}  // namespace ckptdb::cli
