#include "core/file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ckptdb::file_bytes {
namespace {

absl::Status Errno(const std::string& path, absl::string_view op) {
  const int e = errno;
  const std::string msg = absl::StrCat(op, " '", path, "': ", std::strerror(e));
  if (e == ENOENT || e == ENOTDIR) {
    return absl::NotFoundError(absl::StrCat("missing file '", path, "'"));
  }
  return absl::UnavailableError(msg);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status ReadAt(int fd, const std::string& path, uint64_t offset,
                    std::string* out) {
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = pread(fd, out->data() + done, out->size() - done,
                            static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(path, "read");
    }
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("'", path, "': file shrank while reading (at byte ",
                       offset + done, ")"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadAll(const std::string& path,
                                    uint64_t max_bytes) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(path, "open");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno(path, "stat");
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a regular file"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' has ", size,
                                                   " bytes, more than the ",
                                                   max_bytes, " expected"));
  }
  std::string out(size, '\0');
  absl::Status s = ReadAt(fd.get(), path, 0, &out);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> ReadRange(const std::string& path, uint64_t offset,
                                      uint64_t length) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(path, "open");
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno(path, "stat");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': ", length, " bytes at offset ", offset,
                     " run past the end of the file (", size, " bytes)"));
  }
  std::string out(length, '\0');
  absl::Status s = ReadAt(fd.get(), path, offset, &out);
  if (!s.ok()) return s;
  return out;
}

bool IsContainedRelativePath(const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || rel.find('\0') != std::string::npos) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(rel, '/')) {
    if (part == "..") return false;
  }
  return true;
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

uint64_t TreeBytes(const std::string& path) {
  namespace fs = std::filesystem;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fe;
    if (it->is_regular_file(fe)) {
      const uint64_t n = it->file_size(fe);
      if (!fe) total += n;
    }
  }
  return total;
}

absl::Status IoError(const std::string& what, const std::string& path,
                     int err) {
  const std::string msg =
      absl::StrCat("cannot ", what, " '", path, "': ", std::strerror(err));
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

}  // namespace ckptdb::file_bytes
