// Direct chunk reads (db/chunk_files.h): restores read chunks stored whole
// straight from their files, exactly, and read through RocksDB whatever is
// not where the file's layout puts it.
#include "db/chunk_files.h"

#include <cstring>
#include <filesystem>
#include <optional>

#include "db/store.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "schema/records.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::FlipByte;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

// 3 MiB and a bit (four chunks, the last one short), and one small chunk.
Tree StateFor(int64_t seed) {
  return Tree::Dict({{"a", RandomArray(DType::kFloat32, {787, 1000}, seed)},
                     {"b", RandomArray(DType::kInt32, {512}, seed + 100)},
                     {"step", Tree::Int(seed)}});
}

class ChunkFilesTest : public ::testing::Test {
 protected:
  void Open(bool direct_reads = true, bool coded = false) {
    store_.reset();
    StoreOptions o;
    o.create_if_missing = true;
    o.direct_reads = direct_reads;
    // Every chunk stored whole, unless `coded` (the defaults).
    if (!coded) {
      o.patch_max_fraction = 0;
      o.delta_chunks = false;
      o.compress_chunks = false;
    }
    auto s = Store::Open(dir_.Sub("db"), o);
    CKPTDB_ASSERT_OK(s);
    store_ = std::move(*s);
  }
  void Save(int64_t step, const Tree& t) {
    StepSaveRequest req;
    req.step = step;
    req.items.push_back({"default", &t});
    CKPTDB_ASSERT_OK(store_->SaveStep(req));
  }
  // Restores every array of `step` as `dtype` (by default their own) and
  // compares it with `want`; returns the chunks read.
  uint64_t ExpectRestores(int64_t step, const Tree& want,
                          std::optional<DType> dtype = std::nullopt) {
    auto item = store_->ReadItem(step, "default");
    EXPECT_TRUE(item.ok()) << item.status();
    if (!item.ok()) return 0;
    uint64_t chunks = 0;
    for (uint32_t i = 0; i < item->nodes.size(); ++i) {
      const StoredNode& n = item->nodes[i];
      if (n.kind != Tree::Kind::kArray) continue;
      const Array& a = want[n.key].array();
      const DType to = dtype.value_or(a.dtype());
      Array got = Array::Allocate(to, a.shape());
      Array expected = a.AsType(to);
      CKPTDB_EXPECT_OK(
          store_->ReadArrays(*item, {{i, got.mutable_data(), to}}));
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), expected.nbytes()), 0);
      chunks += n.chunks.size();
    }
    return chunks;
  }
  // Saves step 1 (StateFor(seed)) and step 2, which keeps step 1's "b" and
  // changes "a" (StateFor(seed + 1)'s); returns step 2's tree.
  Tree SaveStepsSharingB(int64_t seed) {
    const Tree first = StateFor(seed);
    Save(1, first);
    Tree second = Tree::Dict({{"a", StateFor(seed + 1)["a"]},
                              {"b", first["b"]},
                              {"step", Tree::Int(2)}});
    Save(2, second);
    return second;
  }
  // The chunk table files, by name.
  std::vector<std::string> ChunkTableFiles() {
    rocksdb::ColumnFamilyMetaData meta;
    store_->rocks()->GetColumnFamilyMetaData(store_->chunks_cf(), &meta);
    std::vector<std::string> files;
    for (const auto& level : meta.levels) {
      for (const auto& f : level.files) {
        files.push_back(f.directory + "/" + f.relative_filename);
      }
    }
    return files;
  }

  // The chunks of `step` stored coded (Patch, Delta or Compressed).
  uint64_t CodedChunks(int64_t step) {
    auto item = store_->ReadItem(step, "default");
    EXPECT_TRUE(item.ok()) << item.status();
    uint64_t coded = 0;
    if (!item.ok()) return 0;
    for (const StoredNode& n : item->nodes) {
      for (const ChunkLocation& c : n.chunks) {
        coded += c.kind != ChunkKind::kFull;
      }
    }
    return coded;
  }
  // Overwrites step `step`'s chunk list with bytes that do not decode, with
  // the store closed (RocksDB opened directly); reopens the store.
  void DamageChunkList(int64_t step) {
    auto cf_name = store_->StepColumnFamily(step);
    ASSERT_TRUE(cf_name.ok()) << cf_name.status();
    store_.reset();
    const std::string db = dir_.Sub("db");
    std::vector<std::string> names;
    ASSERT_TRUE(
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const std::string& n : names)
      descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(rocksdb::DBOptions(), db, descs, &handles, &raw)
            .ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == *cf_name) {
        rocksdb::WriteOptions wo;
        wo.sync = true;
        EXPECT_TRUE(
            raw->Put(wo, handles[i], kChunkListKey, "not a chunk list").ok());
      }
      raw->DestroyColumnFamilyHandle(handles[i]);
    }
    delete raw;
    Open(/*direct_reads=*/true, /*coded=*/true);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ChunkFilesTest, RestoresReadEveryChunkStoredWholeFromItsFile) {
  Open();
  const Tree t = StateFor(1);
  Save(1, t);
  const uint64_t chunks = ExpectRestores(1, t);
  EXPECT_EQ(chunks, 5u);
  EXPECT_EQ(store_->direct_read_stats().direct, chunks);
  // Cast on the way (through a staging buffer, not in place).
  ExpectRestores(1, t, DType::kFloat64);
  EXPECT_EQ(store_->direct_read_stats().direct, 2 * chunks);
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
  // And from another open (the file table and layouts are built anew).
  Open();
  ExpectRestores(1, t);
  EXPECT_EQ(store_->direct_read_stats().direct, chunks);
}

// After a reopen RocksDB's file metadata carries entry counts for only
// some files (about 20); the newest step is still read directly.
TEST_F(ChunkFilesTest, AfterAReopenEveryFileIsReadDirectly) {
  Open();
  constexpr int64_t kSteps = 25;
  for (int64_t step = 1; step <= kSteps; ++step) Save(step, StateFor(step));
  ASSERT_GE(ChunkTableFiles().size(), static_cast<size_t>(kSteps));
  Open();
  uint64_t chunks = 0;
  for (int64_t step : {kSteps, int64_t{1}}) {
    chunks += ExpectRestores(step, StateFor(step));
  }
  EXPECT_EQ(store_->direct_read_stats().direct, chunks);
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
}

TEST_F(ChunkFilesTest, DirectReadsOffReadsThroughRocksDb) {
  Open(/*direct_reads=*/false);
  const Tree t = StateFor(2);
  Save(1, t);
  EXPECT_EQ(ExpectRestores(1, t), 5u);
  EXPECT_EQ(store_->direct_read_stats().direct, 0u);
}

// Garbage collection rewrites a segment whose chunks are partly dead: what
// it keeps is still read exactly, directly where the layout holds.
TEST_F(ChunkFilesTest, ReadsStayExactAfterGcRewritesAPartlyDeadSegment) {
  Open();
  const Tree second = SaveStepsSharingB(3);
  CKPTDB_ASSERT_OK(store_->DeleteSteps({1}));
  auto gc = store_->CollectGarbage({});
  CKPTDB_ASSERT_OK(gc);
  EXPECT_EQ(gc->segments_compacted, 1u);
  EXPECT_EQ(ExpectRestores(2, second), 5u);
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
  Open();
  ExpectRestores(2, second);
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
  EXPECT_GT(store_->direct_read_stats().direct, 0u);
}

// Coded chunks (here Deltas of the previous step's chunks) are read from
// their files too, and so are their bases; the bytes come back exactly.
// StateFor(seed) with every element of "a" moved a little (a training
// step): step 2's chunks of "a" are coded against step 1's.
Tree DriftedA(const Tree& first) {
  Array drift = first["a"].array().AsType(DType::kFloat32);
  float* d = static_cast<float*>(drift.mutable_data());
  for (int64_t i = 0; i < drift.num_elements(); ++i) d[i] += 1e-3f * (i % 5);
  return Tree::Dict({{"a", Tree::FromArray(std::move(drift))},
                     {"b", first["b"]},
                     {"step", Tree::Int(2)}});
}

TEST_F(ChunkFilesTest, CodedChunksAndTheirBasesAreReadFromTheirFiles) {
  Open(/*direct_reads=*/true, /*coded=*/true);
  const Tree first = StateFor(10);
  Save(1, first);
  EXPECT_EQ(store_->direct_read_stats().direct, 0u);
  const Tree second = DriftedA(first);
  Save(2, second);
  // The save read the base of each of the 4 changed chunks of "a" (step
  // 1's, stored whole) from its file.
  EXPECT_EQ(store_->direct_read_stats().direct, 4u);
  Open(/*direct_reads=*/true, /*coded=*/true);
  const uint64_t coded = CodedChunks(2);
  ASSERT_GT(coded, 0u) << "step 2 stored no coded chunk";
  EXPECT_EQ(ExpectRestores(2, second), 5u);
  // Every chunk of step 2 and every coded chunk's base, from the files.
  EXPECT_EQ(store_->direct_read_stats().direct, 5u + coded);
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
}

// Deleting a step whose chunk list is lost recounts every reference from
// the steps that stay: the chunks only it used are freed (GC reclaims
// them, verify is clean), and a base a remaining Delta chunk needs stays.
TEST_F(ChunkFilesTest, DeletingAStepWhoseChunkListIsLostRecountsReferences) {
  Open(/*direct_reads=*/true, /*coded=*/true);
  auto expect_clean = [&] {
    auto gc = store_->CollectGarbage({});
    CKPTDB_EXPECT_OK(gc.status());
    auto verify = store_->Verify({});
    CKPTDB_ASSERT_OK(verify);
    for (const VerifyProblem& p : verify->problems) ADD_FAILURE() << p.message;
  };
  // The bases' step goes, the coded step stays: the bases stay too.
  const Tree first = StateFor(12);
  Save(1, first);
  const Tree second = DriftedA(first);  // coded against step 1's chunks
  Save(2, second);
  Save(3, StateFor(40));  // chunks of its own
  auto only_3 = store_->StepChunkHashes(3);
  CKPTDB_ASSERT_OK(only_3);
  const Hash128 h3 = only_3->front();
  CKPTDB_ASSERT_OK(store_->LookupChunk(h3));
  DamageChunkList(1);
  DamageChunkList(3);
  CKPTDB_ASSERT_OK(store_->DeleteSteps({1, 3}));
  expect_clean();
  EXPECT_EQ(ExpectRestores(2, second), 5u);
  // Step 3's chunks (no other step's) are gone from the index.
  EXPECT_EQ(store_->LookupChunk(h3).status().code(),
            absl::StatusCode::kNotFound);
  // The coded step goes, its bases' step stays: each dying coded chunk
  // releases its base once, and the base keeps its step's reference.
  const Tree fourth = StateFor(50);
  Save(4, fourth);
  Save(5, DriftedA(fourth));  // coded against step 4's chunks
  const uint64_t coded = CodedChunks(5);
  ASSERT_GT(coded, 0u) << "step 5 stored no coded chunk";
  DamageChunkList(5);
  CKPTDB_ASSERT_OK(store_->DeleteSteps({5}));
  expect_clean();
  EXPECT_EQ(ExpectRestores(4, fourth), 5u);
  EXPECT_EQ(ExpectRestores(2, second), 5u);
}

// A save codes a chunk only against a base whose hash checks: a base
// damaged in its file is not used, and the chunk is stored whole.
TEST_F(ChunkFilesTest, ASaveDoesNotCodeAgainstADamagedBase) {
  Open(/*direct_reads=*/true, /*coded=*/true);
  const Tree first = StateFor(11);
  Save(1, first);
  const std::vector<std::string> files = ChunkTableFiles();
  ASSERT_EQ(files.size(), 1u);
  FlipByte(files[0], 1000);  // in the first chunk of "a"
  const Tree second = DriftedA(first);
  Save(2, second);
  EXPECT_EQ(store_->direct_read_stats().direct, 4u);
  auto item = store_->ReadItem(2, "default");
  CKPTDB_ASSERT_OK(item);
  const StoredNode& a = item->nodes[1];
  ASSERT_EQ(a.key, "a");
  ASSERT_EQ(a.chunks.size(), 4u);
  EXPECT_EQ(a.chunks[0].kind, ChunkKind::kFull);
  EXPECT_NE(a.chunks[1].kind, ChunkKind::kFull);
  EXPECT_EQ(ExpectRestores(2, second), 5u);
}

// A damaged dead chunk in a partly dead segment: garbage collection leaves
// that segment as it is and names it (a compaction meeting the damaged
// block would stop the database's writes), Verify names it too (no step
// reads that chunk), and everything else works.
TEST_F(ChunkFilesTest, GcLeavesADamagedSegmentAndBothItAndVerifyNameIt) {
  Open();
  const Tree second = SaveStepsSharingB(7);
  const std::vector<std::string> files = ChunkTableFiles();
  ASSERT_EQ(files.size(), 2u);  // segment 1's, then segment 2's
  CKPTDB_ASSERT_OK(store_->DeleteSteps({1}));
  store_.reset();
  FlipByte(files[0], 1000);  // in step 1's "a": dead
  Open();
  const std::string file = files[0].substr(files[0].rfind('/') + 1);
  // No step reads the damaged chunk; Verify checks the tables of segments
  // holding garbage.
  auto verify = store_->Verify({});
  CKPTDB_ASSERT_OK(verify);
  ASSERT_EQ(verify->problems.size(), 1u);
  EXPECT_EQ(verify->problems[0].step, -1);
  EXPECT_THAT(verify->problems[0].message,
              AllOf(HasSubstr("segment 1 holds "), HasSubstr("no step uses"),
                    HasSubstr(file), HasSubstr("block checksum mismatch")));
  for (int round = 0; round < 2; ++round) {
    auto gc = store_->CollectGarbage({});
    CKPTDB_ASSERT_OK(gc);
    EXPECT_EQ(gc->segments_compacted, 0u);
    ASSERT_EQ(gc->damaged_segments.size(), 1u);
    EXPECT_THAT(gc->damaged_segments[0],
                AllOf(HasSubstr("segment 1 is damaged"), HasSubstr(file),
                      HasSubstr("block checksum mismatch")));
  }
  EXPECT_EQ(ExpectRestores(2, second), 5u);
  Save(3, StateFor(9));  // still writing
  ExpectRestores(3, StateFor(9));
}

// A read-only view lists the chunk tables of when it opened; a writer's GC
// may compact them away meanwhile. Verify of the view then skips the files
// that are gone (the view still reads its steps from them) rather than
// reporting them as damaged.
TEST_F(ChunkFilesTest, VerifyOfAViewSkipsTablesAWriterCompactedAway) {
  Open();
  const Tree second = SaveStepsSharingB(11);
  CKPTDB_ASSERT_OK(store_->DeleteSteps({1}));
  StoreOptions ro;
  ro.mode = StoreOptions::Mode::kReadOnly;
  auto view = Store::Open(dir_.Sub("db"), ro);
  CKPTDB_ASSERT_OK(view);
  const std::vector<std::string> before = ChunkTableFiles();
  auto gc = store_->CollectGarbage({});
  CKPTDB_ASSERT_OK(gc);
  ASSERT_EQ(gc->segments_compacted, 1u);
  ASSERT_FALSE(std::filesystem::exists(before[0]));  // segment 1's, replaced
  auto verify = (*view)->Verify({});
  CKPTDB_ASSERT_OK(verify);
  EXPECT_TRUE(verify->problems.empty()) << verify->problems[0].message;
  EXPECT_EQ(ExpectRestores(2, second), 5u);
}

// A chunk whose bytes are damaged in its file: DataLoss naming it, as
// through RocksDB.
TEST_F(ChunkFilesTest, DamagedChunkIsDataLossNamingIt) {
  Open();
  const Tree t = StateFor(5);
  Save(1, t);
  const std::vector<std::string> files = ChunkTableFiles();
  ASSERT_EQ(files.size(), 1u);
  store_.reset();
  FlipByte(files[0], 1000);  // in the first chunk's bytes
  Open();
  auto item = store_->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  Array a = Array::Allocate(DType::kFloat32, {787, 1000});
  // Read from the file, found damaged there: RocksDB is not asked to parse
  // the block.
  EXPECT_THAT(
      store_->ReadArrays(*item, {{1, a.mutable_data(), DType::kFloat32}}),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("chunk 1 of 4 (segment "),
                     HasSubstr("content hash mismatch (read from " + files[0] +
                               " at offset 0)"))));
  EXPECT_EQ(store_->direct_read_stats().misplaced, 0u);
  // Through RocksDB: the same chunk named, found by the block checksum
  // before RocksDB parses the block.
  Open(/*direct_reads=*/false);
  item = store_->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  EXPECT_THAT(
      store_->ReadArrays(*item, {{1, a.mutable_data(), DType::kFloat32}}),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("chunk 1 of 4 (segment "),
                     HasSubstr("is corrupt: block checksum mismatch"),
                     HasSubstr("in " + files[0] + " offset 0"))));
}

// A damaged segment record: the layout is unknown, the chunks are read
// through RocksDB, exactly.
TEST_F(ChunkFilesTest, DamagedSegmentRecordReadsThroughRocksDb) {
  Open();
  const Tree t = StateFor(6);
  Save(1, t);
  auto item = store_->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  const uint64_t segment = item->nodes[1].chunks[0].segment;
  ASSERT_TRUE(store_->rocks()
                  ->Put(rocksdb::WriteOptions(), store_->meta_cf(),
                        SegmentKey(segment), std::string(64, '\x21'))
                  .ok());
  Open();
  EXPECT_EQ(ExpectRestores(1, t), 5u);
  EXPECT_EQ(store_->direct_read_stats().direct, 0u);
}

// A file whose entries are not where the layout says (here: asked for
// for another chunk's key) is read through RocksDB from then on.
TEST_F(ChunkFilesTest, AChunkNotWhereTheLayoutSaysStopsDirectReadsOfItsFile) {
  Open();
  const Tree t = StateFor(7);
  Save(1, t);
  auto item = store_->ReadItem(1, "default");
  CKPTDB_ASSERT_OK(item);
  const ChunkLocation c = item->nodes[1].chunks[1];
  ChunkFiles files(store_->rocks(), store_->chunks_cf(), store_->meta_cf());
  ChunkFiles::Batch batch(&files);
  const ChunkFiles::Place place = batch.Locate(c);
  ASSERT_GE(place.file, 0);
  std::string bytes(c.stored_size, '\0');
  ASSERT_TRUE(batch.Read(place, c, bytes.data()));
  EXPECT_EQ(HashBytes(bytes.data(), bytes.size()), c.hash);
  ChunkLocation wrong = c;
  wrong.ordinal += 1;  // another chunk's key: not this entry
  EXPECT_FALSE(batch.Read(place, wrong, bytes.data()));
  EXPECT_EQ(files.misplaced_reads(), 1u);
  EXPECT_EQ(batch.Locate(item->nodes[1].chunks[2]).file, -1);
  // Chunks not stored whole are never read directly.
  ChunkLocation coded = c;
  coded.kind = ChunkKind::kCompressed;
  ChunkFiles::Batch other(&files);
  EXPECT_EQ(other.Locate(coded).file, -1);
}

}  // namespace
}  // namespace ckptdb::internal
