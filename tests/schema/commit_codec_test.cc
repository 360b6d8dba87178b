// Tests of schema/commit_codec.h. Malformed messages carry a correct
// checksum (sealed again), so each test reaches the branch it names.
//
// Errors reached:
//   DecodeCommitRequest: envelope errors prefixed "commit request"
//     (checksum); "unknown op"; "a commit without its step record or
//     file"; "a naming request without its record"; a nested naming
//     record, step record, segment record or index entry that does not
//     decode (DataLoss naming it).
//   DecodeCommitReply: envelope errors prefixed "commit reply"; "unknown
//     status code".
#include "schema/commit_codec.h"

#include <string>

#include "commit_generated.h"
#include "schema/records.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

CommitRequest ACommit() {
  CommitRequest r;
  r.op = CommitRequest::Op::kCommit;
  r.save_number = 42;
  r.replace = true;
  r.stamp_commit_time = true;
  r.record.info.step = 7;
  r.record.info.name = "7";
  r.record.generation = 42;
  SegmentRecord seg;
  seg.segment = 42;
  ChunkEntry fresh;
  fresh.location.hash = Hash128{1, 2};
  fresh.location.segment = 42;
  fresh.location.size = fresh.location.stored_size = 4096;
  seg.hashes.push_back(fresh.location.hash);
  seg.stored_sizes.push_back(4096);
  seg.total_bytes = 4096;
  r.segment = seg;
  r.new_entries[fresh.location.hash] = fresh;
  ChunkEntry old;
  old.location.hash = Hash128{3, 4};
  old.location.segment = 5;
  old.location.ordinal = 9;
  old.location.size = old.location.stored_size = 100;
  old.refcount = 3;
  r.reused[old.location.hash] = old;
  r.segment_files = {"/db/ckptdb-staging/1-a/segment-42-0.sst"};
  r.step_file = "/db/ckptdb-staging/1-a/step-7-42.sst";
  return r;
}

TEST(CommitCodecTest, CommitRequestRoundTrips) {
  const CommitRequest r = ACommit();
  auto back = DecodeCommitRequest(EncodeCommitRequest(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->op, CommitRequest::Op::kCommit);
  EXPECT_EQ(back->save_number, 42u);
  EXPECT_TRUE(back->replace);
  EXPECT_TRUE(back->stamp_commit_time);
  EXPECT_EQ(back->record.info.step, 7);
  EXPECT_EQ(back->record.generation, 42u);
  ASSERT_TRUE(back->segment.has_value());
  EXPECT_EQ(back->segment->hashes, r.segment->hashes);
  ASSERT_EQ(back->new_entries.size(), 1u);
  EXPECT_TRUE(back->new_entries.begin()->second.location ==
              r.new_entries.begin()->second.location);
  ASSERT_EQ(back->reused.size(), 1u);
  EXPECT_TRUE(back->reused.begin()->second.location ==
              r.reused.begin()->second.location);
  EXPECT_EQ(back->reused.begin()->second.refcount, 3u);
  EXPECT_EQ(back->segment_files, r.segment_files);
  EXPECT_EQ(back->step_file, r.step_file);
}

TEST(CommitCodecTest, OtherOpsRoundTrip) {
  CommitRequest del;
  del.op = CommitRequest::Op::kDelete;
  del.steps = {3, 5};
  auto back = DecodeCommitRequest(EncodeCommitRequest(del));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->op, CommitRequest::Op::kDelete);
  EXPECT_EQ(back->steps, (std::vector<int64_t>{3, 5}));
  CommitRequest gc;
  gc.op = CommitRequest::Op::kCollectGarbage;
  gc.gc_min_fraction = 0.25;
  back = DecodeCommitRequest(EncodeCommitRequest(gc));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->gc_min_fraction, 0.25);
  CommitRequest naming;
  naming.op = CommitRequest::Op::kSetNaming;
  naming.run = "lr-3e-4";
  naming.naming.max_to_keep = 3;
  naming.naming.step_prefix = "ckpt";
  back = DecodeCommitRequest(EncodeCommitRequest(naming));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->op, CommitRequest::Op::kSetNaming);
  EXPECT_EQ(back->run, "lr-3e-4");
  EXPECT_EQ(back->naming, naming.naming);
}

TEST(CommitCodecTest, DamagedRequestIsDataLoss) {
  std::string bytes = EncodeCommitRequest(ACommit());
  bytes[bytes.size() / 2] ^= 1;
  EXPECT_THAT(
      DecodeCommitRequest(bytes).status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("commit request")));
}

// A request built by hand, sealed correctly.
std::string Seal(flatbuffers::FlatBufferBuilder& fbb,
                 flatbuffers::Offset<fb::CommitRequest> root) {
  fbb.Finish(root, kCommitRequestIdent);
  return SealRecord("ckptdb/commit-request", fbb);
}

TEST(CommitCodecTest, NamingRequestWithoutItsRecordIsDataLoss) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(fb::CommitOp_SetNaming);
  EXPECT_THAT(DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("a naming request without its record")));
}

TEST(CommitCodecTest, NamingRecordOfAnotherRunIsDataLoss) {
  // Run a's record, the message claiming run b.
  const std::string rec = EncodeNaming("a", NamingRecord());
  flatbuffers::FlatBufferBuilder fbb;
  auto v = fbb.CreateVector(reinterpret_cast<const uint8_t*>(rec.data()),
                            rec.size());
  auto run = fbb.CreateString("b");
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(fb::CommitOp_SetNaming);
  b.add_run(run);
  b.add_naming_record(v);
  EXPECT_THAT(DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("commit request: naming record of run 'b'")));
}

TEST(CommitCodecTest, UnknownOpIsDataLoss) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(static_cast<fb::CommitOp>(9));
  EXPECT_THAT(DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unknown op")));
}

TEST(CommitCodecTest, CommitWithoutItsRecordIsDataLoss) {
  flatbuffers::FlatBufferBuilder fbb;
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(fb::CommitOp_Commit);
  EXPECT_THAT(DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("without its step record")));
}

TEST(CommitCodecTest, NestedRecordUnderTheWrongKeyIsDataLoss) {
  // The step record sealed for step 7, the message claiming step 8.
  const CommitRequest r = ACommit();
  const std::string rec = EncodeStepRecord(r.record);
  flatbuffers::FlatBufferBuilder fbb;
  auto v = fbb.CreateVector(reinterpret_cast<const uint8_t*>(rec.data()),
                            rec.size());
  auto f = fbb.CreateString("x");
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(fb::CommitOp_Commit);
  b.add_step_record(v);
  b.add_step_file(f);
  b.add_step(8);
  EXPECT_THAT(DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("step 8")));
}

TEST(CommitCodecTest, DamagedIndexEntryIsDataLoss) {
  const CommitRequest r = ACommit();
  const std::string rec = EncodeStepRecord(r.record);
  std::string entry = EncodeChunkEntry(r.reused.begin()->second);
  entry[0] ^= 1;
  const std::string key = ChunkIndexKey(r.reused.begin()->first);
  flatbuffers::FlatBufferBuilder fbb;
  auto v = fbb.CreateVector(reinterpret_cast<const uint8_t*>(rec.data()),
                            rec.size());
  auto k = fbb.CreateVector(reinterpret_cast<const uint8_t*>(key.data()),
                            key.size());
  auto e = fbb.CreateVector(reinterpret_cast<const uint8_t*>(entry.data()),
                            entry.size());
  auto entries =
      fbb.CreateVector(std::vector<flatbuffers::Offset<fb::IndexEntry>>{
          fb::CreateIndexEntry(fbb, k, e)});
  auto f = fbb.CreateString("x");
  fb::CommitRequestBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_op(fb::CommitOp_Commit);
  b.add_step_record(v);
  b.add_step_file(f);
  b.add_step(7);
  b.add_reused_entries(entries);
  EXPECT_THAT(
      DecodeCommitRequest(Seal(fbb, b.Finish())).status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("commit request")));
}

TEST(CommitCodecTest, ReplyRoundTripsAndRejectsUnknownCodes) {
  CommitReply r;
  r.status = absl::AlreadyExistsError("step 7 already exists");
  r.save_number = 9;
  r.commit_time_ns = 123;
  auto back = DecodeCommitReply(EncodeCommitReply(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status, r.status);
  EXPECT_EQ(back->save_number, 9u);
  EXPECT_EQ(back->commit_time_ns, 123);
  flatbuffers::FlatBufferBuilder fbb;
  fb::CommitReplyBuilder b(fbb);
  b.add_format_version(kFormatVersion);
  b.add_code(99);
  fbb.Finish(b.Finish(), kCommitReplyIdent);
  EXPECT_THAT(
      DecodeCommitReply(SealRecord("ckptdb/commit-reply", fbb)).status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unknown status code")));
  std::string bytes = EncodeCommitReply(r);
  bytes[2] ^= 4;
  EXPECT_THAT(DecodeCommitReply(bytes).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("commit reply")));
}

}  // namespace
}  // namespace ckptdb::internal
