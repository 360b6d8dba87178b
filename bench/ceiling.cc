#include "bench/ceiling.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"

namespace ckptdb_bench {
namespace {

constexpr size_t kDirectUnit = 4096;  // O_DIRECT alignment of offsets/sizes

absl::Status ErrnoStatus(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

// Runs `io(offset, length)` over the blocks of [0, bytes) from `threads`
// threads, thread t taking blocks t, t + threads, ...; the first error
// (an errno) wins.
int ForEachBlock(size_t bytes, int threads,
                 const std::function<int(size_t, size_t)>& io) {
  std::atomic<int> first_error{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t off = t * kCeilingBlockBytes; off < bytes;
           off += threads * kCeilingBlockBytes) {
        const int err = io(off, std::min(kCeilingBlockBytes, bytes - off));
        if (err != 0) {
          int expected = 0;
          first_error.compare_exchange_strong(expected, err);
          return;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return first_error.load();
}

// pwrite/pread of the whole range, looping over short transfers; returns
// 0 or an errno (EIO for an unexpected end of file).
template <typename Call>
int TransferAll(Call call, char* p, size_t n, size_t off) {
  while (n > 0) {
    const ssize_t r = call(p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO;
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<size_t>(r);
  }
  return 0;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

absl::Status CheckDirectIo(const std::string& dir) {
  const std::string probe = dir + "/.direct_io_probe";
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
  const int err = errno;
  if (fd >= 0) close(fd);
  unlink(probe.c_str());
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", dir, "' does not take O_DIRECT writes (", std::strerror(err),
        "): the durable-write ceiling cannot be measured there"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> DirectWriteSeconds(const std::string& path,
                                          const char* src, size_t bytes,
                                          int threads) {
  if (reinterpret_cast<uintptr_t>(src) % kDirectUnit != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("O_DIRECT source for '", path, "' is not 4 KiB aligned"));
  }
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("O_DIRECT write of '", path, "': threads ", threads));
  }
  const size_t whole = bytes / kDirectUnit * kDirectUnit;
  void* raw_tail = nullptr;
  if (posix_memalign(&raw_tail, kDirectUnit, kDirectUnit) != 0) {
    return absl::ResourceExhaustedError("O_DIRECT bounce block");
  }
  std::unique_ptr<void, FreeDeleter> tail(raw_tail);
  std::memset(raw_tail, 0, kDirectUnit);
  std::memcpy(raw_tail, src + whole, bytes - whole);

  unlink(path.c_str());
  const double t0 = Now();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
  if (fd < 0) return ErrnoStatus("O_DIRECT open of '" + path + "'", errno);
  auto write = [fd](char* p, size_t n, off_t off) {
    return pwrite(fd, p, n, off);
  };
  int err = ForEachBlock(whole, threads, [&](size_t off, size_t n) {
    return TransferAll(write, const_cast<char*>(src) + off, n, off);
  });
  if (err == 0 && whole < bytes) {
    err = TransferAll(write, static_cast<char*>(raw_tail), kDirectUnit, whole);
  }
  if (err != 0) {
    close(fd);
    return ErrnoStatus("O_DIRECT pwrite to '" + path + "'", err);
  }
  if (fsync(fd) != 0) {
    err = errno;
    close(fd);
    return ErrnoStatus("fsync of '" + path + "'", err);
  }
  if (close(fd) != 0) return ErrnoStatus("close of '" + path + "'", errno);
  return Now() - t0;
}

absl::StatusOr<double> PreadSeconds(const std::string& path, char* dst,
                                    size_t bytes, int threads) {
  if (threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pread of '", path, "': threads ", threads));
  }
  const double t0 = Now();
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return ErrnoStatus("open of '" + path + "'", errno);
  auto read = [fd](char* p, size_t n, off_t off) {
    return pread(fd, p, n, off);
  };
  const int err = ForEachBlock(bytes, threads, [&](size_t off, size_t n) {
    return TransferAll(read, dst + off, n, off);
  });
  close(fd);
  if (err != 0) {
    return ErrnoStatus(
        absl::StrCat("pread of ", bytes, " bytes of '", path, "'"), err);
  }
  return Now() - t0;
}

CeilingContenders MakeCeilingContenders(const std::string& direct_path,
                                        const std::string& read_path,
                                        const char* src, char* dst,
                                        size_t bytes, bool with_direct) {
  auto seconds = [](absl::StatusOr<double> s, const std::string& who) {
    CheckOk(s.status(), who);
    return *s;
  };
  CeilingContenders c;
  if (with_direct) {
    for (const int threads : {2, 4}) {
      c.writes.push_back(
          {threads == 2 ? kDirect2 : kDirect4, [=, &direct_path] {
             return seconds(
                 DirectWriteSeconds(direct_path, src, bytes, threads),
                 "ceiling write");
           }});
    }
  }
  for (const int threads : {1, 2}) {
    c.reads.push_back({threads == 1 ? kPread1 : kPread2, [=, &read_path] {
                         return seconds(
                             PreadSeconds(read_path, dst, bytes, threads),
                             "ceiling read");
                       }});
  }
  return c;
}

}  // namespace ckptdb_bench
