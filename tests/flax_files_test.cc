// core/flax_files: Flax's natural sort and checkpoint discovery.
#include "core/flax_files.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::flax_files {
namespace {

namespace fs = std::filesystem;

// The vectors of flax/tests/checkpoints_test.py (flax-legacy.md 1.9).
TEST(FlaxFilesTest, NaturalSortMatchesFlax) {
  const std::vector<std::vector<std::string>> sorted = {
      {"file_1", "file_2", "file_10", "file_11", "file_21"},
      {"file_0.001", "file_0.01", "file_0.1", "file_1"},
      {"file_-3.0", "file_-2", "file_-1", "file_0.0"},
      {"file_1e1", "file_1.0e2", "file_1e3", "file_1.0e4"},
      {"file_9", "file_1.0e1", "file_11"},
      {"checkpoint_9", "checkpoint_100", "checkpoint_tmp"},
  };
  for (const auto& want : sorted) {
    std::vector<std::string> got(want.rbegin(), want.rend());
    std::stable_sort(got.begin(), got.end(), NaturalLess);
    EXPECT_EQ(got, want);
  }
}

TEST(FlaxFilesTest, FindsCheckpointsAsFlaxDoes) {
  const fs::path dir = fs::temp_directory_path() /
                       ("flax_files_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "checkpoint_3_gda");
  fs::create_directories(dir / "checkpoint_4");  // an Orbax folder
  for (const char* n :
       {"checkpoint_10", "checkpoint_2", "checkpoint_tmp", "checkpoint_5_tmp",
        "other_1", "checkpoint_x.orbax-checkpoint-tmp-1"}) {
    std::ofstream(dir / n) << "x";
  }
  absl::StatusOr<Directory> d = FindCheckpoints(dir.string(), "checkpoint_");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->files.size(), 2u);
  EXPECT_EQ(d->files[0].step, 2);
  EXPECT_EQ(d->files[1].name, "checkpoint_10");
  EXPECT_EQ(d->skipped.size(), 5u);
  // Flax's float steps: a whole value is that step, named as Flax named it.
  std::ofstream(dir / "checkpoint_7.0") << "x";
  std::ofstream(dir / "checkpoint_1e3") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->files.size(), 4u);
  EXPECT_EQ(d->files[1].name, "checkpoint_7.0");  // natural order
  EXPECT_EQ(d->files[1].step, 7);
  EXPECT_EQ(d->files[3].name, "checkpoint_1e3");
  EXPECT_EQ(d->files[3].step, 1000);
  // A fraction is not a ckptdb step; two names of one step are refused.
  std::ofstream(dir / "checkpoint_2.5") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  EXPECT_THAT(std::string(d.status().message()),
              ::testing::HasSubstr("step '2.5' is not a whole number"));
  fs::remove(dir / "checkpoint_2.5");
  std::ofstream(dir / "checkpoint_1e1") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  EXPECT_THAT(std::string(d.status().message()),
              ::testing::HasSubstr("are both step 10"));
  fs::remove(dir / "checkpoint_1e1");
  // Decimal digits are read exactly, beyond 2^53 too; a float beyond 9e15
  // and digits beyond int64 are refused, each saying why.
  std::ofstream(dir / "checkpoint_100000000000000001") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->files.back().step, 100000000000000001);
  std::ofstream(dir / "checkpoint_1e16") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  EXPECT_THAT(std::string(d.status().message()),
              ::testing::HasSubstr("'1e16' is beyond 9e15"));
  fs::remove(dir / "checkpoint_1e16");
  std::ofstream(dir / "checkpoint_9223372036854775808") << "x";
  d = FindCheckpoints(dir.string(), "checkpoint_");
  EXPECT_THAT(std::string(d.status().message()),
              ::testing::HasSubstr("larger than ckptdb's largest step"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ckptdb::flax_files
