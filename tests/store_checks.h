// Checks of a whole database through the Store, shared by the crash tests.
#ifndef CKPTDB_TESTS_STORE_CHECKS_H_
#define CKPTDB_TESTS_STORE_CHECKS_H_

#include <string>

#include "db/store.h"

namespace ckptdb::testing {

// Opens the database at `db` with `options` and verifies every step of the
// store's run and the chunk bookkeeping (Store::Verify with no steps);
// returns one line per problem, or "" if there is none.
std::string VerifyProblems(const std::string& db,
                           const internal::StoreOptions& options);

// Opens the database for writing, collects garbage, and expects nothing of
// an interrupted save or delete to be left: the chunks column family holds
// exactly the live chunks of committed steps (no orphan segment), and the
// staging folder is empty.
void CheckNothingLeftAfterGc(const std::string& db);

}  // namespace ckptdb::testing

#endif  // CKPTDB_TESTS_STORE_CHECKS_H_
