// Many processes save into one database with default options: the first
// holds it (the writer) and commits the others' staged saves
// (docs/design.md, "Many writers"), while a reader restores as they go.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "schema/commit_codec.h"
#include "tests/test_util.h"
#include "util/local_socket.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::ForkWriter;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::TempDir;

// Each step: 1 MiB of its own and 4 MiB that every step of every process
// shares (stored once).
Tree StateFor(int64_t step) {
  return Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, step)},
                     {"shared", RandomArray(DType::kFloat32, {1024, 1024}, 7)},
                     {"step", Tree::Int(step)}});
}

constexpr int kWriters = 4;
constexpr int kSavesEach = 20;
constexpr int64_t kStride = 1000;  // run k's steps are k*kStride + i
std::string RunOf(int k) { return "run-" + std::to_string(k); }

// A writer: kSavesEach async saves into its own run with retention
// (max_to_keep 5), exits 0 when every one committed.
[[noreturn]] void WriterMain(const std::string& db, int k) {
  CheckpointManagerOptions o;
  o.max_to_keep = 5;
  auto m = CheckpointManager::Open(db, o, RunOf(k));
  if (!m.ok()) {
    fprintf(stderr, "writer %d: %s\n", k, m.status().ToString().c_str());
    _exit(2);
  }
  for (int i = 0; i < kSavesEach; ++i) {
    const int64_t step = k * kStride + i;
    auto saved = (*m)->Save(step, StateFor(step));
    if (!saved.ok() || !*saved) {
      fprintf(stderr, "writer %d step %lld: %s\n", k,
              static_cast<long long>(step), saved.status().ToString().c_str());
      _exit(3);
    }
  }
  absl::Status s = (*m)->Close();
  if (!s.ok()) fprintf(stderr, "writer %d: %s\n", k, s.ToString().c_str());
  _exit(s.ok() ? 0 : 4);
}

// A reader: restores the latest step of run 0 until `stop` exists,
// checking every byte; exits 0 if it verified at least one step and found
// no mismatch.
[[noreturn]] void ReaderMain(const std::string& db, const std::string& stop) {
  CheckpointManagerOptions o;
  o.read_only = true;
  int verified = 0;
  std::optional<std::unique_ptr<CheckpointManager>> m;
  while (access(stop.c_str(), F_OK) != 0) {
    if (!m) {
      auto opened = CheckpointManager::Open(db, o, RunOf(0));
      if (!opened.ok()) continue;  // not created yet
      m = *std::move(opened);
    }
    if (!(*m)->Reload().ok()) continue;
    const std::optional<int64_t> latest = (*m)->LatestStep();
    if (!latest) continue;
    auto t = (*m)->Restore(*latest);
    if (!t.ok()) {
      // Deleted by retention since the listing: list again.
      if (t.status().code() == absl::StatusCode::kNotFound) continue;
      fprintf(stderr, "reader: %s\n", t.status().ToString().c_str());
      _exit(5);
    }
    if (!(*t == StateFor(*latest))) {
      fprintf(stderr, "reader: step %lld differs\n",
              static_cast<long long>(*latest));
      _exit(6);
    }
    ++verified;
  }
  fprintf(stderr, "reader verified %d restores\n", verified);
  _exit(verified > 0 ? 0 : 7);
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(ManyWritersTest, FourWritersAndAReaderLoseNothing) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  const std::string stop = dir.Sub("stop");
  const pid_t reader = fork();
  if (reader == 0) ReaderMain(db, stop);
  std::vector<pid_t> writers;
  for (int k = 0; k < kWriters; ++k) {
    const pid_t pid = fork();
    if (pid == 0) WriterMain(db, k);
    writers.push_back(pid);
  }
  for (int k = 0; k < kWriters; ++k) {
    EXPECT_EQ(Wait(writers[k]), 0) << "writer " << k;
  }
  FILE* f = fopen(stop.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_EQ(Wait(reader), 0) << "reader";

  // Every run kept its newest 5 steps, and each restores exactly.
  size_t surviving = 0;
  for (int k = 0; k < kWriters; ++k) {
    auto run = CheckpointManager::Open(db, {}, RunOf(k));
    ASSERT_TRUE(run.ok()) << run.status();
    const std::vector<int64_t> steps = (*run)->AllSteps();
    std::vector<int64_t> newest;
    for (int i = kSavesEach - 5; i < kSavesEach; ++i) {
      newest.push_back(k * kStride + i);
    }
    EXPECT_EQ(steps, newest) << RunOf(k);
    for (int64_t step : steps) {
      auto t = (*run)->Restore(step);
      ASSERT_TRUE(t.ok()) << "step " << step << ": " << t.status();
      EXPECT_TRUE(*t == StateFor(step)) << "step " << step;
    }
    surviving += steps.size();
  }
  auto m = CheckpointManager::Open(db);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)->AllSteps().empty());  // the default run
  // After garbage collection the chunks on disk are the survivors' own.
  ASSERT_TRUE((*m)->CollectGarbage().ok());
  ASSERT_TRUE((*m)->Close().ok());
  internal::StoreOptions so;
  auto store = internal::Store::Open(db, so);
  ASSERT_TRUE(store.ok()) << store.status();
  auto stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto verify = (*store)->Verify({});
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->problems.empty()) << verify->problems[0].message;
  const uint64_t unique = (surviving + 4) << 20;  // own MiB each + shared
  std::printf("%zu surviving steps, %llu unique bytes, %llu stored\n",
              surviving, static_cast<unsigned long long>(unique),
              static_cast<unsigned long long>(stats->segment_bytes));
  EXPECT_LE(stats->segment_bytes, unique * 11 / 10);
  EXPECT_GE(stats->segment_bytes, unique);
}

// Two managers of one process (the writer and a follower) saving from two
// threads at once: the follower's saves go through the writer's commit
// service (ThreadSanitizer runs this).
TEST(ManyWritersTest, AFollowerAndTheWriterSaveAtOnce) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto writer = CheckpointManager::Open(db);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto follower = CheckpointManager::Open(db);
  ASSERT_TRUE(follower.ok()) << follower.status();
  ASSERT_TRUE((*follower)->following());
  ManagerSaveOptions force;
  force.force = true;
  auto small = [](int64_t step) {
    return Tree::Dict({{"w", RandomArray(DType::kFloat32, {64, 1024}, step)},
                       {"step", Tree::Int(step)}});
  };
  auto run = [&](CheckpointManager* m, int64_t base) {
    for (int64_t i = 0; i < 8; ++i) {
      auto saved = m->Save(base + i, small(base + i), force);
      EXPECT_TRUE(saved.ok() && *saved) << saved.status();
    }
    EXPECT_TRUE(m->WaitUntilFinished().ok());
  };
  std::thread a(run, writer->get(), 0);
  std::thread b(run, follower->get(), 100);
  a.join();
  b.join();
  std::vector<int64_t> expected;
  for (int64_t base : {0, 100}) {
    for (int64_t i = 0; i < 8; ++i) expected.push_back(base + i);
  }
  EXPECT_EQ((*writer)->AllSteps(), expected);
  for (int64_t step : expected) {
    auto t = (*follower)->Restore(step);
    ASSERT_TRUE(t.ok()) << step << ": " << t.status();
    EXPECT_TRUE(*t == small(step));
  }
}

// Two saves of the same new bytes at once (a sweep's first steps): the
// second waits for the first's claim instead of writing the chunks too and
// losing the commit check, then reuses them; each chunk is stored once.
TEST(ManyWritersTest, ASaveWaitsForTheChunksAnotherSaveIsWriting) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto writer = CheckpointManager::Open(db);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto follower = CheckpointManager::Open(db);
  ASSERT_TRUE(follower.ok()) << follower.status();
  ASSERT_TRUE((*follower)->following());
  const Tree tree =
      Tree::Dict({{"w", RandomArray(DType::kFloat32, {1024, 1024}, 7)}});
  std::atomic<int> starts{0}, holders{0};
  std::atomic<bool> waited{false};
  internal::SetGlobalTestHook([&](absl::string_view point) {
    if (point == "save_start") ++starts;
    if (point == "claim_wait") waited = true;
    // The first save past its claims holds them until the other waits.
    if (point == "dedup_done" && holders++ == 0) {
      for (int i = 0; i < 1000 && !waited; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  });
  ManagerSaveOptions force;
  force.force = true;
  auto save = [&](CheckpointManager* m, int64_t step) {
    auto saved = m->Save(step, tree, force);
    EXPECT_TRUE(saved.ok() && *saved) << saved.status();
    EXPECT_TRUE(m->WaitUntilFinished().ok());
  };
  std::thread a(save, writer->get(), 0);
  std::thread b(save, follower->get(), 1);
  a.join();
  b.join();
  internal::SetGlobalTestHook(nullptr);
  EXPECT_TRUE(waited.load());
  EXPECT_EQ(starts.load(), 2) << "a save was staged again";
  for (int64_t step : {0, 1}) {
    auto t = (*follower)->Restore(step);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(*t == tree);
  }
  follower->reset();
  writer->reset();
  internal::StoreOptions ro;
  ro.mode = internal::StoreOptions::Mode::kReadOnly;
  auto store = internal::Store::Open(db, ro);
  ASSERT_TRUE(store.ok()) << store.status();
  auto stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->live_chunk_bytes, 4u << 20);
  EXPECT_EQ(stats->segment_bytes, 4u << 20) << "a chunk was written twice";
}

// A follower's delete that the writer commits just before it dies (its
// answer is lost): the follower, asking again of the next writer (itself),
// finds the step gone and reports success, not NotFound (found by
// crash_loop_test).
TEST(ManyWritersTest, ADeleteWhoseAnswerWasLostSucceeds) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  const pid_t pid = ForkWriter(db, [](CheckpointManager& m) {
    if (!m.Save(0, StateFor(0)).ok() || !m.Save(1, StateFor(1)).ok()) {
      return false;
    }
    // It serves commits until this hook ends it.
    internal::SetGlobalTestHook([](absl::string_view point) {
      if (point == "after_delete_commit") _exit(42);
    });
    return true;
  });
  ASSERT_GT(pid, 0) << "the writer did not start";
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto follower = CheckpointManager::Open(db, o);
  ASSERT_TRUE(follower.ok()) << follower.status();
  ASSERT_TRUE((*follower)->following());
  absl::Status deleted = (*follower)->Delete(0);
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(Wait(pid), 42) << "the writer did not die after the commit";
  EXPECT_FALSE((*follower)->following());
  EXPECT_EQ((*follower)->AllSteps(), std::vector<int64_t>{1});
  auto t = (*follower)->Restore(1);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(*t == StateFor(1));
}

// What the writer's commit service does with requests that are not what a
// follower sends: refused, naming what is wrong, and nothing committed.
TEST(ManyWritersTest, TheWriterRefusesBadCommitRequests) {
  TempDir dir;
  const std::string db = dir.Sub("db");
  auto writer = CheckpointManager::Open(db);
  ASSERT_TRUE(writer.ok()) << writer.status();
  struct stat st;
  ASSERT_EQ(stat(db.c_str(), &st), 0);
  const std::string name =
      absl::StrCat("ckptdb-commit/", st.st_dev, "/", st.st_ino);
  absl::StatusOr<internal::LocalSocket> conn;
  for (int i = 0; i < 200 && !conn.ok(); ++i) {  // the service starts
    conn = internal::LocalSocket::Connect(name);
    if (!conn.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto call = [&](const std::string& bytes) -> absl::Status {
    absl::Status s = conn->Send(bytes, absl::Seconds(10));
    if (!s.ok()) return s;
    auto reply = conn->Receive(absl::Seconds(10));
    if (!reply.ok()) return reply.status();
    auto decoded = internal::DecodeCommitReply(*reply);
    return decoded.ok() ? decoded->status : decoded.status();
  };
  // Garbage: DataLoss, and the connection still serves.
  EXPECT_EQ(call("not a request").code(), absl::StatusCode::kDataLoss);
  internal::CommitRequest commit;
  commit.op = internal::CommitRequest::Op::kCommit;
  commit.record.info.step = 3;
  commit.save_number = 123456;
  commit.record.generation = 123456;
  commit.step_file = "/etc/passwd";
  // A number this writer never handed out.
  EXPECT_EQ(call(internal::EncodeCommitRequest(commit)).code(),
            absl::StatusCode::kAborted);
  // A drawn number, but a file outside the staging folder.
  internal::CommitRequest number;
  number.op = internal::CommitRequest::Op::kNumber;
  ASSERT_TRUE(
      conn->Send(internal::EncodeCommitRequest(number), absl::Seconds(10))
          .ok());
  auto drawn = conn->Receive(absl::Seconds(10));
  ASSERT_TRUE(drawn.ok());
  auto n = internal::DecodeCommitReply(*drawn);
  ASSERT_TRUE(n.ok() && n->status.ok());
  commit.save_number = commit.record.generation = n->save_number;
  absl::Status s = call(internal::EncodeCommitRequest(commit));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("not staged"));
  EXPECT_TRUE((*writer)->AllSteps().empty());
}

}  // namespace
}  // namespace ckptdb
