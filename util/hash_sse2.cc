#include "util/hash.h"
#define HASH_IMPL_NS sse2
#include "util/hash_impl.inc"
