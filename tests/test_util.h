// Shared helpers for ckptdb's tests.
#ifndef CKPTDB_TESTS_TEST_UTIL_H_
#define CKPTDB_TESTS_TEST_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/array.h"
#include "ckptdb/checkpoint_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::testing {

inline const absl::Status& internal_status(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& internal_status(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("x")))
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = internal_status(arg);
  if (s.code() != code) {
    *result_listener << "code is " << absl::StatusCodeToString(s.code()) << " ("
                     << s.message() << ")";
    return false;
  }
  return ::testing::ExplainMatchResult(
      message_matcher, std::string(s.message()), result_listener);
}

#define CKPTDB_ASSERT_OK(expr)                                     \
  do {                                                             \
    const auto& ckptdb_s = (expr);                                 \
    ASSERT_TRUE(::ckptdb::testing::internal_status(ckptdb_s).ok()) \
        << ::ckptdb::testing::internal_status(ckptdb_s);           \
  } while (0)
#define CKPTDB_EXPECT_OK(expr)                                     \
  do {                                                             \
    const auto& ckptdb_s = (expr);                                 \
    EXPECT_TRUE(::ckptdb::testing::internal_status(ckptdb_s).ok()) \
        << ::ckptdb::testing::internal_status(ckptdb_s);           \
  } while (0)

// A fresh directory under the test temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Total bytes of regular files under `dir`.
uint64_t DirectoryBytes(const std::string& dir);

// Deterministic pseudo-random array contents.
Array RandomArray(DType dtype, Shape shape, uint64_t seed);

// Flips one byte at `offset` of `file`.
void FlipByte(const std::string& file, uint64_t offset);

// Finds the first occurrence of `needle` in any file under `dir` whose name
// ends with `suffix`; returns the file and offset, or {"", 0}.
std::pair<std::string, uint64_t> FindBytes(const std::string& dir,
                                           const std::string& needle,
                                           const std::string& suffix = ".sst");

// Forks the writer of `db`: the child opens it with a synchronous
// CheckpointManager (it becomes the writer), runs `setup` on it (exiting
// with 2 if that fails) and then holds the database, serving followers'
// commits, until it is killed or a test hook ends it. Returns the child's
// pid once the child is ready, or -1 (after reaping it) if it never was.
pid_t ForkWriter(const std::string& db,
                 const std::function<bool(CheckpointManager&)>& setup);

}  // namespace ckptdb::testing

#endif  // CKPTDB_TESTS_TEST_UTIL_H_
