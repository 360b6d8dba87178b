// Helpers shared by the fuzz targets in tests/fuzz/ (see docs/design.md,
// "Fuzzing"): one fuzz input split into several pieces, and its inverse for
// the seed generator.
#ifndef CKPTDB_TESTS_FUZZ_FUZZ_UTIL_H_
#define CKPTDB_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ckptdb::fuzz {

// Splits `in` into pieces, each a 2-byte little-endian length and that many
// bytes; a last piece shorter than its length takes what is left. At most
// `max_pieces` pieces.
inline std::vector<absl::string_view> SplitPieces(absl::string_view in,
                                                  size_t max_pieces = 4096) {
  std::vector<absl::string_view> out;
  while (in.size() >= 2 && out.size() < max_pieces) {
    const size_t n = static_cast<uint8_t>(in[0]) |
                     (static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8);
    in.remove_prefix(2);
    const size_t take = n < in.size() ? n : in.size();
    out.push_back(in.substr(0, take));
    in.remove_prefix(take);
  }
  return out;
}

// The inverse of SplitPieces (pieces of at most 65535 bytes).
inline std::string JoinPieces(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) {
    out.push_back(static_cast<char>(p.size() & 0xff));
    out.push_back(static_cast<char>((p.size() >> 8) & 0xff));
    out += p;
  }
  return out;
}

inline absl::string_view AsView(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace ckptdb::fuzz

#endif  // CKPTDB_TESTS_FUZZ_FUZZ_UTIL_H_
