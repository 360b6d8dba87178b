// The restore buffer pool (util/buffer_pool.h): reuse of idle buffers, its
// limit, and the huge-page advice on large buffers.
#include "util/buffer_pool.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ckptdb::internal {
namespace {

// The VmFlags of the mapping holding `p` (/proc/self/smaps), or "".
std::string VmFlagsOf(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin, end;
    char dash;
    std::istringstream range(line);
    if (line.find(':') > line.find(' ') &&
        (range >> std::hex >> begin >> dash >> end) && dash == '-') {
      inside = begin <= addr && addr < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(BufferPoolTest, AnIdleBufferIsReusedAndTheLimitBoundsIdleBytes) {
  const size_t old_limit = SetBufferPoolLimit(64 << 20);
  void* first;
  {
    std::shared_ptr<void> b = AcquireBuffer(8 << 20);
    ASSERT_NE(b, nullptr);
    first = b.get();
  }
  EXPECT_EQ(BufferPoolIdleBytes(), size_t{8} << 20);
  {
    std::shared_ptr<void> b = AcquireBuffer((8 << 20) - 4096);
    EXPECT_EQ(b.get(), first);  // best fit, at most twice the request
    EXPECT_EQ(BufferPoolIdleBytes(), 0u);
  }
  SetBufferPoolLimit(0);
  EXPECT_EQ(BufferPoolIdleBytes(), 0u);
  SetBufferPoolLimit(old_limit);
}

// Buffers of 2 MiB or more are advised to use transparent huge pages
// (MADV_HUGEPAGE, "hg" in the mapping's VmFlags); smaller ones are not.
TEST(BufferPoolTest, LargeBuffersAskForHugePages) {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(thp, modes);
  if (modes.empty() || modes.find("[never]") != std::string::npos) {
    GTEST_SKIP() << "no transparent huge pages here: madvise refuses";
  }
  const size_t old_limit = SetBufferPoolLimit(0);  // new mappings only
  std::shared_ptr<void> large = AcquireBuffer(4 << 20);
  std::shared_ptr<void> small = AcquireBuffer(1 << 20);
  ASSERT_NE(large, nullptr);
  ASSERT_NE(small, nullptr);
  const std::string large_flags = VmFlagsOf(large.get());
  const std::string small_flags = VmFlagsOf(small.get());
  ASSERT_FALSE(large_flags.empty()) << "no mapping found in /proc/self/smaps";
  EXPECT_THAT(large_flags, ::testing::HasSubstr(" hg")) << large_flags;
  EXPECT_THAT(small_flags, ::testing::Not(::testing::HasSubstr(" hg")))
      << small_flags;
  SetBufferPoolLimit(old_limit);
}

}  // namespace
}  // namespace ckptdb::internal
