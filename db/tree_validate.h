// Checks that a tree can be saved, before anything is captured or written.
#ifndef CKPTDB_DB_TREE_VALIDATE_H_
#define CKPTDB_DB_TREE_VALIDATE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"

namespace ckptdb::internal {

// InvalidArgument naming the item and the first bad path when `tree` cannot
// be saved: a Placeholder; an array with a negative dimension, or with
// elements but no data; a malformed container (a Dict whose key and value
// counts differ or with a key twice, a List or Tuple with keys, a leaf with
// children); or, with `options`, a save_args entry that names no leaf or
// several leaves (paths that print alike).
absl::Status ValidateSaveTree(const Tree& tree, const SaveOptions* options,
                              absl::string_view item);

// For an entry `key` of per-leaf arguments `args_name` ("save_args",
// "restore_args") that matched `hits` leaves of `where` ("item 'x'"):
// InvalidArgument unless exactly one. `leaf_noun` names what it should
// have matched ("a leaf", "a restored leaf").
absl::Status CheckArgHits(absl::string_view args_name, absl::string_view key,
                          int hits, absl::string_view leaf_noun,
                          absl::string_view where);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_TREE_VALIDATE_H_
