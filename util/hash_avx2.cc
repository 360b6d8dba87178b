// Compiled with -mavx2 (see CMakeLists.txt); only called when the CPU
// reports AVX2.
#include "util/hash.h"
#define HASH_IMPL_NS avx2
#include "util/hash_impl.inc"
