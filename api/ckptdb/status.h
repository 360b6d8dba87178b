// Error-handling helpers shared by ckptdb's public API.
//
// Debian's Abseil (20220623) ships neither ABSL_RETURN_IF_ERROR nor
// ABSL_ASSIGN_OR_RETURN, so ckptdb defines its own. Error codes used across
// the API:
//   NotFound           a step, item, leaf path or database does not exist
//   AlreadyExists      a checkpoint or step exists and `force` was not given
//   InvalidArgument    bad option, bad tree, or a target that does not match
//   FailedPrecondition closed, read-only or busy (locked) store
//   DataLoss           a checksum, hash or FlatBuffers Verifier check failed
//   ResourceExhausted  the disk is full
//   Unavailable        a background save failed for a transient I/O reason
//   Internal           a RocksDB or OS call failed in an unexpected way
#ifndef CKPTDB_STATUS_H_
#define CKPTDB_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CKPTDB_STATUS_CONCAT_INNER_(a, b) a##b
#define CKPTDB_STATUS_CONCAT_(a, b) CKPTDB_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define CKPTDB_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status ckptdb_status_ = (expr);          \
    if (!ckptdb_status_.ok()) return ckptdb_status_; \
  } while (0)

// `CKPTDB_ASSIGN_OR_RETURN(auto x, MakeX());` evaluates an absl::StatusOr,
// returns its status on error and otherwise moves the value into `lhs`.
#define CKPTDB_ASSIGN_OR_RETURN(lhs, rexpr) \
  CKPTDB_ASSIGN_OR_RETURN_IMPL_(            \
      CKPTDB_STATUS_CONCAT_(ckptdb_statusor_, __LINE__), lhs, rexpr)

#define CKPTDB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // CKPTDB_STATUS_H_
