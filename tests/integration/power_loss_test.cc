// Power loss: a manager saves (async or not), applies retention, deletes
// and collects garbage through PowerLossFs (tests/power_loss_fs.h); at a
// random file-system operation the power is cut (everything not covered by
// an fsync is dropped: file data and directory entries). After every cut
// the database opens, every step known durable is listed, every listed step
// restores bit-exactly (none is half-visible), and Verify finds nothing.
// CKPTDB_POWER_CUTS sets the number of cuts (default 200; the long variant
// of scripts/test.sh runs 5,000), CKPTDB_POWER_SEED the random seed.
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "ckptdb/checkpoint_manager.h"
#include "db/store.h"
#include "rocksdb/env.h"
#include "tests/power_loss_fs.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::PowerLossFs;
using ::ckptdb::testing::RandomArray;

constexpr uint32_t kChunkBytes = 16 << 10;

// ~150 KiB a step: a chunk shared by every third step (deduplicated), three
// chunks of its own, and a 64 KiB array of which 1 KiB changes per step
// (stored as a patch against the previous save).
Tree StateFor(int64_t step) {
  Array drift = RandomArray(DType::kFloat32, {16 << 10}, 99);
  Array patch = RandomArray(DType::kFloat32, {256}, 5000 + step);
  std::memcpy(static_cast<char*>(drift.mutable_data()) + (step % 16) * 4096,
              patch.data(), patch.nbytes());
  return Tree::Dict(
      {{"shared", RandomArray(DType::kFloat32, {4 << 10}, 7 + step % 3)},
       {"own", RandomArray(DType::kFloat32, {10 << 10}, step)},
       {"drift", Tree::FromArray(std::move(drift))},
       {"step", Tree::Int(step)}});
}

CheckpointManagerOptions Options(bool async) {
  CheckpointManagerOptions o;
  o.max_to_keep = 3;
  o.enable_async_checkpointing = async;
  o.gc_garbage_fraction = 0.0;
  o.tuning.chunk_bytes = kChunkBytes;
  o.tuning.num_threads = 1;
  return o;
}

// A scratch folder in memory when the machine has one (fsync is free
// there; the power cut is simulated, not real).
std::string ScratchRoot() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
  return std::filesystem::temp_directory_path().string();
}

// What the test knows of the database: the steps listed at the last moment
// every earlier operation was durable, and what happened since.
struct Oracle {
  std::set<int64_t> durable;   // must survive unless in `dropping`
  std::set<int64_t> maybe;     // saves begun since: may survive
  std::set<int64_t> dropping;  // deletes begun since: may be gone
  int64_t next_step = 0;

  void Quiesced(const std::vector<int64_t>& listed) {
    durable = std::set<int64_t>(listed.begin(), listed.end());
    maybe.clear();
    dropping.clear();
  }
  void Listed(const std::vector<int64_t>& before,
              const std::vector<int64_t>& after) {
    std::set<int64_t> now(after.begin(), after.end());
    for (int64_t s : before) {
      if (!now.count(s)) dropping.insert(s);
    }
  }
};

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ScratchRoot() + "/ckptdb_power_" + std::to_string(getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    db_ = root_ + "/db";
    fs_ = std::make_shared<PowerLossFs>(rocksdb::FileSystem::Default(),
                                        root_ + "/trash");
    env_ = rocksdb::NewCompositeEnv(fs_);
    internal::SetGlobalTestEnv(env_.get());
  }
  void TearDown() override {
    internal::SetGlobalTestEnv(nullptr);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // One random operation of the workload.
  void Step(CheckpointManager& mgr, std::mt19937_64& rng, bool async) {
    const std::vector<int64_t> before = mgr.AllSteps();
    switch (rng() % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4: {
        const int64_t step = oracle_.next_step++;
        oracle_.maybe.insert(step);
        auto saved = mgr.Save(step, StateFor(step));
        oracle_.Listed(before, mgr.AllSteps());
        if (saved.ok() && !async && !fs_->cut()) {
          oracle_.Quiesced(mgr.AllSteps());
        }
        break;
      }
      case 5:
        if (!before.empty()) {
          const int64_t victim = before[rng() % before.size()];
          oracle_.dropping.insert(victim);
          (void)mgr.Delete(victim);
        }
        break;
      case 6:
        (void)mgr.CollectGarbage();
        break;
      default:
        if (mgr.WaitUntilFinished().ok() && !fs_->cut()) {
          oracle_.Quiesced(mgr.AllSteps());
        }
        break;
    }
  }

  // A cycle of the workload: open, `ops` operations, close. Returns false
  // if the open failed (the cut fell inside it).
  bool Workload(std::mt19937_64& rng, int ops) {
    const bool async = rng() % 2 == 0;
    auto mgr = CheckpointManager::Open(db_, Options(async));
    if (!mgr.ok()) return false;
    for (int i = 0; i < ops && !fs_->cut(); ++i) Step(**mgr, rng, async);
    if ((*mgr)->Close().ok() && !fs_->cut())
      oracle_.Quiesced((*mgr)->AllSteps());
    return true;
  }

  // After a cut: the database opens, every durable step is listed, every
  // listed step restores exactly, Verify finds nothing.
  void CheckSurvivors(int cut) {
    std::vector<int64_t> listed;
    {
      auto mgr = CheckpointManager::Open(db_, Options(false));
      ASSERT_TRUE(mgr.ok()) << "cut " << cut << ": " << mgr.status();
      listed = (*mgr)->AllSteps();
      const std::set<int64_t> have(listed.begin(), listed.end());
      for (int64_t s : oracle_.durable) {
        EXPECT_TRUE(have.count(s) || oracle_.dropping.count(s))
            << "cut " << cut << ": committed step " << s << " is lost";
      }
      for (int64_t s : listed) {
        EXPECT_TRUE(oracle_.durable.count(s) || oracle_.maybe.count(s))
            << "cut " << cut << ": step " << s << " was deleted";
        auto t = (*mgr)->Restore(s);
        ASSERT_TRUE(t.ok())
            << "cut " << cut << " step " << s << ": " << t.status();
        EXPECT_TRUE(*t == StateFor(s)) << "cut " << cut << " step " << s;
      }
      CKPTDB_ASSERT_OK((*mgr)->Close());
    }
    internal::StoreOptions so;
    auto store = internal::Store::Open(db_, so);
    ASSERT_TRUE(store.ok()) << "cut " << cut << ": " << store.status();
    auto report = (*store)->Verify({});
    ASSERT_TRUE(report.ok()) << "cut " << cut << ": " << report.status();
    for (const auto& p : report->problems) {
      ADD_FAILURE() << "cut " << cut << ": step " << p.step << " " << p.path
                    << ": " << p.message;
    }
    oracle_.Quiesced(listed);
  }

  std::string root_;
  std::string db_;
  std::shared_ptr<PowerLossFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  Oracle oracle_;
};

int EnvInt(const char* name, int otherwise) {
  const char* env = std::getenv(name);
  return env != nullptr ? std::atoi(env) : otherwise;
}

TEST_F(PowerLossTest, EveryCommittedStepSurvivesAPowerCut) {
  constexpr int kOpsPerCycle = 6;
  std::mt19937_64 rng(EnvInt("CKPTDB_POWER_SEED", 20261206));
  // Calibrate: the file-system operations of a cycle without a cut.
  ASSERT_TRUE(Workload(rng, kOpsPerCycle));
  fs_->Checkpoint();
  const int64_t ops_per_cycle = std::max<int64_t>(fs_->ops(), 10);
  const int wanted = std::max(1, EnvInt("CKPTDB_POWER_CUTS", 200));
  int cuts = 0;
  int changed = 0;
  int cycles = 0;
  while (cuts < wanted && !HasFailure()) {
    fs_->ArmCut(1 + static_cast<int64_t>(rng() % ops_per_cycle));
    Workload(rng, kOpsPerCycle);
    ++cycles;
    if (fs_->cut()) ++cuts;
    changed += fs_->PowerLoss();
    CheckSurvivors(cuts);
  }
  std::printf(
      "%d power cuts in %d cycles (%lld file-system operations a cycle); "
      "%d files or entries rolled back; %lld steps saved\n",
      cuts, cycles, static_cast<long long>(ops_per_cycle), changed,
      static_cast<long long>(oracle_.next_step));
  EXPECT_EQ(cuts, wanted);
  EXPECT_GT(changed, cuts);  // the cuts did drop unsynced writes
}

}  // namespace
}  // namespace ckptdb
