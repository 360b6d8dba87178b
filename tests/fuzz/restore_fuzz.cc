// libFuzzer target: restore without a target over mutated node records.
// The records are decoded and assembled as Store::ReadItem does, and the
// StoredItem is restored with RestoreItem (api/restore) against an empty
// store: building the tree, allocating its arrays, the leaf metadata
// (StoredItem::ToMetadata) and the error path of the array reads.
//
// Input: as node_tree_fuzz (pieces, one node record each; a first byte 0
// means "seal the rest").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "api/restore.h"
#include "db/store.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "tests/fuzz/fuzz_util.h"

namespace ckptdb::internal {
namespace {

const Store& EmptyStore() {
  // Removed at exit, after the store (constructed later) is closed.
  static const std::string root = [] {
    char tmpl[] = "/tmp/ckptdb-restore-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    return std::string(tmpl);
  }();
  static const int cleanup =
      std::atexit([] { std::filesystem::remove_all(root); });
  (void)cleanup;
  static const std::string dir = root + "/db";
  static const std::unique_ptr<Store> store = [] {
    StoreOptions options;
    options.create_if_missing = true;
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(dir, options);
    if (!s.ok()) std::abort();
    return *std::move(s);
  }();
  return *store;
}

}  // namespace
}  // namespace ckptdb::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ckptdb::internal;
  const Store& store = EmptyStore();
  RecordBuffer buf;
  TreeAssembler tree;
  const auto describe = [] { return std::string("fuzz"); };
  uint32_t index = 0;
  for (absl::string_view piece :
       ckptdb::fuzz::SplitPieces(ckptdb::fuzz::AsView(data, size))) {
    const std::string key = NodeKey(0, index);
    const std::string value = !piece.empty() && piece[0] == 0
                                  ? SealBytes(key, piece.substr(1))
                                  : std::string(piece);
    if (index > 0 && tree.Complete()) return 0;
    StoredNode node;
    uint32_t child_count = 0;
    if (!DecodeNodeRecord(key, value, index, describe, &buf, &node,
                          &child_count)
             .ok() ||
        !tree.Add(std::move(node), child_count, describe).ok()) {
      return 0;
    }
    ++index;
  }
  if (index == 0 || !tree.Complete()) return 0;
  StoredItem item;
  item.step = 1;
  item.item = "default";
  item.nodes = tree.Release();
  (void)item.ToMetadata();
  (void)RestoreItem(store, item, nullptr, ckptdb::RestoreOptions());
  return 0;
}
