// libFuzzer target: legacy Flax msgpack checkpoints (core/flax_msgpack and
// core/flax_files: ext arrays, complex numbers, tuples, GDA placeholders,
// "0".."n-1" maps as lists).
//
// Input: a flags byte (bit 0: lists) and the file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/flax_files.h"
#include "core/flax_msgpack.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool lists = (data[0] & 1) != 0;
  auto file = std::make_shared<const std::string>(
      ckptdb::fuzz::AsView(data + 1, size - 1));
  (void)ckptdb::flax_msgpack::LooksLikeFlaxMsgpack(*file);
  // Placeholders name "<path>_gda/...": a folder that does not exist.
  absl::StatusOr<ckptdb::Tree> tree = ckptdb::flax_files::DecodeFile(
      file, "/nonexistent-ckptdb-fuzz/checkpoint_1", lists);
  if (tree.ok()) (void)ckptdb::flax_msgpack::IndexMapsToLists(*tree);
  return 0;
}
