// Save validation: the one check that a tree can be saved, and the one
// resolution of save_args (Orbax's per-leaf casts), done by the api before
// anything is captured or written. The store trusts its result.
#ifndef CKPTDB_API_SAVE_VALIDATION_H_
#define CKPTDB_API_SAVE_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"
#include "db/store.h"

namespace ckptdb::internal {

// InvalidArgument naming the item and the first bad path when `tree` cannot
// be saved: a Placeholder; an array with a negative dimension, or with
// elements but no data; a malformed container (a Dict whose key and value
// counts differ or with a key twice, a List or Tuple with keys, a leaf with
// children); or, with `options`, a save_args entry that names no leaf or
// several leaves (paths that print alike). Otherwise the dtype each array
// leaf is stored as, in preorder (default_save_args, then save_args).
absl::StatusOr<std::vector<DType>> ValidateSaveTree(const Tree& tree,
                                                    const SaveOptions* options,
                                                    absl::string_view item);

// ValidateSaveTree, as the store's SaveItem for `tree`. A caller that saves
// a copy of `tree` (an async capture) points the item's tree at the copy.
absl::StatusOr<SaveItem> PrepareSaveItem(std::string name, const Tree& tree,
                                         const SaveOptions* options);

// For an entry `key` of per-leaf arguments `args_name` ("save_args",
// "restore_args") that matched `hits` leaves of `where` ("item 'x'"):
// InvalidArgument unless exactly one. `leaf_noun` names what it should
// have matched ("a leaf", "a restored leaf").
absl::Status CheckArgHits(absl::string_view args_name, absl::string_view key,
                          int hits, absl::string_view leaf_noun,
                          absl::string_view where);

}  // namespace ckptdb::internal

#endif  // CKPTDB_API_SAVE_VALIDATION_H_
