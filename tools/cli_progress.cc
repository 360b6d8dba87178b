#include "tools/cli_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/cli.h"
#include "tools/cli_format.h"

namespace ckptdb::cli {

Progress::Progress(const Args& args, std::string label, uint64_t total)
    : enabled_(!args.Has("no-progress") && isatty(STDERR_FILENO) == 1),
      label_(std::move(label)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

void Progress::Add(uint64_t bytes) {
  if (!enabled_) return;
  done_.fetch_add(bytes, std::memory_order_relaxed);
  Draw(false);
}

void Progress::Set(uint64_t bytes) {
  if (!enabled_) return;
  done_.store(bytes, std::memory_order_relaxed);
  Draw(false);
}

void Progress::SetLabel(std::string label) {
  if (!enabled_) return;
  {
    absl::MutexLock l(&mu_);
    label_ = std::move(label);
  }
  Draw(true);
}

void Progress::SetTotal(uint64_t total) {
  if (!enabled_) return;
  absl::MutexLock l(&mu_);
  total_ = total;
}

void Progress::Draw(bool force) {
  absl::MutexLock l(&mu_);
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const uint64_t done = done_.load(std::memory_order_relaxed);
  const double secs =
      std::max(1e-3, std::chrono::duration<double>(now - start_).count());
  const std::string rate =
      absl::StrCat(HumanBytes(static_cast<uint64_t>(done / secs)), "/s");
  std::string line = absl::StrCat("\r", label_, " ");
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / total_);
    constexpr int kWidth = 24;
    const int fill = static_cast<int>(frac * kWidth);
    absl::StrAppend(
        &line, "[", std::string(fill, '#'), std::string(kWidth - fill, '-'),
        "] ", absl::StrFormat("%3d%%", static_cast<int>(frac * 100)), "  ",
        HumanBytes(done), " / ", HumanBytes(total_), "  ", rate);
  } else {
    absl::StrAppend(&line, HumanBytes(done), "  ", rate);
  }
  line += "\x1b[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::Done() {
  if (!enabled_) return;
  {
    absl::MutexLock l(&mu_);
    if (finished_) return;
  }
  Draw(true);  // the final state stays on the terminal
  absl::MutexLock l(&mu_);
  finished_ = true;
  std::fputs("\n", stderr);
  std::fflush(stderr);
}

}  // namespace ckptdb::cli
