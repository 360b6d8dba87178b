// Store: one ckptdb database (a RocksDB directory) holding committed steps.
//
// A step holds named items; an item is a tree. A step's tree-node records
// live in a step column family (a reusable "step slot", see step_slots.cc);
// array bytes live in the shared "chunks" column family as content-hashed
// chunks, each stored once and reference-counted through "chunk_index".
// docs/design.md maps the files and protocols (save and commit, delete,
// garbage collection); docs/format.md gives every key and record.
//
// The implementation is split by responsibility, like RocksDB's DBImpl:
//   store.cc         construction, listing steps, test hooks, meta records
//   store_open.cc    open, recovery of interrupted saves, reopen, reload
//   step_slots.cc    step column families: acquire, recycle, orphans
//   save_plan.h      the pure part of a save (flatten, chunk, deduplicate)
//   store_save.cc    a save as named phases: plan, hash, dedup, patch bases
//   save_files.cc    writing the segment files and the step file
//   store_commit.cc  ingesting both and the commit batch
//   refcounts.cc     chunk reference counts and segment statistics
//   store_delete.cc  deleting steps
//   store_read.cc    reading item trees and array bytes
//   store_gc.cc      garbage collection (with compaction/chunk_gc.h)
//   store_verify.cc  verify and stats
//   store_follow.cc  following another writer: open-or-follow, refresh
//   store_fork.cc    a step forked into another run, sharing its chunks
//   store_merge.cc   a multi-process save's commit from its partial steps
//   store_remote.cc  saving while following: staged saves committed by the
//                    writer's commit service, and that service
//   staging_dir.h    each Store's own staging folder
//
// Thread safety: all methods may be called concurrently. Saves, deletes and
// garbage collection are serialised; reads run in parallel with them and
// with each other. The Store must outlive every StoredItem read from it.
#ifndef CKPTDB_DB_STORE_H_
#define CKPTDB_DB_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "ckptdb/metadata.h"
#include "ckptdb/tree.h"
#include "db/chunk_claims.h"
#include "schema/chunk_codec.h"
#include "schema/meta_codec.h"
#include "schema/node_codec.h"
#include "schema/step_codec.h"
#include "util/hash.h"

namespace rocksdb {
class DB;
struct DBOptions;
class Status;
class WriteBatch;
class ColumnFamilyHandle;
class Iterator;
class Env;
}  // namespace rocksdb

namespace ckptdb::internal {

class ChunkFiles;
class DurableMark;
class ChunkGcFilterFactory;
class ThreadPool;
struct CfOptionSet;
struct CommitReply;
struct CommitRequest;
struct SavePlan;
struct StagedFiles;
struct StagedSave;
struct ReusedChunks;
class LocalServer;
class LocalSocket;
class StagingDir;

struct StoreOptions {
  enum class Mode { kReadWrite, kReadOnly, kSecondary };
  // kReadOnly: a consistent view as of Open (Reload reopens); works while
  // another process writes. kSecondary: follows a writer with Reload.
  Mode mode = Mode::kReadWrite;
  // Create the database if `path` does not exist. Default: false.
  bool create_if_missing = false;
  // The kind recorded in a new database's header: "checkpoint" or
  // "manager".
  std::string create_kind = "manager";
  // The run this Store lists, saves, reads and deletes steps of ("": the
  // database's default run). Every run of a database shares its chunks.
  // A name is 1-128 characters of [A-Za-z0-9._-].
  std::string run;
  // kReadWrite only: a table RocksDB cannot open does not refuse the
  // writer when every such table holds step data (a chunk table, a step
  // slot): it opens around them as a reader does, to delete the steps that
  // need them (`ckptdb rm`). GC then drops a damaged table only with whole
  // dead segments, never compacting it. Off by default: GC and retention
  // of a writer at work should not run on a damaged database.
  bool open_around_damaged_tables = false;
  // kReadWrite only: when another writer holds the database (another
  // process, or another Store of this process), open it read-only instead
  // and follow that writer: following() is true and Refresh() picks up its
  // commits. If the writer is gone, this Store becomes the writer.
  bool follow_if_busy = false;
  // A follower's saves, deletes and garbage collection are committed by the
  // writer (docs/design.md, "Many writers"); each request waits at most
  // this long for the writer's answer, and a writer that has gone is
  // replaced (by this Store, or another process) within this time.
  // Default: 60 s.
  int64_t commit_timeout_ms = 60000;
  // For kSecondary: where the secondary keeps its own logs. Default: a
  // fresh directory under /tmp.
  std::string secondary_path;
  // Array bytes are split into chunks of this size (a power of two between
  // 4 KiB and 64 MiB). Default: 1 MiB (see docs/design.md).
  uint32_t chunk_bytes = 1 << 20;
  // Arrays of at most this many bytes are stored inside their node record.
  // Default: 1 KiB.
  uint32_t inline_bytes = 1024;
  // Patch chunks: a changed chunk whose predecessor (same item, leaf and
  // chunk position in the previous save) differs in at most this fraction
  // of its pages is stored as the changed pages only. 0 disables.
  // Default: 0.5.
  double patch_max_fraction = 0.5;
  // Page size of patch chunks. Default: 4 KiB.
  uint32_t patch_page_bytes = 4096;
  // Delta chunks: a changed chunk whose predecessor has the same size is
  // stored as byte planes of its difference from the predecessor's base
  // when a sample predicts it saves at least 10% (docs/design.md, "Delta
  // chunks"). Default: true.
  bool delta_chunks = true;
  // Compressed chunks: a chunk stored whole is stored as compressed byte
  // planes when a sample predicts it saves at least 20%. Default: true.
  bool compress_chunks = true;
  // Chunks read through RocksDB (direct_reads off, or an unexpected layout)
  // are read through mmap: copied once, from the page cache straight into
  // the destination, but the mapped page-cache pages count in the
  // process's RSS while a restore reads them. Default: false.
  bool mmap_reads = false;
  // Read a chunk (stored whole, or coded, and a coded chunk's base) with one
  // pread from its chunk file into a per-thread buffer (db/chunk_files.h),
  // then copy or decode it into place, instead of through RocksDB's Get (its
  // table reader and block checksum, then the copy: about 3x slower on
  // W1). Either way its hash is checked. Default: true (docs/design.md,
  // "Restore").
  bool direct_reads = true;
  // Start writeback of a segment file every this many bytes while writing
  // it (RocksDB's bytes_per_sync for the SstFileWriter). 0: only the final
  // fsync. Default: 1 MiB (docs/design.md).
  uint64_t writeback_bytes = 1 << 20;
  // Threads for reading (besides the caller), and for saves too when
  // save_nice is 0. Default (-1): one fewer than the hardware threads, at
  // least 1.
  int num_threads = -1;
  // A save's hashing, coding and writing run on their own threads at this
  // much lower CPU priority (nice), so that other work on the machine (a
  // reader's restore, the training loop beside an async save) comes first;
  // on an idle machine it changes nothing. 0: save on the read threads
  // and the caller at the caller's priority. 0-19. Default: 10
  // (docs/design.md, "Saves yield the CPU").
  int save_nice = 10;
  // RocksDB Env (tests inject faults through it). Default: Env::Default().
  rocksdb::Env* env = nullptr;
  // Test hook, called at named points of the save, delete and GC protocols
  // (see Hook call sites); a test may kill the process there.
  std::function<void(absl::string_view point)> test_hook;
};

// One item of a step being saved. The tree must have passed the api's save
// validation (api/save_validation.h): the store does not check trees.
struct SaveItem {
  std::string name;
  const Tree* tree = nullptr;
  // The dtype each array leaf is stored as, in preorder (save_args casts,
  // resolved by the api); empty: every array as it is.
  std::vector<DType> stored_dtypes;
};

struct StepSaveRequest {
  int64_t step = 0;
  std::string name;  // display name
  std::vector<SaveItem> items;
  const Tree* metrics = nullptr;          // null: no metrics
  const Tree* custom_metadata = nullptr;  // null or None: none
  // Replace an existing step atomically (force). Without it, saving an
  // existing step returns AlreadyExists.
  bool replace = false;
  // When the save began (Unix ns); 0 means now.
  int64_t init_time_ns = 0;
  // The commit time to record (Unix ns); unset means the actual commit
  // time. Managers record their clock's time (tests use a fake clock).
  std::optional<int64_t> commit_time_ns;
  // The run to save into; unset: the Store's own. A multi-process save's
  // partial steps go to the hidden runs of records.h's PartialRunName.
  std::optional<std::string> run;
};

// Changes to a step's records as Store::CopyStepRecords copies them.
struct RecordChanges {
  const std::vector<Hash128>* hashes = nullptr;  // the new chunk list
  // (item, node) -> a replacement node record.
  const std::map<std::pair<uint16_t, uint32_t>, std::string>* nodes = nullptr;
};

// A multi-process save's commit (MergePartialSteps): step `step` of the
// Store's run, assembled from one partial step per process, committed once.
struct MergeRequest {
  int64_t step = 0;
  // Each process's partial step `step` (its run), by process index.
  std::vector<std::string> partial_runs;
  // The process whose partial step gives the tree (the primary).
  size_t primary = 0;
  bool replace = false;
  std::optional<int64_t> commit_time_ns;
};

// A saved item's tree, as stored.
struct StoredItem {
  int64_t step = 0;
  uint64_t generation = 0;  // the save that wrote the step
  std::string step_name;
  std::string item;
  std::vector<StoredNode> nodes;  // preorder; nodes[0] is the root

  TreePath PathOf(uint32_t node) const { return PathOfNode(nodes, node); }
  TreeMetadata ToMetadata(uint32_t node = 0) const;
  // "step 5 item 'default' leaf 'params/w'": the prefix of error messages.
  std::string Describe(uint32_t node) const;
};

// Read request for one array node of a StoredItem: fill `dest` with the
// array's elements converted to `dest_dtype`.
struct ArrayRead {
  uint32_t node = 0;
  void* dest = nullptr;
  DType dest_dtype = DType::kFloat32;
  // Read only this box of the array: `dest` holds the box's elements in C
  // order. Elements of the box outside the stored array (a larger box than
  // the array, Orbax's strict=False) are left as they are. A grid array
  // (a sharded save) reads only the chunks overlapping the box; another
  // array reads all its chunks. Default: the whole array.
  std::optional<Box> box;
};

struct GcOptions {
  // Compact a partly dead segment when at least this fraction of its bytes
  // is dead (entirely dead segments are always dropped). Default: 0 (any).
  double min_garbage_fraction = 0.0;
};

struct GcReport {
  uint64_t segments_dropped = 0;
  uint64_t segments_compacted = 0;
  uint64_t bytes_reclaimed = 0;  // stored chunk bytes no longer on disk
  uint64_t orphan_column_families = 0;
  // Segments with garbage left uncollected because a table file of theirs
  // failed its block checksums: one message each, naming segment and file.
  std::vector<std::string> damaged_segments;
};

// Live chunks stored one way (ChunkKind): their decoded and stored bytes.
struct KindBytes {
  uint64_t chunks = 0;
  uint64_t decoded_bytes = 0;
  uint64_t stored_bytes = 0;
};

struct StoreStats {
  uint64_t steps = 0;
  uint64_t logical_bytes = 0;     // sum over steps
  uint64_t live_chunk_bytes = 0;  // distinct live chunks' stored bytes
  uint64_t live_chunks = 0;
  uint64_t segment_bytes = 0;  // chunk bytes still in segments
  uint64_t sst_bytes = 0;      // RocksDB table files, all families
  uint64_t disk_bytes = 0;     // every file in the directory
  std::vector<SegmentInfo> segments;
  // Indexed by ChunkKind: Full, Patch, Delta, Compressed.
  std::array<KindBytes, 4> by_kind;
};

// A problem found by Verify.
struct VerifyProblem {
  int64_t step = 0;  // -1: the database's chunk bookkeeping
  std::string item;
  std::string path;  // leaf path, or "" for step-level records
  std::string message;
};

// A live table file RocksDB cannot open (db/damaged_tables.cc).
struct DamagedTable {
  std::string file;                       // "000062.sst"
  std::string family;                     // its column family
  std::string error;                      // what RocksDB said
  std::string smallest_key, largest_key;  // its key range (the MANIFEST's)
};
// Whether a chunk table of `tables` overlaps the keys [begin, end].
bool AnyChunkTableIn(const std::vector<DamagedTable>& tables,
                     const std::string& begin, const std::string& end);

// What Verify checked and found.
struct VerifyReport {
  std::vector<VerifyProblem> problems;  // by step, item, path
  uint64_t items = 0;
  uint64_t chunks = 0;  // chunk reads (a chunk used twice is read twice)
  uint64_t bytes = 0;   // their decoded bytes
};

// Tests: a hook called at every named point of every Store (in addition to
// StoreOptions::test_hook). Pass nullptr to remove it.
void SetGlobalTestHook(std::function<void(absl::string_view point)> hook);
// Tests: the RocksDB Env of every Store opened without StoreOptions::env
// (the power-loss test reaches the managers' stores this way). nullptr:
// Env::Default() again.
void SetGlobalTestEnv(rocksdb::Env* env);
rocksdb::Env* GlobalTestEnv();

class Store {
 public:
  // Opens (or creates) the database at `path`.
  //   NotFound            no database at `path` (and not create_if_missing)
  //   FailedPrecondition  `path` is not a ckptdb database, or another
  //                       process holds it open for writing
  //   DataLoss            the database files are damaged
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const std::string& path, const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  // The tables RocksDB could not open that this open went around
  // (StoreOptions::open_around_damaged_tables; readers always) and that
  // are still part of the database.
  std::vector<DamagedTable> LiveDamagedTables() const;
  bool read_only() const {
    return mode_.load() != StoreOptions::Mode::kReadWrite;
  }
  // True when this Store follows another writer (follow_if_busy). A
  // follower saves too: it writes its files itself and the writer commits
  // them (SaveStep); DeleteSteps and CollectGarbage go to the writer.
  bool following() const { return following_.load(); }
  // A follower whose writer has gone (exited, crashed, closed) becomes the
  // writer: it reopens the database for writing, as an Open would. Returns
  // false, still following, while another writer holds the database; true
  // for a Store that writes.
  absl::StatusOr<bool> BecomeWriter() ABSL_LOCKS_EXCLUDED(write_mu_);
  // The writer: counts the commits and deletes it has made for other
  // processes (and other Stores of this one); a follower: those the writer
  // made for it. Callers notice them (the follower's view then needs a
  // Refresh to show them).
  uint64_t change_count() const { return change_count_.load(); }
  // "checkpoint" or "manager", from the header.
  const std::string& kind() const { return kind_; }

  // Saves a step; returns its info once it is durable and committed.
  absl::StatusOr<StepInfo> SaveStep(const StepSaveRequest& request)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Multi-process saves (db/store_merge.cc). Commits the step from the
  // partial steps every process saved (SaveStep with a partial run):
  // the primary's tree, each sharded array's grid filled with the cells of
  // every process; no array byte is read or written. FailedPrecondition
  // naming the leaf if the partial steps disagree or leave a cell unwritten.
  absl::StatusOr<StepInfo> MergePartialSteps(const MergeRequest& request)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // Whether `run` has `step` committed (in this Store's view).
  bool HasRunStep(const std::string& run, int64_t step) const;
  // Deletes steps of another run than the Store's (partial steps).
  absl::Status DeleteStepsOf(const std::string& run,
                             const std::vector<int64_t>& steps)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // The partial steps of this Store's run: (partial run, step).
  std::vector<std::pair<std::string, int64_t>> PartialSteps() const;

  const std::string& run() const { return options_.run; }
  // Committed steps of this Store's run, ascending.
  std::vector<StepInfo> Steps() const;
  // Every run with at least one step, by name ("" first: the default run).
  struct RunSummary {
    std::string run;
    std::vector<int64_t> steps;  // ascending
    uint64_t logical_bytes = 0;
  };
  std::vector<RunSummary> Runs() const;
  absl::StatusOr<StepInfo> Step(int64_t step) const;
  bool HasStep(int64_t step) const;

  // Starts run `to_run` (or adds to it) with step `step` of `from_run`: the
  // same tree, referencing the same chunks; no array byte is copied.
  // NotFound for a missing source step, AlreadyExists if `to_run` has the
  // step, InvalidArgument for a bad run name.
  absl::StatusOr<StepInfo> ForkStep(const std::string& from_run, int64_t step,
                                    const std::string& to_run)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Deletes steps atomically (all or none become invisible); their chunks
  // lose a reference. NotFound if any step does not exist (nothing
  // deleted). Space comes back with CollectGarbage.
  absl::Status DeleteSteps(const std::vector<int64_t>& steps)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Reads an item's tree (no array bytes). NotFound for a missing step or
  // item; DataLoss naming the node for a corrupt record.
  absl::StatusOr<StoredItem> ReadItem(int64_t step,
                                      absl::string_view item) const;
  // Reads array bytes in parallel, verifying every chunk's hash. DataLoss
  // naming the leaf on corruption.
  absl::Status ReadArrays(const StoredItem& item,
                          const std::vector<ArrayRead>& reads) const;
  // Since the database was (re)opened: chunks ReadArrays read directly
  // from their files, and chunks not found where their file's layout put
  // them (then read through RocksDB); db/chunk_files.h.
  struct DirectReadStats {
    uint64_t direct = 0;
    uint64_t misplaced = 0;
  };
  DirectReadStats direct_read_stats() const;

  // Drops dead chunks from disk (compaction filter), drops orphan column
  // families and segments left by interrupted saves.
  absl::StatusOr<GcReport> CollectGarbage(const GcOptions& options)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Re-reads every record and re-hashes every chunk of the given steps (all
  // if empty), and checks that each step's chunk list, its leaves' chunk
  // references and the chunk index agree. With every step, also the chunk
  // bookkeeping: index entries, reference counts, segment records
  // (reported with step -1). `progress` receives each chunk's bytes.
  absl::StatusOr<VerifyReport> Verify(
      const std::vector<int64_t>& steps,
      const std::function<void(uint64_t bytes)>& progress = nullptr) const;

  absl::StatusOr<StoreStats> Stats() const;

  // Follows another writer: a secondary catches up, a read-only store
  // reopens. A no-op for the writer itself.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(write_mu_);

  // A read-only store: reopens when the database changed on disk since its
  // view was opened (a directory listing: RocksDB's CURRENT, MANIFEST and
  // log files), so that it sees every step committed before the call.
  // Returns whether it reopened; false for the writer.
  absl::StatusOr<bool> Refresh() ABSL_LOCKS_EXCLUDED(write_mu_);

  // The naming and retention record of this Store's run (NamingKey(run):
  // "manager/naming" for the default run, "naming/" + run for a named
  // run), written by the manager that opens the run and read by tools.
  // The store keeps it; the api decides what it holds. Written (synced)
  // only when it differs from the stored one (or that is damaged); a
  // follower's goes through the writer; a no-op for a read-only Store.
  absl::Status SetNamingRecord(const NamingRecord& record)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // The record as this Store's run had it at open (default values when
  // absent or damaged).
  NamingRecord GetNamingRecord() const;
  // Any run's record as stored now: default values when the run has none
  // (an older database, a run never opened by a manager); DataLoss naming
  // the run when it is damaged.
  absl::StatusOr<NamingRecord> ReadNamingRecord(const std::string& run) const;

  // ---- For tools and tests ----
  rocksdb::DB* rocks() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return meta_cf_; }
  rocksdb::ColumnFamilyHandle* chunks_cf() const { return chunks_cf_; }
  rocksdb::ColumnFamilyHandle* index_cf() const { return index_cf_; }
  // The column family (step slot) holding a step's records.
  absl::StatusOr<std::string> StepColumnFamily(int64_t step) const;
  // The distinct chunk hashes a step references (its ChunkList).
  absl::StatusOr<std::vector<Hash128>> StepChunkHashes(int64_t step) const;
  // A chunk's chunk_index entry. NotFound if no step references it.
  absl::StatusOr<ChunkEntry> LookupChunk(const Hash128& hash) const;
  uint64_t gc_dropped_chunks() const;

 private:
  struct CfHandle;
  // A committed step as this Store sees it.
  struct StepEntry {
    StepInfo info;
    std::string cf_name;
    uint64_t generation = 0;  // the save that wrote it
    absl::Status damage;      // not OK: the commit record is unreadable
    std::vector<std::string> item_names;  // by item number
    std::shared_ptr<CfHandle> cf;
  };
  // Steps by run, then step.
  using RunSteps = std::map<int64_t, std::shared_ptr<const StepEntry>>;
  using StepMap = std::map<std::string, RunSteps>;

  Store(std::string path, StoreOptions options);
  // Open with options.mode as given (Open decides about following).
  static absl::StatusOr<std::unique_ptr<Store>> OpenAs(
      const std::string& path, const StoreOptions& options, bool following);

  // ---- store_follow.cc ----
  // Open for writing, or follow the writer that holds the database.
  static absl::StatusOr<std::unique_ptr<Store>> OpenOrFollow(
      const std::string& path, const StoreOptions& options);

  // ---- store_open.cc ----
  absl::Status OpenDb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // OpenDb, reopened (a few times) while a read-only view is mid-save: a
  // commit record visible before the files it names (see view_lagged_).
  absl::Status OpenDbSettled() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Whether `path_` holds a database to open or one to create; errors for
  // anything else (a file, a foreign directory, a damaged database).
  absl::StatusOr<bool> CheckDirectory(bool rw) const;
  bool DefaultFamilyIsEmpty(const rocksdb::DBOptions& dbo) const;
  // One attempt at opening RocksDB with every column family, as mode_
  // says; read-only when !rw (a writer's look first, too).
  rocksdb::Status OpenRocks(bool creating, bool rw, rocksdb::DBOptions* dbo,
                            std::vector<std::string>* names,
                            std::vector<rocksdb::ColumnFamilyHandle*>* handles,
                            rocksdb::DB** raw);
  // ---- damaged_tables.cc ----
  // A read-only open refused for a table RocksDB cannot open: opens again
  // with tables loaded on first use and keeps that view if every table it
  // cannot open holds step data only (damaged_tables_). DataLoss saying
  // why not otherwise (its message may be empty).
  absl::Status OpenAroundDamagedTables(
      rocksdb::DBOptions dbo, bool rw, std::vector<std::string>* names,
      std::vector<rocksdb::ColumnFamilyHandle*>* handles);
  // Verify's problems for damaged_tables_.
  std::vector<VerifyProblem> DamagedTableProblems() const;
  // The damaged chunk tables still live, each within one segment before
  // `in_flight`, none of whose chunks is live any more: GC drops them
  // whole, also from a segment that other tables keep partly live.
  std::vector<DamagedTable> DeadDamagedTables(uint64_t in_flight) const;

  // OpenRocks, retried while a reader races the writer.
  absl::Status OpenRocksRetrying(
      bool creating, bool rw, std::vector<std::string>* names,
      std::vector<rocksdb::ColumnFamilyHandle*>* handles);
  absl::Status LoadHeader(bool rw);
  // DataLoss when the database opened recovered less than `mark`, the
  // durable mark read before it was opened (db/durable_mark.h).
  absl::Status CheckDurableMark(uint64_t mark);
  // The writer: opens the durable mark for recording (marks the new
  // database's header when `creating`).
  void OpenDurableMark(bool creating);
  // After a synced write: records the database's sequence number as
  // durable (db/durable_mark.h).
  void MarkDurable();
  void LoadNaming();
  // Writes `run`'s naming record (the writer; synced).
  absl::Status WriteNamingLocked(const std::string& run,
                                 const NamingRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Caches `record` as this Store's own when `run` is its run.
  void CacheNaming(const std::string& run, const NamingRecord& record)
      ABSL_LOCKS_EXCLUDED(naming_mu_);
  // Reads every commit record; `step_cfs` are the step column families.
  absl::StatusOr<StepMap> LoadSteps(
      bool rw, const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
      uint64_t* max_number);
  // Adds the commit record at `it` to `steps`.
  absl::Status LoadStep(
      bool rw, const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
      const rocksdb::Iterator& it, StepMap* steps, uint64_t* max_number);
  // Step column families that no commit record names.
  std::vector<std::shared_ptr<CfHandle>> FindOrphans(
      const StepMap& steps,
      const std::map<std::string, std::shared_ptr<CfHandle>>& step_cfs,
      uint64_t* max_number) const;
  uint64_t MaxSegmentOnDisk() const;
  void CloseDb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // After a failed write: reopen the database (under db_mu_ exclusively).
  absl::Status ResumeIfNeeded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // An error if the database is closed: the last reopen's DataLoss, else
  // Unavailable (the next save reopens it).
  absl::Status CheckDb() const;
  // After a reopen failed with `s`: closes what it left open, remembers a
  // DataLoss for CheckDb; returns `s`.
  absl::Status FailedReopen(const absl::Status& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // FailedPrecondition for a read-only store.
  absl::Status CheckWritable() const;

  // ---- store_claims.cc ----
  // Claims the chunks `plan` would write (waiting, up to the commit
  // timeout, for saves that write some of them; reusing what they stored).
  // True if other saves stored some of them since the dedup.
  bool ClaimNewChunks(SavePlan* plan, uint64_t save, ReusedChunks* reused);
  absl::StatusOr<CommitReply> ClaimOnce(uint64_t save,
                                        const std::vector<Hash128>& hashes);
  // The writer's answer to a claim of `owner` (a connection, or 0).
  CommitReply ClaimHere(uint64_t owner, uint64_t save,
                        const std::vector<Hash128>& hashes);
  // Drops a save's claims (here, or at the writer).
  void ReleaseClaims(uint64_t save);

  // ---- step_slots.cc ----
  // True if the step's column family holds that step (its ChunkList marker
  // matches): false for a reader whose view predates the step's files.
  bool SlotHolds(const StepEntry& e) const;
  // True if the slot's ChunkList names one of `steps`.
  bool SlotNamesStep(const CfHandle& cf, const std::set<int64_t>& steps) const;
  // Empties a step column family for reuse (or drops it). Called with
  // write_mu_ held; waits for readers of the step it held.
  absl::Status RecycleSlot(const std::shared_ptr<CfHandle>& cf)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // An empty step column family (created in batches when none is free).
  absl::StatusOr<std::shared_ptr<CfHandle>> AcquireSlot()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Creates `n` empty step column families into free_slots_.
  absl::Status CreateSlots(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // How many to create at once: an eighth of the steps, 1 to kMaxSlotBatch.
  size_t SlotBatch() const;
  // The writer, after a commit (outside it): makes the next batch of slots
  // once none is free, so that commits do not create column families.
  void TopUpSlots() ABSL_LOCKS_EXCLUDED(write_mu_);
  void TopUpSlotsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status SweepOrphans(GcReport* report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void AddOrphan(std::shared_ptr<CfHandle> cf);

  // ---- store.cc ----
  absl::StatusOr<std::shared_ptr<const StepEntry>> FindStep(int64_t step) const;
  absl::StatusOr<std::shared_ptr<const StepEntry>> FindStep(
      const std::string& run, int64_t step) const;
  void Hook(absl::string_view point) const;

  // ---- store_save.cc, save_files.cc, store_commit.cc ----
  absl::Status ValidateRequest(const StepSaveRequest& request) const;
  // A save staged and committed by this Store, the writer.
  absl::StatusOr<StepInfo> SaveHere(const StepSaveRequest& request)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // AlreadyExists if `step` of `run` is committed and not to be replaced.
  absl::Status CheckStepFree(const std::string& run, int64_t step,
                             bool replace) const;
  // ---- store_delete.cc ----
  absl::Status DeleteRunSteps(const std::string& run,
                              const std::vector<int64_t>& steps)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // Phases 1-5: plan, hash, dedup, bases, write the files. Holds no lock
  // but db_mu_ (shared) while reading and writing.
  absl::StatusOr<std::unique_ptr<StagedSave>> StageSave(
      const StepSaveRequest& request, uint64_t save_number)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // InvalidArgument naming the leaf if a sharded array of a save that is
  // not a multi-process save's part lacks shards (would commit holes).
  absl::Status CheckComplete(const SavePlan& plan) const;
  // Phases 6-8: check, ingest, commit (a save of this process or another).
  absl::StatusOr<StepInfo> CommitStagedLocked(const CommitRequest& commit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Raced (see IsRaced) unless every chunk the save reuses is still stored
  // where it was, none it wrote was stored meanwhile, and its patch bases
  // are live; fills `current` with those entries as they are now.
  absl::Status CheckStillStored(const CommitRequest& commit,
                                std::map<Hash128, ChunkEntry>* current)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // This Store's staging folder (made at the first save).
  absl::StatusOr<std::string> StagingFolder() ABSL_LOCKS_EXCLUDED(staging_mu_);
  void HashChunks(SavePlan* plan);
  // Finds the plan's chunks already in chunk_index; the rest become the
  // new chunks of `segment`.
  absl::Status DedupAgainstIndex(SavePlan* plan, uint64_t segment,
                                 ReusedChunks* reused);
  // The previous save's Full chunk at each new chunk's position, if live.
  absl::Status ChoosePatchBases(SavePlan* plan) ABSL_LOCKS_EXCLUDED(bases_mu_);
  // Fills prev_bases_ from the most recently committed step, once.
  absl::Status LoadPrevBases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(bases_mu_);
  absl::Status WriteSegmentFiles(const StepSaveRequest& request,
                                 const std::string& dir, uint64_t segment,
                                 SavePlan* plan, StagedFiles* files)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  absl::Status WriteStepFile(const StepSaveRequest& request,
                             const std::string& dir, uint64_t segment,
                             const SavePlan& plan, StagedFiles* files)
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  absl::Status Ingest(const CommitRequest& commit,
                      rocksdb::ColumnFamilyHandle* slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Builds the commit batch: segment records, reference counts (from the
  // `current` entries), the step's commit record.
  absl::Status BuildCommitBatch(const StepRecord& record,
                                const CommitRequest& commit,
                                const std::map<Hash128, ChunkEntry>& current,
                                const StepEntry* replaced,
                                rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // This save becomes the predecessor (patch bases) of the next one.
  void RememberBases(const SavePlan& plan, const ReusedChunks& reused)
      ABSL_LOCKS_EXCLUDED(bases_mu_);

  // ---- store_fork.cc ----
  // A commit staged without array data (a fork, a multi-process save's
  // merge): `stage(number)` stages it under a save number drawn here or
  // from the writer; it commits here or through the writer, staged again
  // after a race (kSaveAttempts; a new writer until the commit timeout).
  // `run` and `step` must be free in the commit's run.
  absl::StatusOr<StepInfo> CommitWithoutData(
      const std::string& run, int64_t step, bool replace,
      const std::function<absl::StatusOr<std::unique_ptr<StagedSave>>(
          uint64_t number)>& stage) ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::StatusOr<StepInfo> CommitWithoutDataOnce(
      const std::string& run, int64_t step, bool replace,
      const std::function<absl::StatusOr<std::unique_ptr<StagedSave>>(
          uint64_t number)>& stage) ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::StatusOr<std::unique_ptr<StagedSave>> StageFork(
      const std::string& from_run, int64_t step, const std::string& to_run,
      uint64_t number) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Writes `source`'s records into `file` as step `step` of save `number`
  // (a fork: verbatim; a merge: some nodes and the chunk list replaced).
  absl::Status CopyStepRecords(const StepEntry& source, int64_t step,
                               uint64_t number, const std::string& file,
                               const RecordChanges& changes = {}) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);

  // ---- store_remote.cc ----
  // A follower's save: a save number from the writer, the save staged
  // here, its commit by the writer.
  absl::StatusOr<StepInfo> SaveThroughWriter(const StepSaveRequest& request);
  absl::Status DeleteThroughWriter(const std::string& run,
                                   const std::vector<int64_t>& steps);
  absl::Status SetNamingThroughWriter(const NamingRecord& record);
  // Those of `steps` that `run` has in this Store's view.
  std::vector<int64_t> StepsStillThere(const std::string& run,
                                       const std::vector<int64_t>& steps) const;
  // ---- store_merge.cc ----
  absl::StatusOr<std::unique_ptr<StagedSave>> StageMerge(
      const MergeRequest& request, uint64_t number);
  const std::string& SaveRun(const StepSaveRequest& r) const {
    return r.run ? *r.run : options_.run;
  }
  absl::StatusOr<GcReport> CollectGarbageThroughWriter(
      const GcOptions& options);
  // One request to the writer's commit service and its reply's status.
  // Unavailable when the writer has gone: WaitForWriter then.
  absl::StatusOr<CommitReply> CallWriter(const CommitRequest& request)
      ABSL_LOCKS_EXCLUDED(writer_conn_mu_);
  // After the writer has gone: become the writer, or wait (at most the
  // commit timeout) for another process to. Raced on success, so that the
  // caller starts its operation over; Unavailable after the timeout.
  absl::Status WaitForWriter();
  // The writer's side: serve commit requests (started when this Store
  // becomes the writer, stopped before it closes).
  void StartCommitService();
  std::string ServeCommit(uint64_t connection, absl::string_view request);
  CommitReply ServeRequest(uint64_t connection, const CommitRequest& request);
  // InvalidArgument unless a commit request is well formed and names only
  // staged files.
  absl::Status CheckCommitRequest(const CommitRequest& request) const;

  // ---- refcounts.cc ----
  // Adds `deltas` to chunk reference counts in `batch`: entries reaching
  // zero are deleted (and release their patch base), segment statistics
  // follow. `known` holds entries already loaded or created by the caller.
  absl::Status ApplyRefDeltas(const std::map<Hash128, int64_t>& deltas,
                              const std::map<Hash128, ChunkEntry>& new_entries,
                              const std::map<Hash128, ChunkEntry>& known,
                              const std::vector<SegmentInfo>& new_segments,
                              rocksdb::WriteBatch* batch) const;
  absl::StatusOr<ChunkEntry> ReadChunkEntry(const Hash128& hash) const;
  absl::StatusOr<std::vector<Hash128>> ReadChunkList(
      const StepEntry& entry) const;
  // The references of every committed step of every run (but those in
  // `except`) to chunks, and the chunk index's entries.
  struct References {
    std::map<Hash128, int64_t> by_steps;
    std::map<Hash128, ChunkEntry> entries;
    // Steps (run, error) whose chunk list cannot be read: they add none.
    std::vector<std::pair<std::string, absl::Status>> unreadable_lists;
    // Entries that cannot be decoded, or the index cannot be read.
    std::vector<std::string> index_problems;
  };
  References CollectReferences(const std::set<const StepEntry*>& except) const;
  // The deltas that bring every entry's reference count to what `refs`
  // implies (its steps' references, and one per live Patch or Delta entry
  // based on it): ApplyRefDeltas of them deletes the entries nothing
  // references any more. For a delete whose step's chunk list cannot be
  // read; `refs` must have every other list and entry.
  static std::map<Hash128, int64_t> RecountDeltas(const References& refs);
  absl::StatusOr<SegmentInfo> ReadSegmentStat(uint64_t segment) const;
  // Calls fn for every segment statistics record, decoded (or its error).
  // Adds up the chunk index's live chunks by kind (Stats).
  absl::Status CountChunkKinds(std::array<KindBytes, 4>* by_kind) const
      ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  absl::Status ForEachSegmentStat(
      const std::function<void(uint64_t segment,
                               const absl::StatusOr<SegmentInfo>& stat)>& fn)
      const;

  // ---- store_read.cc ----
  absl::StatusOr<StoredItem> ReadItemImpl(int64_t step,
                                          absl::string_view item) const {
    return ReadItemImpl(options_.run, step, item);
  }
  absl::StatusOr<StoredItem> ReadItemImpl(const std::string& run, int64_t step,
                                          absl::string_view item) const;
  // Reads chunk `chunk` of array node `node` through RocksDB, verified, and
  // hands its decoded bytes to `consume`. A chunk stored encoded is decoded
  // into `direct` (its size in bytes) when that is given, else into
  // `scratch`; a Patch's or Delta's base is read by `read_base` when given
  // and it can, else through RocksDB too.
  absl::Status ReadChunk(
      const StoredItem& item, uint32_t node, size_t chunk, std::string* scratch,
      const std::function<absl::Status(absl::string_view bytes)>& consume,
      char* direct = nullptr,
      const StoredValueReader* read_base = nullptr) const;
  // ReadChunk's second half: decodes the chunk's stored `value`, stored
  // under `key`, and passes the verified bytes to `consume`.
  absl::Status DecodeStoredChunk(
      const StoredItem& item, uint32_t node, size_t chunk,
      absl::string_view key, absl::string_view value, std::string* scratch,
      const std::function<absl::Status(absl::string_view bytes)>& consume,
      char* direct, const StoredValueReader* read_base) const;
  // NotFound if the item's step was deleted or replaced since it was read.
  absl::Status CheckStillCommitted(const StoredItem& item) const;
  // ReadArrays of whole arrays and of boxes of inline or grid arrays.
  absl::Status ReadArraysDirect(const StoredItem& item,
                                const std::vector<ArrayRead>& reads) const;
  // Where chunk `c` of array `n` lies in `rd`'s destination as one run of
  // bytes, the stored ones (same dtype, not a grid); else null.
  static char* DirectDestination(const StoredNode& n, uint32_t c,
                                 const ArrayRead& rd);
  // Copies chunk `c` of array `n` (its decoded bytes) where `rd` wants it.
  static void CopyChunk(const StoredNode& n, uint32_t c,
                        absl::string_view bytes, const ArrayRead& rd,
                        const Box& dest_box, const Box& region);

  // ---- store_gc.cc ----
  struct GcCandidates;
  absl::StatusOr<GcCandidates> FindGcCandidates(const GcOptions& options);
  // Which ordinals of `segment` are still live; nullopt when unsure.
  std::optional<std::vector<bool>> LiveOrdinals(uint64_t segment) const;
  absl::Status DropSegments(const GcCandidates& candidates);
  absl::Status RecordGc(const GcCandidates& candidates, GcReport* report);

  // ---- store_verify.cc ----
  void VerifyStep(int64_t step, const std::shared_ptr<const StepEntry>& entry,
                  const std::function<void(uint64_t bytes)>& progress,
                  VerifyReport* report) const;
  // Checks the chunk bookkeeping (store_verify.cc says what) and lists the
  // segments holding both live and dead chunks in `with_garbage`.
  void VerifyBookkeeping(std::vector<VerifyProblem>* problems,
                         std::map<uint64_t, SegmentInfo>* with_garbage) const;
  void VerifyGarbageTables(const std::map<uint64_t, SegmentInfo>& with_garbage,
                           std::vector<VerifyProblem>* problems) const;
  // Verifies the block checksums of every chunk table holding chunks of
  // `segments` (read outside the database, SstFileReader): for each
  // segment with a damaged or unreadable table, "FILE: what is wrong" of
  // the first. Files gone since the listing are skipped.
  std::map<uint64_t, std::string> DamagedChunkTables(
      const std::set<uint64_t>& segments) const;

  const std::string path_;
  const StoreOptions options_;
  std::string kind_;
  mutable absl::Mutex naming_mu_;
  NamingRecord naming_ ABSL_GUARDED_BY(naming_mu_);
  // The stored record did not decode: the next SetNamingRecord rewrites it.
  bool naming_damaged_ ABSL_GUARDED_BY(naming_mu_) = false;

  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<CfOptionSet> cf_options_;
  std::shared_ptr<ChunkGcFilterFactory> gc_filter_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> fixed_handles_;
  // Direct chunk reads (null when StoreOptions::direct_reads is off).
  std::unique_ptr<ChunkFiles> chunk_files_;
  // The sequence number of the last durable write (db/durable_mark.h);
  // null when not open for writing.
  std::unique_ptr<DurableMark> durable_mark_;
  std::unique_ptr<ThreadPool> pool_;       // reading, verifying
  std::unique_ptr<ThreadPool> save_pool_;  // niced saves; null: use pool_
  ThreadPool* SavePool() const {
    return save_pool_ ? save_pool_.get() : pool_.get();
  }

  // Lock order: write_mu_, then db_mu_, then recycle_mu_, then gc_mu_, then
  // steps_mu_. absl::Mutex lets a waiting writer in before new readers, so
  // exclusive holders are not starved by a stream of restores.
  //
  // Serialises saves, deletes, GC and Reload.
  mutable absl::Mutex write_mu_;
  bool needs_resume_ ABSL_GUARDED_BY(write_mu_) = false;
  // Reads hold it shared; reopening the database holds it exclusively.
  mutable absl::Mutex db_mu_;
  // Guards steps_, orphan_cfs_ and uncertain_cfs_.
  mutable absl::Mutex steps_mu_;
  StepMap steps_ ABSL_GUARDED_BY(steps_mu_);
  std::vector<std::shared_ptr<CfHandle>> orphan_cfs_ ABSL_GUARDED_BY(steps_mu_);
  // Column families of saves whose commit write failed: kept until the next
  // open tells whether the commit reached the disk.
  std::vector<std::shared_ptr<CfHandle>> uncertain_cfs_
      ABSL_GUARDED_BY(steps_mu_);
  // How the database is open now: options_.mode, until a follower becomes
  // the writer (BecomeWriter).
  std::atomic<StoreOptions::Mode> mode_;
  // This Store follows another writer (StoreOptions::follow_if_busy).
  std::atomic<bool> following_{false};
  // Read-only: the database files as of the last open (Refresh compares).
  std::string view_fingerprint_ ABSL_GUARDED_BY(write_mu_);
  // The tables the open went around (OpenAroundDamagedTables). Set by
  // OpenDb, like db_.
  std::vector<DamagedTable> damaged_tables_;
  // Read-only: the last OpenDb skipped a committed step whose ingested
  // files its MANIFEST view did not hold yet.
  bool view_lagged_ = false;
  // Read-only: such a step is listed as damaged instead of skipped (set for
  // the last open when no writer could explain the lag).
  bool unheld_is_damage_ = false;
  // The last OpenDb was refused by the durable mark (a read-only view
  // retries: a writer may have been opening the database meanwhile).
  bool mark_refused_ = false;
  // The DataLoss of the last reopen when it failed so (OK otherwise):
  // CheckDb reports it while the database stays closed. Written with
  // write_mu_ and db_mu_ held exclusively (or before the Store is shared);
  // read with either held.
  absl::Status reopen_error_;
  // This Store's claim on path_ as the process's writer (writer_claims.h).
  std::string writer_claim_;
  // Empty step column families ready for the next saves (write_mu_).
  static constexpr size_t kMaxFreeSlots = 32;
  static constexpr size_t kMaxSlotBatch = 32;
  std::vector<std::shared_ptr<CfHandle>> free_slots_ ABSL_GUARDED_BY(write_mu_);
  // Readers of step column families hold it shared; recycling a column
  // family holds it exclusively.
  mutable absl::Mutex recycle_mu_;
  // Chunk readers hold it shared; garbage collection holds it exclusively
  // while it removes chunks from disk.
  mutable absl::Mutex gc_mu_;
  // The next save number: each save draws one (its new chunks are segment
  // <number>, its step's generation is <number>); step slot names draw from
  // the same counter. Above every number found on disk at open.
  std::atomic<uint64_t> next_save_number_{1};
  // Patch bases of the last save: for each "item\0leaf path", the Full
  // chunk at each chunk position (size 0: none). Reloaded from the latest
  // committed step when reload_bases_ is set (at every open).
  mutable absl::Mutex bases_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::map<std::string, std::vector<ChunkLocation>> prev_bases_
      ABSL_GUARDED_BY(bases_mu_);
  std::atomic<bool> reload_bases_{true};

  std::atomic<uint64_t> change_count_{0};
  // This Store's staging folder, made at its first save.
  absl::Mutex staging_mu_;
  std::unique_ptr<StagingDir> staging_ ABSL_GUARDED_BY(staging_mu_);
  // The writer: its commit service, and the save numbers it has handed
  // out on each connection (a commit must bring one of them: numbers are
  // unique while this writer lives, and a save staged for an earlier
  // writer is staged again).
  std::unique_ptr<LocalServer> service_;
  absl::Mutex issued_mu_;
  std::map<uint64_t, std::set<uint64_t>> issued_ ABSL_GUARDED_BY(issued_mu_);
  // The writer: chunks that saves in flight are writing (chunk_claims.h).
  ChunkClaims claims_;
  // A follower: its connection to the writer's commit service.
  absl::Mutex writer_conn_mu_;
  std::unique_ptr<LocalSocket> writer_conn_ ABSL_GUARDED_BY(writer_conn_mu_);
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_STORE_H_
