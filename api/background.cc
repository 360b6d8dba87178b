#include "api/background.h"

#include <cstdio>
#include <cstring>

#include "util/buffer_pool.h"

namespace ckptdb {

bool SaveFuture::done() const {
  if (state_ == nullptr) return true;
  absl::MutexLock l(&state_->mu);
  return state_->done;
}

absl::Status SaveFuture::Wait() const {
  if (state_ == nullptr) return absl::OkStatus();
  absl::MutexLock l(&state_->mu);
  state_->mu.Await(absl::Condition(&state_->done));
  return state_->status;
}

namespace internal {

BackgroundSaver::BackgroundSaver() : worker_([this] { Loop(); }) {}

BackgroundSaver::~BackgroundSaver() {
  absl::Status s = WaitUntilFinished();
  if (!s.ok()) {
    fprintf(stderr,
            "ckptdb: a background save failed and was never "
            "reported: %s\n",
            s.ToString().c_str());
  }
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  worker_.join();
}

void BackgroundSaver::Loop() {
  for (;;) {
    std::function<absl::Status()> task;
    std::shared_ptr<SaveState> state;
    {
      absl::MutexLock l(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || task_ != nullptr;
      };
      mu_.Await(absl::Condition(&woken));
      if (task_ == nullptr) return;  // stopping, nothing queued
      task = std::move(task_);
      task_ = nullptr;
      state = state_;
    }
    absl::Status s = task();
    task = nullptr;  // release captured trees before reporting completion
    absl::MutexLock l(&mu_);
    if (!s.ok()) pending_error_ = s;
    running_ = false;
    absl::MutexLock sl(&state->mu);  // lock order: mu_, then state->mu
    state->done = true;
    state->status = s;
  }
}

void BackgroundSaver::WaitIdle() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(this, &BackgroundSaver::Idle));
}

absl::Status BackgroundSaver::WaitUntilFinished() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(this, &BackgroundSaver::Idle));
  absl::Status s = pending_error_;
  pending_error_ = absl::OkStatus();
  return s;
}

absl::Status BackgroundSaver::CheckForErrors() {
  absl::MutexLock l(&mu_);
  if (running_) return absl::OkStatus();
  absl::Status s = pending_error_;
  pending_error_ = absl::OkStatus();
  return s;
}

bool BackgroundSaver::busy() const {
  absl::MutexLock l(&mu_);
  return running_;
}

SaveFuture BackgroundSaver::Start(std::function<absl::Status()> task) {
  auto state = std::make_shared<SaveState>();
  {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(this, &BackgroundSaver::Idle));
    running_ = true;
    task_ = std::move(task);
    state_ = state;
  }
  return SaveFuture(state);
}

namespace {

size_t Align64(size_t n) { return (n + 63) / 64 * 64; }

size_t ArenaBytes(const Tree& t) {
  if (t.kind() == Tree::Kind::kArray) return Align64(t.array().nbytes());
  size_t n = 0;
  if (t.sharded()) {
    for (const Shard& s : t.sharded()->shards) n += Align64(s.data.nbytes());
  }
  for (const Tree& c : t.children()) n += ArenaBytes(c);
  return n;
}

struct CopyJob {
  const char* src;
  char* dst;
  size_t bytes;
};

// `a`'s place in the arena, with the copy jobs that fill it.
Array CopyArray(const Array& a, const std::shared_ptr<void>& arena,
                size_t* offset, std::vector<CopyJob>* jobs) {
  char* dst = static_cast<char*>(arena.get()) + *offset;
  *offset += Align64(a.nbytes());
  // Split big arrays so both cores copy.
  constexpr size_t kPiece = 4 << 20;
  for (size_t off = 0; off < a.nbytes(); off += kPiece) {
    jobs->push_back({static_cast<const char*>(a.data()) + off, dst + off,
                     std::min(kPiece, a.nbytes() - off)});
  }
  return Array::Share(a.dtype(), a.shape(), arena, dst);
}

Tree CopyInto(const Tree& t, const std::shared_ptr<void>& arena, size_t* offset,
              std::vector<CopyJob>* jobs) {
  if (t.kind() == Tree::Kind::kArray) {
    return Tree(CopyArray(t.array(), arena, offset, jobs));
  }
  if (t.sharded()) {
    ShardedArray copy = *t.sharded();
    for (Shard& s : copy.shards)
      s.data = CopyArray(s.data, arena, offset, jobs);
    return Tree::Sharded(std::move(copy));
  }
  if (!t.is_container()) return t;
  Tree out = t;  // copies keys and scalars
  for (size_t i = 0; i < t.size(); ++i) {
    out.mutable_children()[i] = CopyInto(t.children()[i], arena, offset, jobs);
  }
  return out;
}

}  // namespace

CapturedTree CaptureTree(const Tree& tree, CaptureMode mode, ThreadPool* pool) {
  CapturedTree out;
  if (mode == CaptureMode::kBorrow) {
    out.tree = tree;
    return out;
  }
  const size_t bytes = ArenaBytes(tree);
  out.arena = AcquireBuffer(bytes == 0 ? 64 : bytes);
  if (out.arena == nullptr) throw std::bad_alloc();
  size_t offset = 0;
  std::vector<CopyJob> jobs;
  out.tree = CopyInto(tree, out.arena, &offset, &jobs);
  pool->ParallelFor(jobs.size(), [&](size_t i) {
    std::memcpy(jobs[i].dst, jobs[i].src, jobs[i].bytes);
  });
  return out;
}

}  // namespace internal
}  // namespace ckptdb
