// Store: forking a step into another run. The new step is the source
// step's tree-node records copied into a new slot (a few bytes per node)
// and a commit record whose chunk list names the same chunks, which gain a
// reference each: no array byte is read or written. It commits like a save
// (store_commit.cc), here or, for a follower, by the writer.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/rocks_util.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/sst_file_writer.h"
#include "schema/records.h"
#include "schema/step_codec.h"

namespace ckptdb::internal {

absl::StatusOr<StepInfo> Store::ForkStep(const std::string& from_run,
                                         int64_t step,
                                         const std::string& to_run) {
  if (!to_run.empty() && !ValidRunName(to_run)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad run name '", to_run,
        "': use 1-128 characters of letters, digits, '.', '_' and '-'"));
  }
  if (from_run == to_run) {
    return absl::InvalidArgumentError("a step cannot be forked into its run");
  }
  return CommitWithoutData(to_run, step, /*replace=*/false,
                           [&](uint64_t number) {
                             return StageFork(from_run, step, to_run, number);
                           });
}

absl::StatusOr<StepInfo> Store::CommitWithoutData(
    const std::string& run, int64_t step, bool replace,
    const std::function<
        absl::StatusOr<std::unique_ptr<StagedSave>>(uint64_t number)>& stage) {
  const absl::Time deadline =
      absl::Now() + absl::Milliseconds(options_.commit_timeout_ms);
  for (int attempt = 1;;) {
    absl::StatusOr<StepInfo> info =
        CommitWithoutDataOnce(run, step, replace, stage);
    if (info.ok() || !IsRaced(info.status())) return info;
    if (IsWriterChanged(info.status()) ? absl::Now() > deadline
                                       : ++attempt > kSaveAttempts) {
      return info;
    }
  }
}

absl::StatusOr<StepInfo> Store::CommitWithoutDataOnce(
    const std::string& run, int64_t step, bool replace,
    const std::function<
        absl::StatusOr<std::unique_ptr<StagedSave>>(uint64_t number)>& stage) {
  const bool remote = following_.load();
  uint64_t number = 0;
  if (remote) {
    CKPTDB_RETURN_IF_ERROR(Refresh().status());
    CommitRequest draw;
    draw.op = CommitRequest::Op::kNumber;
    CKPTDB_ASSIGN_OR_RETURN(CommitReply drawn, CallWriter(draw));
    number = drawn.save_number;
  } else {
    absl::MutexLock w(&write_mu_);
    CKPTDB_RETURN_IF_ERROR(CheckWritable());
    CKPTDB_RETURN_IF_ERROR(ResumeIfNeeded());
    number = next_save_number_.fetch_add(1);
  }
  CKPTDB_RETURN_IF_ERROR(CheckStepFree(run, step, replace));
  CKPTDB_ASSIGN_OR_RETURN(std::unique_ptr<StagedSave> staged, stage(number));
  if (remote) {
    CKPTDB_ASSIGN_OR_RETURN(CommitReply reply, CallWriter(staged->commit));
    change_count_.fetch_add(1);
    StepInfo info = staged->commit.record.info;
    info.commit_time_ns = reply.commit_time_ns;
    return info;
  }
  absl::MutexLock w(&write_mu_);
  absl::StatusOr<StepInfo> info = CommitStagedLocked(staged->commit);
  if (info.ok()) TopUpSlotsLocked();
  return info;
}

absl::StatusOr<std::unique_ptr<StagedSave>> Store::StageFork(
    const std::string& from_run, int64_t step, const std::string& to_run,
    uint64_t number) {
  auto staged = std::make_unique<StagedSave>();
  CommitRequest& c = staged->commit;
  CKPTDB_ASSIGN_OR_RETURN(std::string dir, StagingFolder());
  staged->files.step_file = (std::filesystem::path(dir) /
                             absl::StrCat("fork-", step, "-", number, ".sst"))
                                .string();
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  absl::ReaderMutexLock slot_lock(&recycle_mu_);
  CKPTDB_ASSIGN_OR_RETURN(auto source, FindStep(from_run, step));
  if (!source->damage.ok()) return source->damage;
  if (!SlotHolds(*source)) {
    return absl::UnavailableError(
        absl::StrCat("step ", step, " of run '", from_run,
                     "' is not readable in this view yet; retry"));
  }
  CKPTDB_ASSIGN_OR_RETURN(std::vector<Hash128> hashes, ReadChunkList(*source));
  for (const Hash128& h : hashes) {
    CKPTDB_ASSIGN_OR_RETURN(c.reused[h], ReadChunkEntry(h));
  }
  CKPTDB_RETURN_IF_ERROR(
      CopyStepRecords(*source, step, number, staged->files.step_file));
  c.op = CommitRequest::Op::kCommit;
  c.save_number = number;
  c.stamp_commit_time = true;
  c.record.run = to_run;
  c.record.info = source->info;
  c.record.info.new_bytes = 0;
  c.record.generation = number;
  c.record.item_names = source->item_names;
  c.step_file = staged->files.step_file;
  return staged;
}

absl::Status Store::CopyStepRecords(const StepEntry& source, int64_t step,
                                    uint64_t number, const std::string& file,
                                    const RecordChanges& changes) const {
  rocksdb::Options options(rocksdb::DBOptions(), cf_options_->step);
  if (options_.env) options.env = options_.env;
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, nullptr,
                                /*invalidate_page_cache=*/false);
  rocksdb::Status s = writer.Open(file);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), source.cf->handle));
  for (it->SeekToFirst(); s.ok() && it->Valid(); it->Next()) {
    uint16_t item;
    uint32_t index;
    if (it->key() == rocksdb::Slice(kChunkListKey)) {
      // The same chunks (or the given ones), marked as this step of the
      // new save.
      CKPTDB_ASSIGN_OR_RETURN(
          ChunkList list,
          DecodeChunkList(ToView(it->value()),
                          absl::StrCat("step ", step, " chunk list")));
      if (changes.hashes != nullptr) list.hashes = *changes.hashes;
      list.step = step;
      list.generation = number;
      s = writer.Put(it->key(), EncodeChunkList(list));
    } else if (changes.nodes != nullptr &&
               ParseNodeKey(ToView(it->key()), &item, &index) &&
               changes.nodes->count({item, index})) {
      s = writer.Put(it->key(), changes.nodes->at({item, index}));
    } else {
      s = writer.Put(it->key(), it->value());  // node records, verbatim
    }
  }
  if (s.ok()) s = it->status();
  if (s.ok()) s = writer.Finish();
  if (!s.ok()) {
    return FromRocksWrite(
        s, absl::StrCat("cannot write the records of step ", step));
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
