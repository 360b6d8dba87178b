#include "schema/meta_codec.h"

#include "absl/strings/str_cat.h"
#include "schema/records.h"

namespace ckptdb::internal {

std::string EncodeHeader(const DbHeader& header) {
  flatbuffers::FlatBufferBuilder fbb;
  auto magic = fbb.CreateString(header.magic);
  auto kind = fbb.CreateString(header.kind);
  auto by = fbb.CreateString(header.created_by);
  fb::DbHeaderBuilder hb(fbb);
  hb.add_format_version(kFormatVersion);
  hb.add_magic(magic);
  hb.add_kind(kind);
  hb.add_created_time_ns(header.created_time_ns);
  hb.add_created_by(by);
  fbb.Finish(hb.Finish(), kHeaderIdent);
  return SealRecord(kHeaderKey, fbb);
}

absl::StatusOr<DbHeader> DecodeHeader(absl::string_view value,
                                      absl::string_view what) {
  RecordBuffer buf;
  auto decoded =
      DecodeRecord<fb::DbHeader>(kHeaderKey, value, kHeaderIdent, what, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::DbHeader* h = *decoded;
  DbHeader out;
  out.magic = h->magic() ? h->magic()->str() : "";
  out.kind = h->kind() ? h->kind()->str() : "manager";
  out.created_time_ns = h->created_time_ns();
  out.created_by = h->created_by() ? h->created_by()->str() : "";
  return out;
}

std::string EncodeNaming(absl::string_view run, const NamingRecord& naming) {
  flatbuffers::FlatBufferBuilder fbb;
  auto p = fbb.CreateString(naming.step_prefix);
  fb::NamingBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_step_prefix(p);
  b.add_step_format_fixed_length(naming.step_format_fixed_length);
  b.add_max_to_keep(naming.max_to_keep.value_or(-1));
  b.add_keep_period(naming.keep_period.value_or(-1));
  b.add_keep_time_interval_secs(naming.keep_time_interval_secs.value_or(-1));
  b.add_retention_is_custom(naming.retention_is_custom);
  fbb.Finish(b.Finish(), kNamingIdent);
  return SealRecord(NamingKey(run), fbb);
}

absl::StatusOr<NamingRecord> DecodeNaming(absl::string_view run,
                                          absl::string_view value) {
  const std::string what =
      run.empty() ? std::string("naming record of the default run")
                  : absl::StrCat("naming record of run '", run, "'");
  RecordBuffer buf;
  auto decoded =
      DecodeRecord<fb::Naming>(NamingKey(run), value, kNamingIdent, what, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::Naming* r = *decoded;
  auto opt = [](int64_t v) {
    return v < 0 ? std::nullopt : std::optional<int64_t>(v);
  };
  NamingRecord m;
  m.step_prefix = r->step_prefix() ? r->step_prefix()->str() : "";
  m.step_format_fixed_length = r->step_format_fixed_length();
  m.max_to_keep = opt(r->max_to_keep());
  m.keep_period = opt(r->keep_period());
  m.keep_time_interval_secs = opt(r->keep_time_interval_secs());
  m.retention_is_custom = r->retention_is_custom();
  return m;
}

std::string EncodeSegmentRecord(const SegmentRecord& record) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<fb::Hash128> hs;
  hs.reserve(record.hashes.size());
  for (const Hash128& h : record.hashes) hs.push_back(ToFb(h));
  auto hv = fbb.CreateVectorOfStructs(hs);
  auto sv = fbb.CreateVector(record.stored_sizes);
  fb::SegmentRecordBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_segment(record.segment);
  b.add_hashes(hv);
  b.add_stored_sizes(sv);
  b.add_total_bytes(record.total_bytes);
  fbb.Finish(b.Finish(), kSegmentIdent);
  return SealRecord(SegmentKey(record.segment), fbb);
}

absl::StatusOr<SegmentRecord> DecodeSegmentRecord(absl::string_view key,
                                                  absl::string_view value) {
  uint64_t segment = 0;
  if (!ParseSegmentKey(key, kSegmentKeyPrefix, &segment)) {
    return absl::DataLossError(absl::StrCat(
        "segment record with a malformed key of ", key.size(), " bytes"));
  }
  const std::string what = absl::StrCat("segment ", segment);
  RecordBuffer buf;
  auto decoded =
      DecodeRecord<fb::SegmentRecord>(key, value, kSegmentIdent, what, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::SegmentRecord* r = *decoded;
  if (r->segment() != segment) {
    return absl::DataLossError(
        absl::StrCat(what, ": the record names segment ", r->segment()));
  }
  SegmentRecord out;
  out.segment = segment;
  out.total_bytes = r->total_bytes();
  if (r->hashes() != nullptr) {
    for (uint32_t i = 0; i < r->hashes()->size(); ++i) {
      out.hashes.push_back(FromFb(LoadElement(r->hashes(), i)));
    }
  }
  if (r->stored_sizes() != nullptr) {
    out.stored_sizes.assign(r->stored_sizes()->begin(),
                            r->stored_sizes()->end());
  }
  if (out.stored_sizes.size() != out.hashes.size()) {
    return absl::DataLossError(absl::StrCat(what, ": ", out.hashes.size(),
                                            " chunk hashes but ",
                                            out.stored_sizes.size(), " sizes"));
  }
  return out;
}

std::string EncodeSegmentStat(const SegmentInfo& stat) {
  flatbuffers::FlatBufferBuilder fbb(64);
  fb::SegmentStatBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_live_chunks(stat.live_chunks);
  b.add_live_bytes(stat.live_bytes);
  b.add_total_bytes(stat.total_bytes);
  fbb.Finish(b.Finish(), kSegmentStatIdent);
  return SealRecord(SegmentStatKey(stat.segment), fbb);
}

absl::StatusOr<SegmentInfo> DecodeSegmentStat(absl::string_view key,
                                              absl::string_view value) {
  uint64_t segment = 0;
  if (!ParseSegmentKey(key, kSegmentStatKeyPrefix, &segment)) {
    return absl::DataLossError(absl::StrCat(
        "segment statistics with a malformed key of ", key.size(), " bytes"));
  }
  RecordBuffer buf;
  auto decoded = DecodeRecord<fb::SegmentStat>(
      key, value, kSegmentStatIdent,
      absl::StrCat("segment ", segment, " statistics"), &buf);
  if (!decoded.ok()) return decoded.status();
  SegmentInfo si;
  si.segment = segment;
  si.live_chunks = (*decoded)->live_chunks();
  si.live_bytes = (*decoded)->live_bytes();
  si.total_bytes = (*decoded)->total_bytes();
  return si;
}

}  // namespace ckptdb::internal
