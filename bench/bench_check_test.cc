// Tests of ckptdb_bench's --check guard (bench/check.h) and of the disk
// ceiling measurements (bench/ceiling.h).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/ceiling.h"
#include "bench/check.h"
#include "bench/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace ckptdb_bench {
namespace {

using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Row GuardedRow(const std::string& op, double ratio, double min_ratio) {
  Row r;
  r.workload = "W1";
  r.operation = op;
  r.ratio = ratio;
  r.ratio_text = std::to_string(ratio).substr(0, 4) + "x vs O_DIRECT 2 thr";
  r.target = ">= " + std::to_string(min_ratio).substr(0, 4) + "x";
  r.has_target = true;
  r.met = ratio >= min_ratio;
  r.guarded = true;
  return r;
}

TEST(GuardTest, AllMetIsExitOk) {
  const std::vector<Row> rows = {GuardedRow("durable save", 0.90, 0.85),
                                 GuardedRow("restore", 1.2, 1.0)};
  EXPECT_THAT(GuardShortfalls(rows), IsEmpty());
  EXPECT_EQ(CheckGuard(rows, /*quick=*/false), kExitOk);
}

TEST(GuardTest, NamesEachShortfallAndExitsWithTargetMissed) {
  Row unguarded = GuardedRow("W3 sweep", 0.1, 1.0);
  unguarded.guarded = false;  // missed, but not part of the guard
  const std::vector<Row> rows = {GuardedRow("durable save", 0.62, 0.85),
                                 GuardedRow("restore into target", 1.1, 1.0),
                                 unguarded,
                                 GuardedRow("restore, no target", 0.80, 0.9)};
  EXPECT_THAT(GuardShortfalls(rows),
              ElementsAre("W1 durable save: 0.62x vs O_DIRECT 2 thr, "
                          "target >= 0.85x",
                          "W1 restore, no target: 0.80x vs O_DIRECT 2 thr, "
                          "target >= 0.90x"));
  EXPECT_EQ(CheckGuard(rows, /*quick=*/false), kExitTargetMissed);
}

TEST(GuardTest, QuickRunReportsButDoesNotFail) {
  const std::vector<Row> rows = {GuardedRow("durable save", 0.5, 0.85)};
  EXPECT_THAT(GuardShortfalls(rows), ::testing::SizeIs(1));
  EXPECT_EQ(CheckGuard(rows, /*quick=*/true), kExitOk);
}

TEST(GuardTest, UnmeasuredGuardedRowFallsShort) {
  Row r = GuardedRow("durable save", 0, 0.85);
  r.has_target = false;
  r.ratio_text = "n/a";
  EXPECT_THAT(GuardShortfalls({r}),
              ElementsAre(HasSubstr("W1 durable save: not measured (n/a)")));
}

// A 4 KiB-aligned buffer of `n` pseudo-random bytes.
std::vector<char> Pattern(size_t n) {
  std::vector<char> v(n);
  uint32_t x = 12345;
  for (char& c : v) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return v;
}

char* Aligned(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, n) != 0) std::abort();
  return static_cast<char*>(p);
}

TEST(CeilingTest, DirectWriteThenPreadRoundTripsAnUnalignedLength) {
  TempDir dir;
  ASSERT_TRUE(CheckDirectIo(dir.path()).ok()) << "test dir needs O_DIRECT";
  // Two and a half blocks plus a tail that is not a multiple of 4 KiB.
  const size_t n = 2 * kCeilingBlockBytes + kCeilingBlockBytes / 2 + 1000;
  const std::vector<char> want = Pattern(n);
  char* src = Aligned(n + 4096);
  std::memcpy(src, want.data(), n);
  const std::string file = dir.Sub("direct");
  absl::StatusOr<double> w = DirectWriteSeconds(file, src, n, 4);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_GT(*w, 0);
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), (n + 4095) / 4096 * 4096);
  for (int threads : {1, 2}) {
    std::vector<char> got(n, 0);
    absl::StatusOr<double> r = PreadSeconds(file, got.data(), n, threads);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(got == want) << threads << " thread(s)";
  }
  std::free(src);
}

TEST(CeilingTest, MisalignedSourceIsInvalidArgument) {
  TempDir dir;
  char* src = Aligned(8192);
  EXPECT_THAT(DirectWriteSeconds(dir.Sub("f"), src + 1, 4096, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not 4 KiB aligned")));
  std::free(src);
}

TEST(CeilingTest, PreadOfAShortFileNamesTheFile) {
  TempDir dir;
  const std::string file = dir.Sub("short");
  std::ofstream(file) << "twelve bytes";
  std::vector<char> buf(4096);
  EXPECT_THAT(PreadSeconds(file, buf.data(), buf.size(), 1),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("pread of 4096 bytes of '" + file + "'")));
  EXPECT_THAT(PreadSeconds(dir.Sub("missing"), buf.data(), 1, 1),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("missing")));
}

}  // namespace
}  // namespace ckptdb_bench
