// A one-thread server of request/reply messages on a local socket
// (local_socket.h): the thread accepts connections, reads each request,
// calls the handler and sends its reply, one request at a time. While
// another socket holds the name (a server that is shutting down, or of
// another process), it retries the name every 50 ms until it gets it.
#ifndef CKPTDB_UTIL_LOCAL_SERVER_H_
#define CKPTDB_UTIL_LOCAL_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "util/local_socket.h"

namespace ckptdb::internal {

class LocalServer {
 public:
  // Returns the reply to `request`, received on `connection` (a number
  // unique within this server).
  using Handler = std::function<std::string(uint64_t connection,
                                            absl::string_view request)>;
  // Called when a connection ends (the peer closed it or died).
  using Closed = std::function<void(uint64_t connection)>;
  // Called on the server thread after the replies of a round of requests
  // have been sent (work that must not delay a reply; requests arriving
  // meanwhile wait for it).
  using AfterReplies = std::function<void()>;

  // Starts serving `name`. `io_timeout` bounds reading one request and
  // sending one reply.
  LocalServer(std::string name, Handler handler, Closed closed,
              AfterReplies after_replies, absl::Duration io_timeout);
  // Stops: no handler call is running or will run after it returns.
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // True once the server holds its name (tests).
  bool listening() const { return listening_.load(); }

 private:
  void Run();
  void Accept(LocalListener* listener);
  void Serve(uint64_t id);
  void Drop(uint64_t id);

  const std::string name_;
  const Handler handler_;
  const Closed closed_;
  const AfterReplies after_replies_;
  const absl::Duration io_timeout_;
  int wake_fd_ = -1;  // an eventfd: the destructor's stop signal
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  // Only the server thread touches these.
  std::map<uint64_t, LocalSocket> connections_;
  uint64_t next_id_ = 1;
  std::thread thread_;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_UTIL_LOCAL_SERVER_H_
