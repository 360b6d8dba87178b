#include "schema/commit_codec.h"

#include "absl/strings/str_cat.h"
#include "ckptdb/status.h"
#include "commit_generated.h"
#include "schema/records.h"

namespace ckptdb::internal {
namespace {

constexpr char kRequestKey[] = "ckptdb/commit-request";
constexpr char kReplyKey[] = "ckptdb/commit-reply";
constexpr char kWhat[] = "commit request";

using IndexEntries = flatbuffers::Offset<
    flatbuffers::Vector<flatbuffers::Offset<fb::IndexEntry>>>;

IndexEntries EncodeEntries(const std::map<Hash128, ChunkEntry>& entries,
                           flatbuffers::FlatBufferBuilder* fbb) {
  std::vector<flatbuffers::Offset<fb::IndexEntry>> out;
  for (const auto& [hash, entry] : entries) {
    const std::string key = ChunkIndexKey(hash);
    const std::string value = EncodeChunkEntry(entry);
    auto k = fbb->CreateVector(reinterpret_cast<const uint8_t*>(key.data()),
                               key.size());
    auto v = fbb->CreateVector(reinterpret_cast<const uint8_t*>(value.data()),
                               value.size());
    out.push_back(fb::CreateIndexEntry(*fbb, k, v));
  }
  return fbb->CreateVector(out);
}

absl::string_view View(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return absl::string_view();
  return absl::string_view(reinterpret_cast<const char*>(v->data()), v->size());
}

absl::Status DecodeEntries(
    const flatbuffers::Vector<flatbuffers::Offset<fb::IndexEntry>>* in,
    absl::string_view what, std::map<Hash128, ChunkEntry>* out) {
  if (in == nullptr) return absl::OkStatus();
  for (const fb::IndexEntry* e : *in) {
    auto entry = DecodeChunkEntry(View(e->key()), View(e->value()));
    if (!entry.ok()) {
      return absl::DataLossError(
          absl::StrCat(what, ": ", entry.status().message()));
    }
    (*out)[entry->location.hash] = *std::move(entry);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCommitRequest(const CommitRequest& r) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> record, segment;
  IndexEntries new_entries, reused;
  flatbuffers::Offset<
      flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>
      files;
  flatbuffers::Offset<flatbuffers::String> step_file;
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> naming;
  if (r.op == CommitRequest::Op::kSetNaming) {
    const std::string rec = EncodeNaming(r.run, r.naming);
    naming = fbb.CreateVector(reinterpret_cast<const uint8_t*>(rec.data()),
                              rec.size());
  }
  if (r.op == CommitRequest::Op::kCommit) {
    const std::string rec = EncodeStepRecord(r.record);
    record = fbb.CreateVector(reinterpret_cast<const uint8_t*>(rec.data()),
                              rec.size());
    if (r.segment) {
      const std::string seg = EncodeSegmentRecord(*r.segment);
      segment = fbb.CreateVector(reinterpret_cast<const uint8_t*>(seg.data()),
                                 seg.size());
    }
    new_entries = EncodeEntries(r.new_entries, &fbb);
    reused = EncodeEntries(r.reused, &fbb);
    files = fbb.CreateVectorOfStrings(r.segment_files);
    step_file = fbb.CreateString(r.step_file);
  }
  auto steps = fbb.CreateVector(r.steps);
  std::vector<fb::Hash128> hashes;
  for (const Hash128& h : r.hashes) hashes.emplace_back(h.hi, h.lo);
  auto hash_vec = fbb.CreateVectorOfStructs(hashes);
  auto run = fbb.CreateString(r.op == CommitRequest::Op::kCommit ? r.record.run
                                                                 : r.run);
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(static_cast<fb::CommitOp>(r.op));
  b.add_save_number(r.save_number);
  b.add_replace(r.replace);
  if (!record.IsNull()) b.add_step_record(record);
  if (!segment.IsNull()) b.add_segment_record(segment);
  if (!new_entries.IsNull()) b.add_new_entries(new_entries);
  if (!reused.IsNull()) b.add_reused_entries(reused);
  if (!files.IsNull()) b.add_segment_files(files);
  if (!step_file.IsNull()) b.add_step_file(step_file);
  b.add_steps(steps);
  b.add_gc_min_fraction(r.gc_min_fraction);
  b.add_step(r.record.info.step);
  b.add_stamp_commit_time(r.stamp_commit_time);
  b.add_run(run);
  b.add_hashes(hash_vec);
  if (!naming.IsNull()) b.add_naming_record(naming);
  fbb.Finish(b.Finish(), kCommitRequestIdent);
  return SealRecord(kRequestKey, fbb);
}

absl::StatusOr<CommitRequest> DecodeCommitRequest(absl::string_view bytes) {
  RecordBuffer buf;
  auto decoded = DecodeRecord<fb::CommitRequest>(
      kRequestKey, bytes, kCommitRequestIdent, kWhat, &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::CommitRequest* m = *decoded;
  CommitRequest r;
  const uint8_t op = static_cast<uint8_t>(m->op());
  if (op < 1 || op > 7) {
    return absl::DataLossError(absl::StrCat(kWhat, ": unknown op ", op));
  }
  r.op = static_cast<CommitRequest::Op>(op);
  r.save_number = m->save_number();
  r.replace = m->replace();
  r.stamp_commit_time = m->stamp_commit_time();
  r.gc_min_fraction = m->gc_min_fraction();
  if (m->steps()) {
    for (uint32_t i = 0; i < m->steps()->size(); ++i) {
      r.steps.push_back(LoadElement(m->steps(), i));
    }
  }
  r.run = m->run() ? m->run()->str() : "";
  if (!r.run.empty() && !ValidStoredRunName(r.run)) {
    return absl::DataLossError(absl::StrCat(kWhat, ": bad run name"));
  }
  if (m->hashes()) {
    for (uint32_t i = 0; i < m->hashes()->size(); ++i) {
      r.hashes.push_back(FromFb(LoadElement(m->hashes(), i)));
    }
  }
  if (r.op == CommitRequest::Op::kSetNaming) {
    if (m->naming_record() == nullptr) {
      return absl::DataLossError(
          absl::StrCat(kWhat, ": a naming request without its record"));
    }
    auto naming = DecodeNaming(r.run, View(m->naming_record()));
    if (!naming.ok()) {
      return absl::DataLossError(
          absl::StrCat(kWhat, ": ", naming.status().message()));
    }
    r.naming = *std::move(naming);
  }
  if (r.op != CommitRequest::Op::kCommit) return r;
  if (m->step_record() == nullptr || m->step_file() == nullptr) {
    return absl::DataLossError(
        absl::StrCat(kWhat, ": a commit without its step record or file"));
  }
  const absl::string_view rec = View(m->step_record());
  auto record = DecodeStepRecord(StepKey(r.run, m->step()), rec);
  if (!record.ok()) {
    return absl::DataLossError(
        absl::StrCat(kWhat, ": ", record.status().message()));
  }
  r.record = *std::move(record);
  if (m->segment_record() != nullptr) {
    auto seg = DecodeSegmentRecord(SegmentKey(r.save_number),
                                   View(m->segment_record()));
    if (!seg.ok()) {
      return absl::DataLossError(
          absl::StrCat(kWhat, ": ", seg.status().message()));
    }
    r.segment = *std::move(seg);
  }
  if (absl::Status s = DecodeEntries(m->new_entries(), kWhat, &r.new_entries);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = DecodeEntries(m->reused_entries(), kWhat, &r.reused);
      !s.ok()) {
    return s;
  }
  if (m->segment_files()) {
    for (const flatbuffers::String* f : *m->segment_files()) {
      r.segment_files.push_back(f->str());
    }
  }
  r.step_file = m->step_file()->str();
  return r;
}

std::string EncodeCommitReply(const CommitReply& reply) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto msg = fbb.CreateString(std::string(reply.status.message()));
  IndexEntries stored = EncodeEntries(reply.stored, &fbb);
  fb::CommitReplyBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_code(static_cast<int32_t>(reply.status.code()));
  b.add_message(msg);
  b.add_save_number(reply.save_number);
  b.add_commit_time_ns(reply.commit_time_ns);
  b.add_claim_holder(reply.claim_holder);
  b.add_stored_entries(stored);
  fbb.Finish(b.Finish(), kCommitReplyIdent);
  return SealRecord(kReplyKey, fbb);
}

absl::StatusOr<CommitReply> DecodeCommitReply(absl::string_view bytes) {
  RecordBuffer buf;
  auto decoded = DecodeRecord<fb::CommitReply>(
      kReplyKey, bytes, kCommitReplyIdent, "commit reply", &buf);
  if (!decoded.ok()) return decoded.status();
  const fb::CommitReply* m = *decoded;
  if (m->code() < 0 || m->code() > 16) {
    return absl::DataLossError(
        absl::StrCat("commit reply: unknown status code ", m->code()));
  }
  CommitReply r;
  r.status = absl::Status(static_cast<absl::StatusCode>(m->code()),
                          m->message() ? m->message()->str() : "");
  r.save_number = m->save_number();
  r.commit_time_ns = m->commit_time_ns();
  r.claim_holder = m->claim_holder();
  CKPTDB_RETURN_IF_ERROR(
      DecodeEntries(m->stored_entries(), "commit reply", &r.stored));
  return r;
}

}  // namespace ckptdb::internal
