// Matching a stored item against an optional restore target (Orbax's
// PyTree restore rules) and reading its arrays.
#ifndef CKPTDB_API_RESTORE_H_
#define CKPTDB_API_RESTORE_H_

#include "absl/status/statusor.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"
#include "db/store.h"

namespace ckptdb::internal {

// Restores `item` from `store`. Without a target (nullptr) the saved tree
// comes back exactly. With a target the result has the target's structure
// and container kinds; leaves take the saved values; a target array whose
// shape and dtype equal what is restored is filled in place (and returned),
// unless another leaf of the target shares its memory. A restore that fails
// part-way may leave target arrays partly overwritten.
// InvalidArgument naming the first differing path on a structure mismatch.
absl::StatusOr<Tree> RestoreItem(const Store& store, const StoredItem& item,
                                 const Tree* target,
                                 const RestoreOptions& options);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_RESTORE_H_
