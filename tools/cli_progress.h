// A progress bar on stderr for long operations (export, import, verify,
// gc): bytes done, total, rate. Drawn only when stderr is a terminal (and
// not disabled with --no-progress); otherwise every method is a no-op, so
// scripts and logs see nothing.
#ifndef CKPTDB_TOOLS_CLI_PROGRESS_H_
#define CKPTDB_TOOLS_CLI_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

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
  void Add(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void Set(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void SetLabel(std::string label) ABSL_LOCKS_EXCLUDED(mu_);
  void SetTotal(uint64_t total) ABSL_LOCKS_EXCLUDED(mu_);
  // Draws the final state and ends the line.
  void Done() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Draw(bool force) ABSL_LOCKS_EXCLUDED(mu_);

  const bool enabled_;
  absl::Mutex mu_;
  std::string label_ ABSL_GUARDED_BY(mu_);
  uint64_t total_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> done_{0};
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_PROGRESS_H_
