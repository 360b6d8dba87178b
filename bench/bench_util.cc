#include "bench/bench_util.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace ckptdb_bench {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void Fail(const std::string& what) {
  std::fflush(stdout);
  std::fprintf(stderr, "ckptdb_bench: CORRECTNESS FAILURE: %s\n", what.c_str());
  std::exit(1);
}

void CheckOk(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.ToString());
}

void FailErrno(const std::string& what) {
  Fail(what + ": " + std::strerror(errno));
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) Fail("rm -rf " + path + ": " + ec.message());
}

void MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) Fail("mkdir -p " + path + ": " + ec.message());
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

namespace {
uint64_t RunDu(const std::string& flags, const std::string& path) {
  std::string out;
  const int rc = RunShell("du -s " + flags + " '" + path + "'", &out);
  if (rc != 0) Fail("du " + flags + " " + path + " failed: " + out);
  return std::strtoull(out.c_str(), nullptr, 10);
}
}  // namespace

uint64_t DuBytes(const std::string& path) { return RunDu("-B1", path); }
uint64_t DuApparentBytes(const std::string& path) { return RunDu("-b", path); }

bool IsMemoryFs(const std::string& path) {
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return false;
  return st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC;
}

uint64_t FreeBytes(const std::string& path) {
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_bsize;
}

int64_t ProcStatusBytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen &&
        line[klen] == ':') {
      return std::strtoll(line.c_str() + klen + 1, nullptr, 10) * 1024;
    }
  }
  return -1;
}

void ResetPeakRss() {
  const int fd = open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0) FailErrno("open /proc/self/clear_refs");
  if (write(fd, "5", 1) != 1) FailErrno("write /proc/self/clear_refs");
  close(fd);
}

int RunShell(const std::string& cmd, std::string* output) {
  std::fflush(stdout);
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    if (output != nullptr) output->append(buf, n);
  }
  const int st = pclose(p);
  if (st == -1 || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

std::string FormatBytes(double b) {
  char buf[64];
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f B", b);
  } else {
    std::snprintf(buf, sizeof(buf), b < 10 ? "%.2f %s" : "%.1f %s", b,
                  units[u]);
  }
  return buf;
}

std::string FormatRate(double bps) {
  char buf[64];
  if (bps >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2f GB/s", bps / 1e9);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f MB/s", bps / 1e6);
  }
  return buf;
}

std::string FormatSeconds(double s) {
  char buf[64];
  if (s >= 1) {
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.1f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f us", s * 1e6);
  }
  return buf;
}

void PrintTable(const std::vector<Row>& rows, bool quick) {
  const std::vector<std::string> head = {
      "workload", "operation", "ckptdb", "raw file", "file/leaf", "HDF5",
      "borg",     "reference", "ratio",  "target",   "result"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    std::string result = !r.has_target ? "info" : (r.met ? "met" : "NOT MET");
    if (quick && r.has_target) result += " (quick)";
    cells.push_back({r.workload, r.operation, r.ckptdb, r.raw, r.per_leaf,
                     r.hdf5, r.borg, r.reference, r.ratio_text, r.target,
                     result});
  }
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line = "|";
    for (size_t c = 0; c < row.size(); ++c) {
      line += " " + row[c] + std::string(width[c] - row[c].size(), ' ') + " |";
    }
    std::printf("%s\n", line.c_str());
  };
  print(head);
  std::string sep = "|";
  for (size_t w : width) sep += std::string(w + 2, '-') + "|";
  std::printf("%s\n", sep.c_str());
  for (const auto& row : cells) print(row);
  std::fflush(stdout);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace ckptdb_bench
