// Store: construction, the list of committed steps, test hooks and the
// manager's naming record. The protocols live in the files store.h lists.
#include "db/store.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "compaction/chunk_gc.h"
#include "db/chunk_files.h"
#include "db/durable_mark.h"
#include "db/rocks_util.h"
#include "db/staging_dir.h"
#include "db/store_internal.h"
#include "db/writer_claims.h"
#include "rocksdb/db.h"
#include "schema/records.h"
#include "util/local_server.h"
#include "util/local_socket.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {

// ---- StoredItem -----------------------------------------------------------

std::string StoredItem::Describe(uint32_t node) const {
  return absl::StrCat("step ", step, " item '", item, "' leaf '",
                      PathOf(node).DisplayString(), "'");
}

TreeMetadata StoredItem::ToMetadata(uint32_t node) const {
  const StoredNode& n = nodes[node];
  TreeMetadata m;
  m.kind = n.kind;
  if (n.kind == Tree::Kind::kArray) {
    m.array.dtype = n.dtype;
    m.array.source_dtype = n.source_dtype;
    m.array.shape = n.shape;
    m.array.nbytes = n.nbytes;
    m.array.chunk_count = n.chunks.size();
    m.array.is_inline = n.is_inline;
  } else if (!m.is_container()) {
    m.scalar = n.scalar;
  }
  for (uint32_t c : n.children) {
    if (n.kind == Tree::Kind::kDict) m.keys.push_back(nodes[c].key);
    m.children.push_back(ToMetadata(c));
  }
  return m;
}

// ---- Store ----------------------------------------------------------------

Store::Store(std::string path, StoreOptions options)
    : path_(std::move(path)),
      options_(std::move(options)),
      mode_(options_.mode) {}

Store::~Store() {
  service_.reset();  // no commit request is served from here on
  {
    absl::MutexLock w(&write_mu_);
    CloseDb();
  }
  ReleaseWriter(writer_claim_);
}

namespace {

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

absl::Status CheckOptions(const std::string& path, const StoreOptions& o) {
  if (!IsPowerOfTwo(o.chunk_bytes) || o.chunk_bytes < 4096 ||
      o.chunk_bytes > (64u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_bytes must be a power of two between 4 KiB and 64 MiB, got ",
        o.chunk_bytes));
  }
  if (o.inline_bytes > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inline_bytes must be at most 1 MiB, got ", o.inline_bytes));
  }
  if (!(o.patch_max_fraction >= 0 && o.patch_max_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "patch_max_fraction must be in [0, 1], got ", o.patch_max_fraction));
  }
  if (!IsPowerOfTwo(o.patch_page_bytes) || o.patch_page_bytes < 64 ||
      o.patch_page_bytes > o.chunk_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "patch_page_bytes must be a power of two between 64 and chunk_bytes, "
        "got ",
        o.patch_page_bytes));
  }
  if (o.save_nice < 0 || o.save_nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("save_nice must be in [0, 19], got ", o.save_nice));
  }
  if (path.empty()) {
    return absl::InvalidArgumentError("database path is empty");
  }
  if (!o.run.empty() && !ValidRunName(o.run)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad run name '", o.run,
        "': use 1-128 characters of letters, digits, '.', '_' and '-'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const std::string& path, const StoreOptions& options_in) {
  StoreOptions options = options_in;
  if (options.env == nullptr) options.env = GlobalTestEnv();
  CKPTDB_RETURN_IF_ERROR(CheckOptions(path, options));
  if (options.mode == StoreOptions::Mode::kReadWrite &&
      options.follow_if_busy) {
    return OpenOrFollow(path, options);
  }
  return OpenAs(path, options, /*following=*/false);
}

absl::StatusOr<std::unique_ptr<Store>> Store::OpenAs(
    const std::string& path, const StoreOptions& options, bool following) {
  std::unique_ptr<Store> store(new Store(path, options));
  store->following_ = following;
  if (options.mode == StoreOptions::Mode::kReadWrite) {
    CKPTDB_ASSIGN_OR_RETURN(store->writer_claim_, ClaimWriter(path));
  }
  {
    absl::MutexLock w(&store->write_mu_);
    CKPTDB_RETURN_IF_ERROR(store->OpenDbSettled());
  }
  if (!store->read_only()) store->StartCommitService();
  return store;
}

std::vector<StepInfo> Store::Steps() const {
  absl::ReaderMutexLock l(&steps_mu_);
  std::vector<StepInfo> out;
  auto run = steps_.find(options_.run);
  if (run == steps_.end()) return out;
  out.reserve(run->second.size());
  for (const auto& [step, e] : run->second) out.push_back(e->info);
  return out;
}

std::vector<Store::RunSummary> Store::Runs() const {
  absl::ReaderMutexLock l(&steps_mu_);
  std::vector<RunSummary> out;
  for (const auto& [run, steps] : steps_) {
    if (steps.empty() || run[0] == kPartialRunMark) continue;
    RunSummary r;
    r.run = run;
    for (const auto& [step, e] : steps) {
      r.steps.push_back(step);
      r.logical_bytes += e->info.logical_bytes;
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool Store::HasStep(int64_t step) const { return FindStep(step).ok(); }

bool Store::HasRunStep(const std::string& run, int64_t step) const {
  return FindStep(run, step).ok();
}

std::vector<std::pair<std::string, int64_t>> Store::PartialSteps() const {
  absl::ReaderMutexLock l(&steps_mu_);
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [run, steps] : steps_) {
    if (!IsPartialRunOf(run, options_.run)) continue;
    for (const auto& [step, e] : steps) out.emplace_back(run, step);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const Store::StepEntry>> Store::FindStep(
    int64_t step) const {
  return FindStep(options_.run, step);
}

absl::StatusOr<std::shared_ptr<const Store::StepEntry>> Store::FindStep(
    const std::string& run, int64_t step) const {
  absl::ReaderMutexLock l(&steps_mu_);
  static const RunSteps* const kNone = new RunSteps();
  auto r = steps_.find(run);
  const RunSteps& steps = r == steps_.end() ? *kNone : r->second;
  auto it = steps.find(step);
  if (it != steps.end()) return it->second;
  std::string held = " (it holds no steps)";
  if (!steps.empty()) {
    held = absl::StrCat(
        " (steps: ", steps.begin()->first,
        steps.size() > 1 ? absl::StrCat(" .. ", steps.rbegin()->first) : "",
        ")");
  }
  const std::string where =
      run.empty() ? absl::StrCat("'", path_, "'")
                  : absl::StrCat("run '", run, "' of '", path_, "'");
  return absl::NotFoundError(
      absl::StrCat("no step ", step, " in ", where, held));
}

absl::StatusOr<StepInfo> Store::Step(int64_t step) const {
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return e->info;
}

absl::StatusOr<std::string> Store::StepColumnFamily(int64_t step) const {
  CKPTDB_ASSIGN_OR_RETURN(auto e, FindStep(step));
  return e->cf_name;
}

uint64_t Store::gc_dropped_chunks() const { return gc_filter_->dropped(); }

// ---- test hooks -----------------------------------------------------------

namespace {

struct GlobalHook {
  absl::Mutex mu;
  std::function<void(absl::string_view)> hook ABSL_GUARDED_BY(mu);
};

GlobalHook& GetGlobalHook() {
  static GlobalHook* hook = new GlobalHook;  // never destroyed
  return *hook;
}

}  // namespace

void SetGlobalTestHook(std::function<void(absl::string_view)> hook) {
  GlobalHook& g = GetGlobalHook();
  absl::MutexLock l(&g.mu);
  g.hook = std::move(hook);
}

namespace {
std::atomic<rocksdb::Env*> global_test_env{nullptr};
}  // namespace

void SetGlobalTestEnv(rocksdb::Env* env) { global_test_env = env; }
rocksdb::Env* GlobalTestEnv() { return global_test_env.load(); }

void Store::Hook(absl::string_view point) const {
  if (options_.test_hook) options_.test_hook(point);
  std::function<void(absl::string_view)> global;
  {
    GlobalHook& g = GetGlobalHook();
    absl::MutexLock l(&g.mu);
    global = g.hook;
  }
  if (global) global(point);
}

// ---- the runs' naming records ----------------------------------------------

absl::Status Store::SetNamingRecord(const NamingRecord& record) {
  {
    absl::MutexLock l(&naming_mu_);
    if (naming_ == record && !naming_damaged_) return absl::OkStatus();
  }
  if (following_.load()) return SetNamingThroughWriter(record);
  absl::MutexLock w(&write_mu_);
  if (read_only()) return absl::OkStatus();
  return WriteNamingLocked(options_.run, record);
}

absl::Status Store::WriteNamingLocked(const std::string& run,
                                      const NamingRecord& record) {
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s =
      db_->Put(wo, meta_cf_, NamingKey(run), EncodeNaming(run, record));
  if (!s.ok()) {
    return FromRocks(s, run.empty() ? std::string("cannot write the manager "
                                                  "record")
                                    : absl::StrCat("cannot write the naming "
                                                   "record of run '",
                                                   run, "'"));
  }
  MarkDurable();
  CacheNaming(run, record);
  return absl::OkStatus();
}

void Store::CacheNaming(const std::string& run, const NamingRecord& record) {
  if (run != options_.run) return;
  absl::MutexLock l(&naming_mu_);
  naming_ = record;
  naming_damaged_ = false;
}

NamingRecord Store::GetNamingRecord() const {
  absl::MutexLock l(&naming_mu_);
  return naming_;
}

absl::StatusOr<NamingRecord> Store::ReadNamingRecord(
    const std::string& run) const {
  absl::ReaderMutexLock db_lock(&db_mu_);
  CKPTDB_RETURN_IF_ERROR(CheckDb());
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_cf_, NamingKey(run), &value);
  if (s.IsNotFound()) return NamingRecord();
  if (!s.ok()) {
    return FromRocks(
        s, absl::StrCat("cannot read the naming record of run '", run, "'"));
  }
  return DecodeNaming(run, ToView(value));
}

}  // namespace ckptdb::internal
