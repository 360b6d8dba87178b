// Matching a stored item against an optional restore target (Orbax's
// PyTree restore rules) and reading its arrays.
#ifndef CKPTDB_API_RESTORE_H_
#define CKPTDB_API_RESTORE_H_

#include <set>
#include <string>

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
// InvalidArgument naming the first differing path on a structure mismatch,
// or a restore_args entry that names two leaves (paths that print alike).
// Without `used_args`, an entry that names no restored leaf is
// InvalidArgument too; with it, the entries used are added to it instead
// (several items restored with one RestoreOptions check them together).
absl::StatusOr<Tree> RestoreItem(const Store& store, const StoredItem& item,
                                 const Tree* target,
                                 const RestoreOptions& options,
                                 std::set<std::string>* used_args = nullptr);

// InvalidArgument naming the first restore_args entry not in `used`.
absl::Status CheckRestoreArgsUsed(const RestoreOptions& options,
                                  const std::set<std::string>& used,
                                  absl::string_view what);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_RESTORE_H_
