#include "schema/step_codec.h"

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "schema/node_codec.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::ItemRecord>>>
BuildItems(flatbuffers::FlatBufferBuilder* fbb,
           const std::vector<ItemSummary>& items) {
  std::vector<flatbuffers::Offset<fb::ItemRecord>> out;
  for (size_t i = 0; i < items.size(); ++i) {
    auto name = fbb->CreateString(items[i].name);
    fb::ItemRecordBuilder ib(*fbb);
    ib.add_name(name);
    ib.add_index(static_cast<uint16_t>(i));
    ib.add_node_count(items[i].node_count);
    ib.add_leaf_count(items[i].leaf_count);
    ib.add_array_count(items[i].array_count);
    ib.add_logical_bytes(items[i].logical_bytes);
    out.push_back(ib.Finish());
  }
  return fbb->CreateVector(out);
}

absl::Status DecodeItems(const fb::StepRecord* r, absl::string_view what,
                         StepRecord* out) {
  if (r->items() == nullptr) return absl::OkStatus();
  // By number; a name cannot mark a number taken (it may be empty).
  std::vector<bool> taken;
  for (const fb::ItemRecord* ir : *r->items()) {
    ItemSummary is;
    is.name = ir->name() ? ir->name()->str() : "";
    is.node_count = ir->node_count();
    is.leaf_count = ir->leaf_count();
    is.array_count = ir->array_count();
    is.logical_bytes = ir->logical_bytes();
    if (ir->index() >= out->item_names.size()) {
      out->item_names.resize(ir->index() + 1);
      taken.resize(ir->index() + 1);
    }
    if (taken[ir->index()]) {
      return absl::DataLossError(
          absl::StrCat(what, ": two items are number ", ir->index()));
    }
    taken[ir->index()] = true;
    out->item_names[ir->index()] = is.name;
    out->info.items.push_back(std::move(is));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeStepRecord(const StepRecord& record) {
  const StepInfo& info = record.info;
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto name = fbb.CreateString(info.name);
  auto cfn = fbb.CreateString(record.column_family);
  auto items = BuildItems(&fbb, info.items);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Node>>>
      metrics, custom;
  if (info.has_metrics) metrics = BuildInlineTree(&fbb, info.metrics);
  if (info.custom_metadata.kind() != Tree::Kind::kNone) {
    custom = BuildInlineTree(&fbb, info.custom_metadata);
  }
  fb::StepRecordBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_step(info.step);
  b.add_name(name);
  b.add_column_family(cfn);
  b.add_init_time_ns(info.init_time_ns);
  b.add_commit_time_ns(info.commit_time_ns);
  b.add_items(items);
  b.add_has_metrics(info.has_metrics);
  if (!metrics.IsNull()) b.add_metrics(metrics);
  if (!custom.IsNull()) b.add_custom_metadata(custom);
  b.add_logical_bytes(info.logical_bytes);
  b.add_new_bytes(info.new_bytes);
  b.add_chunk_count(info.chunk_count);
  b.add_generation(record.generation);
  fbb.Finish(b.Finish(), kStepIdent);
  return SealRecord(StepKey(record.run, info.step), fbb);
}

absl::StatusOr<StepRecord> DecodeStepRecord(absl::string_view key,
                                            absl::string_view value) {
  int64_t step = 0;
  std::string run;
  if (!ParseRunStepKey(key, &run, &step)) {
    return absl::DataLossError(absl::StrCat(
        "step commit record with a malformed key of ", key.size(), " bytes"));
  }
  const std::string what = absl::StrCat("step ", step, " commit record");
  RecordBuffer buf;
  auto decoded =
      DecodeRecord<fb::StepRecord>(key, value, kStepIdent, what, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::StepRecord* r = *decoded;
  if (r->step() != step) {
    return absl::DataLossError(
        absl::StrCat(what, ": the record is of step ", r->step()));
  }
  StepRecord out;
  StepInfo& info = out.info;
  info.step = step;
  info.name = r->name() ? r->name()->str() : absl::StrCat(step);
  info.init_time_ns = r->init_time_ns();
  info.commit_time_ns = r->commit_time_ns();
  info.logical_bytes = r->logical_bytes();
  info.new_bytes = r->new_bytes();
  info.chunk_count = r->chunk_count();
  info.has_metrics = r->has_metrics();
  if (r->has_metrics()) {
    CKPTDB_ASSIGN_OR_RETURN(
        info.metrics, DecodeInlineTree(r->metrics(), absl::StrCat("step ", step,
                                                                  " metrics")));
  }
  CKPTDB_ASSIGN_OR_RETURN(
      info.custom_metadata,
      DecodeInlineTree(r->custom_metadata(),
                       absl::StrCat("step ", step, " custom metadata")));
  CKPTDB_RETURN_IF_ERROR(DecodeItems(r, what, &out));
  out.column_family = r->column_family() ? r->column_family()->str() : "";
  out.generation = r->generation();
  out.run = std::move(run);
  return out;
}

std::string EncodeChunkList(const ChunkList& list) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<fb::Hash128> hs;
  hs.reserve(list.hashes.size());
  for (const Hash128& h : list.hashes) hs.push_back(ToFb(h));
  auto vec = fbb.CreateVectorOfStructs(hs);
  fb::ChunkListBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_hashes(vec);
  b.add_step(list.step);
  b.add_generation(list.generation);
  fbb.Finish(b.Finish(), kChunkListIdent);
  return SealRecord(kChunkListKey, fbb);
}

absl::StatusOr<ChunkList> DecodeChunkList(absl::string_view value,
                                          absl::string_view what) {
  RecordBuffer buf;
  auto decoded = DecodeRecord<fb::ChunkList>(kChunkListKey, value,
                                             kChunkListIdent, what, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::ChunkList* cl = *decoded;
  ChunkList out;
  out.step = cl->step();
  out.generation = cl->generation();
  if (cl->hashes()) {
    out.hashes.reserve(cl->hashes()->size());
    for (uint32_t i = 0; i < cl->hashes()->size(); ++i) {
      out.hashes.push_back(FromFb(LoadElement(cl->hashes(), i)));
    }
  }
  return out;
}

}  // namespace ckptdb::internal
