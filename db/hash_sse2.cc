#include "db/hash.h"
#define HASH_IMPL_NS sse2
#include "db/hash_impl.inc"
