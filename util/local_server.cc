#include "util/local_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <optional>
#include <utility>
#include <vector>

namespace ckptdb::internal {

LocalServer::LocalServer(std::string name, Handler handler, Closed closed,
                         AfterReplies after_replies, absl::Duration io_timeout)
    : name_(std::move(name)),
      handler_(std::move(handler)),
      closed_(std::move(closed)),
      after_replies_(std::move(after_replies)),
      io_timeout_(io_timeout),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      thread_([this] { Run(); }) {}

LocalServer::~LocalServer() {
  stop_.store(true);
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // The loop also wakes every 50 ms and sees stop_.
  }
  thread_.join();
  close(wake_fd_);
}

void LocalServer::Run() {
  std::optional<LocalListener> listener;
  while (!stop_.load()) {
    if (!listener) {
      auto l = LocalListener::Listen(name_);
      if (l.ok()) {
        listener = *std::move(l);
        listening_.store(true);
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    if (listener) fds.push_back({listener->fd(), POLLIN, 0});
    std::vector<uint64_t> ids;
    for (const auto& [id, conn] : connections_) {
      fds.push_back({conn.fd(), POLLIN, 0});
      ids.push_back(id);
    }
    if (poll(fds.data(), fds.size(), listener ? -1 : 50) <= 0) continue;
    const size_t first_conn = listener ? 2 : 1;
    if (listener && fds[1].revents != 0) Accept(&*listener);
    bool served = false;
    for (size_t i = first_conn; i < fds.size() && !stop_.load(); ++i) {
      if (fds[i].revents == 0) continue;
      Serve(ids[i - first_conn]);
      served = true;
    }
    if (served && after_replies_ && !stop_.load()) after_replies_();
  }
  for (auto it = connections_.begin(); it != connections_.end();) {
    const uint64_t id = it->first;
    it = connections_.erase(it);
    closed_(id);
  }
}

void LocalServer::Accept(LocalListener* listener) {
  for (;;) {
    auto conn = listener->Accept();
    if (!conn.ok()) return;
    connections_.emplace(next_id_++, *std::move(conn));
  }
}

void LocalServer::Serve(uint64_t id) {
  LocalSocket& conn = connections_.at(id);
  auto request = conn.Receive(io_timeout_);
  if (!request.ok()) return Drop(id);
  const std::string reply = handler_(id, *request);
  if (!conn.Send(reply, io_timeout_).ok()) Drop(id);
}

void LocalServer::Drop(uint64_t id) {
  connections_.erase(id);
  closed_(id);
}

}  // namespace ckptdb::internal
