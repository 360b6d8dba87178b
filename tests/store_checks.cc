#include "tests/store_checks.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"

namespace ckptdb::testing {

std::string VerifyProblems(const std::string& db,
                           const internal::StoreOptions& options) {
  auto store = internal::Store::Open(db, options);
  if (!store.ok()) {
    return absl::StrCat("open for Verify: ", store.status().ToString(), "\n");
  }
  auto report = (*store)->Verify({});
  if (!report.ok()) {
    return absl::StrCat("Verify: ", report.status().ToString(), "\n");
  }
  std::string out;
  for (const internal::VerifyProblem& p : report->problems) {
    absl::StrAppend(&out, "Verify: step ", p.step, " ", p.path, ": ", p.message,
                    "\n");
  }
  return out;
}

void CheckNothingLeftAfterGc(const std::string& db) {
  internal::StoreOptions so;
  auto store = internal::Store::Open(db, so);
  ASSERT_TRUE(store.ok()) << store.status();
  auto gc = (*store)->CollectGarbage(internal::GcOptions());
  ASSERT_TRUE(gc.ok()) << gc.status();
  auto stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it((*store)->rocks()->NewIterator(
      rocksdb::ReadOptions(), (*store)->chunks_cf()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++chunks;
    bytes += it->value().size();
  }
  ASSERT_TRUE(it->status().ok()) << it->status().ToString();
  EXPECT_GT(stats->live_chunks, 0u);
  EXPECT_EQ(chunks, stats->live_chunks);
  EXPECT_EQ(bytes, stats->live_chunk_bytes);
  const std::filesystem::path staging =
      std::filesystem::path(db) / "ckptdb-staging";
  EXPECT_TRUE(!std::filesystem::exists(staging) ||
              std::filesystem::is_empty(staging))
      << staging << " is not empty";
}

}  // namespace ckptdb::testing
