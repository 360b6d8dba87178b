#include "util/hash.h"

#include "absl/strings/str_format.h"

namespace ckptdb::internal {
namespace sse2 {
Hash128 HashBytes(const void* data, size_t size);
uint64_t Hash64(const void* data, size_t size, uint64_t seed);
}  // namespace sse2
namespace avx2 {
Hash128 HashBytes(const void* data, size_t size);
uint64_t Hash64(const void* data, size_t size, uint64_t seed);
}  // namespace avx2

namespace {
bool UseAvx2() {
  static const bool kAvx2 = __builtin_cpu_supports("avx2");
  return kAvx2;
}
}  // namespace

std::string Hash128::ToHex() const {
  return absl::StrFormat("%016x%016x", hi, lo);
}

Hash128 HashBytes(const void* data, size_t size) {
  return UseAvx2() ? avx2::HashBytes(data, size) : sse2::HashBytes(data, size);
}

uint64_t Hash64(const void* data, size_t size, uint64_t seed) {
  return UseAvx2() ? avx2::Hash64(data, size, seed)
                   : sse2::Hash64(data, size, seed);
}

const char* HashImplementation() { return UseAvx2() ? "avx2" : "sse2"; }

}  // namespace ckptdb::internal
