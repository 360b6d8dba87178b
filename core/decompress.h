// Decompression of the codecs Orbax checkpoints use (zstd, zlib, gzip and,
// when built with it, blosc), in memory, no I/O. Every function takes the
// most bytes the caller accepts: a frame that claims or yields more is an
// error, so a hostile input cannot make us allocate without bound.
// Errors are DataLoss and start with `what` (a file name and key).
#ifndef CKPTDB_CORE_DECOMPRESS_H_
#define CKPTDB_CORE_DECOMPRESS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ckptdb::decompress {

// One or more concatenated zstd frames.
absl::StatusOr<std::string> Zstd(absl::string_view in, size_t max_out,
                                 absl::string_view what);

// A zlib stream (RFC 1950); with `gzip`, a gzip member (RFC 1952) instead.
absl::StatusOr<std::string> Zlib(absl::string_view in, bool gzip,
                                 size_t max_out, absl::string_view what);

// A blosc (v1) buffer. Unimplemented when ckptdb was built without
// libblosc ("unsupported codec 'blosc'").
absl::StatusOr<std::string> Blosc(absl::string_view in, size_t max_out,
                                  absl::string_view what);

// True if built with libblosc.
bool HaveBlosc();

}  // namespace ckptdb::decompress

#endif  // CKPTDB_CORE_DECOMPRESS_H_
