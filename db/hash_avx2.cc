// Compiled with -mavx2 (see CMakeLists.txt); only called when the CPU
// reports AVX2.
#include "db/hash.h"
#define HASH_IMPL_NS avx2
#include "db/hash_impl.inc"
