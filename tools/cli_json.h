// A streaming JSON writer for the tool's --json output: pretty-printed
// (two-space indent), with "compact" arrays that stay on one line (shapes,
// array values). Non-finite floats are written as the strings "nan",
// "inf" and "-inf" so that the output stays valid JSON.
#ifndef CKPTDB_TOOLS_CLI_JSON_H_
#define CKPTDB_TOOLS_CLI_JSON_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/tree.h"
#include "core/npy.h"

namespace ckptdb::cli {

class JsonWriter {
 public:
  // Writes to `out` when Finish() is called.
  explicit JsonWriter(std::FILE* out) : file_(out) {}
  // Collects into a string (tests, nested use).
  explicit JsonWriter(std::string* out) : str_(out) {}
  // Output to a FILE is written by Finish() only; a writer destroyed
  // without Finish() (an error part-way) writes nothing.
  ~JsonWriter() = default;

  void BeginObject(bool compact = false);
  void EndObject();
  void BeginArray(bool compact = false);
  void EndArray();
  void Key(absl::string_view key);

  void String(absl::string_view s);
  void Int(int64_t v);
  void Uint(uint64_t v);
  void Double(double v);
  // A float of `dtype` with the fewest digits that read back as the same
  // value of that dtype (0.1 for float32's 0.1f, not 0.100000001).
  void Number(double v, DType dtype);
  void Bool(bool v);
  void Null();

  // Key + value shorthands.
  void Field(absl::string_view key, absl::string_view v) {
    Key(key);
    String(v);
  }
  void Field(absl::string_view key, const char* v) {
    Key(key);
    String(v);
  }
  void Field(absl::string_view key, const std::string& v) {
    Key(key);
    String(v);
  }
  void FieldInt(absl::string_view key, int64_t v) {
    Key(key);
    Int(v);
  }
  void FieldUint(absl::string_view key, uint64_t v) {
    Key(key);
    Uint(v);
  }
  void FieldDouble(absl::string_view key, double v) {
    Key(key);
    Double(v);
  }
  void FieldBool(absl::string_view key, bool v) {
    Key(key);
    Bool(v);
  }

  // Ends the document with a newline and flushes.
  void Finish();

 private:
  struct Level {
    bool object = false;
    bool compact = false;
    size_t count = 0;
  };
  void BeforeValue();
  void Raw(absl::string_view s);
  void Flush();

  std::FILE* file_ = nullptr;
  std::string* str_ = nullptr;
  std::string buf_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// A JSON string literal (quoted, escaped).
std::string JsonQuote(absl::string_view s);
// UTF-8 checks for names (core/npy.h).
using npy::EscapeInvalidUtf8;
using npy::IsValidUtf8;

// Writes a small tree (metrics, custom metadata) as plain JSON: dicts as
// objects (keys as strings), lists and tuples as arrays, scalars as
// values, arrays as nested lists.
void WritePlainTree(const Tree& t, JsonWriter* w);

// Writes an array's elements as nested JSON lists (numpy's tolist()):
// bools as true/false, integers exactly, floats as shortest round-trip
// numbers, complex numbers as [re, im].
void WriteArrayValues(const Array& a, JsonWriter* w);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_JSON_H_
