// Local sockets carrying messages: Linux abstract-namespace Unix stream
// sockets (no file in any directory; the name disappears when the listening
// process closes it or dies), each message framed as a 4-byte little-endian
// length and its bytes. Used by the commit service (db/commit_service.h).
#ifndef CKPTDB_UTIL_LOCAL_SOCKET_H_
#define CKPTDB_UTIL_LOCAL_SOCKET_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ckptdb::internal {

// Messages longer than this are refused (by both ends).
inline constexpr uint32_t kMaxLocalMessage = 1u << 30;

// One connected socket. Move-only; closes on destruction.
class LocalSocket {
 public:
  LocalSocket() = default;
  explicit LocalSocket(int fd) : fd_(fd) {}
  ~LocalSocket();
  LocalSocket(LocalSocket&& other) noexcept;
  LocalSocket& operator=(LocalSocket&& other) noexcept;
  LocalSocket(const LocalSocket&) = delete;
  LocalSocket& operator=(const LocalSocket&) = delete;

  // Connects to the listener named `name`. Unavailable when nobody listens.
  static absl::StatusOr<LocalSocket> Connect(absl::string_view name);

  // Sends one message. Unavailable when the peer has gone;
  // DeadlineExceeded when it does not take the bytes within `timeout`.
  absl::Status Send(absl::string_view message, absl::Duration timeout);
  // Receives one message. Unavailable when the peer has gone (closed, or
  // its process died); DeadlineExceeded after `timeout`; DataLoss for a
  // frame longer than kMaxLocalMessage.
  absl::StatusOr<std::string> Receive(absl::Duration timeout);

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Close();

 private:
  // Waits until fd_ is readable (or writable); false after `deadline`.
  bool WaitFor(bool write, absl::Time deadline) const;
  int fd_ = -1;
};

// A listening socket.
class LocalListener {
 public:
  LocalListener() = default;
  ~LocalListener();
  LocalListener(LocalListener&& other) noexcept;
  LocalListener& operator=(LocalListener&& other) noexcept;
  LocalListener(const LocalListener&) = delete;
  LocalListener& operator=(const LocalListener&) = delete;

  // AlreadyExists while another socket (of any process) holds `name`.
  static absl::StatusOr<LocalListener> Listen(absl::string_view name);
  // A pending connection; Unavailable when none is waiting.
  absl::StatusOr<LocalSocket> Accept();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_LOCAL_SOCKET_H_
