// Byte-plane coding of a chunk's bytes: the chunk (or its difference from a
// base chunk of the same size) is cut into elements of `width` bytes, byte
// k of every element goes to plane k, and each plane is stored verbatim or
// zstd-compressed. Floats that change a little between saves keep their
// sign, exponent and top mantissa bits, so the high planes of the
// difference are nearly all zero and compress to almost nothing; the low
// planes are noise and are stored verbatim without trying. Pure functions;
// no I/O. See docs/format.md ("Coded chunks") and docs/design.md ("Delta
// chunks").
#ifndef CKPTDB_CORE_BYTE_PLANES_H_
#define CKPTDB_CORE_BYTE_PLANES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ckptdb::internal {

// What the planes hold (stored in the record; values are format).
enum class PlaneTransform : uint8_t {
  // The chunk's own bytes.
  kNone = 0,
  // Per element, the zigzag code of (chunk word - base word) modulo
  // 2^(8 * width), words little-endian unsigned: small changes of either
  // sign become small numbers, whose high bytes are zero.
  kDifference = 1,
};

// How one plane is stored (values are format).
enum class PlaneCodec : uint8_t {
  kStored = 0,
  kZstd = 1,
};

// Plane width for elements of `dtype_size` bytes: 1, 2, 4 or 8 (complex
// numbers are coded by component).
int PlaneWidth(size_t dtype_size);

// The choice for one chunk, made from a sample of it.
struct PlanePlan {
  int width = 1;
  PlaneTransform transform = PlaneTransform::kNone;
  std::vector<PlaneCodec> codecs;  // one per plane
  // Each plane's predicted stored fraction (its sample's order-0 entropy
  // over 8, at most 1): picks zstd's settings for it.
  std::vector<double> plane_fractions;
  // Per plane: code with zstd's matches (level 1: runs, mostly zeros) rather
  // than Huffman-coded literals alone (skewed bytes without repeats).
  std::vector<bool> plane_matches;
  // Predicted stored size over the chunk's size (1 when nothing pays).
  double predicted_fraction = 1;
};

// Estimates, from about 16 KiB of `bytes` spread over the chunk, the
// entropy and the runs of equal bytes of each plane of the transform
// (kDifference when `base` is not empty; it must then have the same size).
// Planes predicted to shrink below 15/16 of their size are to be compressed;
// the others are stored.
PlanePlan PlanPlanes(absl::string_view bytes, absl::string_view base,
                     int width);

// A chunk coded by planes.
struct CodedPlanes {
  int width = 1;
  PlaneTransform transform = PlaneTransform::kNone;
  std::vector<PlaneCodec> codecs;
  std::vector<uint32_t> sizes;  // stored bytes of each plane
  std::string data;             // the stored planes, concatenated
};

// Codes `bytes` (minus `base` for kDifference) as `plan` says: planes
// predicted under a quarter of their size with zstd at `zstd_level`, the
// other compressed ones with Huffman-coded literals and almost no match
// search; a plane that does not shrink is stored. False
// (with *out unspecified) when the result would exceed `max_bytes`, or
// when the size is not a multiple of the width.
bool EncodePlanes(absl::string_view bytes, absl::string_view base,
                  const PlanePlan& plan, int zstd_level, size_t max_bytes,
                  CodedPlanes* out);

// A decoded record's planes (views into it).
struct PlanesView {
  int width = 1;
  PlaneTransform transform = PlaneTransform::kNone;
  absl::Span<const uint8_t> codecs;
  absl::Span<const uint32_t> sizes;
  absl::string_view data;
};

// Decodes `planes` into `dest` (`size` bytes), adding `base` (same size)
// for kDifference. DataLoss prefixed with `what` for any inconsistency:
// an unknown width, transform or codec, plane sizes that do not add up,
// a zstd frame that is corrupt or of the wrong length, a missing base.
absl::Status DecodePlanes(const PlanesView& planes, absl::string_view base,
                          absl::string_view what, char* dest, size_t size);

}  // namespace ckptdb::internal

#endif  // CKPTDB_CORE_BYTE_PLANES_H_
