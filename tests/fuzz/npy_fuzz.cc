// libFuzzer target: the .npy reader (core/npy): the header parser and the
// whole-file decoder (dtypes, byte order, Fortran order, strings).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/npy.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in = ckptdb::fuzz::AsView(data, size);
  (void)ckptdb::npy::DecodeNpyHeader(in);
  (void)ckptdb::npy::DecodeNpy(std::make_shared<const std::string>(in),
                               "fuzz.npy");
  return 0;
}
