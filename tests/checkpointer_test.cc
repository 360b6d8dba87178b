#include "ckptdb/checkpointer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ckptdb/async_checkpointer.h"
#include "ckptdb/checkpoint_manager.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using ::ckptdb::testing::DirectoryBytes;
using ::ckptdb::testing::FindBytes;
using ::ckptdb::testing::FlipByte;
using ::ckptdb::testing::RandomArray;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::HasSubstr;

Array I64(Shape shape, std::vector<int64_t> v) {
  return Array::FromValues<int64_t>(DType::kInt64, std::move(shape), v);
}

// The tree of Orbax's migration guide:
// [12, {'bar': np.array([2, 3])}, [1, 4, 10]]
Tree GuideTree() {
  return Tree::List({Tree::Int(12), Tree::Dict({{"bar", I64({2}, {2, 3})}}),
                     Tree::List({Tree::Int(1), Tree::Int(4), Tree::Int(10)})});
}

class CheckpointerTest : public ::testing::Test {
 protected:
  TempDir dir_;
  Checkpointer ckpt_;
  std::string Path(const std::string& name = "ckpt") { return dir_.Sub(name); }
};

TEST_F(CheckpointerTest, MigrationGuideExampleWithAndWithoutTarget) {
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), GuideTree()));

  // Without a target: the exact saved tree.
  auto restored = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(restored);
  EXPECT_EQ(*restored, GuideTree()) << restored->DebugString();

  // With the guide's target [0, {'bar': np.array(0)}, [0, 0, 0]]: the
  // target's structure, the saved values (the saved array's shape wins over
  // the placeholder's).
  Tree target =
      Tree::List({Tree::Int(0), Tree::Dict({{"bar", I64({}, {0})}}),
                  Tree::List({Tree::Int(0), Tree::Int(0), Tree::Int(0)})});
  auto with_target = ckpt_.Restore(Path(), target);
  CKPTDB_ASSERT_OK(with_target);
  EXPECT_EQ(*with_target, GuideTree()) << with_target->DebugString();
  EXPECT_EQ(with_target->DebugString(),
            "[12, {'bar': array([2, 3], dtype=int64, shape=(2,))}, "
            "[1, 4, 10]]");
}

TEST_F(CheckpointerTest, SaveOverExistingNeedsForceAndForceReplaces) {
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), GuideTree()));
  Tree other = Tree::Dict({{"x", Tree::Float(1.5)}});
  EXPECT_THAT(ckpt_.Save(Path(), other),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("pass force to replace it")));
  auto unchanged = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(unchanged);
  EXPECT_EQ(*unchanged, GuideTree());

  SaveOptions force;
  force.force = true;
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), other, force));
  auto replaced = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(replaced);
  EXPECT_EQ(*replaced, other);
}

TEST_F(CheckpointerTest, SingleArraySavesAndRestores) {
  std::vector<int64_t> v(10);
  for (int i = 0; i < 10; ++i) v[i] = i;
  Tree arange = I64({10}, v);
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), arange));
  auto back = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(back);
  ASSERT_EQ(back->kind(), Tree::Kind::kArray);
  EXPECT_EQ(*back, arange);
  auto meta = ckpt_.Metadata(Path());
  CKPTDB_ASSERT_OK(meta);
  EXPECT_EQ(meta->kind, Tree::Kind::kArray);
  EXPECT_EQ(meta->array.shape, Shape{10});
}

// Every dtype, with shapes covering rank 0, zero-size, inline, one chunk,
// several chunks and a short last chunk (64 KiB chunks in this test).
TEST_F(CheckpointerTest, EveryDTypeAndShapeRoundTripsBitExactly) {
  StoreTuning tuning;
  tuning.chunk_bytes = 64 << 10;
  Checkpointer ckpt(tuning);
  Tree tree = Tree::Dict();
  const std::vector<Shape> shapes = {{},      {0},       {3, 0, 2}, {5},
                                     {7, 13}, {300, 77}, {100003}};
  uint64_t seed = 1;
  for (int d = 0; d < kNumDTypes; ++d) {
    const DType dtype = static_cast<DType>(d);
    Tree per = Tree::List();
    for (const Shape& s : shapes) per.Append(RandomArray(dtype, s, seed++));
    tree.Insert(std::string(DTypeName(dtype)), std::move(per));
  }
  CKPTDB_ASSERT_OK(ckpt.Save(Path(), tree));
  auto back = ckpt.Restore(Path());
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == tree);
  auto meta = ckpt.Metadata(Path());
  CKPTDB_ASSERT_OK(meta);
  int arrays = 0;
  meta->ForEachLeaf([&](const TreePath& p, const TreeMetadata& m) {
    ASSERT_EQ(m.kind, Tree::Kind::kArray) << p.ToString();
    const Tree* t = tree.FindPath(p);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(m.array.dtype, t->array().dtype());
    EXPECT_EQ(m.array.shape, t->array().shape());
    EXPECT_EQ(m.array.nbytes, t->array().nbytes());
    EXPECT_EQ(m.array.is_inline, t->array().nbytes() <= 1024);
    ++arrays;
  });
  EXPECT_EQ(arrays, kNumDTypes * static_cast<int>(shapes.size()));
}

TEST_F(CheckpointerTest, ContainersKeysAndScalarsKeepTheirExactTypes) {
  const double nan_payload = [] {
    uint64_t bits = 0x7ff8dead0000beefULL;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }();
  Tree tree = Tree::Dict({
      {"z_first", Tree::Int(1)},  // insertion order, not sorted
      {"a_second",
       Tree::Tuple({Tree::Int(1), Tree::String("two"), Tree::Tuple()})},
      {0, Tree::String("int key zero")},
      {-7, Tree::Bool(false)},
      {"0", Tree::String("string key zero")},
      {"empties",
       Tree::List({Tree::Dict(), Tree::List(), Tree::Tuple(), Tree::None()})},
      {"floats",
       Tree::List({Tree::Float(-0.0), Tree::Float(nan_payload),
                   Tree::Float(std::numeric_limits<double>::infinity()),
                   Tree::Float(1e-310)})},
      {"float_arrays",
       Tree::List({Array::FromValues<double>(DType::kFloat64, {3},
                                             {-0.0, nan_payload, 2.5}),
                   Array::FromValues<uint32_t>(DType::kFloat32, {2},
                                               {0x80000000u, 0x7fc01234u})})},
      {"big_int", Tree::Int(std::numeric_limits<int64_t>::min())},
      {"none", Tree::None()},
  });
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), tree));
  auto back = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE(*back == tree) << back->DebugString();
  // Spot checks that equality really covers what matters.
  EXPECT_TRUE(back->keys()[2].is_int());
  EXPECT_EQ(back->keys()[0].str(), "z_first");
  EXPECT_EQ((*back)["a_second"].kind(), Tree::Kind::kTuple);
  EXPECT_TRUE(std::signbit((*back)["floats"][0].float_value()));
  EXPECT_EQ((*back)["floats"][1].float_bits(), 0x7ff8dead0000beefULL);
}

TEST_F(CheckpointerTest, EmptyAndScalarTopLevelTreesRoundTrip) {
  for (const Tree& t : {Tree::Dict(), Tree::List(), Tree::Tuple(), Tree::None(),
                        Tree::Int(5), Tree::String("s")}) {
    SaveOptions force;
    force.force = true;
    CKPTDB_ASSERT_OK(ckpt_.Save(Path(), t, force));
    auto back = ckpt_.Restore(Path());
    CKPTDB_ASSERT_OK(back);
    EXPECT_EQ(*back, t) << t.DebugString();
  }
}

TEST_F(CheckpointerTest, StructureMismatchNamesTheFirstDifferingPath) {
  Tree saved = Tree::Dict(
      {{"params", Tree::Dict({{"w", I64({2}, {1, 2})}, {"b", Tree::Int(3)}})},
       {"step", Tree::Int(7)}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved));

  Tree extra = saved.DeepCopy();
  extra.Find("params")->Insert("missing", Tree::Int(0));
  EXPECT_THAT(ckpt_.Restore(Path(), extra),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at 'params/missing': the target has this "
                                 "key, the checkpoint does not")));

  Tree fewer = Tree::Dict(
      {{"params", Tree::Dict({{"w", Tree::None()}})}, {"step", Tree::Int(0)}});
  EXPECT_THAT(ckpt_.Restore(Path(), fewer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at 'params/b': the checkpoint has this key, "
                                 "the target does not")));

  Tree wrong_kind = saved.DeepCopy();
  *wrong_kind.Find("step") = Tree::List({Tree::Int(1)});
  EXPECT_THAT(ckpt_.Restore(Path(), wrong_kind),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at 'step': the checkpoint has an int, the "
                                 "target has a list")));

  CKPTDB_ASSERT_OK(ckpt_.Save(Path("list"), GuideTree()));
  Tree short_list =
      Tree::List({Tree::Int(0), Tree::Dict({{"bar", Tree::None()}}),
                  Tree::List({Tree::Int(0)})});
  EXPECT_THAT(ckpt_.Restore(Path("list"), short_list),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at '2': the checkpoint has a list of 3 "
                                 "elements, the target has 1")));
}

TEST_F(CheckpointerTest, PartialRestoreReadsOnlyTheNamedLeaves) {
  Tree saved = Tree::Dict(
      {{"a", I64({2}, {1, 2})},
       {"b", I64({1}, {3})},
       {"c", Tree::Dict({{"a", Tree::Int(4)}, {"e", I64({1}, {5})}})}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved));
  // Orbax's test_partial_restore_with_omission: omit 'b' and c.e.
  Tree target = Tree::Dict(
      {{"a", Tree::None()}, {"c", Tree::Dict({{"a", Tree::None()}})}});
  RestoreOptions opts;
  opts.partial_restore = true;
  auto back = ckpt_.Restore(Path(), target, opts);
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(*back, Tree::Dict({{"a", I64({2}, {1, 2})},
                               {"c", Tree::Dict({{"a", Tree::Int(4)}})}}));
  // Placeholders skip a leaf even without partial_restore.
  Tree with_placeholder = saved.DeepCopy();
  *with_placeholder.Find("b") = Tree::Placeholder();
  auto placed = ckpt_.Restore(Path(), with_placeholder);
  CKPTDB_ASSERT_OK(placed);
  EXPECT_EQ((*placed)["b"].kind(), Tree::Kind::kPlaceholder);
  EXPECT_EQ((*placed)["a"], saved["a"]);
}

TEST_F(CheckpointerTest, IntDictKeysMatchTheirStringFormInTargets) {
  Tree saved = Tree::Dict({{0, Tree::Int(10)}, {1, Tree::Int(11)}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved));
  Tree target = Tree::Dict({{"0", Tree::None()}, {"1", Tree::None()}});
  auto back = ckpt_.Restore(Path(), target);
  CKPTDB_ASSERT_OK(back);
  // The result takes the target's structure (and so its keys).
  EXPECT_EQ(*back, Tree::Dict({{"0", Tree::Int(10)}, {"1", Tree::Int(11)}}));
}

TEST_F(CheckpointerTest, RestoreIntoTargetFillsItsBuffersInPlace) {
  Array w = RandomArray(DType::kFloat32, {512, 1024}, 7);  // 2 MiB
  Array b = RandomArray(DType::kFloat32, {16}, 8);         // inline
  Tree saved = Tree::Dict({{"w", w}, {"b", b}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved));
  Array tw = Array::Zeros(DType::kFloat32, {512, 1024});
  Array tb = Array::Zeros(DType::kFloat32, {16});
  Tree target = Tree::Dict({{"w", tw}, {"b", tb}});
  auto back = ckpt_.Restore(Path(), target);
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ((*back)["w"].array().data(), tw.data());  // same memory
  EXPECT_EQ((*back)["b"].array().data(), tb.data());
  EXPECT_TRUE(tw.BitwiseEquals(w));  // the caller's buffer was filled
  EXPECT_TRUE(tb.BitwiseEquals(b));
  // A read-only target array is not written; a new array is returned.
  std::vector<float> ro(16, 0.0f);
  Tree ro_target =
      Tree::Dict({{"w", Tree::None()},
                  {"b", Array::BorrowConst(DType::kFloat32, {16}, ro.data())}});
  auto back2 = ckpt_.Restore(Path(), ro_target);
  CKPTDB_ASSERT_OK(back2);
  EXPECT_NE((*back2)["b"].array().data(), ro.data());
  EXPECT_EQ(ro[0], 0.0f);
  EXPECT_TRUE((*back2)["b"].array().BitwiseEquals(b));
}

TEST_F(CheckpointerTest, SaveArgsCastOnSaveAndRestoreArgsCastOnRestore) {
  std::vector<float> v = {1.0f, 3.14159265f, -2.5f, 1e-3f};
  Tree saved = Tree::Dict(
      {{"w", Array::FromValues<float>(DType::kFloat32, {4}, v)},
       {"big", RandomArray(DType::kFloat32, {1 << 19}, 3)},  // 2 MiB, chunked
       {"keep", Array::FromValues<float>(DType::kFloat32, {4}, v)}});
  SaveOptions so;
  so.save_args["w"].dtype = DType::kBFloat16;
  so.save_args["big"].dtype = DType::kBFloat16;
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved, so));

  auto meta = ckpt_.Metadata(Path());
  CKPTDB_ASSERT_OK(meta);
  EXPECT_EQ(meta->children[0].array.dtype, DType::kBFloat16);
  EXPECT_EQ(meta->children[0].array.source_dtype, DType::kFloat32);
  EXPECT_EQ(meta->children[1].array.nbytes, size_t{1} << 20);
  EXPECT_EQ(meta->children[2].array.dtype, DType::kFloat32);

  auto back = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ((*back)["w"].array().dtype(), DType::kBFloat16);
  EXPECT_TRUE((*back)["w"].array().BitwiseEquals(
      saved["w"].array().AsType(DType::kBFloat16)));
  EXPECT_TRUE((*back)["big"].array().BitwiseEquals(
      saved["big"].array().AsType(DType::kBFloat16)));

  RestoreOptions ro;
  ro.restore_args["w"].dtype = DType::kFloat32;
  ro.default_restore_args.dtype = DType::kFloat64;
  auto cast = ckpt_.Restore(Path(), ro);
  CKPTDB_ASSERT_OK(cast);
  EXPECT_TRUE((*cast)["w"].array().BitwiseEquals(
      saved["w"].array().AsType(DType::kBFloat16).AsType(DType::kFloat32)));
  EXPECT_EQ((*cast)["keep"].array().dtype(), DType::kFloat64);
  EXPECT_EQ((*cast)["keep"].array().data_as<double>()[1],
            static_cast<double>(v[1]));
}

TEST_F(CheckpointerTest, MissingOrForeignPathsGiveClearErrors) {
  EXPECT_THAT(ckpt_.Restore(Path("nope")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no ckptdb database at")));
  // A directory with someone else's files is never overwritten.
  const std::string foreign = Path("foreign");
  fs::create_directories(foreign);
  std::ofstream(foreign + "/notes.txt") << "precious";
  SaveOptions force;
  force.force = true;
  EXPECT_THAT(ckpt_.Save(foreign, GuideTree(), force),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not a ckptdb database")));
  EXPECT_TRUE(fs::exists(foreign + "/notes.txt"));
  EXPECT_THAT(ckpt_.Restore(foreign),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not a ckptdb database")));
  // A plain file.
  std::ofstream(Path("file")) << "x";
  EXPECT_THAT(ckpt_.Save(Path("file"), GuideTree()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a directory")));
  // Restore of an item that does not exist.
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), GuideTree()));
  RestoreOptions ro;
  ro.item = "params";
  EXPECT_THAT(ckpt_.Restore(Path(), ro),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("has no item 'params' (items: default)")));
  // Invalid trees.
  EXPECT_THAT(ckpt_.Save(Path("ph"), Tree::Dict({{"p", Tree::Placeholder()}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leaf 'p': a Placeholder cannot be saved")));
  std::vector<float> buf(4);
  EXPECT_THAT(
      ckpt_.Save(Path("neg"),
                 Tree::Dict({{"a", Array::Borrow(DType::kFloat32, {2, -2},
                                                 buf.data())}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("leaf 'a': invalid shape (2, -2)")));
}

TEST_F(CheckpointerTest, InfoGivesTimesCustomMetadataAndItems) {
  const int64_t before = absl::ToUnixNanos(absl::Now());
  SaveOptions o;
  o.custom_metadata = Tree::Dict({{"run", Tree::String("a")}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), GuideTree(), o));
  const int64_t after = absl::ToUnixNanos(absl::Now());
  auto info = ckpt_.Info(Path());
  CKPTDB_ASSERT_OK(info);
  EXPECT_GE(info->init_time_ns, before);
  EXPECT_LE(info->init_time_ns, info->commit_time_ns);
  EXPECT_LE(info->commit_time_ns, after);
  EXPECT_EQ(info->custom_metadata, o.custom_metadata);
  ASSERT_EQ(info->items.size(), 1u);
  EXPECT_EQ(info->items[0].name, "default");
  EXPECT_EQ(info->logical_bytes, 16u);  // the int64 array [2, 3]

  // Without custom metadata: None.
  CKPTDB_ASSERT_OK(ckpt_.Save(Path("plain"), GuideTree()));
  auto plain = ckpt_.Info(Path("plain"));
  CKPTDB_ASSERT_OK(plain);
  EXPECT_EQ(plain->custom_metadata.kind(), Tree::Kind::kNone);

  EXPECT_THAT(ckpt_.Info(Path("nope")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no ckptdb database at")));
  CheckpointManagerOptions mo;
  mo.enable_async_checkpointing = false;
  {
    auto m = CheckpointManager::Open(Path("run"), mo);
    CKPTDB_ASSERT_OK(m);
    CKPTDB_ASSERT_OK((*m)->Save(0, GuideTree()).status());
  }
  EXPECT_THAT(ckpt_.Info(Path("run")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is a CheckpointManager database")));
}

// A per-leaf argument must name exactly one leaf: a typo would silently
// skip the cast, and two leaves whose paths print alike ('a/b' and a/b, 0
// and "0") would both take it.
TEST_F(CheckpointerTest, PerLeafArgsNameExactlyOneLeaf) {
  std::vector<double> v = {1.0 / 3, 2.0 / 3};
  Tree alike = Tree::Dict(
      {{"a/b", Array::Borrow(DType::kFloat64, {2}, v.data())},
       {"a",
        Tree::Dict({{"b", Array::Borrow(DType::kFloat64, {2}, v.data())}})}});
  SaveOptions cast;
  cast.save_args["a/b"].dtype = DType::kFloat16;
  EXPECT_THAT(ckpt_.Save(Path("alike"), alike, cast),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("save_args entry 'a/b' matches 2 leaves of "
                                 "item 'default'")));
  Tree ints = Tree::Dict({{DictKey(0), Tree::Int(1)}, {"0", Tree::Int(2)}});
  SaveOptions zero;
  zero.save_args["0"].dtype = DType::kFloat16;
  EXPECT_THAT(ckpt_.Save(Path("ints"), ints, zero),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("matches 2 leaves")));
  SaveOptions typo;
  typo.save_args["params/w"].dtype = DType::kFloat16;
  EXPECT_THAT(ckpt_.Save(Path("typo"), alike, typo),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("save_args names 'params/w', which is not a "
                                 "leaf of item 'default'")));
  for (const char* failed : {"alike", "ints", "typo"}) {  // nothing saved
    EXPECT_THAT(ckpt_.Restore(Path(failed)),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("")));
  }

  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), alike));
  RestoreOptions ro;
  ro.restore_args["a/b"].dtype = DType::kFloat32;
  EXPECT_THAT(ckpt_.Restore(Path(), ro),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("restore_args entry 'a/b' matches 2 leaves")));
  RestoreOptions rtypo;
  rtypo.restore_args["a/c"].dtype = DType::kFloat32;
  EXPECT_THAT(ckpt_.Restore(Path(), rtypo),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("restore_args names 'a/c', which is not a "
                                 "restored leaf of step")));
  // Unambiguous entries still cast.
  Tree plain = Tree::Dict({{"w", Array::Borrow(DType::kFloat64, {2}, v.data())},
                           {"n", Tree::Int(3)}});
  SaveOptions ok;
  ok.save_args["w"].dtype = DType::kFloat32;
  CKPTDB_ASSERT_OK(ckpt_.Save(Path("plain"), plain, ok));
  auto back = ckpt_.Restore(Path("plain"));
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ((*back)["w"].array().dtype(), DType::kFloat32);
}

// Malformed trees (the public API can build them) are InvalidArgument
// naming the path, from Checkpointer, AsyncCheckpointer (before anything is
// copied: a null-data array used to crash the copy) and both manager
// modes, and nothing is saved.
TEST_F(CheckpointerTest, MalformedTreesAreRejectedByEverySaveBeforeCapture) {
  Tree extra_value = Tree::Dict({{"a", Tree::Int(1)}});
  extra_value.mutable_children().push_back(Tree::Int(2));
  Tree leaf_with_child = Tree::Int(3);
  leaf_with_child.mutable_children().push_back(Tree::Int(4));
  Tree dup = Tree::Dict();
  dup.InsertNew("a", Tree::Int(1));
  dup.InsertNew("a", Tree::Int(2));
  Tree list_with_key = Tree::List({Tree::Int(1)});
  list_with_key.Insert("k", Tree::Int(2));
  struct Case {
    Tree tree;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Tree::Dict({{"p", extra_value}}),
       "leaf 'p': a dict with 1 keys and 2 values"},
      {Tree::Dict({{"s", leaf_with_child}}),
       "leaf 's': a int leaf with children"},
      {Tree::Dict({{"d", dup}}), "leaf 'd': the dict has the key 'a' twice"},
      {Tree::Dict({{"l", list_with_key}}), "leaf 'l': a list with dict keys"},
      {Tree::Dict({{"x", Array::Borrow(DType::kFloat32, {4}, nullptr)}}),
       "leaf 'x': array has no data"},
      {Tree::Dict({{"ph", Tree::Placeholder()}}),
       "leaf 'ph': a Placeholder cannot be saved"},
  };
  AsyncCheckpointer async;
  CheckpointManagerOptions sync_options;
  sync_options.enable_async_checkpointing = false;
  auto sync_mgr = CheckpointManager::Open(Path("sync"), sync_options);
  auto async_mgr = CheckpointManager::Open(Path("async"));
  CKPTDB_ASSERT_OK(sync_mgr);
  CKPTDB_ASSERT_OK(async_mgr);
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const std::string p = Path(absl::StrCat("c", n++));
    EXPECT_THAT(
        ckpt_.Save(p, c.tree),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
    EXPECT_THAT(
        async.Save(p, c.tree),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
    for (auto* mgr : {&*sync_mgr, &*async_mgr}) {
      EXPECT_THAT(
          (*mgr)->Save(n, c.tree).status(),
          StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
    }
  }
  CKPTDB_ASSERT_OK(async.WaitUntilFinished());
  for (auto* mgr : {&*sync_mgr, &*async_mgr}) {
    CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
    EXPECT_TRUE((*mgr)->AllSteps().empty());
    // The next valid save is not blamed for an earlier bad one.
    auto saved = (*mgr)->Save(100, GuideTree());
    CKPTDB_ASSERT_OK(saved);
    EXPECT_TRUE(*saved);
    CKPTDB_ASSERT_OK((*mgr)->WaitUntilFinished());
  }
}

// A forced replace is atomic for readers: a Restore racing it sees the old
// or the new checkpoint, never "no checkpoint".
TEST_F(CheckpointerTest, ForcedReplaceIsAtomicForConcurrentReaders) {
  std::vector<Tree> versions;
  for (int v = 0; v < 2; ++v) {
    versions.push_back(
        Tree::Dict({{"w", RandomArray(DType::kFloat32, {256, 1024}, 70 + v)},
                    {"v", Tree::Int(v)}}));
  }
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), versions[0]));
  std::atomic<bool> stop{false};
  std::atomic<int> replaces{0};
  std::thread writer([&] {
    SaveOptions force;
    force.force = true;
    for (int i = 1; !stop.load(); ++i) {
      ASSERT_TRUE(ckpt_.Save(Path(), versions[i % 2], force).ok());
      ++replaces;
      // Back-to-back forever could outrun a reader's bounded retries.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  // Restore until the reader has seen both versions and raced a fair
  // number of replaces (whatever the machine's speed), within a generous
  // deadline.
  constexpr int kMinRaces = 20;
  int restores = 0;
  bool seen[2] = {false, false};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!(seen[0] && seen[1] && restores >= kMinRaces &&
           replaces.load() >= kMinRaces) &&
         std::chrono::steady_clock::now() < deadline) {
    auto r = ckpt_.Restore(Path());
    ASSERT_TRUE(r.ok()) << "restore " << restores << ": " << r.status();
    const int64_t v = (*r)["v"].int_value();
    ASSERT_TRUE(v == 0 || v == 1) << v;
    EXPECT_TRUE(*r == versions[v]);
    seen[v] = true;
    ++restores;
  }
  stop.store(true);
  writer.join();
  EXPECT_TRUE(seen[0] && seen[1]);
  EXPECT_GE(restores, kMinRaces);
  EXPECT_GE(replaces.load(), kMinRaces);
}

// Threads of one process racing to create the same new checkpoint: each
// either saves or is told the database is busy, never "damaged" or "not a
// ckptdb database".
TEST_F(CheckpointerTest, ThreadsRacingToCreateOneCheckpointGetBusy) {
  for (int round = 0; round < 5; ++round) {
    const std::string p = Path(absl::StrCat("race", round));
    std::vector<absl::Status> results(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t) {
      threads.emplace_back([&, t] {
        SaveOptions force;
        force.force = true;
        results[t] = ckpt_.Save(p, GuideTree(), force);
      });
    }
    for (std::thread& t : threads) t.join();
    int saved = 0;
    for (const absl::Status& s : results) {
      if (s.ok()) {
        ++saved;
      } else {
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("is busy")));
      }
    }
    EXPECT_GE(saved, 1);
    CKPTDB_EXPECT_OK(ckpt_.Restore(p));
  }
}

// Orbax's int/str key fallback: a saved int key 1 answers a target key
// "1", but one saved entry never answers two target keys.
TEST_F(CheckpointerTest, IntStrKeyFallbackMatchesEachSavedEntryOnce) {
  CKPTDB_ASSERT_OK(ckpt_.Save(
      Path(), Tree::Dict({{DictKey(1), Tree::Int(10)}, {"b", Tree::Int(2)}})));
  auto by_str = ckpt_.Restore(
      Path(), Tree::Dict({{"1", Tree::Int(0)}, {"b", Tree::Int(0)}}));
  CKPTDB_ASSERT_OK(by_str);
  EXPECT_EQ((*by_str)["1"].int_value(), 10);
  EXPECT_THAT(ckpt_.Restore(Path(), Tree::Dict({{DictKey(1), Tree::Int(0)},
                                                {"1", Tree::Int(0)},
                                                {"b", Tree::Int(0)}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at '1': another key of the target")));
}

TEST_F(CheckpointerTest, CorruptChunkByteIsDataLossNamingTheLeaf) {
  StoreTuning tuning;
  tuning.chunk_bytes = 64 << 10;
  Checkpointer ckpt(tuning);
  Array w = RandomArray(DType::kFloat32, {100000}, 11);  // 400 KB, 7 chunks
  Tree saved = Tree::Dict(
      {{"params", Tree::Dict({{"layer0", Tree::Dict({{"kernel", w}})}})},
       {"other", RandomArray(DType::kFloat32, {50000}, 12)}});
  CKPTDB_ASSERT_OK(ckpt.Save(Path(), saved));
  // Flip one byte in the middle of the kernel's fourth chunk.
  const char* p = static_cast<const char*>(w.data()) + 3 * (64 << 10) + 1000;
  auto [file, offset] = FindBytes(Path(), std::string(p, 64));
  ASSERT_FALSE(file.empty());
  FlipByte(file, offset + 10);
  EXPECT_THAT(ckpt.Restore(Path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("leaf 'params/layer0/kernel': chunk 4 of 7")));
  // A target that leaves the kernel out still restores.
  RestoreOptions partial;
  partial.partial_restore = true;
  auto other =
      ckpt.Restore(Path(), Tree::Dict({{"other", Tree::None()}}), partial);
  CKPTDB_ASSERT_OK(other);
  EXPECT_EQ((*other)["other"], saved["other"]);
  // Metadata does not read arrays.
  CKPTDB_EXPECT_OK(ckpt.Metadata(Path()));
}

// RocksDB's block checksum catches the damage first (a damaged block is
// never parsed unverified: damage_test), so the error names the first
// record of the damaged block, not the damaged record itself.
TEST_F(CheckpointerTest, CorruptTreeNodeRecordIsDataLossNamingTheItem) {
  Tree saved = Tree::Dict(
      {{"params", Tree::Dict({{"first", Tree::Int(1)},
                              {"a_very_distinctive_leaf_name", Tree::Int(2)},
                              {"third", Tree::Int(3)}})},
       {"step", Tree::Int(9)}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), saved));
  auto [file, offset] = FindBytes(Path(), "a_very_distinctive_leaf_name");
  ASSERT_FALSE(file.empty());
  FlipByte(file, offset + 5);
  EXPECT_THAT(ckpt_.Restore(Path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("item 'default' node #0 (the root) and the "
                                 "records after it: cannot read: Corruption: "
                                 "block checksum mismatch")));
  EXPECT_THAT(ckpt_.Metadata(Path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("block checksum mismatch")));
}

TEST_F(CheckpointerTest, TruncatedDatabaseDirectoryGivesAClearError) {
  CKPTDB_ASSERT_OK(ckpt_.Save(Path("a"), GuideTree()));
  fs::remove(Path("a") + "/CURRENT");
  EXPECT_THAT(ckpt_.Restore(Path("a")),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("its CURRENT file is missing")));
  SaveOptions force;
  force.force = true;
  EXPECT_THAT(ckpt_.Save(Path("a"), GuideTree(), force),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("its CURRENT file is missing")));

  // Every table file removed.
  CKPTDB_ASSERT_OK(ckpt_.Save(Path("b"), GuideTree()));
  for (const auto& e : fs::directory_iterator(Path("b"))) {
    if (e.path().extension() == ".sst") fs::remove(e.path());
  }
  auto r = ckpt_.Restore(Path("b"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == absl::StatusCode::kDataLoss ||
              r.status().code() == absl::StatusCode::kNotFound)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(Path("b")));

  // MANIFEST truncated to half.
  CKPTDB_ASSERT_OK(ckpt_.Save(Path("c"), GuideTree()));
  for (const auto& e : fs::directory_iterator(Path("c"))) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) {
      fs::resize_file(e.path(), fs::file_size(e.path()) / 2);
    }
  }
  auto m = ckpt_.Restore(Path("c"));
  EXPECT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr(Path("c")));
}

TEST_F(CheckpointerTest, IdenticalArraysAreStoredOnce) {
  Array big = RandomArray(DType::kFloat32, {16 << 20}, 5);  // 64 MiB
  Array copy = big.Copy();
  Tree tree = Tree::Dict({{"a", big}, {"b", copy}});
  CKPTDB_ASSERT_OK(ckpt_.Save(Path(), tree));
  const uint64_t bytes = DirectoryBytes(Path());
  EXPECT_GT(bytes, uint64_t{64} << 20);
  EXPECT_LT(bytes, (uint64_t{64} << 20) * 11 / 10) << bytes;
  auto back = ckpt_.Restore(Path());
  CKPTDB_ASSERT_OK(back);
  EXPECT_EQ(*back, tree);
}

}  // namespace
}  // namespace ckptdb

namespace ckptdb {
namespace {

// Tied weights: two target leaves share one buffer while the saved values
// differ. Only one of them may be filled in place.
TEST(CheckpointerTargetTest, TargetLeavesSharingMemoryAreNotBothFilled) {
  TempDir dir;
  Checkpointer ckpt;
  Array a = RandomArray(DType::kFloat32, {1 << 18}, 1);  // 1 MiB
  Array b = RandomArray(DType::kFloat32, {1 << 18}, 2);
  CKPTDB_ASSERT_OK(ckpt.Save(dir.Sub("c"), Tree::Dict({{"a", a}, {"b", b}})));
  Array shared = Array::Zeros(DType::kFloat32, {1 << 18});
  Tree target = Tree::Dict({{"a", shared}, {"b", shared}});
  auto back = ckpt.Restore(dir.Sub("c"), target);
  CKPTDB_ASSERT_OK(back);
  EXPECT_TRUE((*back)["a"].array().BitwiseEquals(a));
  EXPECT_TRUE((*back)["b"].array().BitwiseEquals(b));
  EXPECT_NE((*back)["a"].array().data(), (*back)["b"].array().data());
  // Overlapping (not identical) views of one buffer are caught too.
  Array big = Array::Zeros(DType::kFloat32, {3 << 17});
  float* p = static_cast<float*>(big.mutable_data());
  Tree overlap = Tree::Dict(
      {{"a", Array::Borrow(DType::kFloat32, {1 << 18}, p)},
       {"b", Array::Borrow(DType::kFloat32, {1 << 18}, p + (1 << 17))}});
  auto back2 = ckpt.Restore(dir.Sub("c"), overlap);
  CKPTDB_ASSERT_OK(back2);
  EXPECT_TRUE((*back2)["a"].array().BitwiseEquals(a));
  EXPECT_TRUE((*back2)["b"].array().BitwiseEquals(b));
}

}  // namespace
}  // namespace ckptdb
