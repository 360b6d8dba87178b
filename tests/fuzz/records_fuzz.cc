// libFuzzer target: the record envelope (UnsealRecord) and every record
// decoder of schema/ but the node and patch records (node_tree_fuzz,
// patch_fuzz): chunk entries, step records (with their inline metric and
// metadata trees), chunk lists, the database header, the naming record,
// segment records and segment stats, commit requests and replies.
//
// Input: one selector byte, then the value. The selector's low 7 bits pick
// the decoder (modulo the count); with its high bit set the value is taken
// as the FlatBuffer body and sealed with the right checksum first, so that
// mutations reach the Verifier and the decoder's own checks. Errors are
// expected; crashes and sanitizer reports are bugs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "schema/chunk_codec.h"
#include "schema/commit_codec.h"
#include "schema/meta_codec.h"
#include "schema/records.h"
#include "schema/step_codec.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/hash.h"

namespace ckptdb::internal {
namespace {

constexpr int kDecoders = 10;

// The key each decoder checks the trailer against (and, for some, parses).
std::string KeyFor(int which) {
  switch (which) {
    case 1:
      return ChunkIndexKey(Hash128{0x0123456789abcdefULL, 42});
    case 2:
      return StepKey(5);
    case 3:
      return kChunkListKey;
    case 4:
      return kHeaderKey;
    case 5:
      return kNamingKey;
    case 6:
      return SegmentKey(3);
    case 7:
      return SegmentStatKey(3);
    case 8:
      return "ckptdb/commit-request";
    case 9:
      return "ckptdb/commit-reply";
    default:
      return NodeKey(0, 0);
  }
}

}  // namespace
}  // namespace ckptdb::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ckptdb::internal;
  if (size == 0) return 0;
  const int which = (data[0] & 0x7f) % kDecoders;
  const absl::string_view in = ckptdb::fuzz::AsView(data + 1, size - 1);
  const std::string key = KeyFor(which);
  const std::string value =
      (data[0] & 0x80) != 0 ? SealBytes(key, in) : std::string(in);
  switch (which) {
    case 0: {
      RecordBuffer buf;
      (void)UnsealRecord(key, value, "fuzz", &buf);
      break;
    }
    case 1:
      (void)DecodeChunkEntry(key, value);
      break;
    case 2:
      (void)DecodeStepRecord(key, value);
      break;
    case 3:
      (void)DecodeChunkList(value, "fuzz");
      break;
    case 4:
      (void)DecodeHeader(value, "fuzz");
      break;
    case 5:
      (void)DecodeNaming("", value);
      break;
    case 6:
      (void)DecodeSegmentRecord(key, value);
      break;
    case 7:
      (void)DecodeSegmentStat(key, value);
      break;
    case 8:
      (void)DecodeCommitRequest(value);
      break;
    case 9:
      (void)DecodeCommitReply(value);
      break;
  }
  return 0;
}
