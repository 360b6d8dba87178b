// CRC-32C (Castagnoli), as OCDBT's and zarr v3's crc32c codec use it.
#ifndef CKPTDB_CORE_CRC32C_H_
#define CKPTDB_CORE_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ckptdb::crc32c {

// The CRC-32C of `data` (initial value ~0, final xor ~0).
uint32_t Value(absl::string_view data);

}  // namespace ckptdb::crc32c

#endif  // CKPTDB_CORE_CRC32C_H_
