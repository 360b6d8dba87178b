// A progress bar on stderr for long operations (export, import, verify,
// gc): bytes done, total, rate. Drawn only when stderr is a terminal (and
// not disabled with --no-progress); otherwise every method is a no-op, so
// scripts and logs see nothing.
#ifndef CKPTDB_TOOLS_CLI_PROGRESS_H_
#define CKPTDB_TOOLS_CLI_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace ckptdb::cli {

class Args;

class Progress {
 public:
  // `total` 0 means unknown (no percentage).
  Progress(const Args& args, std::string label, uint64_t total);
  ~Progress() { Done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  // Thread-safe.
  void Add(uint64_t bytes);
  void Set(uint64_t bytes);
  void SetLabel(std::string label);
  void SetTotal(uint64_t total);
  // Draws the final state and ends the line.
  void Done();

 private:
  void Draw(bool force);

  const bool enabled_;
  std::mutex mu_;
  std::string label_;
  uint64_t total_;
  std::atomic<uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool finished_ = false;
};

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_PROGRESS_H_
