// tools/cli_flax: Flax's natural sort and checkpoint discovery.
#include "tools/cli_flax.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::cli {
namespace {

namespace fs = std::filesystem;

// The vectors of flax/tests/checkpoints_test.py (flax-legacy.md 1.9).
TEST(CliFlaxTest, NaturalSortMatchesFlax) {
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
    std::stable_sort(got.begin(), got.end(), FlaxNaturalLess);
    EXPECT_EQ(got, want);
  }
}

TEST(CliFlaxTest, FindsCheckpointsAsFlaxDoes) {
  const fs::path dir = fs::temp_directory_path() /
                       ("cli_flax_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "checkpoint_3_gda");
  fs::create_directories(dir / "checkpoint_4");  // an Orbax folder
  for (const char* n :
       {"checkpoint_10", "checkpoint_2", "checkpoint_tmp", "checkpoint_5_tmp",
        "other_1", "checkpoint_x.orbax-checkpoint-tmp-1"}) {
    std::ofstream(dir / n) << "x";
  }
  absl::StatusOr<FlaxDirectory> d =
      FindFlaxCheckpoints(dir.string(), "checkpoint_");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->files.size(), 2u);
  EXPECT_EQ(d->files[0].step, 2);
  EXPECT_EQ(d->files[1].name, "checkpoint_10");
  EXPECT_EQ(d->skipped.size(), 5u);
  std::ofstream(dir / "checkpoint_2.0") << "x";
  d = FindFlaxCheckpoints(dir.string(), "checkpoint_");
  EXPECT_THAT(std::string(d.status().message()),
              ::testing::HasSubstr("step '2.0' is not an integer"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ckptdb::cli
