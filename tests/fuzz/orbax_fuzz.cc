// libFuzzer entry point for the Orbax reader's decoders: the OCDBT manifest
// and B+tree node decoders (core/ocdbt_format), zarr v2 / v3 metadata and a
// one-chunk array read (core/zarr), _METADATA and _CHECKPOINT_METADATA
// (core/orbax_metadata); OCDBT bodies also inside a valid envelope. The
// first input byte picks the decoder; errors
// are expected, crashes, leaks and sanitizer reports are bugs.
// tests/fuzz/run_orbax_fuzz.sh builds it with clang and seeds the corpus
// from the real fixtures.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/crc32c.h"
#include "core/ocdbt_format.h"
#include "core/orbax_metadata.h"
#include "core/zarr.h"

namespace {

// An uncompressed OCDBT object around `body` with a correct checksum, so
// that mutations reach the body decoders instead of the crc32c check.
std::string Envelope(uint32_t magic, const std::string& body) {
  std::string s;
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>(magic >> (8 * k)));
  const uint64_t length = 4 + 8 + 2 + body.size() + 4;
  for (int k = 0; k < 8; ++k) s.push_back(static_cast<char>(length >> (8 * k)));
  s.push_back(0);  // version
  s.push_back(0);  // uncompressed
  s += body;
  const uint32_t crc = ckptdb::crc32c::Value(s);
  for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>(crc >> (8 * k)));
  return s;
}

void ReadOneChunk(const ckptdb::zarr::ArrayMeta& m, const std::string& chunk) {
  (void)ckptdb::zarr::ReadArray(
      m,
      [&](const std::string&) -> absl::StatusOr<std::optional<std::string>> {
        return chunk;
      },
      "fuzz", uint64_t{1} << 24);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      (void)ckptdb::ocdbt::DecodeManifest(in, "fuzz", 1 << 24);
      break;
    case 1:
      (void)ckptdb::ocdbt::DecodeBtreeNode(in, "", "fuzz", 1 << 24);
      break;
    case 2:
    case 3: {
      // Metadata, then (after a NUL) one chunk's bytes.
      const size_t nul = in.find('\0');
      const std::string meta = in.substr(0, nul);
      const std::string chunk =
          nul == std::string::npos ? std::string() : in.substr(nul + 1);
      absl::StatusOr<ckptdb::zarr::ArrayMeta> m =
          data[0] % 8 == 2 ? ckptdb::zarr::ParseZarrayV2(meta, "fuzz")
                           : ckptdb::zarr::ParseZarrJsonV3(meta, "fuzz");
      if (m.ok()) ReadOneChunk(*m, chunk);
      break;
    }
    case 4:
      (void)ckptdb::orbax::ParseTreeMetadata(in, "fuzz");
      break;
    case 5:
      (void)ckptdb::orbax::ParseStepMetadata(in, "fuzz");
      break;
    case 6:  // a manifest body
      (void)ckptdb::ocdbt::DecodeManifest(
          Envelope(ckptdb::ocdbt::kManifestMagic, in), "fuzz", 1 << 24);
      break;
    case 7:  // a B+tree node body
      (void)ckptdb::ocdbt::DecodeBtreeNode(
          Envelope(ckptdb::ocdbt::kBtreeNodeMagic, in), "", "fuzz", 1 << 24);
      break;
  }
  return 0;
}
