// The fuzz regressions, decoded to their exact result. Both once made the
// decoders read 8-byte vector elements at 4 mod 8 (UBSan in build-fuzz/;
// x86 tolerates the loads, so in the ordinary build only the fuzz targets'
// sanitizers, not this test, would catch a return of the misaligned
// reads); elements are now copied out with LoadElement (schema/records.h).
#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "schema/commit_codec.h"
#include "schema/node_codec.h"
#include "schema/records.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/test_util.h"

namespace ckptdb::internal {
namespace {

using ::ckptdb::testing::StatusIs;
using ::testing::HasSubstr;

std::string ReadInput(const std::string& name) {
  std::ifstream in(std::string(CKPTDB_FUZZ_REGRESSIONS) + "/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(FuzzRegressionTest, MisalignedStepListDecodesToTheNestedRecordsError) {
  const std::string in = ReadInput("records/misaligned-steps-vector");
  ASSERT_EQ((in[0] & 0x7f) % 10, 8);  // a commit request
  const std::string value =
      (in[0] & 0x80) != 0 ? SealBytes("ckptdb/commit-request", in.substr(1))
                          : in.substr(1);
  EXPECT_THAT(DecodeCommitRequest(value).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("step 5 commit record: record is truncated")));
}

TEST(FuzzRegressionTest, MisalignedShapeIsReadAndChecked) {
  const std::string in = ReadInput("node_tree/misaligned-shape");
  RecordBuffer buf;
  absl::Status last;
  uint32_t index = 0;
  for (absl::string_view piece : fuzz::SplitPieces(in)) {
    const std::string key = NodeKey(0, index);
    const std::string value = !piece.empty() && piece[0] == 0
                                  ? SealBytes(key, piece.substr(1))
                                  : std::string(piece);
    StoredNode node;
    uint32_t child_count = 0;
    last = DecodeNodeRecord(
        key, value, index, [] { return std::string("node"); }, &buf, &node,
        &child_count);
    if (!last.ok()) break;
    ++index;
  }
  EXPECT_THAT(
      last,
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("byte size 0 does not match shape (2,) of bool")));
}

}  // namespace
}  // namespace ckptdb::internal
