// Which databases this process has open (or is opening) for writing: a
// second writer in the same process is told "busy" at once, even while the
// first is still creating the database (before RocksDB's LOCK file, which
// is what tells other processes, exists).
#ifndef CKPTDB_DB_WRITER_CLAIMS_H_
#define CKPTDB_DB_WRITER_CLAIMS_H_

#include <string>

#include "absl/status/statusor.h"

namespace ckptdb::internal {

// Claims `path` (by its absolute, normalised form) for this process's one
// writer; returns the claim to release. FailedPrecondition ("busy") if it
// is claimed already.
absl::StatusOr<std::string> ClaimWriter(const std::string& path);
// Releases a claim returned by ClaimWriter; no-op for "".
void ReleaseWriter(const std::string& claim);

// Whether another writer holds `path`: another Store of this process (a
// claim other than `own_claim`, the caller's claim or ""), or another
// process (RocksDB's LOCK). LOCK is never probed while another Store of
// this process may hold it: closing any descriptor of a file drops every
// POSIX lock the process holds on it, so the probe would unlock that
// writer.
bool AnotherWriterHolds(const std::string& path, const std::string& own_claim);

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_WRITER_CLAIMS_H_
