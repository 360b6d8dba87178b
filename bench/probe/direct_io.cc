// Probe behind "The W1 save ceiling" in docs/design.md: how fast can 1 GiB
// reach the disk durably at all on this machine? Writes 1 GiB from an
// already-faulted buffer with N threads of pwrite (B MiB each), buffered or
// O_DIRECT, then one fsync; then reads it back with pread, buffered or
// O_DIRECT. Three repetitions each.
// Build and run (from the project root):
//   g++ -O2 -std=c++17 -pthread bench/probe/direct_io.cc -o /tmp/direct_io
//   /tmp/direct_io direct 8 2; /tmp/direct_io buffered 8 2
//   /tmp/direct_io direct 8 4
// It writes one 1 GiB file, ./direct_io_probe.bin, and removes it.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr size_t kTotal = size_t{1} << 30;
constexpr char kFile[] = "direct_io_probe.bin";

double Seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs `io(fd, offset)` for every block, `threads` ways, and returns GB/s.
template <typename Io>
double Pass(int fd, size_t block, int threads, Io io) {
  const double t0 = Seconds();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t off = t * block; off < kTotal; off += threads * block) {
        if (!io(fd, off)) {
          std::perror("I/O");
          std::exit(1);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return kTotal / (Seconds() - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s direct|buffered BLOCK_MIB THREADS\n",
                 argv[0]);
    return 2;
  }
  const bool direct = std::strcmp(argv[1], "direct") == 0;
  const size_t block = static_cast<size_t>(std::atoi(argv[2])) << 20;
  const int threads = std::atoi(argv[3]);
  if (block == 0 || kTotal % block != 0 || threads < 1) return 2;
  char* buf = nullptr;
  if (posix_memalign(reinterpret_cast<void**>(&buf), 4096, kTotal) != 0) {
    return 1;
  }
  for (size_t i = 0; i < kTotal; i += 8) {  // fault in, incompressible
    const uint64_t v = (i + 1) * 0x9E3779B97F4A7C15ULL;
    std::memcpy(buf + i, &v, 8);
  }
  const int flag = direct ? O_DIRECT : 0;
  for (int rep = 0; rep < 3; ++rep) {
    unlink(kFile);
    const double t0 = Seconds();
    int fd = open(kFile, O_WRONLY | O_CREAT | flag, 0644);
    if (fd < 0) return 1;
    Pass(fd, block, threads, [&](int f, size_t off) {
      return pwrite(f, buf + off, block, off) == static_cast<ssize_t>(block);
    });
    if (fsync(fd) != 0) return 1;
    close(fd);
    const double write_gbs = kTotal / (Seconds() - t0) / 1e9;
    fd = open(kFile, O_RDONLY | flag);
    if (fd < 0) return 1;
    const double read_gbs = Pass(fd, block, threads, [&](int f, size_t off) {
      return pread(f, buf + off, block, off) == static_cast<ssize_t>(block);
    });
    close(fd);
    std::printf(
        "%s, %zu MiB blocks, %d threads: write+fsync %.2f GB/s, "
        "read %.2f GB/s\n",
        direct ? "O_DIRECT" : "buffered", block >> 20, threads, write_gbs,
        read_gbs);
  }
  unlink(kFile);
  free(buf);
  return 0;
}
