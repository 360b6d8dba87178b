#include "ckptdb/checkpoint_manager.h"

#include <map>
#include <random>
#include <thread>

#include "rocksdb/db.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

using ::ckptdb::testing::DirectoryBytes;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int64_t kSec = 1000000000LL;

// A small state whose content is a function of the step.
Tree StateFor(int64_t step) {
  return Tree::Dict(
      {{"params",
        Tree::Dict({{"w", RandomArray(DType::kFloat32, {64, 64}, step)}})},
       {"step", Tree::Int(step)}});
}

Tree Loss(double v) { return Tree::Dict({{"loss", Tree::Float(v)}}); }
double LossOf(const Tree& m) { return m["loss"].float_value(); }

CheckpointManagerOptions Sync() {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  return o;
}

class CheckpointManagerTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<CheckpointManager>> Open(
      CheckpointManagerOptions o) {
    return CheckpointManager::Open(dir_.Sub("db"), std::move(o));
  }
  TempDir dir_;
};

// The Orbax migration guide's manager example. The expected survivors are
// derived by hand from Orbax's retention algorithm (orbax-semantics.md
// section 3): the policy is AnyOf([EveryNSteps(2), LatestN(3)]) evaluated
// after each save over the surviving steps.
//   save 0..3: at most 3 steps or all even/latest -> [0, 1, 2, 3]
//   save 4: LatestN(3) keeps 2, 3, 4; EveryNSteps(2) keeps 0, 2, 4
//           -> step 1 is deleted: [0, 2, 3, 4]
TEST_F(CheckpointManagerTest, MigrationGuideExample) {
  CheckpointManagerOptions o;  // async on, as in Orbax
  o.max_to_keep = 3;
  o.keep_period = 2;
  o.step_prefix = "test";
  auto mgr = Open(o);
  CKPTDB_ASSERT_OK(mgr);
  for (int64_t step = 0; step < 5; ++step) {
    auto saved = (*mgr)->Save(step, StateFor(step));
    CKPTDB_ASSERT_OK(saved);
    EXPECT_TRUE(*saved);
  }
  CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(0, 2, 3, 4));
  EXPECT_EQ((*mgr)->LatestStep(), 4);
  EXPECT_EQ((*mgr)->StepName(4), "test_4");
  auto info = (*mgr)->StepMetadata(4);
  CKPTDB_ASSERT_OK(info);
  EXPECT_EQ(info->name, "test_4");

  Tree target = StateFor(0);  // same structure, other values
  auto restored = (*mgr)->Restore(4, target);
  CKPTDB_ASSERT_OK(restored);
  EXPECT_EQ(*restored, StateFor(4));
  // The target's buffers were filled in place.
  EXPECT_EQ((*restored)["params"]["w"].array().data(),
            target["params"]["w"].array().data());
  EXPECT_THAT((*mgr)->Restore(1),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no step 1")));
  CKPTDB_ASSERT_OK((*mgr)->Close());

  // A new manager sees the same steps.
  auto again = Open(o);
  CKPTDB_ASSERT_OK(again);
  EXPECT_THAT((*again)->AllSteps(), ElementsAre(0, 2, 3, 4));
  auto latest = (*again)->Restore(std::nullopt);
  CKPTDB_ASSERT_OK(latest);
  EXPECT_EQ(*latest, StateFor(4));
}

// ---- table-driven retention ------------------------------------------------

struct SaveOp {
  int64_t step;
  int64_t time_s = 0;          // fake clock when saving
  std::optional<double> loss;  // metrics
  bool force = false;
  bool reopen_before = false;  // close and reopen the manager first
};

struct RetentionCase {
  std::string name;
  std::function<void(CheckpointManagerOptions*)> configure;
  std::vector<SaveOp> saves;
  std::vector<int64_t> expected;  // AllSteps() at the end
  std::optional<int64_t> best = std::nullopt;
  bool check_best = false;
};

std::vector<SaveOp> Steps(int64_t from, int64_t to) {
  std::vector<SaveOp> v;
  for (int64_t s = from; s <= to; ++s) v.push_back({s, s});
  return v;
}

std::vector<SaveOp> WithLosses(std::vector<std::optional<double>> losses) {
  std::vector<SaveOp> v;
  for (size_t i = 0; i < losses.size(); ++i) {
    v.push_back({static_cast<int64_t>(i), static_cast<int64_t>(i), losses[i]});
  }
  return v;
}

// Expected values are derived from the reference algorithm by hand; the
// derivation is in each comment.
std::vector<RetentionCase> Cases() {
  std::vector<RetentionCase> c;
  c.push_back({"MaxToKeepKeepsTheNewest",
               [](auto* o) { o->max_to_keep = 2; },
               Steps(0, 4),
               {3, 4}});
  c.push_back({"MaxToKeepZeroDeletesEverythingEvenTheNewStep",
               [](auto* o) { o->max_to_keep = 0; },
               Steps(0, 3),
               {}});
  c.push_back(
      {"NoMaxToKeepKeepsAll", [](auto*) {}, Steps(0, 4), {0, 1, 2, 3, 4}});
  // keep_period alone has no visible effect: LatestN(None) keeps all.
  c.push_back({"KeepPeriodAloneKeepsAll",
               [](auto* o) { o->keep_period = 3; },
               Steps(0, 4),
               {0, 1, 2, 3, 4}});
  // max_to_keep=1 + keep_period=4 over 0..9: multiples of 4 plus the latest.
  c.push_back({"KeepPeriodPlusMaxToKeep",
               [](auto* o) {
                 o->max_to_keep = 1;
                 o->keep_period = 4;
               },
               Steps(0, 9),
               {0, 4, 8, 9}});
  // preservation_policy=EveryNSteps(4) alone: step 9 is deleted right after
  // its own save (the latest step is not always kept).
  c.push_back({"EveryNStepsPolicyDeletesTheLatest",
               [](auto* o) { o->preservation_policy = EveryNSteps(4); },
               Steps(0, 9),
               {0, 4, 8}});
  // Non-exact EveryNSteps(3): first, then >= 3 after the last kept:
  // [0], 1 no, 2 no, 3 yes, ... incremental -> 0, 3, 6 and the latest
  // is gone unless kept.
  c.push_back({"EveryNStepsNonExact",
               [](auto* o) { o->preservation_policy = EveryNSteps(3, false); },
               {{0}, {2}, {3}, {5}, {7}, {9}},
               {0, 3, 7}});
  c.push_back({"CustomSteps",
               [](auto* o) {
                 o->preservation_policy = CustomSteps({2, 5});
               },
               Steps(0, 6),
               {2, 5}});
  // keep_time_interval=10 s, max_to_keep=1, a save every 3 s (t = 3*step):
  //   t0 [0]; t3 [0,1]; t6 [0,2]; t9 [0,3]; t12 [0,4] (12-0 >= 10);
  //   t15 [0,4,5]; t18 [0,4,6]; t21 [0,4,7]; t24 [0,4,8] (24-12 >= 10).
  {
    std::vector<SaveOp> v;
    for (int64_t s = 0; s <= 8; ++s) v.push_back({s, 3 * s});
    c.push_back({"KeepTimeInterval",
                 [](auto* o) {
                   o->max_to_keep = 1;
                   o->keep_time_interval_secs = 10;
                 },
                 v,
                 {0, 4, 8}});
    // The same across reopens: times come back from the commit records.
    for (int64_t s : {2, 5, 7}) v[s].reopen_before = true;
    c.push_back({"KeepTimeIntervalAcrossReopens",
                 [](auto* o) {
                   o->max_to_keep = 1;
                   o->keep_time_interval_secs = 10;
                 },
                 v,
                 {0, 4, 8}});
  }
  // best_fn (min loss), max_to_keep=2, losses 5,3,4,1,6:
  //   s2: desc (5,0)(4,2)(3,1) keep last 2 -> [1,2]
  //   s3: (4,2)(3,1)(1,3) -> [1,3]
  //   s4: (6,4)(3,1)(1,3) -> [1,3]: the newest step is deleted.
  c.push_back({"BestNMinDeletesAWorseNewestStep",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->best_mode = "min";
                 o->max_to_keep = 2;
               },
               WithLosses({5, 3, 4, 1, 6}),
               {1, 3},
               3,
               true});
  // best_mode max: keep the highest.
  c.push_back({"BestNMax",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->max_to_keep = 2;
               },
               WithLosses({5, 3, 4, 1, 6}),
               {0, 4},
               4,
               true});
  // Equal metrics: the stable sort keeps the newer steps.
  c.push_back({"BestNTiesKeepTheNewer",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->max_to_keep = 2;
               },
               WithLosses({1, 1, 1, 1, 1}),
               {3, 4},
               4,
               true});
  // Steps without metrics are always kept by default and do not count:
  //   s2: with (1,0)(2,2) keep both + 1 -> [0,1,2]; s3: keep 2,3 + 1.
  c.push_back({"StepsWithoutMetricsAreKept",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->max_to_keep = 2;
               },
               WithLosses({1, std::nullopt, 2, 3}),
               {1, 2, 3},
               3,
               true});
  // ... and never kept by BestN when keep_checkpoints_without_metrics=false
  // (s1 survives its own save, when there are only 2 steps).
  c.push_back({"StepsWithoutMetricsDropped",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->max_to_keep = 2;
                 o->keep_checkpoints_without_metrics = false;
               },
               WithLosses({1, std::nullopt, 2, 3}),
               {2, 3},
               3,
               true});
  // best_fn without max_to_keep: nothing is deleted; BestStep works.
  c.push_back({"BestFnWithoutMaxToKeepKeepsAll",
               [](auto* o) {
                 o->best_fn = LossOf;
                 o->best_mode = "min";
               },
               WithLosses({5, 3, 4}),
               {0, 1, 2},
               1,
               true});
  // Orbax's fix for "best_fn evicts the newest": keep latest N and best M.
  c.push_back(
      {"LatestNPlusBestN",
       [](auto* o) {
         o->best_fn = LossOf;
         o->best_mode = "min";
         o->preservation_policy = AnyOf({LatestN(1), BestN(LossOf, true, 1)});
       },
       WithLosses({5, 1, 4, 6}),
       {1, 3},
       1,
       true});
  // Force-saving a lower step appends it (it becomes the latest):
  // 0, 10, 20 then force 5 with max_to_keep=2 -> [20, 5].
  c.push_back({"ForcedLowerStepBecomesLatest",
               [](auto* o) { o->max_to_keep = 2; },
               {{0}, {10}, {20}, {5, 0, std::nullopt, true}},
               {20, 5}});
  // Reopen between saves: the list is reloaded sorted.
  c.push_back({"LatestNAcrossReopen",
               [](auto* o) { o->max_to_keep = 2; },
               {{0}, {1}, {2}, {3, 3, std::nullopt, false, true}},
               {2, 3}});
  // Metrics come back after a reopen (ckptdb always persists them), so
  // BestN keeps ranking old steps correctly.
  {
    std::vector<SaveOp> v = WithLosses({5, 3, 4, 1, 6});
    v[3].reopen_before = true;
    v[4].reopen_before = true;
    c.push_back({"BestNAcrossReopens",
                 [](auto* o) {
                   o->best_fn = LossOf;
                   o->best_mode = "min";
                   o->max_to_keep = 2;
                 },
                 v,
                 {1, 3},
                 3,
                 true});
  }
  return c;
}

class RetentionTest : public ::testing::TestWithParam<RetentionCase> {};

TEST_P(RetentionTest, SurvivorsMatchOrbax) {
  const RetentionCase& rc = GetParam();
  TempDir dir;
  int64_t now_s = 0;
  CheckpointManagerOptions o = Sync();
  rc.configure(&o);
  o.clock_ns = [&now_s] { return now_s * kSec; };
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  for (const SaveOp& op : rc.saves) {
    if (op.reopen_before) {
      CKPTDB_ASSERT_OK((*mgr)->Close());
      mgr = CheckpointManager::Open(dir.Sub("db"), o);
      CKPTDB_ASSERT_OK(mgr);
    }
    now_s = op.time_s;
    ManagerSaveOptions so;
    if (op.loss) so.metrics = Loss(*op.loss);
    so.force = op.force;
    auto saved = (*mgr)->Save(op.step, StateFor(op.step), so);
    CKPTDB_ASSERT_OK(saved);
    EXPECT_TRUE(*saved) << "step " << op.step;
  }
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAreArray(rc.expected));
  if (rc.check_best) EXPECT_EQ((*mgr)->BestStep(), rc.best);
  // What the list says is what the database holds.
  for (int64_t s : rc.expected) {
    auto t = (*mgr)->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_EQ(*t, StateFor(s));
  }
  CKPTDB_ASSERT_OK((*mgr)->Close());
  auto reopened = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(reopened);
  std::vector<int64_t> sorted = rc.expected;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_THAT((*reopened)->AllSteps(), ElementsAreArray(sorted));
}

INSTANTIATE_TEST_SUITE_P(Orbax, RetentionTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<RetentionCase>& i) {
                           return i.param.name;
                         });

// ---- save decisions ---------------------------------------------------------

TEST_F(CheckpointManagerTest, ShouldSaveFollowsOrbax) {
  CheckpointManagerOptions o = Sync();
  o.save_interval_steps = 3;
  o.save_on_steps = std::set<int64_t>{4};
  auto mgr = Open(o);
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_TRUE((*mgr)->ShouldSave(1));  // nothing saved yet: initial save
  CKPTDB_ASSERT_OK((*mgr)->Save(1, StateFor(1)));
  EXPECT_FALSE((*mgr)->ShouldSave(1));  // <= latest
  EXPECT_FALSE((*mgr)->ShouldSave(2));
  EXPECT_TRUE((*mgr)->ShouldSave(3));  // 3 % 3 == 0
  EXPECT_TRUE((*mgr)->ShouldSave(4));  // save_on_steps
  EXPECT_FALSE((*mgr)->ShouldSave(5));
  auto skipped = (*mgr)->Save(2, StateFor(2));
  CKPTDB_ASSERT_OK(skipped);
  EXPECT_FALSE(*skipped);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(1));
  // A step <= latest is skipped silently, even when it is a multiple.
  CKPTDB_ASSERT_OK((*mgr)->Save(6, StateFor(6)));
  auto old = (*mgr)->Save(3, StateFor(3));
  CKPTDB_ASSERT_OK(old);
  EXPECT_FALSE(*old);
  // force bypasses ShouldSave but never overwrites.
  ManagerSaveOptions force;
  force.force = true;
  EXPECT_THAT((*mgr)->Save(6, StateFor(6), force),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("Checkpoint for step 6 already exists.")));
  auto forced = (*mgr)->Save(3, StateFor(3), force);
  CKPTDB_ASSERT_OK(forced);
  EXPECT_TRUE(*forced);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(1, 6, 3));
}

TEST_F(CheckpointManagerTest, ShouldSaveFnReplacesTheRulesAndTheInitialSave) {
  CheckpointManagerOptions o = Sync();
  std::vector<std::pair<int64_t, std::optional<int64_t>>> calls;
  o.should_save_fn = [&](int64_t step, std::optional<int64_t> latest) {
    calls.emplace_back(step, latest);
    return step % 5 == 0 && step > 0;
  };
  auto mgr = Open(o);
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_FALSE((*mgr)->ShouldSave(0));
  EXPECT_TRUE((*mgr)->ShouldSave(5));
  CKPTDB_ASSERT_OK((*mgr)->Save(5, StateFor(5)));
  EXPECT_TRUE((*mgr)->ShouldSave(10));
  EXPECT_EQ(calls.back().second, 5);
}

TEST_F(CheckpointManagerTest, InvalidOptionCombinationsAreRejectedAtOpen) {
  auto expect_invalid = [&](std::function<void(CheckpointManagerOptions*)> f,
                            const std::string& msg) {
    CheckpointManagerOptions o = Sync();
    f(&o);
    EXPECT_THAT(Open(o),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(msg)));
  };
  expect_invalid([](auto* o) { o->max_to_keep = -1; }, "max_to_keep");
  expect_invalid([](auto* o) { o->keep_period = 0; },
                 "interval_steps must not be 0");
  expect_invalid([](auto* o) { o->best_mode = "median"; }, "best_mode");
  expect_invalid(
      [](auto* o) {
        o->preservation_policy = LatestN(2);
        o->max_to_keep = 2;
      },
      "mutually exclusive");
  expect_invalid(
      [](auto* o) {
        o->preservation_policy = LatestN(2);
        o->keep_period = 2;
      },
      "mutually exclusive");
  expect_invalid([](auto* o) { o->save_interval_steps = 0; },
                 "save_interval_steps");
  expect_invalid([](auto* o) { o->step_format_fixed_length = 0; },
                 "step_format_fixed_length");
  // max_to_keep=0 is falsy in Orbax and not rejected with a policy.
  CheckpointManagerOptions ok = Sync();
  ok.preservation_policy = LatestN(2);
  ok.max_to_keep = 0;
  CKPTDB_EXPECT_OK(Open(ok));
}

TEST_F(CheckpointManagerTest, StepNamesHonourPrefixAndFixedLength) {
  EXPECT_EQ(FormatStepName(4, "", std::nullopt), "4");
  EXPECT_EQ(FormatStepName(4, "test", std::nullopt), "test_4");
  EXPECT_EQ(FormatStepName(4, "", 8), "00000004");
  EXPECT_EQ(FormatStepName(42, "ckpt", 5), "ckpt_00042");
  CheckpointManagerOptions o = Sync();
  o.step_format_fixed_length = 8;
  auto mgr = Open(o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(7, StateFor(7)));
  auto info = (*mgr)->StepMetadata(7);
  CKPTDB_ASSERT_OK(info);
  EXPECT_EQ(info->name, "00000007");
}

TEST_F(CheckpointManagerTest, ReadOnlyManagerNeverWrites) {
  {
    auto w = Open(Sync());
    CKPTDB_ASSERT_OK(w);
    CKPTDB_ASSERT_OK((*w)->Save(0, StateFor(0)));
  }
  CheckpointManagerOptions o = Sync();
  o.read_only = true;
  o.max_to_keep = -5;  // retention options are ignored when read-only
  auto ro = Open(o);
  CKPTDB_ASSERT_OK(ro);
  EXPECT_FALSE((*ro)->ShouldSave(1));
  auto saved = (*ro)->Save(1, StateFor(1));
  CKPTDB_ASSERT_OK(saved);
  EXPECT_FALSE(*saved);
  CKPTDB_EXPECT_OK((*ro)->Delete(0));  // a no-op
  EXPECT_THAT((*ro)->AllSteps(), ElementsAre(0));
  auto t = (*ro)->Restore(0);
  CKPTDB_ASSERT_OK(t);
  EXPECT_EQ(*t, StateFor(0));
  // A missing database is not created read-only.
  EXPECT_THAT(CheckpointManager::Open(dir_.Sub("missing"), o),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// Several items saved in the background: each captured item must stay where
// the save job points at it (async capture of a multi-item step).
// A synchronous save on one thread lists its step at once (as Orbax);
// another thread restoring that step waits for it instead of NotFound.
TEST_F(CheckpointManagerTest, SyncSaveInFlightOnAnotherThreadIsWaitedFor) {
  auto m = Open(Sync());
  CKPTDB_ASSERT_OK(m);
  const Tree big = Tree::Dict(
      {{"w", RandomArray(DType::kFloat32, {16, 1 << 20}, 5)}});  // 64 MiB
  for (int round = 0; round < 3; ++round) {
    std::thread saver([&] { CKPTDB_ASSERT_OK((*m)->Save(round, big)); });
    while ((*m)->AllSteps().empty() || (*m)->AllSteps().back() != round) {
      std::this_thread::yield();
    }
    auto meta = (*m)->StepMetadata(round);
    auto back = (*m)->Restore(round);
    saver.join();
    CKPTDB_ASSERT_OK(meta);
    CKPTDB_ASSERT_OK(back);
    EXPECT_TRUE(*back == big);
  }
}

TEST_F(CheckpointManagerTest, AsyncSaveOfSeveralItems) {
  auto mgr = Open(CheckpointManagerOptions());  // async
  CKPTDB_ASSERT_OK(mgr);
  std::map<std::string, Tree> items = {
      {"a", StateFor(1)},
      {"b", StateFor(2)},
      {"c", StateFor(3)},
      {"d", Tree::Dict({{"x", RandomArray(DType::kInt32, {1000}, 4)}})},
      {"e", StateFor(5)}};
  for (CaptureMode capture : {CaptureMode::kCopy, CaptureMode::kBorrow}) {
    const int64_t step = capture == CaptureMode::kCopy ? 1 : 2;
    ManagerSaveOptions so;
    so.capture = capture;
    CKPTDB_ASSERT_OK((*mgr)->Save(step, items, so));
    CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
    auto all = (*mgr)->RestoreItems(step);
    CKPTDB_ASSERT_OK(all);
    ASSERT_EQ(all->size(), items.size());
    for (const auto& [name, tree] : items) {
      EXPECT_EQ((*all)[name], tree) << "step " << step << " item " << name;
    }
  }
}

TEST_F(CheckpointManagerTest, ItemsMetricsMetadataAndDelete) {
  auto mgr = Open(Sync());
  CKPTDB_ASSERT_OK(mgr);
  std::map<std::string, Tree> items = {
      {"state", StateFor(1)},
      {"config", Tree::Dict({{"lr", Tree::Float(0.1)}})},
      {"data_iterator", Tree::Dict({{"position", Tree::Int(1234)}})}};
  ManagerSaveOptions so;
  so.metrics = Loss(0.5);
  so.item_options["state"].save_args["params/w"].dtype = DType::kBFloat16;
  CKPTDB_ASSERT_OK((*mgr)->Save(1, items, so));
  CKPTDB_ASSERT_OK((*mgr)->Save(2, items));

  auto all = (*mgr)->RestoreItems(1);
  CKPTDB_ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)["config"], items["config"]);
  EXPECT_EQ((*all)["state"]["params"]["w"].array().dtype(), DType::kBFloat16);
  auto subset = (*mgr)->RestoreItems(1, {{"data_iterator", nullptr}});
  CKPTDB_ASSERT_OK(subset);
  ASSERT_EQ(subset->size(), 1u);
  EXPECT_EQ(subset->begin()->second, items["data_iterator"]);
  EXPECT_THAT(
      (*mgr)->RestoreItems(1, {{"nope", nullptr}}),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("no item 'nope'")));
  EXPECT_THAT((*mgr)->Restore(1), StatusIs(absl::StatusCode::kNotFound,
                                           HasSubstr("no item 'default'")));

  auto m1 = (*mgr)->Metrics(1);
  CKPTDB_ASSERT_OK(m1);
  ASSERT_TRUE(m1->has_value());
  EXPECT_EQ(**m1, Loss(0.5));
  auto m2 = (*mgr)->Metrics(2);
  CKPTDB_ASSERT_OK(m2);
  EXPECT_FALSE(m2->has_value());
  EXPECT_THAT((*mgr)->Metrics(9),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  auto meta = (*mgr)->ItemMetadata(1, "state");
  CKPTDB_ASSERT_OK(meta);
  EXPECT_EQ(meta->children[0].children[0].array.dtype, DType::kBFloat16);
  EXPECT_EQ(meta->children[0].children[0].array.shape, (Shape{64, 64}));

  EXPECT_THAT((*mgr)->Delete(7),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  CKPTDB_ASSERT_OK((*mgr)->Delete(1));
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(2));
  EXPECT_THAT((*mgr)->Restore(1),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(CheckpointManagerTest, RestoreWithNoStepsIsNotFound) {
  auto mgr = Open(Sync());
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_THAT(
      (*mgr)->Restore(std::nullopt),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("No steps found")));
  EXPECT_EQ((*mgr)->LatestStep(), std::nullopt);
  EXPECT_EQ((*mgr)->BestStep(), std::nullopt);
}

TEST_F(CheckpointManagerTest, CheckpointerDatabaseIsNotAManagerDatabase) {
  CKPTDB_ASSERT_OK(Checkpointer().Save(dir_.Sub("db"), StateFor(0)));
  EXPECT_THAT(Open(Sync()), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("single Checkpointer")));
}

// ---- dedup and space --------------------------------------------------------

// 16 arrays of 4 MiB; `changed` of them depend on `version`.
Tree BigState(int version, int changed) {
  Tree params = Tree::Dict();
  for (int i = 0; i < 16; ++i) {
    const uint64_t seed = i < changed ? 1000 * version + i : i;
    params.Insert(absl::StrCat("layer", i),
                  RandomArray(DType::kFloat32, {1 << 20}, seed));
  }
  return Tree::Dict({{"params", params}});
}

TEST_F(CheckpointManagerTest, UnchangedArraysAreStoredOnceAcrossSteps) {
  auto mgr = Open(Sync());
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, BigState(0, 16)));
  const uint64_t first = DirectoryBytes(dir_.Sub("db"));
  EXPECT_GT(first, uint64_t{64} << 20);
  // Step 1 changes 2 of 16 arrays: 8 MiB of new chunks.
  CKPTDB_ASSERT_OK((*mgr)->Save(1, BigState(1, 2)));
  auto info = (*mgr)->StepMetadata(1);
  CKPTDB_ASSERT_OK(info);
  EXPECT_EQ(info->new_bytes, uint64_t{8} << 20);
  EXPECT_EQ(info->logical_bytes, uint64_t{64} << 20);
  const uint64_t second = DirectoryBytes(dir_.Sub("db"));
  EXPECT_LT(second - first, uint64_t{10} << 20);
  // Unchanged re-save writes no chunk at all.
  CKPTDB_ASSERT_OK((*mgr)->Save(2, BigState(1, 2)));
  info = (*mgr)->StepMetadata(2);
  CKPTDB_ASSERT_OK(info);
  EXPECT_EQ(info->new_bytes, 0u);
  for (int64_t s : {0, 1, 2}) {
    auto t = (*mgr)->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_EQ(*t, BigState(s == 0 ? 0 : 1, s == 0 ? 16 : 2));
  }
}

TEST_F(CheckpointManagerTest, DeletingAndCompactingReclaimsSpace) {
  CheckpointManagerOptions o = Sync();
  o.max_to_keep = 2;
  auto mgr = Open(o);
  CKPTDB_ASSERT_OK(mgr);
  // Each step shares 12 arrays with the previous and changes 4 (16 MiB).
  for (int v = 0; v < 6; ++v) {
    CKPTDB_ASSERT_OK((*mgr)->Save(v, BigState(v, 4)));
  }
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(4, 5));
  CKPTDB_ASSERT_OK((*mgr)->CollectGarbage());
  // Live unique bytes: 12 shared arrays + 4 of step 4 + 4 of step 5.
  const uint64_t live = uint64_t{20} * (4 << 20);
  const uint64_t on_disk = DirectoryBytes(dir_.Sub("db"));
  EXPECT_LT(on_disk, live * 11 / 10) << on_disk;
  EXPECT_GT(on_disk, live);
  for (int64_t s : {4, 5}) {
    auto t = (*mgr)->Restore(s);
    CKPTDB_ASSERT_OK(t);
    EXPECT_EQ(*t, BigState(s, 4));
  }
  // Delete everything but step 5 and compact again.
  CKPTDB_ASSERT_OK((*mgr)->Delete(4));
  CKPTDB_ASSERT_OK((*mgr)->CollectGarbage());
  const uint64_t live5 = uint64_t{16} * (4 << 20);
  const uint64_t after = DirectoryBytes(dir_.Sub("db"));
  EXPECT_LT(after, live5 * 11 / 10) << after;
  auto t = (*mgr)->Restore(5);
  CKPTDB_ASSERT_OK(t);
  EXPECT_EQ(*t, BigState(5, 4));
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// An "embedding" of 16 MiB in 4 KiB rows; `changed` rows differ per version.
Tree Embedding(int version, int changed_rows_per_version) {
  constexpr int64_t kRows = 4096, kRowFloats = 1024;
  Array e = RandomArray(DType::kFloat32, {kRows, kRowFloats}, 99);
  float* p = static_cast<float*>(e.mutable_data());
  std::mt19937_64 rng(7);
  for (int v = 1; v <= version; ++v) {
    for (int r = 0; r < changed_rows_per_version; ++r) {
      const int64_t row = static_cast<int64_t>(rng() % kRows);
      for (int64_t c = 0; c < kRowFloats; ++c) {
        p[row * kRowFloats + c] = static_cast<float>(v * 1000 + r);
      }
    }
  }
  return Tree::Dict({{"embedding", e}});
}

TEST(PatchTest, SparseRowUpdatesStoreOnlyTheChangedPages) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, Embedding(0, 41)));
  for (int v = 1; v <= 4; ++v) {
    CKPTDB_ASSERT_OK((*mgr)->Save(v, Embedding(v, 41)));  // 1% of rows
    auto info = (*mgr)->StepMetadata(v);
    CKPTDB_ASSERT_OK(info);
    // At most 41 changed 4 KiB pages (plus patch headers), instead of the
    // ~15 full 1 MiB chunks those rows touch.
    EXPECT_LT(info->new_bytes, uint64_t{41} * 4096 * v + 64 * 1024)
        << "version " << v;
    EXPECT_GT(info->new_bytes, 0u);
  }
  for (int v = 0; v <= 4; ++v) {
    auto t = (*mgr)->Restore(v);
    CKPTDB_ASSERT_OK(t);
    EXPECT_TRUE(*t == Embedding(v, 41)) << "version " << v;
  }
  // Patches keep their base alive: delete the base step, compact, restore.
  CKPTDB_ASSERT_OK((*mgr)->Delete(0));
  CKPTDB_ASSERT_OK((*mgr)->Delete(2));
  CKPTDB_ASSERT_OK((*mgr)->CollectGarbage());
  for (int v : {1, 3, 4}) {
    auto t = (*mgr)->Restore(v);
    CKPTDB_ASSERT_OK(t);
    EXPECT_TRUE(*t == Embedding(v, 41)) << "version " << v;
  }
  // A reopened manager patches against the latest step too.
  CKPTDB_ASSERT_OK((*mgr)->Close());
  mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(5, Embedding(5, 41)));
  auto info = (*mgr)->StepMetadata(5);
  CKPTDB_ASSERT_OK(info);
  EXPECT_LT(info->new_bytes, uint64_t{41} * 4096 * 5 + 64 * 1024);
  auto t = (*mgr)->Restore(5);
  CKPTDB_ASSERT_OK(t);
  EXPECT_TRUE(*t == Embedding(5, 41));
}

TEST(PatchTest, PatchesCanBeDisabledAndDenseChangesStayFull) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.patch_max_fraction = 0;
  o.tuning.delta_chunks = false;  // (changed rows would be deltas)
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, Embedding(0, 41)));
  CKPTDB_ASSERT_OK((*mgr)->Save(1, Embedding(1, 41)));
  auto info = (*mgr)->StepMetadata(1);
  CKPTDB_ASSERT_OK(info);
  EXPECT_GT(info->new_bytes, uint64_t{8} << 20);  // whole 1 MiB chunks
  // Dense changes (every row) are stored whole even with patches on.
  CheckpointManagerOptions p;
  p.enable_async_checkpointing = false;
  auto mgr2 = CheckpointManager::Open(dir.Sub("db2"), p);
  CKPTDB_ASSERT_OK(mgr2);
  CKPTDB_ASSERT_OK((*mgr2)->Save(0, BigState(0, 16)));
  CKPTDB_ASSERT_OK((*mgr2)->Save(1, BigState(1, 16)));
  auto info2 = (*mgr2)->StepMetadata(1);
  CKPTDB_ASSERT_OK(info2);
  EXPECT_EQ(info2->new_bytes, uint64_t{64} << 20);
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

TEST(PatchTest, CorruptBaseOfAPatchIsDataLoss) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  Tree v0 = Embedding(0, 41);
  CKPTDB_ASSERT_OK((*mgr)->Save(0, v0));
  CKPTDB_ASSERT_OK((*mgr)->Save(1, Embedding(1, 41)));
  CKPTDB_ASSERT_OK((*mgr)->Close());
  // Damage every chunk of the base's first MiB (some patch uses it, or the
  // step itself does).
  const char* p = static_cast<const char*>(v0["embedding"].array().data());
  for (int64_t off = 0; off < (16 << 20); off += (1 << 20)) {
    auto [file, pos] = ::ckptdb::testing::FindBytes(
        dir.Sub("db"), std::string(p + off + 512, 64));
    ASSERT_FALSE(file.empty());
    ::ckptdb::testing::FlipByte(file, pos + 3);
  }
  mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_THAT((*mgr)->Restore(1),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("leaf 'embedding': chunk")));
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// Deleted steps' column families are reused: with retention the number of
// column families stays bounded (creating and dropping them rewrites
// RocksDB's OPTIONS file, which gets slow with many).
TEST(SlotTest, ColumnFamiliesAreRecycledUnderRetention) {
  TempDir dir;
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.max_to_keep = 2;
  auto mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  for (int64_t s = 0; s < 60; ++s) {
    CKPTDB_ASSERT_OK((*mgr)->Save(s, Tree::Dict({{"step", Tree::Int(s)}})));
  }
  CKPTDB_ASSERT_OK((*mgr)->Close());
  std::vector<std::string> families;
  rocksdb::Options opts;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(opts, dir.Sub("db"), &families).ok());
  EXPECT_LE(families.size(), 3u + 2u + 2u) << families.size();
  mgr = CheckpointManager::Open(dir.Sub("db"), o);
  CKPTDB_ASSERT_OK(mgr);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(58, 59));
  auto t = (*mgr)->Restore(58);
  CKPTDB_ASSERT_OK(t);
  EXPECT_EQ((*t)["step"].int_value(), 58);
}

}  // namespace
}  // namespace ckptdb
