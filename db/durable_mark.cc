#include "db/durable_mark.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "util/hash.h"

namespace ckptdb::internal {
namespace {

constexpr char kFileName[] = "ckptdb-durable-seq";
constexpr char kMagic[] = "ckptdbSQ";  // 8 bytes, no NUL stored
constexpr size_t kSlotBytes = 24;      // magic, seq, hash
constexpr off_t kSlotOffset[2] = {0, 4096};

void EncodeSlot(uint64_t seq, char* out) {
  std::memcpy(out, kMagic, 8);
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>(seq >> (8 * i));
  const uint64_t h = Hash64(out, 16);
  for (int i = 0; i < 8; ++i) out[16 + i] = static_cast<char>(h >> (8 * i));
}

// The slot's sequence number; 0 when it is not a valid slot.
uint64_t DecodeSlot(const char* in) {
  if (std::memcmp(in, kMagic, 8) != 0) return 0;
  uint64_t seq = 0, h = 0;
  for (int i = 7; i >= 0; --i) {
    seq = (seq << 8) | static_cast<unsigned char>(in[8 + i]);
    h = (h << 8) | static_cast<unsigned char>(in[16 + i]);
  }
  return Hash64(in, 16) == h ? seq : 0;
}

// The mark in the open file `fd`, and which slot holds it (-1: none).
uint64_t ReadSlots(int fd, int* slot) {
  uint64_t best = 0;
  *slot = -1;
  for (int i = 0; i < 2; ++i) {
    char buf[kSlotBytes];
    if (::pread(fd, buf, kSlotBytes, kSlotOffset[i]) !=
        static_cast<ssize_t>(kSlotBytes)) {
      continue;
    }
    const uint64_t seq = DecodeSlot(buf);
    if (seq > best) {
      best = seq;
      *slot = i;
    }
  }
  return best;
}

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int e = errno;
  const std::string msg = absl::StrCat(what, " '", path, "': ", strerror(e));
  if (e == ENOSPC || e == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

std::string DurableMark::PathIn(const std::string& db) {
  return absl::StrCat(db, "/", kFileName);
}

uint64_t DurableMark::Read(const std::string& db) {
  const int fd = ::open(PathIn(db).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int slot;
  const uint64_t seq = ReadSlots(fd, &slot);
  ::close(fd);
  return seq;
}

absl::StatusOr<std::unique_ptr<DurableMark>> DurableMark::OpenForWrite(
    const std::string& db) {
  const std::string path = PathIn(db);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot create", path);
    // Both slots' blocks allocated now (empty slots: no mark), so that a
    // full disk later cannot fail a slot's first write; the new name must
    // survive a crash before a mark in it counts.
    const std::string empty(kSlotOffset[1] + kSlotBytes, '\0');
    const int dir = ::open(db.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = ::pwrite(fd, empty.data(), empty.size(), 0) ==
                            static_cast<ssize_t>(empty.size()) &&
                        ::fsync(fd) == 0 && dir >= 0 && ::fsync(dir) == 0;
    if (dir >= 0) ::close(dir);
    if (!synced) {
      absl::Status s = ErrnoError("cannot prepare", path);
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
  }
  if (fd < 0) return ErrnoError("cannot open", path);
  int slot;
  const uint64_t seq = ReadSlots(fd, &slot);
  // Never overwrite the valid mark.
  return std::unique_ptr<DurableMark>(
      new DurableMark(path, fd, seq, slot == 0 ? 1 : 0));
}

DurableMark::~DurableMark() { ::close(fd_); }

absl::Status DurableMark::Record(uint64_t seq) {
  absl::MutexLock l(&mu_);
  if (seq <= seq_) return absl::OkStatus();
  char buf[kSlotBytes];
  EncodeSlot(seq, buf);
  if (::pwrite(fd_, buf, kSlotBytes, kSlotOffset[next_slot_]) !=
          static_cast<ssize_t>(kSlotBytes) ||
      ::fdatasync(fd_) != 0) {
    return ErrnoError("cannot record the durable sequence in", path_);
  }
  seq_ = seq;
  next_slot_ = 1 - next_slot_;
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
