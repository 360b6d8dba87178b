#include "tests/test_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace ckptdb::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const char* base = getenv("TEST_TMPDIR");
  fs::path root = base ? base : fs::temp_directory_path();
  path_ = (root / ("ckptdb_test_" + std::to_string(getpid()) + "_" +
                   std::to_string(counter++)))
              .string();
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

Array RandomArray(DType dtype, Shape shape, uint64_t seed) {
  Array a = Array::Allocate(dtype, std::move(shape));
  std::mt19937_64 rng(seed);
  auto* p = static_cast<uint8_t*>(a.mutable_data());
  size_t n = a.nbytes();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
  if (dtype == DType::kBool) {
    for (size_t k = 0; k < n; ++k) p[k] &= 1;
  }
  return a;
}

void FlipByte(const std::string& file, uint64_t offset) {
  int fd = open(file.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << file;
  uint8_t b;
  ASSERT_EQ(pread(fd, &b, 1, offset), 1);
  b ^= 0x5a;
  ASSERT_EQ(pwrite(fd, &b, 1, offset), 1);
  fsync(fd);
  close(fd);
}

std::pair<std::string, uint64_t> FindBytes(const std::string& dir,
                                           const std::string& needle,
                                           const std::string& suffix) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string name = e.path().string();
    if (name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::ifstream in(name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    const size_t pos = data.find(needle);
    if (pos != std::string::npos) return {name, pos};
  }
  return {"", 0};
}

pid_t ForkWriter(const std::string& db,
                 const std::function<bool(CheckpointManager&)>& setup) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(ready[0]);
    CheckpointManagerOptions o;
    o.enable_async_checkpointing = false;
    auto m = CheckpointManager::Open(db, o);
    if (!m.ok() || !setup(**m)) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    for (;;) pause();  // serves followers' commits until ended
  }
  close(ready[1]);
  char c;
  const bool started = read(ready[0], &c, 1) == 1;
  close(ready[0]);
  if (started) return pid;
  int status = 0;
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace ckptdb::testing
