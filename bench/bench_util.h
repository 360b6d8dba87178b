// Small utilities for ckptdb_bench: clocks, files, /proc, statistics and
// the result table.
#ifndef CKPTDB_BENCH_BENCH_UTIL_H_
#define CKPTDB_BENCH_BENCH_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ckptdb_bench {

// Monotonic seconds.
double Now();

double Median(std::vector<double> v);

// Prints "ckptdb_bench: CORRECTNESS FAILURE: <what>" and exits with 1.
[[noreturn]] void Fail(const std::string& what);
// Fail()s unless `s` is OK.
void CheckOk(const absl::Status& s, const std::string& what);
// Fail()s with errno's text.
[[noreturn]] void FailErrno(const std::string& what);

// rm -rf / mkdir -p (Fail on error).
void RemoveAll(const std::string& path);
void MakeDirs(const std::string& path);
bool PathExists(const std::string& path);
// Disk usage of `path` in bytes, as `du -s -B1` reports it (allocated
// blocks).
uint64_t DuBytes(const std::string& path);
// Apparent size (`du -s -b`).
uint64_t DuApparentBytes(const std::string& path);
// True if `path` is on a tmpfs (or ramfs) file system.
bool IsMemoryFs(const std::string& path);
// Free bytes of the file system holding `path`.
uint64_t FreeBytes(const std::string& path);

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM", "RssFile"...),
// -1 if absent.
int64_t ProcStatusBytes(const char* key);
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs).
void ResetPeakRss();

// Runs `cmd` with /bin/sh; returns its exit status (or -1); stdout and
// stderr are appended to *output when it is not null.
int RunShell(const std::string& cmd, std::string* output);

// "1.07 GiB", "512.0 KiB", "37 B".
std::string FormatBytes(double bytes);
// "1.23 GB/s" (10^9 bytes per second).
std::string FormatRate(double bytes_per_sec);
// "1.23 s", "45.6 ms".
std::string FormatSeconds(double s);

// One row of the result table (and of the JSON output).
struct Row {
  std::string workload;
  std::string operation;
  std::string ckptdb;      // ckptdb's figure
  std::string raw;         // raw single file
  std::string per_leaf;    // raw file per leaf
  std::string hdf5;        // HDF5
  std::string borg;        // borg (W3)
  std::string reference;   // another reference figure (W4, RSS)
  double ratio = 0;        // as defined by `ratio_text`
  std::string ratio_text;  // "0.93x vs raw"
  std::string target;      // ">= 0.9x raw"
  bool has_target = true;  // false: informational row
  bool met = false;
  // Part of issue 19's regression guard: `ckptdb_bench --check` fails the
  // run when this row's target is not met (bench/check.h).
  bool guarded = false;
  std::vector<double> ratio_samples;  // per-pair ratios
};

// Prints the table with aligned columns to stdout.
void PrintTable(const std::vector<Row>& rows, bool quick);

// Writes a JSON string literal for `s` (with quotes).
std::string JsonString(const std::string& s);

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_BENCH_UTIL_H_
