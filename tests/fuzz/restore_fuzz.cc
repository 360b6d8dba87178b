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
#include "tests/fuzz/node_input.h"

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
  TreeAssembler tree;
  if (!ckptdb::fuzz::AssembleNodes(ckptdb::fuzz::AsView(data, size), &tree)) {
    return 0;
  }
  StoredItem item;
  item.step = 1;
  item.item = "default";
  item.nodes = tree.Release();
  (void)item.ToMetadata();
  (void)RestoreItem(store, item, nullptr, ckptdb::RestoreOptions());
  return 0;
}
