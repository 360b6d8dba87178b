// Content hashing: XXH3 (xxHash 0.8), header-only, with an AVX2 build chosen
// at run time when the CPU has it (about 2x the distro library's speed).
#ifndef CKPTDB_UTIL_HASH_H_
#define CKPTDB_UTIL_HASH_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ckptdb::internal {

struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const Hash128& a, const Hash128& b) {
    return a.hi == b.hi && a.lo == b.lo;
  }
  friend bool operator!=(const Hash128& a, const Hash128& b) {
    return !(a == b);
  }
  friend bool operator<(const Hash128& a, const Hash128& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Hash128& x) {
    return H::combine(std::move(h), x.hi, x.lo);
  }
  // 32 lowercase hex digits, hi first.
  std::string ToHex() const;
};

// XXH3_128bits(data, size), seed 0.
Hash128 HashBytes(const void* data, size_t size);
// XXH3_64bits_withSeed(data, size, seed).
uint64_t Hash64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t Hash64(absl::string_view s, uint64_t seed = 0) {
  return Hash64(s.data(), s.size(), seed);
}

// Which implementation HashBytes uses: "avx2" or "sse2".
const char* HashImplementation();

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_HASH_H_
