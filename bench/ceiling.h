// The disk's own ceilings (issue 19), measured in the same run as ckptdb
// and alternating with it:
//  - durable writes: O_DIRECT pwrite of 8 MiB aligned blocks from several
//    threads, then one fsync (no CPU work besides the system calls, nothing
//    left in the page cache);
//  - page-cache reads: pread in 8 MiB blocks from one or two threads into
//    warm, reused buffers, of a file that was just written (so it is
//    cached).
// docs/design.md ("Performance against the disk ceiling") has the figures.
#ifndef CKPTDB_BENCH_CEILING_H_
#define CKPTDB_BENCH_CEILING_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/compare.h"

namespace ckptdb_bench {

// Block size of every ceiling measurement.
inline constexpr size_t kCeilingBlockBytes = size_t{8} << 20;

// OK if files in `dir` can be opened with O_DIRECT; FailedPrecondition
// naming the directory otherwise (a tmpfs cannot).
absl::Status CheckDirectIo(const std::string& dir);

// Removes `path`, then writes `bytes` bytes of `src` to it with O_DIRECT
// pwrite from `threads` threads (thread t writes blocks t, t + threads, ...
// of kCeilingBlockBytes), fsyncs and closes it. Returns the seconds from
// the open to the close. `src` must be 4 KiB aligned; the file is rounded
// up to a multiple of 4 KiB (O_DIRECT's unit; the tail goes through an
// aligned bounce block). Errors name the file and the failed call.
absl::StatusOr<double> DirectWriteSeconds(const std::string& path,
                                          const char* src, size_t bytes,
                                          int threads);

// Reads the first `bytes` bytes of `path` with pread from `threads` threads
// (blocks as above) into `dst` at the same offsets. Returns the seconds from
// the open to the close. Errors name the file and the failed call (a file
// shorter than `bytes` is one).
absl::StatusOr<double> PreadSeconds(const std::string& path, char* dst,
                                    size_t bytes, int threads);

// Contender names, as they appear in progress lines and JSON keys.
inline constexpr char kDirect2[] = "direct-2";
inline constexpr char kDirect4[] = "direct-4";
inline constexpr char kPread1[] = "pread-1";
inline constexpr char kPread2[] = "pread-2";

// The ceilings as contenders of RunPairs for a workload of `bytes` bytes:
// `writes` are O_DIRECT writes of `src` into `direct_path` with 2 and 4
// threads (empty when `with_direct` is false), `reads` preads of
// `read_path` into `dst` with 1 and 2 threads. Each op Fail()s on an I/O
// error. The pointers and paths must outlive the contenders.
struct CeilingContenders {
  std::vector<Contender> writes;
  std::vector<Contender> reads;
};
CeilingContenders MakeCeilingContenders(const std::string& direct_path,
                                        const std::string& read_path,
                                        const char* src, char* dst,
                                        size_t bytes, bool with_direct);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_CEILING_H_
