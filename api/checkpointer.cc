#include "ckptdb/checkpointer.h"

#include "absl/strings/str_cat.h"
#include "api/common.h"
#include "api/restore.h"
#include "api/save_validation.h"
#include "ckptdb/status.h"

namespace ckptdb {
namespace internal {

StoreOptions ToStoreOptions(const StoreTuning& tuning) {
  StoreOptions o;
  o.chunk_bytes = tuning.chunk_bytes;
  o.inline_bytes = tuning.inline_bytes;
  o.patch_max_fraction = tuning.patch_max_fraction;
  o.delta_chunks = tuning.delta_chunks;
  o.compress_chunks = tuning.compress_chunks;
  o.num_threads = tuning.num_threads;
  o.save_nice = tuning.save_nice;
  o.mmap_reads = tuning.mmap_reads;
  o.direct_reads = tuning.direct_reads;
  o.writeback_bytes = tuning.writeback_bytes;
  return o;
}

absl::StatusOr<std::unique_ptr<Store>> OpenForRead(const std::string& path,
                                                   const StoreTuning& tuning) {
  StoreOptions o = ToStoreOptions(tuning);
  o.mode = StoreOptions::Mode::kReadOnly;
  return Store::Open(path, o);
}

absl::StatusOr<int64_t> PickStep(const Store& store,
                                 const std::optional<int64_t>& requested) {
  if (requested.has_value()) {
    CKPTDB_RETURN_IF_ERROR(store.Step(*requested).status());
    return *requested;
  }
  std::vector<StepInfo> steps = store.Steps();
  if (steps.empty()) {
    return absl::NotFoundError(absl::StrCat("no checkpoint at '", store.path(),
                                            "' (the database is empty)"));
  }
  return steps.back().step;
}

absl::Status CollectAfterReplace(Store& store, bool replaced) {
  if (!replaced) return absl::OkStatus();
  GcOptions gc;
  gc.min_garbage_fraction = 0.25;
  return store.CollectGarbage(gc).status();
}

absl::StatusOr<LoadedItem> LoadItem(const std::string& path,
                                    const StoreTuning& tuning,
                                    const RestoreOptions& options,
                                    std::shared_ptr<Store> open) {
  LoadedItem out;
  if (open != nullptr) {
    out.store = std::move(open);
  } else {
    CKPTDB_ASSIGN_OR_RETURN(out.store, OpenForRead(path, tuning));
  }
  CKPTDB_ASSIGN_OR_RETURN(int64_t step, PickStep(*out.store, options.step));
  CKPTDB_ASSIGN_OR_RETURN(out.item, out.store->ReadItem(step, options.item));
  return out;
}

}  // namespace internal

namespace {
constexpr int64_t kCheckpointStep = 0;
constexpr char kDefaultItem[] = "default";
}  // namespace

Checkpointer::Checkpointer(StoreTuning tuning) : tuning_(tuning) {}

absl::Status Checkpointer::Save(absl::string_view path, const Tree& tree,
                                const SaveOptions& options) const {
  internal::StoreOptions so = internal::ToStoreOptions(tuning_);
  so.create_if_missing = true;
  so.create_kind = "checkpoint";
  CKPTDB_ASSIGN_OR_RETURN(auto store,
                          internal::Store::Open(std::string(path), so));
  if (store->kind() != "checkpoint") {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path,
                     "' is a CheckpointManager database; save steps to it with "
                     "CheckpointManager"));
  }
  if (store->HasStep(kCheckpointStep) && !options.force) {
    return absl::AlreadyExistsError(
        absl::StrCat("a checkpoint already exists at '", path,
                     "' (pass force to replace it)"));
  }
  internal::StepSaveRequest req;
  req.step = kCheckpointStep;
  req.name = "checkpoint";
  CKPTDB_ASSIGN_OR_RETURN(
      internal::SaveItem item,
      internal::PrepareSaveItem(kDefaultItem, tree, &options));
  req.items.push_back(std::move(item));
  req.replace = options.force;
  if (options.custom_metadata.kind() != Tree::Kind::kNone) {
    req.custom_metadata = &options.custom_metadata;
  }
  CKPTDB_RETURN_IF_ERROR(store->SaveStep(req).status());
  return internal::CollectAfterReplace(*store, req.replace);
}

absl::StatusOr<Tree> Checkpointer::Restore(
    absl::string_view path, const RestoreOptions& options) const {
  CKPTDB_ASSIGN_OR_RETURN(
      internal::LoadedItem l,
      internal::LoadItem(std::string(path), tuning_, options));
  return internal::RestoreItem(*l.store, l.item, nullptr, options);
}

absl::StatusOr<Tree> Checkpointer::Restore(
    absl::string_view path, const Tree& target,
    const RestoreOptions& options) const {
  CKPTDB_ASSIGN_OR_RETURN(
      internal::LoadedItem l,
      internal::LoadItem(std::string(path), tuning_, options));
  return internal::RestoreItem(*l.store, l.item, &target, options);
}

absl::StatusOr<TreeMetadata> Checkpointer::Metadata(
    absl::string_view path, const RestoreOptions& options) const {
  CKPTDB_ASSIGN_OR_RETURN(
      internal::LoadedItem l,
      internal::LoadItem(std::string(path), tuning_, options));
  return l.item.ToMetadata();
}

absl::StatusOr<StepInfo> Checkpointer::Info(absl::string_view path) const {
  CKPTDB_ASSIGN_OR_RETURN(std::unique_ptr<internal::Store> store,
                          internal::OpenForRead(std::string(path), tuning_));
  if (store->kind() != "checkpoint") {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path,
                     "' is a CheckpointManager database; read its steps with "
                     "CheckpointManager::StepMetadata"));
  }
  CKPTDB_ASSIGN_OR_RETURN(int64_t step,
                          internal::PickStep(*store, std::nullopt));
  return store->Step(step);
}

}  // namespace ckptdb
