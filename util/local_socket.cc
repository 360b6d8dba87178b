#include "util/local_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ckptdb::internal {
namespace {

// The address of an abstract socket: a leading NUL, then the name.
absl::StatusOr<std::pair<sockaddr_un, socklen_t>> AbstractAddress(
    absl::string_view name) {
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() + 1 > sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad local socket name '", name, "'"));
  }
  memcpy(addr.sun_path + 1, name.data(), name.size());
  return std::make_pair(
      addr, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                   name.size()));
}

absl::Status Errno(absl::string_view what) {
  const int e = errno;
  if (e == EPIPE || e == ECONNRESET || e == ECONNREFUSED || e == ENOENT) {
    return absl::UnavailableError(absl::StrCat(what, ": ", strerror(e)));
  }
  return absl::InternalError(absl::StrCat(what, ": ", strerror(e)));
}

int NewSocket() {
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

}  // namespace

LocalSocket::~LocalSocket() { Close(); }

LocalSocket::LocalSocket(LocalSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

LocalSocket& LocalSocket::operator=(LocalSocket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void LocalSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<LocalSocket> LocalSocket::Connect(absl::string_view name) {
  auto addr = AbstractAddress(name);
  if (!addr.ok()) return addr.status();
  LocalSocket s(NewSocket());
  if (!s.valid()) return Errno("cannot create a local socket");
  // A local stream connect completes at once or fails (no EINPROGRESS
  // unless the listener's backlog is full: then wait for it).
  if (connect(s.fd_, reinterpret_cast<const sockaddr*>(&addr->first),
              addr->second) != 0) {
    if (errno != EAGAIN && errno != EINPROGRESS) {
      return Errno(absl::StrCat("cannot connect to '", name, "'"));
    }
    if (!s.WaitFor(/*write=*/true, absl::Now() + absl::Seconds(5))) {
      return absl::UnavailableError(
          absl::StrCat("'", name, "' does not accept connections"));
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return Errno(absl::StrCat("cannot connect to '", name, "'"));
    }
  }
  return s;
}

bool LocalSocket::WaitFor(bool write, absl::Time deadline) const {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd_, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    const int ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    const int r = poll(&p, 1, ms);
    if (r > 0) return true;  // ready, or an error/hang-up the call reports
    if (r < 0 && errno != EINTR) return true;
  }
}

absl::Status LocalSocket::Send(absl::string_view message,
                               absl::Duration timeout) {
  if (message.size() > kMaxLocalMessage) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", message.size(), " bytes is too long to send"));
  }
  const uint32_t n = static_cast<uint32_t>(message.size());
  std::string frame(4, '\0');
  for (int i = 0; i < 4; ++i)
    frame[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  frame.append(message.data(), message.size());
  const absl::Time deadline = absl::Now() + timeout;
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t w =
        send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (w > 0) {
      done += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Errno("cannot send");
    }
    if (!WaitFor(/*write=*/true, deadline)) {
      return absl::DeadlineExceededError("the peer did not take the message");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LocalSocket::Receive(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string header(4, '\0');
  std::string body;
  std::string* into = &header;
  size_t done = 0;
  for (;;) {
    if (done == into->size()) {
      if (into == &body) return body;
      uint32_t n = 0;
      for (int i = 0; i < 4; ++i) {
        n |= static_cast<uint32_t>(static_cast<uint8_t>(header[i])) << (8 * i);
      }
      if (n > kMaxLocalMessage) {
        return absl::DataLossError(
            absl::StrCat("a message of ", n, " bytes is too long"));
      }
      body.resize(n);
      into = &body;
      done = 0;
      if (n == 0) return body;
      continue;
    }
    const ssize_t r = recv(fd_, into->data() + done, into->size() - done, 0);
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return absl::UnavailableError("the peer closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Errno("cannot receive");
    if (!WaitFor(/*write=*/false, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("no answer within ", absl::FormatDuration(timeout)));
    }
  }
}

LocalListener::~LocalListener() {
  if (fd_ >= 0) close(fd_);
}

LocalListener::LocalListener(LocalListener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

LocalListener& LocalListener::operator=(LocalListener&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

absl::StatusOr<LocalListener> LocalListener::Listen(absl::string_view name) {
  auto addr = AbstractAddress(name);
  if (!addr.ok()) return addr.status();
  LocalListener l;
  l.fd_ = NewSocket();
  if (l.fd_ < 0) return Errno("cannot create a local socket");
  if (bind(l.fd_, reinterpret_cast<const sockaddr*>(&addr->first),
           addr->second) != 0) {
    if (errno == EADDRINUSE) {
      return absl::AlreadyExistsError(
          absl::StrCat("local socket '", name, "' is in use"));
    }
    return Errno(absl::StrCat("cannot bind '", name, "'"));
  }
  if (listen(l.fd_, 64) != 0) return Errno("cannot listen");
  return l;
}

absl::StatusOr<LocalSocket> LocalListener::Accept() {
  const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return absl::UnavailableError("no pending connection");
    }
    return Errno("cannot accept");
  }
  return LocalSocket(fd);
}

}  // namespace ckptdb::internal
