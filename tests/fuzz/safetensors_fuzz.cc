// libFuzzer target: safetensors files (core/safetensors: header JSON,
// dtypes, offsets; core/safetensors_tree: names split on '.' into a tree,
// or flat).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/safetensors.h"
#include "core/safetensors_tree.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file =
      std::make_shared<const std::string>(ckptdb::fuzz::AsView(data, size));
  if (size >= 9) {
    (void)ckptdb::safetensors::LooksLikeSafetensors(*file, size);
  }
  if (!ckptdb::safetensors::Decode(file, "fuzz").ok()) return 0;
  (void)ckptdb::safetensors::FileToTree(file, "fuzz", /*flat=*/false);
  (void)ckptdb::safetensors::FileToTree(file, "fuzz", /*flat=*/true);
  return 0;
}
