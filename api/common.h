// Helpers shared by the public API's implementations.
#ifndef CKPTDB_API_COMMON_H_
#define CKPTDB_API_COMMON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ckptdb/checkpointer.h"
#include "db/store.h"

namespace ckptdb::internal {

StoreOptions ToStoreOptions(const StoreTuning& tuning);

// Opens `path` for reading: read-only, so that it works while another
// process writes the database.
absl::StatusOr<std::unique_ptr<Store>> OpenForRead(const std::string& path,
                                                   const StoreTuning& tuning);

// The step a Checkpointer-style restore reads: `requested`, else the only
// (or latest) step. NotFound if there is none.
absl::StatusOr<int64_t> PickStep(const Store& store,
                                 const std::optional<int64_t>& requested);

// After a forced save replaced a checkpoint, reclaims the replaced one's
// chunks (segments at least 25% dead).
absl::Status CollectAfterReplace(Store& store, bool replaced);

// A checkpoint item read for restoring: the store stays open while the item
// is in use.
struct LoadedItem {
  std::shared_ptr<Store> store;
  StoredItem item;
};

// Reads the item a Checkpointer-style restore names (options.step,
// options.item) from `open` if given, else from `path` opened for reading.
absl::StatusOr<LoadedItem> LoadItem(const std::string& path,
                                    const StoreTuning& tuning,
                                    const RestoreOptions& options,
                                    std::shared_ptr<Store> open = nullptr);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_COMMON_H_
