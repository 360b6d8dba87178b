// Writes the generated seed inputs of the fuzz targets into
// <out>/<target>/ (tests/fuzz/corpus/ in the repository): records made by
// the encoders of schema/ in each target's input layout, .npy and .npz
// files, a safetensors file. Real files (safetensors, Flax msgpack, Orbax)
// are copied there separately (docs/design.md, "Fuzzing").
//
//   fuzz_make_seeds tests/fuzz/corpus
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ckptdb/array.h"
#include "ckptdb/tree.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "schema/chunk_codec.h"
#include "schema/commit_codec.h"
#include "schema/flat_tree.h"
#include "schema/meta_codec.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace ckptdb::internal {
namespace {

namespace fs = std::filesystem;

fs::path g_out;

void Write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string Body(const std::string& sealed) {
  return sealed.substr(0, sealed.size() - kTrailerSize);
}

// records_fuzz: the selector byte, then the value (raw) or the body.
void Record(int which, const std::string& name, const std::string& sealed) {
  Write("records", name, std::string(1, static_cast<char>(which)) + sealed);
  Write("records", name + "-body",
        std::string(1, static_cast<char>(which | 0x80)) + Body(sealed));
}

Tree SampleTree() {
  return Tree::Dict(
      {{"a", Tree::Int(-7)},
       {"b", Tree::List({Tree::Bool(true), Tree::Float(2.5), Tree::String("s"),
                         Tree::None()})},
       {int64_t{3}, Tree::Tuple({Tree::FromArray(Array::FromValues<float>(
                        DType::kFloat32, {2}, {1.0f, 2.0f}))})},
       {"big", Tree::FromArray(Array::FromValues<int32_t>(DType::kInt32, {5},
                                                          {1, 2, 3, 4, 5}))},
       {"empty", Tree::Dict()}});
}

ChunkEntry AnEntry(uint64_t hi, uint64_t lo) {
  ChunkEntry e;
  e.location.hash = Hash128{hi, lo};
  e.location.segment = 3;
  e.location.ordinal = 1;
  e.location.size = e.location.stored_size = 4096;
  e.refcount = 2;
  return e;
}

void SchemaSeeds() {
  // Node records, sealed (piece "\0" + body) and as stored.
  const Tree tree = SampleTree();
  std::vector<FlatNode> flat;
  FlattenTree(tree, &flat);
  std::vector<ChunkLocation> chunks(3);
  for (uint32_t i = 0; i < 3; ++i) {
    chunks[i].hash = Hash128{i, i + 1};
    chunks[i].segment = 9;
    chunks[i].ordinal = i;
    chunks[i].size = chunks[i].stored_size = i < 2 ? 8 : 4;
  }
  std::vector<std::string> bodies, values;
  for (uint32_t i = 0; i < flat.size(); ++i) {
    flatbuffers::FlatBufferBuilder fbb;
    ArrayPlacement placement;
    const Tree& t = *flat[i].tree;
    if (t.kind() == Tree::Kind::kArray) {
      placement.stored_dtype = t.array().dtype();
      placement.nbytes = t.array().nbytes();
      if (t.array().dtype() == DType::kInt32) {
        placement.chunk_bytes = 8;
        placement.chunks = &chunks;
      } else {
        placement.inline_bytes = t.array().data();
      }
    }
    const std::string v = EncodeNodeRecord(0, i, flat[i], &placement, &fbb);
    values.push_back(v);
    bodies.push_back(std::string(1, '\0') + Body(v));
  }
  for (const char* target : {"node_tree", "restore"}) {
    Write(target, "sample-sealed", fuzz::JoinPieces(bodies));
    Write(target, "sample-stored", fuzz::JoinPieces(values));
    Write(target, "root-only", fuzz::JoinPieces({bodies[0]}));
  }
  Record(0, "envelope-node", values[1]);

  const ChunkEntry entry = AnEntry(0x0123456789abcdefULL, 42);
  Record(1, "chunk-entry", EncodeChunkEntry(entry));
  ChunkEntry patched = entry;
  patched.location.kind = ChunkKind::kPatch;
  patched.base = AnEntry(5, 6).location;
  Record(1, "chunk-entry-patch", EncodeChunkEntry(patched));

  StepRecord step;
  step.info.step = 5;
  step.info.name = "5";
  step.info.init_time_ns = 1000;
  step.info.commit_time_ns = 2000;
  ItemSummary item;
  item.name = "state";
  item.node_count = 7;
  item.leaf_count = 5;
  item.array_count = 3;
  item.logical_bytes = 4096;
  step.info.items = {item};
  step.info.has_metrics = true;
  step.info.metrics =
      Tree::Dict({{"loss", Tree::Float(0.25)},
                  {"hist", Tree::FromArray(Array::FromValues<int64_t>(
                               DType::kInt64, {3}, {1, 2, 3}))}});
  step.info.custom_metadata = Tree::List({Tree::String("note"), Tree::Int(5)});
  step.column_family = "slot-3";
  step.generation = 17;
  Record(2, "step", EncodeStepRecord(step));

  ChunkList list;
  list.hashes = {Hash128{1, 2}, Hash128{3, 4}};
  list.step = 5;
  list.generation = 17;
  Record(3, "chunk-list", EncodeChunkList(list));

  DbHeader header;
  header.magic = kDbMagic;
  header.kind = "manager";
  header.created_time_ns = 123;
  header.created_by = "fuzz";
  Record(4, "header", EncodeHeader(header));

  NamingRecord naming;
  naming.step_prefix = "test";
  naming.step_format_fixed_length = 8;
  naming.max_to_keep = 3;
  naming.keep_period = 10;
  Record(5, "naming", EncodeNaming("", naming));

  SegmentRecord seg;
  seg.segment = 3;
  seg.hashes = {Hash128{1, 2}, Hash128{3, 4}};
  seg.stored_sizes = {4096, 100};
  seg.total_bytes = 4196;
  Record(6, "segment", EncodeSegmentRecord(seg));

  SegmentInfo stat;
  stat.segment = 3;
  stat.chunks = 2;
  stat.total_bytes = 4196;
  stat.live_chunks = 1;
  stat.live_bytes = 100;
  Record(7, "segment-stat", EncodeSegmentStat(stat));

  CommitRequest commit;
  commit.op = CommitRequest::Op::kCommit;
  commit.save_number = 17;
  commit.record = step;
  commit.segment = seg;
  commit.new_entries[entry.location.hash] = entry;
  commit.reused[patched.location.hash] = patched;
  commit.segment_files = {"/db/staging/segment-17-0.sst"};
  commit.step_file = "/db/staging/step-5-17.sst";
  Record(8, "commit-request", EncodeCommitRequest(commit));
  CommitRequest del;
  del.op = CommitRequest::Op::kDelete;
  del.run = "run-a";
  del.steps = {1, 2, 3};
  Record(8, "delete-request", EncodeCommitRequest(del));
  CommitRequest claim;
  claim.op = CommitRequest::Op::kClaim;
  claim.save_number = 4;
  claim.hashes = {Hash128{1, 2}};
  Record(8, "claim-request", EncodeCommitRequest(claim));

  CommitReply reply;
  reply.status = absl::DataLossError("step 5: damaged");
  reply.save_number = 17;
  reply.claim_holder = 3;
  reply.stored[entry.location.hash] = entry;
  Record(9, "commit-reply", EncodeCommitReply(reply));

  // Patch: a 4096-byte chunk differing from its base in two 256-byte pages.
  std::string base(4096, 'a'), bytes = base;
  bytes[10] = 'x';
  bytes[3000] = 'y';
  ChunkLocation base_loc = AnEntry(5, 6).location;
  std::string patch;
  if (!EncodePatch(bytes, base, base_loc, 256, 0.5, ChunkKey(7, 3), &patch)) {
    std::abort();
  }
  const std::string size_le("\x00\x10\x00\x00", 4);  // 4096
  Write("patch", "patch-stored", std::string(1, '\0') + size_le + patch);
  Write("patch", "patch-sealed", std::string(1, '\1') + size_le + Body(patch));
  // Coded: the same chunk as a Delta of its base and as a Compressed chunk.
  for (bool delta : {true, false}) {
    const absl::string_view from = delta ? absl::string_view(base) : "";
    CodedPlanes planes;
    if (!EncodePlanes(bytes, from, PlanPlanes(bytes, from, 4), 1, bytes.size(),
                      &planes)) {
      std::abort();
    }
    const std::string coded = EncodeCoded(
        planes, delta ? std::optional<ChunkLocation>(base_loc) : std::nullopt,
        ChunkKey(7, 3));
    const char sel = delta ? 6 : 2;
    const std::string name = delta ? "delta" : "compressed";
    Write("patch", name + "-stored", std::string(1, sel) + size_le + coded);
    Write("patch", name + "-sealed",
          std::string(1, static_cast<char>(sel | 1)) + size_le + Body(coded));
  }
}

std::string NpyFile(const std::string& descr, const Shape& shape,
                    const std::string& data, bool fortran = false) {
  return npy::EncodeNpyHeader(descr, shape, fortran) + data;
}

std::string Bytes(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i * 7 + 1));
  return s;
}

void NpySeeds() {
  const std::vector<std::pair<std::string, std::string>> npys = {
      {"f4", NpyFile("<f4", {2, 3}, Bytes(24))},
      {"i8-big-endian", NpyFile(">i8", {3}, Bytes(24))},
      {"u1-fortran", NpyFile("|u1", {2, 2}, Bytes(4), true)},
      {"b1-scalar", NpyFile("|b1", {}, std::string(1, '\1'))},
      {"c16", NpyFile("<c16", {1}, Bytes(16))},
      {"f2-empty", NpyFile("<f2", {0, 4}, "")},
      {"str", npy::EncodeStringNpy("hello, \xc3\xa9")},
  };
  for (const auto& [name, bytes] : npys) Write("npy", name + ".npy", bytes);

  const fs::path tmp = fs::temp_directory_path() / "ckptdb-fuzz-seed.npz";
  for (bool zip64 : {false, true}) {
    npy::ZipWriter::Options options;
    options.force_zip64 = zip64;
    auto w = npy::ZipWriter::Create(tmp.string(), options);
    if (!w.ok()) std::abort();
    for (size_t i = 0; i < 3; ++i) {
      const std::string& bytes = npys[i].second;
      const std::string name = i == 0   ? "params/w.npy"
                               : i == 1 ? "params/b.npy"
                                        : "step.npy";
      if (!(*w)->BeginMember(name, bytes.size()).ok() ||
          !(*w)->Write(bytes).ok() || !(*w)->EndMember().ok()) {
        std::abort();
      }
    }
    if (!(*w)->Finish().ok()) std::abort();
    std::ifstream in(tmp, std::ios::binary);
    Write("npz", zip64 ? "zip64.npz" : "plain.npz",
          std::string(std::istreambuf_iterator<char>(in), {}));
  }
  fs::remove(tmp);

  auto st = safetensors::Encode(
      {{"layer.w", Array::FromValues<float>(DType::kFloat32, {2}, {1, 2})},
       {"layer.b", Array::FromValues<int64_t>(DType::kInt64, {1}, {3})}},
      {{"format", "pt"}});
  if (!st.ok()) std::abort();
  Write("safetensors", "generated.safetensors", *st);
}

}  // namespace
}  // namespace ckptdb::internal

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  ckptdb::internal::g_out = argv[1];
  ckptdb::internal::SchemaSeeds();
  ckptdb::internal::NpySeeds();
  return 0;
}
