// Store: many processes saving into one database (docs/design.md, "Many
// writers"). RocksDB lets one process write; that process (the *writer*)
// serves commits on a local socket named after the database folder. A
// follower stages its saves itself (store_save.cc phases 1-5, in parallel
// with everyone) and sends the commit to the writer, which checks it and
// runs phases 6-8 (store_commit.cc) in its serialised commit path.
// Deletes, garbage collection and naming records (its run's retention) of
// a follower go to the writer too.
//
// Save numbers (a save's segment and generation) come from the writer, on
// the connection that later brings the commit: they are unique while that
// writer lives, and a save staged for an earlier writer is staged again.
// A writer that dies ends its connections: its followers take its place
// (BecomeWriter) or wait for the process that did, within the commit
// timeout, and a commit whose answer was lost is looked up by its number.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "db/staging_dir.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "schema/commit_codec.h"
#include "schema/records.h"
#include "util/local_server.h"
#include "util/local_socket.h"

namespace ckptdb::internal {
namespace {

// The writer's socket: named by the database folder's device and inode, so
// every path that reaches the folder names the same socket.
std::string ServiceName(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat("ckptdb-commit/", st.st_dev, "/", st.st_ino);
}

absl::Duration Timeout(const StoreOptions& o) {
  return absl::Milliseconds(o.commit_timeout_ms);
}

}  // namespace

absl::StatusOr<std::string> Store::StagingFolder() {
  absl::MutexLock l(&staging_mu_);
  std::error_code ec;
  if (staging_ != nullptr &&
      !std::filesystem::is_directory(staging_->path(), ec)) {
    staging_.reset();  // removed by hand: make another
  }
  if (staging_ == nullptr) {
    CKPTDB_ASSIGN_OR_RETURN(staging_, StagingDir::Create(path_));
  }
  return staging_->path();
}

// ---- the follower's side --------------------------------------------------

absl::StatusOr<StepInfo> Store::SaveThroughWriter(const StepSaveRequest& req) {
  // Deduplicate against a recent view (a stale one only writes more).
  CKPTDB_RETURN_IF_ERROR(Refresh().status());
  CKPTDB_RETURN_IF_ERROR(CheckStepFree(SaveRun(req), req.step, req.replace));
  CommitRequest number;
  number.op = CommitRequest::Op::kNumber;
  CKPTDB_ASSIGN_OR_RETURN(CommitReply drawn, CallWriter(number));
  absl::StatusOr<std::unique_ptr<StagedSave>> staging =
      StageSave(req, drawn.save_number);
  if (!staging.ok()) {
    ReleaseClaims(drawn.save_number);
    return staging.status();
  }
  std::unique_ptr<StagedSave> staged = *std::move(staging);
  Hook("before_remote_commit");
  absl::StatusOr<CommitReply> reply = CallWriter(staged->commit);
  Hook("after_remote_commit");
  if (!reply.ok() && !IsRaced(reply.status())) return reply.status();
  if (!reply.ok()) {
    // The writer went away: did it commit before? Look for the step with
    // this save's number once the database has a writer again.
    CKPTDB_RETURN_IF_ERROR(Refresh().status());
    auto found = FindStep(SaveRun(req), req.step);
    if (!found.ok() || (*found)->generation != drawn.save_number) {
      return reply.status();  // not committed: stage again
    }
    RememberBases(staged->plan, staged->reused);
    return (*found)->info;
  }
  RememberBases(staged->plan, staged->reused);
  change_count_.fetch_add(1);
  StepInfo info = staged->commit.record.info;
  info.commit_time_ns = reply->commit_time_ns;
  return info;
}

absl::Status Store::DeleteThroughWriter(const std::string& run,
                                        const std::vector<int64_t>& steps) {
  CommitRequest r;
  r.op = CommitRequest::Op::kDelete;
  r.run = run;
  r.steps = steps;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<CommitReply> reply = CallWriter(r);
    if (reply.ok() || !IsRaced(reply.status()) || attempt == kSaveAttempts) {
      if (reply.ok()) change_count_.fetch_add(1);
      return reply.status();
    }
    // The writer went away, perhaps after committing the delete but before
    // answering: ask again only for the steps still there, so that a lost
    // answer does not turn a delete that happened into NotFound.
    CKPTDB_RETURN_IF_ERROR(Refresh().status());
    r.steps = StepsStillThere(run, r.steps);
    if (r.steps.empty()) {
      change_count_.fetch_add(1);
      return absl::OkStatus();
    }
    if (!following_.load()) return DeleteRunSteps(run, r.steps);
  }
}

absl::Status Store::SetNamingThroughWriter(const NamingRecord& record) {
  CommitRequest r;
  r.op = CommitRequest::Op::kSetNaming;
  r.run = options_.run;
  r.naming = record;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<CommitReply> reply = CallWriter(r);
    if (reply.ok()) CacheNaming(options_.run, record);
    if (reply.ok() || !IsRaced(reply.status()) || attempt == kSaveAttempts) {
      return reply.status();
    }
    if (!following_.load()) {
      absl::MutexLock w(&write_mu_);
      return WriteNamingLocked(options_.run, record);
    }
  }
}

std::vector<int64_t> Store::StepsStillThere(
    const std::string& run, const std::vector<int64_t>& steps) const {
  std::vector<int64_t> there;
  for (int64_t step : steps) {
    if (FindStep(run, step).ok()) there.push_back(step);
  }
  return there;
}

absl::StatusOr<GcReport> Store::CollectGarbageThroughWriter(
    const GcOptions& options) {
  CommitRequest r;
  r.op = CommitRequest::Op::kCollectGarbage;
  r.gc_min_fraction = options.min_garbage_fraction;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<CommitReply> reply = CallWriter(r);
    if (reply.ok()) return GcReport();  // the writer's report stays there
    if (!IsRaced(reply.status()) || attempt == kSaveAttempts) {
      return reply.status();
    }
    if (!following_.load()) return CollectGarbage(options);
  }
}

absl::StatusOr<CommitReply> Store::CallWriter(const CommitRequest& request) {
  {
    absl::MutexLock l(&writer_conn_mu_);
    if (writer_conn_ == nullptr) {
      auto conn = LocalSocket::Connect(ServiceName(path_));
      if (conn.ok()) {
        writer_conn_ = std::make_unique<LocalSocket>(*std::move(conn));
      }
    }
    if (writer_conn_ != nullptr) {
      absl::Status s =
          writer_conn_->Send(EncodeCommitRequest(request), Timeout(options_));
      absl::StatusOr<std::string> bytes =
          s.ok() ? writer_conn_->Receive(Timeout(options_))
                 : absl::StatusOr<std::string>(s);
      if (bytes.ok()) {
        CKPTDB_ASSIGN_OR_RETURN(CommitReply reply, DecodeCommitReply(*bytes));
        if (!reply.status.ok()) return reply.status;
        return reply;
      }
      writer_conn_.reset();
      if (bytes.status().code() == absl::StatusCode::kDeadlineExceeded) {
        return absl::DeadlineExceededError(absl::StrCat(
            "the process writing '", path_, "' did not answer within ",
            absl::FormatDuration(Timeout(options_)),
            " (StoreOptions::commit_timeout_ms); the outcome is unknown"));
      }
    }
  }
  // Nobody serves commits: the writer has gone (or is still opening).
  return WaitForWriter();
}

absl::Status Store::WaitForWriter() {
  const absl::Time deadline = absl::Now() + Timeout(options_);
  const std::string name = ServiceName(path_);
  while (absl::Now() < deadline) {
    CKPTDB_ASSIGN_OR_RETURN(const bool writes, BecomeWriter());
    if (writes) return WriterChangedError("this process became the writer");
    auto conn = LocalSocket::Connect(name);
    if (conn.ok()) {
      absl::MutexLock l(&writer_conn_mu_);
      writer_conn_ = std::make_unique<LocalSocket>(*std::move(conn));
      return WriterChangedError("another process became the writer");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::UnavailableError(absl::StrCat(
      "another process holds '", path_,
      "' for writing but serves no commits (an older ckptdb, or it is "
      "stuck); waited ",
      absl::FormatDuration(Timeout(options_)),
      " (StoreOptions::commit_timeout_ms)"));
}

// ---- the writer's side ----------------------------------------------------

void Store::StartCommitService() {
  if (service_ != nullptr) return;
  const std::string name = ServiceName(path_);
  if (name.empty()) return;
  service_ = std::make_unique<LocalServer>(
      name,
      [this](uint64_t conn, absl::string_view bytes) {
        return ServeCommit(conn, bytes);
      },
      [this](uint64_t conn) {
        claims_.ReleaseOwner(conn);
        absl::MutexLock l(&issued_mu_);
        issued_.erase(conn);
      },
      [this] { TopUpSlots(); }, Timeout(options_));
}

std::string Store::ServeCommit(uint64_t connection, absl::string_view bytes) {
  absl::StatusOr<CommitRequest> request = DecodeCommitRequest(bytes);
  CommitReply reply;
  if (!request.ok()) {
    reply.status = request.status();
  } else {
    reply = ServeRequest(connection, *request);
  }
  return EncodeCommitReply(reply);
}

CommitReply Store::ServeRequest(uint64_t connection, const CommitRequest& r) {
  CommitReply reply;
  switch (r.op) {
    case CommitRequest::Op::kNumber: {
      reply.save_number = next_save_number_.fetch_add(1);
      absl::MutexLock l(&issued_mu_);
      issued_[connection].insert(reply.save_number);
      return reply;
    }
    case CommitRequest::Op::kCommit: {
      {
        absl::MutexLock l(&issued_mu_);
        if (issued_[connection].erase(r.save_number) == 0) {
          reply.status =
              RacedError(absl::StrCat("save number ", r.save_number,
                                      " was not drawn from this writer"));
          return reply;
        }
      }
      reply.status = CheckCommitRequest(r);
      if (!reply.status.ok()) {
        claims_.Release(r.save_number);
        return reply;
      }
      absl::MutexLock w(&write_mu_);
      absl::StatusOr<StepInfo> info = CommitStagedLocked(r);
      claims_.Release(r.save_number);
      if (info.ok()) change_count_.fetch_add(1);
      reply.status = info.status();
      if (info.ok()) reply.commit_time_ns = info->commit_time_ns;
      return reply;
    }
    case CommitRequest::Op::kClaim:
    case CommitRequest::Op::kRelease: {
      {
        absl::MutexLock l(&issued_mu_);
        if (issued_[connection].count(r.save_number) == 0) {
          reply.status =
              RacedError(absl::StrCat("save number ", r.save_number,
                                      " was not drawn from this writer"));
          return reply;
        }
      }
      if (r.op == CommitRequest::Op::kRelease) {
        claims_.Release(r.save_number);
        return reply;
      }
      return ClaimHere(connection, r.save_number, r.hashes);
    }
    case CommitRequest::Op::kDelete:
      reply.status = DeleteRunSteps(r.run, r.steps);
      if (reply.status.ok()) change_count_.fetch_add(1);
      return reply;
    case CommitRequest::Op::kSetNaming: {
      if (!r.run.empty() && !ValidRunName(r.run)) {
        reply.status = absl::InvalidArgumentError(
            absl::StrCat("naming record for bad run name '", r.run, "'"));
        return reply;
      }
      absl::MutexLock w(&write_mu_);
      reply.status = CheckWritable();
      if (reply.status.ok()) reply.status = WriteNamingLocked(r.run, r.naming);
      return reply;
    }
    case CommitRequest::Op::kCollectGarbage: {
      GcOptions gc;
      gc.min_garbage_fraction = r.gc_min_fraction;
      reply.status = CollectGarbage(gc).status();
      return reply;
    }
  }
  reply.status = absl::InvalidArgumentError("unknown commit request");
  return reply;
}

absl::Status Store::CheckCommitRequest(const CommitRequest& r) const {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "commit request for step ", r.record.info.step, ": ", what));
  };
  if (r.record.generation != r.save_number) {
    return bad("its generation is not its save number");
  }
  const size_t new_chunks = r.segment ? r.segment->hashes.size() : 0;
  if (new_chunks != r.new_entries.size()) {
    return bad("its segment record and new chunks disagree");
  }
  for (const auto& [hash, e] : r.new_entries) {
    if (e.location.segment != r.save_number ||
        e.location.ordinal >= new_chunks ||
        !(r.segment->hashes[e.location.ordinal] == hash)) {
      return bad(absl::StrCat("new chunk ", hash.ToHex(),
                              " is not where its segment record says"));
    }
  }
  if (new_chunks > 0 && r.segment_files.empty()) {
    return bad("new chunks without segment files");
  }
  for (const std::string& f : r.segment_files) {
    if (!IsStagedFile(path_, f))
      return bad(absl::StrCat("'", f, "' is not staged"));
  }
  if (!IsStagedFile(path_, r.step_file)) {
    return bad(absl::StrCat("'", r.step_file, "' is not staged"));
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
