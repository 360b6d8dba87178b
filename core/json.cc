#include "core/json.h"

#include <cstring>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ckptdb::json {

const Json* Json::Find(absl::string_view key) const {
  if (kind != Kind::kObject) return nullptr;
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<int64_t> Json::AsInt64() const {
  if (kind != Kind::kNumber) return std::nullopt;
  if (is_uint) {
    if (uint > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(uint);
  }
  if (str.size() < 2 || str[0] != '-' ||
      str.find_first_not_of("0123456789", 1) != std::string::npos) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (size_t k = 1; k < str.size(); ++k) {
    const uint64_t d = static_cast<uint64_t>(str[k] - '0');
    if (v > (static_cast<uint64_t>(INT64_MAX) + 1 - d) / 10) {
      return std::nullopt;
    }
    v = v * 10 + d;
  }
  if (v > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return static_cast<int64_t>(0 - v);
}

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

absl::StatusOr<Json> JsonParser::ParseDocument(
    absl::string_view not_object_error) {
  SkipSpace();
  if (!not_object_error.empty() && (i_ >= s_.size() || s_[i_] != '{')) {
    return Error(i_, not_object_error);
  }
  Json v;
  absl::Status st = ParseValue(&v, 0);
  if (!st.ok()) return st;
  SkipSpace();
  if (i_ != s_.size()) {
    return Error(i_, not_object_error.empty()
                         ? "unexpected data after the JSON value"
                         : "unexpected data after the header");
  }
  return v;
}

absl::Status JsonParser::Error(size_t at, absl::string_view msg) const {
  return absl::InvalidArgumentError(
      absl::StrCat(what_, ": byte ", base_ + at, ": ", msg));
}

void JsonParser::SkipSpace() {
  while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' ||
                            s_[i_] == '\r')) {
    ++i_;
  }
}

absl::Status JsonParser::ParseValue(Json* out, int depth) {
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
  if (allow_nonfinite_) {
    for (const char* lit : {"NaN", "Infinity", "-Infinity"}) {
      const size_t n = std::strlen(lit);
      if (s_.substr(i_, n) == lit) {
        out->kind = Json::Kind::kNumber;
        out->str = lit;
        i_ += n;
        return absl::OkStatus();
      }
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
  for (const char* lit : {"true", "false", "null"}) {
    const size_t n = std::strlen(lit);
    if (s_.substr(i_, n) == lit) {
      out->kind = lit[0] == 'n' ? Json::Kind::kNull : Json::Kind::kBool;
      out->str = lit;
      i_ += n;
      return absl::OkStatus();
    }
  }
  return Error(i_, absl::StrCat("invalid JSON: unexpected character '",
                                absl::string_view(&s_[i_], 1), "'"));
}

absl::Status JsonParser::Expect(char c) {
  SkipSpace();
  if (i_ >= s_.size()) return Error(i_, "truncated JSON");
  if (s_[i_] != c) {
    return Error(i_, absl::StrCat("invalid JSON: expected '",
                                  absl::string_view(&c, 1), "'"));
  }
  ++i_;
  return absl::OkStatus();
}

bool JsonParser::Peek(char c) {
  SkipSpace();
  return i_ < s_.size() && s_[i_] == c;
}

absl::Status JsonParser::ParseObject(Json* out, int depth) {
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

absl::Status JsonParser::ParseArray(Json* out, int depth) {
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

absl::Status JsonParser::ParseNumber(Json* out) {
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

absl::Status JsonParser::Hex4(uint32_t* out) {
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

void JsonParser::AppendUtf8(uint32_t cp, std::string* out) {
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

absl::Status JsonParser::ParseEscape(std::string* out) {
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

absl::Status JsonParser::ParseString(std::string* out) {
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

}  // namespace ckptdb::json
