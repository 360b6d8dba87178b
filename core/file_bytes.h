// Reading files whole or in part into memory, with the errors the Orbax
// importer reports: NotFound naming a missing file, DataLoss naming the
// file, offset and size when a range runs past its end.
#ifndef CKPTDB_CORE_FILE_BYTES_H_
#define CKPTDB_CORE_FILE_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ckptdb::file_bytes {

// The whole of `path`; InvalidArgument if it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadAll(const std::string& path,
                                    uint64_t max_bytes = uint64_t{1} << 34);

// `length` bytes of `path` from `offset`.
absl::StatusOr<std::string> ReadRange(const std::string& path, uint64_t offset,
                                      uint64_t length);

// True if `rel` is a relative path that stays inside its root (no "..",
// no leading '/', no NUL).
bool IsContainedRelativePath(const std::string& rel);
// Whether `path` names a regular file / a directory (following links).
bool IsFile(const std::string& path);
bool IsDir(const std::string& path);

// Total size of the regular files below `path` (0 where unreadable).
uint64_t TreeBytes(const std::string& path);

// "cannot <what> '<path>': <strerror>": ResourceExhausted for ENOSPC,
// NotFound for ENOENT, else Internal.
absl::Status IoError(const std::string& what, const std::string& path, int err);

}  // namespace ckptdb::file_bytes

#endif  // CKPTDB_CORE_FILE_BYTES_H_
