// Store: writing a save's files into the staging folder: the segment files
// (the new chunks) and the step file (the step's ChunkList and tree-node
// records), each with RocksDB's SstFileWriter, which fsyncs on Finish.
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "core/byte_planes.h"
#include "db/chunk_coding.h"
#include "db/chunk_files.h"
#include "db/rocks_util.h"
#include "db/save_plan.h"
#include "db/store.h"
#include "db/store_internal.h"
#include "rocksdb/sst_file_writer.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"
#include "util/thread_pool.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

// Writes chunks [begin, end) of plan->new_jobs into one SST file, each as
// CodeChunk chooses. Sets *changed to the job whose bytes no longer hash to
// what was planned (a borrowed array changed during the save).
rocksdb::Status WritePart(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks,
                          const rocksdb::Options& options,
                          const ChunkCoding& coding,
                          const StoredValueReader* read_base,
                          const std::string& file, size_t begin, size_t end,
                          SavePlan* plan, int64_t* changed) {
  // Keep the written pages cached: a restore soon after reads them.
  // EnvOptions(options) carries options.bytes_per_sync (writeback_bytes).
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(options), options, chunks,
                                /*invalidate_page_cache=*/false);
  rocksdb::Status s = writer.Open(file);
  std::string& buf = Staging();
  std::string value;
  for (size_t k = begin; k < end && s.ok(); ++k) {
    ChunkJob& j = plan->jobs[plan->new_jobs[k]];
    absl::string_view bytes = ChunkBytes(*plan, j, &buf);
    const std::string key = ChunkKey(j.chunk.segment, j.chunk.ordinal);
    const int width = PlaneWidth(DTypeSize(plan->array(j).stored_dtype));
    CodeChunk(db, chunks, coding, width, bytes, key, &j, &value, read_base);
    s = writer.Put(key, j.chunk.kind == ChunkKind::kFull ? ToSlice(bytes)
                                                         : ToSlice(value));
    // Hashing after the write: equal means what was written is what was
    // planned (bytes that changed and changed back aside).
    if (s.ok() && HashBytes(bytes.data(), bytes.size()) != j.chunk.hash) {
      *changed = plan->new_jobs[k];
      s = rocksdb::Status::Aborted("array changed during the save");
    }
  }
  if (s.ok()) s = writer.Finish();
  return s;
}

}  // namespace

StagedFiles::~StagedFiles() {
  std::error_code ec;
  for (const std::string& f : segment_files) fs::remove(f, ec);
  if (!step_file.empty()) fs::remove(step_file, ec);
}

absl::Status Store::WriteSegmentFiles(const StepSaveRequest& req,
                                      const std::string& dir, uint64_t segment,
                                      SavePlan* plan, StagedFiles* files) {
  // Up to one writer per core, each into its own SST file holding a
  // contiguous range of ordinals (the files do not overlap, so all of them
  // land in the bottommost level): the user-space copy and block checksum
  // of SstFileWriter and the kernel's copy into the page cache use every
  // core.
  constexpr uint64_t kMinPartBytes = 32 << 20;
  const std::vector<std::pair<size_t, size_t>> parts = SplitNewChunks(
      *plan, static_cast<size_t>(SavePool()->parallelism()), kMinPartBytes);
  if (parts.empty()) return absl::OkStatus();
  const fs::path staging(dir);
  for (size_t p = 0; p < parts.size(); ++p) {
    files->segment_files.push_back(
        (staging / absl::StrCat("segment-", segment, "-", p, ".sst")).string());
  }
  rocksdb::Options options(rocksdb::DBOptions(), cf_options_->chunks);
  if (options_.env) options.env = options_.env;
  options.bytes_per_sync = options_.writeback_bytes;
  ChunkCoding coding;
  coding.patch_max_fraction = options_.patch_max_fraction;
  coding.patch_page_bytes = options_.patch_page_bytes;
  coding.delta_chunks = options_.delta_chunks;
  coding.compress_chunks = options_.compress_chunks;
  // Patch and Delta bases are read from their files where they can be
  // (their hash is checked before a chunk is coded against them): RocksDB
  // would also verify their block checksums, in software.
  std::optional<ChunkFiles::Batch> bases;
  StoredValueReader read_base;
  if (chunk_files_ != nullptr) {
    bases.emplace(chunk_files_.get());
    read_base = ChunkFiles::ValueReader(&*bases);
  }
  std::vector<rocksdb::Status> statuses(parts.size());
  std::vector<int64_t> changed(parts.size(), -1);
  SavePool()->ParallelFor(parts.size(), [&](size_t p) {
    statuses[p] =
        WritePart(db_.get(), chunks_cf_, options, coding,
                  bases ? &read_base : nullptr, files->segment_files[p],
                  parts[p].first, parts[p].second, plan, &changed[p]);
  });
  for (size_t p = 0; p < parts.size(); ++p) {
    if (changed[p] < 0) continue;
    // Such a chunk would poison chunk_index for every later save.
    const ChunkJob& j = plan->jobs[changed[p]];
    return absl::AbortedError(absl::StrCat(
        "step ", req.step, " item '", plan->items[j.item].name, "' leaf '",
        plan->PathOf(j.item, j.node).DisplayString(),
        "': its bytes changed while the save was writing them (a borrowed "
        "array must stay unchanged until its save finishes); nothing was "
        "saved"));
  }
  for (const rocksdb::Status& s : statuses) {
    if (!s.ok()) {
      return FromRocksWrite(
          s, absl::StrCat("cannot write chunks of step ", req.step));
    }
  }
  Hook("after_segment_file");
  return absl::OkStatus();
}

absl::Status Store::WriteStepFile(const StepSaveRequest& req,
                                  const std::string& dir, uint64_t segment,
                                  const SavePlan& plan, StagedFiles* files) {
  files->step_file =
      (fs::path(dir) / absl::StrCat("step-", req.step, "-", segment, ".sst"))
          .string();
  rocksdb::Options options(rocksdb::DBOptions(), cf_options_->step);
  if (options_.env) options.env = options_.env;
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, nullptr,
                                /*invalidate_page_cache=*/false);
  rocksdb::Status s = writer.Open(files->step_file);
  if (s.ok()) {
    ChunkList list;
    list.hashes = DistinctHashes(plan);
    list.step = req.step;
    list.generation = segment;
    s = writer.Put(kChunkListKey, EncodeChunkList(list));
  }
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<ChunkLocation> chunks;
  for (uint16_t item = 0; item < plan.items.size() && s.ok(); ++item) {
    const ItemPlan& ip = plan.items[item];
    for (uint32_t i = 0; i < ip.nodes.size() && s.ok(); ++i) {
      const FlatNode& n = ip.nodes[i];
      ArrayPlacement placement;
      const ArrayPlan& a = ip.arrays[i];
      if (a.is_grid) {
        placement.stored_dtype = a.stored_dtype;
        placement.nbytes = a.nbytes;
        placement.chunk_bytes = static_cast<uint32_t>(
            ShapeNumElements(a.cell_shape) * DTypeSize(a.stored_dtype));
        chunks = NodeChunks(plan, item, i);
        placement.chunks = &chunks;
        placement.chunk_shape = &a.cell_shape;
        if (a.partial) placement.cells = &a.cells;
        placement.sharding = &a.sharding;
      } else if (n.tree->kind() == Tree::Kind::kArray) {
        placement.stored_dtype = a.stored_dtype;
        placement.nbytes = a.nbytes;
        placement.chunk_bytes = options_.chunk_bytes;
        if (a.is_inline) {
          placement.inline_bytes = a.inline_cast.empty()
                                       ? n.tree->array().data()
                                       : a.inline_cast.data();
        } else {
          chunks = NodeChunks(plan, item, i);
          placement.chunks = &chunks;
        }
      }
      s = writer.Put(NodeKey(item, i),
                     EncodeNodeRecord(item, i, n, &placement, &fbb));
    }
  }
  if (s.ok()) s = writer.Finish();
  if (!s.ok()) {
    return FromRocksWrite(
        s, absl::StrCat("cannot write the records of step ", req.step));
  }
  return absl::OkStatus();
}

}  // namespace ckptdb::internal
