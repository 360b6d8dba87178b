// A strict JSON reader (RFC 8259), in memory, no I/O: the safetensors
// header and Orbax's / zarr's metadata files. Objects keep their key order
// and refuse duplicate keys; numbers keep their text (and an exact uint64
// when they are one); nesting is limited. Errors are InvalidArgument and
// read "<what>: byte <base + offset>: <problem>".
#ifndef CKPTDB_CORE_JSON_H_
#define CKPTDB_CORE_JSON_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ckptdb::json {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  size_t pos = 0;        // offset of the value in the text
  std::string str;       // string value, a number's or literal's text
  bool is_uint = false;  // a number that is a non-negative integer < 2^64
  uint64_t uint = 0;
  std::vector<Json> items;                           // array
  std::vector<std::pair<std::string, Json>> fields;  // object, in order
  std::vector<size_t> key_pos;                       // each field's key

  // The value of `key` in an object; nullptr if absent or not an object.
  const Json* Find(absl::string_view key) const;
  // A number that is an integer in int64's range, or nullopt.
  std::optional<int64_t> AsInt64() const;
};

// "null", "a boolean", "a number", ... for error messages.
const char* KindName(Json::Kind k);

class JsonParser {
 public:
  // `text` must outlive the parser; `base` is added to every offset in an
  // error and `what` (the file's name) starts it.
  JsonParser(absl::string_view text, uint64_t base, absl::string_view what)
      : s_(text), base_(base), what_(what) {}

  // Accepts NaN, Infinity and -Infinity as numbers (their text is kept), as
  // Python's json module writes them. Default: false.
  void set_allow_nonfinite(bool allow) { allow_nonfinite_ = allow; }

  // Parses the whole text as one value. With a non-empty
  // `not_object_error`, the value must be an object and that is the error
  // otherwise.
  absl::StatusOr<Json> ParseDocument(absl::string_view not_object_error = {});

  // InvalidArgument "<what>: byte <base + at>: <msg>".
  absl::Status Error(size_t at, absl::string_view msg) const;

 private:
  static constexpr int kMaxDepth = 64;

  void SkipSpace();
  absl::Status ParseValue(Json* out, int depth);
  absl::Status Expect(char c);
  bool Peek(char c);
  absl::Status ParseObject(Json* out, int depth);
  absl::Status ParseArray(Json* out, int depth);
  absl::Status ParseNumber(Json* out);
  absl::Status Hex4(uint32_t* out);
  static void AppendUtf8(uint32_t cp, std::string* out);
  absl::Status ParseEscape(std::string* out);
  absl::Status ParseString(std::string* out);

  absl::string_view s_;
  uint64_t base_;
  absl::string_view what_;
  size_t i_ = 0;
  bool allow_nonfinite_ = false;
};

}  // namespace ckptdb::json

#endif  // CKPTDB_CORE_JSON_H_
