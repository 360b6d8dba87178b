#include "ckptdb/async_checkpointer.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/background.h"
#include "api/common.h"
#include "api/restore.h"
#include "api/save_validation.h"
#include "ckptdb/status.h"

namespace ckptdb {

// The database of the last path saved to stays open between saves, so that
// the blocking part of a save is only the capture (no database open).
class AsyncCheckpointer::Impl {
 public:
  explicit Impl(StoreTuning tuning) : tuning(tuning), pool(1) {}

  // The open store for `path`, opening it (for writing) if needed. Waits
  // for the in-flight save when switching paths.
  absl::StatusOr<std::shared_ptr<internal::Store>> StoreFor(
      const std::string& path) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock l(&mu);
    if (store != nullptr && store_path == path) return store;
    saver.WaitIdle();
    store.reset();
    internal::StoreOptions so = internal::ToStoreOptions(tuning);
    so.create_if_missing = true;
    so.create_kind = "checkpoint";
    CKPTDB_ASSIGN_OR_RETURN(auto s, internal::Store::Open(path, so));
    if (s->kind() != "checkpoint") {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path,
                       "' is a CheckpointManager database; save steps to it "
                       "with CheckpointManager"));
    }
    store = std::move(s);
    store_path = path;
    return store;
  }

  // Waits for an in-flight save to `path` (reporting its error).
  absl::Status WaitForSaveTo(const std::string& path) ABSL_LOCKS_EXCLUDED(mu) {
    bool same;
    {
      absl::MutexLock l(&mu);
      same = inflight_path == path;
    }
    if (same && saver.busy()) return saver.WaitUntilFinished();
    return absl::OkStatus();
  }

  // The open store if it is `path`'s, else nullptr.
  std::shared_ptr<internal::Store> OpenStoreFor(const std::string& path)
      ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock l(&mu);
    return store_path == path ? store : nullptr;
  }

  StoreTuning tuning;
  internal::ThreadPool pool;
  internal::BackgroundSaver saver;
  // Lock order: mu before the saver's lock (StoreFor waits for the saver
  // while holding mu). Background tasks never take mu.
  absl::Mutex mu;
  std::string store_path ABSL_GUARDED_BY(mu);
  std::shared_ptr<internal::Store> store ABSL_GUARDED_BY(mu);
  std::string inflight_path ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

AsyncCheckpointer::AsyncCheckpointer(StoreTuning tuning)
    : impl_(std::make_unique<Impl>(tuning)) {}

AsyncCheckpointer::~AsyncCheckpointer() = default;

absl::StatusOr<SaveFuture> AsyncCheckpointer::Save(
    absl::string_view path, const Tree& tree, const AsyncSaveOptions& options) {
  CKPTDB_RETURN_IF_ERROR(impl_->saver.WaitUntilFinished());
  {
    absl::MutexLock l(&impl_->mu);
    if (impl_->closed) {
      return absl::FailedPreconditionError("AsyncCheckpointer is closed");
    }
  }
  const std::string p(path);
  CKPTDB_ASSIGN_OR_RETURN(std::shared_ptr<internal::Store> store,
                          impl_->StoreFor(p));
  if (store->HasStep(0) && !options.force) {
    return absl::AlreadyExistsError(
        absl::StrCat("a checkpoint already exists at '", path,
                     "' (pass force to replace it)"));
  }
  // Validated here, so that a bad tree fails this call (not a later one)
  // and is never copied.
  CKPTDB_ASSIGN_OR_RETURN(internal::SaveItem item,
                          internal::PrepareSaveItem("default", tree, &options));
  auto captured = std::make_shared<internal::CapturedTree>(
      internal::CaptureTree(tree, options.capture, &impl_->pool));
  item.tree = &captured->tree;
  auto opts = std::make_shared<SaveOptions>(options);
  {
    absl::MutexLock l(&impl_->mu);
    impl_->inflight_path = p;
  }
  return impl_->saver.Start(
      [store, captured, opts, item = std::move(item)]() -> absl::Status {
        internal::StepSaveRequest req;
        req.step = 0;
        req.name = "checkpoint";
        req.items.push_back(item);
        req.replace = opts->force;
        if (opts->custom_metadata.kind() != Tree::Kind::kNone) {
          req.custom_metadata = &opts->custom_metadata;
        }
        CKPTDB_RETURN_IF_ERROR(store->SaveStep(req).status());
        return internal::CollectAfterReplace(*store, req.replace);
      });
}

// Reads through the open store when `path` is the one being saved to (it
// is locked for writing by this process), else opens it read-only.
absl::StatusOr<internal::LoadedItem> AsyncCheckpointer::Load(
    absl::string_view path, const RestoreOptions& options) {
  const std::string p(path);
  CKPTDB_RETURN_IF_ERROR(impl_->WaitForSaveTo(p));
  return internal::LoadItem(p, impl_->tuning, options, impl_->OpenStoreFor(p));
}

absl::StatusOr<Tree> AsyncCheckpointer::Restore(absl::string_view path,
                                                const RestoreOptions& options) {
  CKPTDB_ASSIGN_OR_RETURN(internal::LoadedItem l, Load(path, options));
  return internal::RestoreItem(*l.store, l.item, nullptr, options);
}

absl::StatusOr<Tree> AsyncCheckpointer::Restore(absl::string_view path,
                                                const Tree& target,
                                                const RestoreOptions& options) {
  CKPTDB_ASSIGN_OR_RETURN(internal::LoadedItem l, Load(path, options));
  return internal::RestoreItem(*l.store, l.item, &target, options);
}

absl::StatusOr<TreeMetadata> AsyncCheckpointer::Metadata(
    absl::string_view path, const RestoreOptions& options) {
  CKPTDB_ASSIGN_OR_RETURN(internal::LoadedItem l, Load(path, options));
  return l.item.ToMetadata();
}

absl::Status AsyncCheckpointer::WaitUntilFinished() {
  return impl_->saver.WaitUntilFinished();
}

absl::Status AsyncCheckpointer::CheckForErrors() {
  return impl_->saver.CheckForErrors();
}

bool AsyncCheckpointer::IsSaving() const { return impl_->saver.busy(); }

absl::Status AsyncCheckpointer::Close() {
  absl::Status s = impl_->saver.WaitUntilFinished();
  absl::MutexLock l(&impl_->mu);
  impl_->closed = true;
  impl_->store.reset();
  impl_->store_path.clear();
  return s;
}

}  // namespace ckptdb
