// Hand-built fb::Node tables for the codec tests: every field settable,
// including values no encoder writes (a bad kind, a short chunk, a dtype
// out of range), so that a test can seal a malformed record with a correct
// checksum and reach a decoder's error branches one by one.
#ifndef CKPTDB_TESTS_SCHEMA_NODE_SPEC_H_
#define CKPTDB_TESTS_SCHEMA_NODE_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "schema/records.h"

namespace ckptdb::internal::testing {

struct ArraySpec {
  uint8_t dtype = 11;  // float32
  uint8_t source_dtype = 11;
  std::optional<std::vector<int64_t>> shape;
  uint64_t nbytes = 0;
  uint32_t chunk_bytes = 0;
  std::optional<std::string> inline_data;
  std::optional<std::vector<fb::ChunkRef>> chunks;
};

struct NodeSpec {
  uint32_t index = 0;
  uint32_t parent = 0;
  uint8_t key_kind = fb::KeyKind_Root;
  std::optional<std::string> key_str;
  int64_t key_int = 0;
  uint8_t kind = fb::NodeKind_None;
  uint32_t child_count = 0;
  int64_t scalar = 0;
  std::optional<std::string> str_value;
  std::optional<ArraySpec> array;
};

// A float32 array of `n` elements held inline.
inline ArraySpec InlineFloats(int64_t n) {
  ArraySpec a;
  a.shape = std::vector<int64_t>{n};
  a.nbytes = static_cast<uint64_t>(n) * 4;
  a.inline_data = std::string(a.nbytes, '\x01');
  return a;
}

// A Full chunk reference of `size` bytes.
inline fb::ChunkRef Ref(uint32_t size, uint8_t kind = fb::ChunkKind_Full) {
  return fb::ChunkRef(fb::Hash128(1, size), /*segment=*/3, /*ordinal=*/4, size,
                      size, static_cast<fb::ChunkKind>(kind));
}

// A float32 array of `n` elements in chunks of `chunk_bytes`, the last one
// short.
inline ArraySpec ChunkedFloats(int64_t n, uint32_t chunk_bytes) {
  ArraySpec a;
  a.shape = std::vector<int64_t>{n};
  a.nbytes = static_cast<uint64_t>(n) * 4;
  a.chunk_bytes = chunk_bytes;
  a.chunks.emplace();
  for (uint64_t off = 0; off < a.nbytes; off += chunk_bytes) {
    a.chunks->push_back(Ref(static_cast<uint32_t>(
        std::min<uint64_t>(chunk_bytes, a.nbytes - off))));
  }
  return a;
}

inline flatbuffers::Offset<fb::Node> BuildNodeSpec(
    flatbuffers::FlatBufferBuilder* fbb, const NodeSpec& s) {
  flatbuffers::Offset<fb::ArrayInfo> array;
  if (s.array) {
    const ArraySpec& a = *s.array;
    flatbuffers::Offset<flatbuffers::Vector<int64_t>> shape;
    if (a.shape) shape = fbb->CreateVector(*a.shape);
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> inline_data;
    if (a.inline_data) {
      inline_data = fbb->CreateVector(
          reinterpret_cast<const uint8_t*>(a.inline_data->data()),
          a.inline_data->size());
    }
    flatbuffers::Offset<flatbuffers::Vector<const fb::ChunkRef*>> chunks;
    if (a.chunks) chunks = fbb->CreateVectorOfStructs(*a.chunks);
    fb::ArrayInfoBuilder ab(*fbb);
    ab.add_dtype(a.dtype);
    ab.add_source_dtype(a.source_dtype);
    if (a.shape) ab.add_shape(shape);
    ab.add_nbytes(a.nbytes);
    ab.add_chunk_bytes(a.chunk_bytes);
    if (a.inline_data) ab.add_inline_data(inline_data);
    if (a.chunks) ab.add_chunks(chunks);
    array = ab.Finish();
  }
  flatbuffers::Offset<flatbuffers::String> key_str, str_value;
  if (s.key_str) key_str = fbb->CreateString(*s.key_str);
  if (s.str_value) str_value = fbb->CreateString(*s.str_value);
  fb::NodeBuilder nb(*fbb);
  nb.add_index(s.index);
  nb.add_parent(s.parent);
  nb.add_key_kind(static_cast<fb::KeyKind>(s.key_kind));
  if (s.key_str) nb.add_key_str(key_str);
  nb.add_key_int(s.key_int);
  nb.add_kind(static_cast<fb::NodeKind>(s.kind));
  nb.add_child_count(s.child_count);
  nb.add_scalar(s.scalar);
  if (s.str_value) nb.add_str_value(str_value);
  if (s.array) nb.add_array(array);
  return nb.Finish();
}

// The sealed node record of `spec` under NodeKey(item, index); no Node
// table at all when `spec` is empty.
inline std::string SealNodeSpec(uint16_t item, uint32_t index,
                                const std::optional<NodeSpec>& spec,
                                uint16_t version = kFormatVersion) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<fb::Node> node;
  if (spec) node = BuildNodeSpec(&fbb, *spec);
  fb::NodeRecordBuilder rb(fbb);
  rb.add_format_version(version);
  if (spec) rb.add_node(node);
  fbb.Finish(rb.Finish(), kNodeIdent);
  return SealRecord(NodeKey(item, index), fbb);
}

// A finished buffer holding `specs` as the metrics of a StepRecord of step
// `step` (`has_metrics` set), with `custom` as its custom metadata.
inline std::string StepRecordBytes(int64_t step,
                                   const std::vector<NodeSpec>& metrics,
                                   const std::vector<NodeSpec>& custom = {}) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Node>> m, c;
  for (const NodeSpec& s : metrics) m.push_back(BuildNodeSpec(&fbb, s));
  for (const NodeSpec& s : custom) c.push_back(BuildNodeSpec(&fbb, s));
  auto mv = fbb.CreateVector(m);
  auto cv = fbb.CreateVector(c);
  fb::StepRecordBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_step(step);
  b.add_has_metrics(true);
  b.add_metrics(mv);
  b.add_custom_metadata(cv);
  fbb.Finish(b.Finish(), kStepIdent);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                     fbb.GetSize());
}

}  // namespace ckptdb::internal::testing

#endif  // CKPTDB_TESTS_SCHEMA_NODE_SPEC_H_
