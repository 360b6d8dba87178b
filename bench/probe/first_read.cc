// Probe behind "Restore" (direct reads) in docs/design.md: where should a
// chunk read from a file land first? Reads a 1 GiB page-cached file in 1 MiB
// chunks with 2 threads, and checks each chunk's XXH3-128, in two ways:
//   dest     pread straight into the destination, then hash it there;
//   staging  pread into a 1 MiB per-thread buffer, hash it, copy it into
//            the destination;
// into three kinds of destination:
//   warm     one the kernel has already written to (the same one each rep);
//   touched  a new mapping each rep, written by the process (memset), not
//            yet by the kernel: a process's first restore into new arrays;
//   new      a new mapping each rep, untouched (page faults included).
// Also, into the warm destination, pread alone (no hash): the bench's
// 2-thread pread ceiling; and, with `pieces`, staging a chunk in pieces of
// 64, 128 and 256 KiB (pread a piece into the buffer, feed it to a
// streaming XXH3-128, copy it out), so that the staged bytes stay in the
// core's cache between the pread, the hash and the copy; and, with `nt`,
// staging with the copy out of the staging buffer done with non-temporal
// (streaming) stores, which skip reading the destination's cache lines
// before writing them. Prints the median and
// range of 5 reps (after 1 warm-up) in GB/s. Build and run (from the project
// root):
//   g++ -O2 -mavx2 -std=c++17 -pthread bench/probe/first_read.cc -o /tmp/fr
//   /tmp/fr          (every way and destination)
//   /tmp/fr pieces   (the warm destination: pread only, staging whole,
//                     staging in pieces; pread only again)
//   /tmp/fr nt       (twice: pread only, dest, staging, staging with
//                     streaming stores into a warm and a touched destination)
// The hash's AVX-512 code (XXH3 picks it at compile time) is measured by
// building with -mavx512f -mavx512bw -mavx512vl added.
// It writes one 1 GiB file, ./first_read_probe.bin, and removes it.
#define XXH_INLINE_ALL
#include <fcntl.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kTotal = size_t{1} << 30;
constexpr size_t kChunk = size_t{1} << 20;
constexpr int kThreads = 2;
constexpr char kFile[] = "first_read_probe.bin";

char* Map() {
  void* p = mmap(nullptr, kTotal, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return static_cast<char*>(p);
}

void Touch(char* p) {
  std::thread t([p] { std::memset(p, 1, kTotal / 2); });
  std::memset(p + kTotal / 2, 1, kTotal / 2);
  t.join();
}

enum class Way { kDest, kStaging, kPreadOnly, kPieces, kStagingNt };
// Copies `n` bytes (a multiple of 128) with streaming stores.
void CopyNt(char* d, const char* s, size_t n) {
  for (size_t i = 0; i < n; i += 128) {
    __m256i a = _mm256_loadu_si256((const __m256i*)(s + i));
    __m256i b = _mm256_loadu_si256((const __m256i*)(s + i + 32));
    __m256i c = _mm256_loadu_si256((const __m256i*)(s + i + 64));
    __m256i e = _mm256_loadu_si256((const __m256i*)(s + i + 96));
    _mm256_stream_si256((__m256i*)(d + i), a);
    _mm256_stream_si256((__m256i*)(d + i + 32), b);
    _mm256_stream_si256((__m256i*)(d + i + 64), c);
    _mm256_stream_si256((__m256i*)(d + i + 96), e);
  }
  _mm_sfence();
}

// One pass over the file into `dest`; GB/s.
double Pass(int fd, char* dest, Way way, size_t piece = kChunk) {
  const bool staging = way == Way::kStaging || way == Way::kStagingNt;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([=] {
      std::vector<char> stage(kChunk);
      uint64_t sum = 0;
      XXH3_state_t state;
      for (size_t off = t * kChunk; off < kTotal; off += kThreads * kChunk) {
        if (way == Way::kPieces) {
          XXH3_128bits_reset(&state);
          for (size_t p = 0; p < kChunk; p += piece) {
            if (pread(fd, stage.data(), piece, static_cast<off_t>(off + p)) !=
                static_cast<ssize_t>(piece)) {
              std::perror("pread");
              std::exit(1);
            }
            XXH3_128bits_update(&state, stage.data(), piece);
            std::memcpy(dest + off + p, stage.data(), piece);
          }
          sum += XXH3_128bits_digest(&state).low64;
          continue;
        }
        char* into = staging ? stage.data() : dest + off;
        if (pread(fd, into, kChunk, static_cast<off_t>(off)) !=
            static_cast<ssize_t>(kChunk)) {
          std::perror("pread");
          std::exit(1);
        }
        if (way != Way::kPreadOnly) sum += XXH3_128bits(into, kChunk).low64;
        if (way == Way::kStagingNt) {
          CopyNt(dest + off, into, kChunk);
        } else if (staging) {
          std::memcpy(dest + off, into, kChunk);
        }
      }
      if (sum == 42) std::puts("");  // keeps the hash
    });
  }
  for (std::thread& t : threads) t.join();
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return static_cast<double>(kTotal) / s / 1e9;
}

void Run(int fd, const char* kind, Way way, size_t piece = kChunk) {
  const std::string k = kind;
  char* warm = k == "warm" ? Map() : nullptr;
  if (warm != nullptr) Touch(warm);
  std::vector<double> rates;
  for (int rep = 0; rep < 6; ++rep) {
    char* dest = warm != nullptr ? warm : Map();
    if (k == "touched") Touch(dest);
    const double r = Pass(fd, dest, way, piece);
    if (rep > 0) rates.push_back(r);
    if (dest != warm) munmap(dest, kTotal);
  }
  if (warm != nullptr) munmap(warm, kTotal);
  std::sort(rates.begin(), rates.end());
  std::string name = way == Way::kDest      ? "dest"
                     : way == Way::kStaging ? "staging"
                     : way == Way::kPieces
                         ? "pieces " + std::to_string(piece >> 10) + "K"
                     : way == Way::kStagingNt ? "staging-nt"
                                              : "pread only";
  std::printf("%-11s into %-7s destination: %6.2f GB/s (%.2f-%.2f)\n",
              name.c_str(), kind, rates[2], rates.front(), rates.back());
}

}  // namespace

int main(int argc, char** argv) {
  const int fd = open(kFile, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror(kFile);
    return 1;
  }
  std::vector<char> block(kChunk);
  for (size_t off = 0; off < kTotal; off += kChunk) {
    for (size_t i = 0; i < kChunk; i += 8) {
      const uint64_t v = (off + i) * 0x9E3779B97F4A7C15ull;
      std::memcpy(block.data() + i, &v, 8);
    }
    if (write(fd, block.data(), kChunk) != static_cast<ssize_t>(kChunk)) {
      std::perror("write");
      return 1;
    }
  }
  fsync(fd);
  Run(fd, "warm", Way::kPreadOnly);
  if (argc > 1 && std::string(argv[1]) == "nt") {
    for (int i = 0; i < 2; ++i) {
      Run(fd, "warm", Way::kPreadOnly);
      Run(fd, "warm", Way::kDest);
      Run(fd, "warm", Way::kStaging);
      Run(fd, "warm", Way::kStagingNt);
      Run(fd, "touched", Way::kStagingNt);
    }
    close(fd);
    unlink(kFile);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "pieces") {
    Run(fd, "warm", Way::kStaging);
    for (size_t k : {64, 128, 256}) Run(fd, "warm", Way::kPieces, k << 10);
    Run(fd, "warm", Way::kPreadOnly);
    close(fd);
    unlink(kFile);
    return 0;
  }
  for (const char* kind : {"warm", "touched", "new"}) {
    Run(fd, kind, Way::kDest);
    Run(fd, kind, Way::kStaging);
  }
  close(fd);
  unlink(kFile);
  return 0;
}
