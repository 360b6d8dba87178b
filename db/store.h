// Store: one ckptdb database (a RocksDB directory) holding committed steps.
//
// A step holds named items; an item is a tree. Each step is a column family
// of tree-node records; array bytes live in the shared "chunks" column
// family as content-hashed chunks, each stored once and reference-counted
// through the "chunk_index" column family. See docs/design.md for the
// protocols (save/commit, delete, garbage collection) and docs/format.md for
// every key and record.
//
// Thread safety: all methods may be called concurrently. Saves, deletes and
// garbage collection are serialised; reads run in parallel with them and
// with each other. The Store must outlive every StoredItem read from it.
#ifndef CKPTDB_DB_STORE_H_
#define CKPTDB_DB_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/metadata.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"
#include "db/hash.h"
#include "db/shared_mutex.h"

namespace rocksdb {
class DB;
struct DBOptions;
class Status;
class WriteBatch;
class ColumnFamilyHandle;
class Env;
}  // namespace rocksdb

namespace ckptdb::internal {

class ChunkGcFilterFactory;
struct ChunkEntryState;
class ThreadPool;
struct CfOptionSet;

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
  // Read through mmap: a chunk is copied once, from the page cache straight
  // into the destination (faster, see docs/design.md), but the mapped
  // page-cache pages count in the process's RSS while a restore reads them.
  // Default: false.
  bool mmap_reads = false;
  // Threads for hashing and reading (besides the caller). Default (-1): one
  // fewer than the hardware threads, at least 1.
  int num_threads = -1;
  // RocksDB Env (tests inject faults through it). Default: Env::Default().
  rocksdb::Env* env = nullptr;
  // Test hook, called at named points of the save, delete and GC protocols
  // (see store.cc); a test may kill the process there.
  std::function<void(absl::string_view point)> test_hook;
};

// One item of a step being saved.
struct SaveItem {
  std::string name;
  const Tree* tree = nullptr;
  // Per-leaf save arguments (dtype casts); may be null.
  const SaveOptions* options = nullptr;
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
  // The caller has already run ValidateSaveTree on every item's tree (with
  // its options): SaveStep does not walk the trees a second time.
  bool trees_validated = false;
};

struct StoredChunk {
  Hash128 hash;
  uint64_t segment = 0;
  uint32_t ordinal = 0;
  uint32_t size = 0;
  uint32_t stored_size = 0;
  uint8_t kind = 0;  // fb::ChunkKind
};

// A node of a saved tree, decoded and verified.
struct StoredNode {
  Tree::Kind kind = Tree::Kind::kNone;
  uint32_t parent = 0;
  bool has_key = false;  // false for the root
  bool key_is_index = false;
  DictKey key;        // dict key
  int64_t index = 0;  // sequence index
  std::vector<uint32_t> children;
  Tree scalar;  // None/Bool/Int/Float/String
  // Arrays.
  DType dtype = DType::kFloat32;
  DType source_dtype = DType::kFloat32;
  Shape shape;
  uint64_t nbytes = 0;
  uint32_t chunk_bytes = 0;
  std::string inline_data;
  bool is_inline = false;
  std::vector<StoredChunk> chunks;
};

// A saved item's tree, as stored.
struct StoredItem {
  int64_t step = 0;
  uint64_t generation = 0;  // the save that wrote the step
  std::string step_name;
  std::string item;
  std::vector<StoredNode> nodes;  // preorder; nodes[0] is the root

  TreePath PathOf(uint32_t index) const;
  TreeMetadata ToMetadata(uint32_t index = 0) const;
  // "step 5 item 'default' leaf 'params/w'": the prefix of error messages.
  std::string Describe(uint32_t index) const;
};

// Read request for one array node of a StoredItem: fill `dest` with the
// array's elements converted to `dest_dtype`.
struct ArrayRead {
  uint32_t node = 0;
  void* dest = nullptr;
  DType dest_dtype = DType::kFloat32;
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
};

struct SegmentInfo {
  uint64_t segment = 0;
  uint64_t chunks = 0;
  uint64_t total_bytes = 0;
  uint64_t live_chunks = 0;
  uint64_t live_bytes = 0;
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
};

// A problem found by Verify.
struct VerifyProblem {
  int64_t step = 0;
  std::string item;
  std::string path;  // leaf path, or "" for step-level records
  std::string message;
};

// Tests: a hook called at every named point of every Store (in addition to
// StoreOptions::test_hook). Pass nullptr to remove it.
void SetGlobalTestHook(std::function<void(absl::string_view point)> hook);

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
  bool read_only() const {
    return options_.mode != StoreOptions::Mode::kReadWrite;
  }
  // "checkpoint" or "manager", from the header.
  const std::string& kind() const { return kind_; }

  // Saves a step; returns its info once it is durable and committed.
  absl::StatusOr<StepInfo> SaveStep(const StepSaveRequest& request);

  // Committed steps, ascending.
  std::vector<StepInfo> Steps() const;
  absl::StatusOr<StepInfo> Step(int64_t step) const;
  bool HasStep(int64_t step) const;

  // Deletes steps atomically (all or none become invisible); their chunks
  // lose a reference. NotFound if any step does not exist (nothing
  // deleted). Space comes back with CollectGarbage.
  absl::Status DeleteSteps(const std::vector<int64_t>& steps);

  // Reads an item's tree (no array bytes). NotFound for a missing step or
  // item; DataLoss naming the node for a corrupt record.
  absl::StatusOr<StoredItem> ReadItem(int64_t step,
                                      absl::string_view item) const;
  // Reads array bytes in parallel, verifying every chunk's hash. DataLoss
  // naming the leaf on corruption.
  absl::Status ReadArrays(const StoredItem& item,
                          const std::vector<ArrayRead>& reads) const;

  // Drops dead chunks from disk (compaction filter), drops orphan column
  // families and segments left by interrupted saves.
  absl::StatusOr<GcReport> CollectGarbage(const GcOptions& options);

  // Re-reads every record and chunk of the given steps (all if empty; then
  // also the chunk bookkeeping: index entries, reference counts, segment
  // records, reported with step -1).
  absl::StatusOr<std::vector<VerifyProblem>> Verify(
      const std::vector<int64_t>& steps,
      const std::function<void(uint64_t bytes)>& progress = nullptr) const;

  absl::StatusOr<StoreStats> Stats() const;

  // Follows another writer: a secondary catches up, a read-only store
  // reopens. A no-op for the writer itself.
  absl::Status Reload();

  // Persisted naming and retention options of a CheckpointManager database
  // (written by the manager that opens it for writing; read by tools).
  struct ManagerRecord {
    std::string step_prefix;
    int step_format_fixed_length = 0;  // 0: unset
    std::optional<int64_t> max_to_keep;
    std::optional<int64_t> keep_period;
    std::optional<int64_t> keep_time_interval_secs;
    bool retention_is_custom = false;
    friend bool operator==(const ManagerRecord& a, const ManagerRecord& b) {
      return a.step_prefix == b.step_prefix &&
             a.step_format_fixed_length == b.step_format_fixed_length &&
             a.max_to_keep == b.max_to_keep && a.keep_period == b.keep_period &&
             a.keep_time_interval_secs == b.keep_time_interval_secs &&
             a.retention_is_custom == b.retention_is_custom;
    }
  };
  absl::Status SetManagerRecord(const ManagerRecord& record);
  ManagerRecord GetManagerRecord() const;

  // ---- For tools and tests ----
  rocksdb::DB* rocks() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return meta_cf_; }
  rocksdb::ColumnFamilyHandle* chunks_cf() const { return chunks_cf_; }
  rocksdb::ColumnFamilyHandle* index_cf() const { return index_cf_; }
  // The column family name of a step ("step-4-5").
  absl::StatusOr<std::string> StepColumnFamily(int64_t step) const;
  // The distinct chunk hashes a step references (its ChunkList).
  absl::StatusOr<std::vector<Hash128>> StepChunkHashes(int64_t step) const;
  // A chunk's chunk_index entry. NotFound if no step references it.
  struct ChunkLookup {
    uint64_t segment = 0;
    uint32_t ordinal = 0;
    uint32_t size = 0;
    uint32_t stored_size = 0;
    uint8_t kind = 0;  // 0 full, 1 patch
    uint64_t refcount = 0;
  };
  absl::StatusOr<ChunkLookup> LookupChunk(const Hash128& hash) const;
  uint64_t gc_dropped_chunks() const;

 private:
  struct CfHandle;
  struct StepEntry {
    StepInfo info;
    std::string cf_name;
    uint64_t generation = 0;  // the save that wrote it
    absl::Status damage;      // not OK: the commit record is unreadable
    std::vector<std::string> item_names;  // by item index
    std::shared_ptr<CfHandle> cf;
  };
  struct SavePlan;

  Store(std::string path, StoreOptions options);
  absl::Status OpenDb();
  // OpenDb, reopened (a few times) while a read-only view is mid-save: a
  // commit record visible before the files it names (see view_lagged_).
  absl::Status OpenDbSettled();
  // The process-wide claim on path_ of a read-write Store.
  absl::Status ClaimWriterSlot();
  void ReleaseWriterSlot();
  // One attempt at opening RocksDB with every column family.
  bool DefaultFamilyIsEmpty(const rocksdb::DBOptions& dbo) const;
  rocksdb::Status OpenRocks(bool creating, bool rw, rocksdb::DBOptions* dbo,
                            std::vector<std::string>* names,
                            std::vector<rocksdb::ColumnFamilyHandle*>* handles,
                            rocksdb::DB** raw);
  void CloseDb();
  absl::Status LoadHeader();
  absl::Status LoadSteps();
  absl::Status SweepOrphans(GcReport* report);
  // True if the step's column family holds that step (its ChunkList marker
  // matches): false for a reader whose view predates the step's files.
  bool SlotHolds(const StepEntry& e) const;
  // True if the slot's ChunkList names one of `steps`.
  bool SlotNamesStep(const CfHandle& cf, const std::set<int64_t>& steps) const;
  // Empties a step column family for reuse (or drops it). Called with
  // write_mu_ held; waits for readers of the step it held.
  absl::Status RecycleSlot(const std::shared_ptr<CfHandle>& cf);
  // An empty step column family (created in batches when none is free).
  absl::StatusOr<std::shared_ptr<CfHandle>> AcquireSlot();
  absl::StatusOr<std::shared_ptr<const StepEntry>> FindStep(int64_t step) const;
  absl::Status ValidateRequest(const StepSaveRequest& request) const;
  absl::StatusOr<StepInfo> SaveStepLocked(const StepSaveRequest& request);
  // Adds `deltas` to chunk reference counts in `batch`: entries reaching
  // zero are deleted (and release their patch base), segment statistics
  // follow. `states` holds entries already loaded or created by the caller.
  absl::Status ApplyRefDeltas(const std::map<Hash128, int64_t>& deltas,
                              rocksdb::WriteBatch* batch,
                              std::map<Hash128, ChunkEntryState>* states,
                              std::map<uint64_t, SegmentInfo>* segstats);
  absl::StatusOr<StoredItem> ReadItemImpl(int64_t step,
                                          absl::string_view item) const;
  absl::StatusOr<std::vector<Hash128>> ReadChunkList(
      const StepEntry& entry) const;
  absl::StatusOr<SegmentInfo> ReadSegmentStat(uint64_t segment) const;
  void VerifyBookkeeping(std::vector<VerifyProblem>* problems) const;
  // Calls fn for every segment statistics record, decoded (or its error).
  absl::Status ForEachSegmentStat(
      const std::function<void(uint64_t segment,
                               const absl::StatusOr<SegmentInfo>& stat)>& fn)
      const;
  // Fills prev_bases_ from the most recently committed step, once.
  absl::Status LoadPrevBases();
  absl::Status ReadChunk(
      const StoredItem& item, uint32_t node, size_t chunk_index,
      std::string* scratch,
      const std::function<absl::Status(absl::string_view bytes)>& consume)
      const;
  void Hook(absl::string_view point) const;
  // After a failed write: reopen the database (under db_mu_ exclusively).
  absl::Status ResumeIfNeeded();
  // Unavailable if the database is closed (a reopen failed).
  absl::Status CheckDb() const;
  // NotFound if the item's step was deleted or replaced since it was read.
  absl::Status CheckStillCommitted(const StoredItem& item) const;

  const std::string path_;
  StoreOptions options_;
  std::string kind_;
  mutable std::mutex record_mu_;  // guards manager_record_
  ManagerRecord manager_record_;

  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<CfOptionSet> cf_options_;
  std::shared_ptr<ChunkGcFilterFactory> gc_filter_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> fixed_handles_;
  std::unique_ptr<ThreadPool> pool_;

  // Serialises saves, deletes, GC and Reload.
  mutable std::mutex write_mu_;
  bool needs_resume_ = false;  // guarded by write_mu_
  // Reads hold it shared; reopening the database holds it exclusively.
  // Lock order: write_mu_, then db_mu_, then recycle_mu_, then gc_mu_.
  mutable SharedMutex db_mu_;
  // Guards steps_ and orphan_cfs_.
  mutable std::shared_mutex steps_mu_;
  std::map<int64_t, std::shared_ptr<const StepEntry>> steps_;
  std::vector<std::shared_ptr<CfHandle>> orphan_cfs_;
  // Column families of saves whose commit write failed: kept until the next
  // open tells whether the commit reached the disk.
  std::vector<std::shared_ptr<CfHandle>> uncertain_cfs_;
  // Read-only: the last OpenDb skipped a committed step whose ingested
  // files its MANIFEST view did not hold yet.
  bool view_lagged_ = false;
  // Key of this Store's writer claim (ClaimWriterSlot); empty if none.
  std::string writer_key_;
  // Empty step column families ready for the next saves (write_mu_).
  static constexpr size_t kMaxFreeSlots = 32;
  std::vector<std::shared_ptr<CfHandle>> free_slots_;
  // Readers of step column families hold it shared; recycling a column
  // family holds it exclusively.
  mutable SharedMutex recycle_mu_;
  // Chunk readers hold it shared; garbage collection holds it exclusively
  // while it removes chunks from disk.
  mutable SharedMutex gc_mu_;
  std::atomic<uint64_t> next_segment_{1};
  // Patch bases of the last save (guarded by write_mu_): for each
  // "item\0leaf path", the Full chunk at each chunk position (size 0: none).
  std::map<std::string, std::vector<StoredChunk>> prev_bases_;
  bool prev_loaded_ = false;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_DB_STORE_H_
