// ckptdb/import.h: ImportCheckpoint, ImportAll and ReadCheckpoint over
// every format, the errors that name the file, nothing partial imported,
// and the limits on hostile files (FIFOs, deep paths, overlapping zip
// entries, node counts, GDA placeholders).
#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/import.h"
#include "core/limits.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace ckptdb {
namespace {

namespace fs = std::filesystem;
using ::ckptdb::testing::StatusIs;
using ::ckptdb::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kReal = CKPTDB_FIXTURES_DIR;
const std::string kSarRoot =
    kReal + "/SAR2652__Polynomial-Expansion/checkpoints";

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Npy(const Array& a) {
  std::string s =
      npy::EncodeNpyHeader(*npy::DescrForDType(a.dtype()), a.shape());
  s.append(static_cast<const char*>(a.data()), a.nbytes());
  return s;
}

// A msgpack ext-1 ndarray of float32 values (Flax's encoding).
std::string MsgpackF32(const std::vector<float>& v) {
  std::string payload;
  payload += '\x93';                       // array of 3
  payload += '\x91';                       // shape: [n]
  payload += static_cast<char>(v.size());  // positive fixint
  payload +=
      "\xa7"
      "float32";      // dtype name
  payload += '\xc4';  // bin8
  payload += static_cast<char>(v.size() * 4);
  payload.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  std::string out = "\xc7";  // ext8
  out += static_cast<char>(payload.size());
  out += '\x01';
  return out + payload;
}

// {"params": {"w": <w>}} as Flax writes it.
std::string FlaxFile(const std::string& w) {
  return std::string("\x81\xa6params\x81\xa1w") + w;
}

absl::StatusOr<std::unique_ptr<CheckpointManager>> OpenManager(
    const std::string& dir) {
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  return CheckpointManager::Open(dir, o);
}

TEST(ImportApiTest, ImportsEachFormatByContent) {
  TempDir tmp;
  const Array w = Array::FromValues<float>(DType::kFloat32, {3}, {1, 2, 3});
  // An .npz with a nested member, a safetensors file, a Flax file and an
  // .npy folder; none named by its format.
  {
    auto zip = npy::ZipWriter::Create(tmp.Sub("a.bin"));
    ASSERT_TRUE(zip.ok());
    const std::string m = Npy(w);
    CKPTDB_ASSERT_OK((*zip)->BeginMember("params/w.npy", m.size()));
    CKPTDB_ASSERT_OK((*zip)->Write(m));
    CKPTDB_ASSERT_OK((*zip)->EndMember());
    CKPTDB_ASSERT_OK((*zip)->Finish());
  }
  auto st = safetensors::Encode({{"params.w", w}}, {{"note", "hi"}});
  ASSERT_TRUE(st.ok());
  WriteFile(tmp.Sub("b.bin"), *st);
  WriteFile(tmp.Sub("c.bin"), FlaxFile(MsgpackF32({1, 2, 3})));
  WriteFile(tmp.Sub("d/params/w.npy"), Npy(w));
  auto mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok()) << mgr.status();
  Tree want = Tree::Dict();
  want.Insert("params", Tree::Dict()).Insert("w", Tree(w));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a.bin", "npz"},
      {"b.bin", "safetensors"},
      {"c.bin", "msgpack"},
      {"d", "npy"}};
  int64_t step = 1;
  for (const auto& [name, format] : cases) {
    auto s = ImportCheckpoint(**mgr, step, tmp.Sub(name));
    ASSERT_TRUE(s.ok()) << name << ": " << s.status();
    EXPECT_EQ(s->format, format);
    EXPECT_THAT(s->items, ElementsAre("default"));
    auto got = (*mgr)->Restore(step);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << name;
    ++step;
  }
  // safetensors' __metadata__ is the step's custom metadata.
  auto info = (*mgr)->StepMetadata(2);
  ASSERT_TRUE(info.ok());
  ASSERT_NE(info->custom_metadata.Find("note"), nullptr);
  EXPECT_EQ(info->custom_metadata.Find("note")->string_value(), "hi");
  // --format forces a reader: the Flax file read as safetensors fails.
  ImportOptions forced;
  forced.format = ImportFormat::kSafetensors;
  EXPECT_THAT(ImportCheckpoint(**mgr, 9, tmp.Sub("c.bin"), forced).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(tmp.Sub("c.bin"))));
}

TEST(ImportApiTest, BadFileNamesItAndImportsNothing) {
  TempDir tmp;
  std::string bad = FlaxFile(MsgpackF32({1, 2, 3}));
  bad.resize(bad.size() - 3);  // truncated inside the array's bytes
  WriteFile(tmp.Sub("ckpt"), bad);
  auto mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok());
  EXPECT_THAT(ImportCheckpoint(**mgr, 1, tmp.Sub("ckpt")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(tmp.Sub("ckpt") + ": byte ")));
  EXPECT_TRUE((*mgr)->AllSteps().empty());
  // An existing step fails before the source is read.
  WriteFile(tmp.Sub("good"), FlaxFile(MsgpackF32({1})));
  CKPTDB_ASSERT_OK(ImportCheckpoint(**mgr, 1, tmp.Sub("good")).status());
  EXPECT_THAT(ImportCheckpoint(**mgr, 1, tmp.Sub("ckpt")).status(),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("step 1 already exists")));
  EXPECT_THAT(ImportCheckpoint(**mgr, 2, tmp.Sub("missing")).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

TEST(ImportApiTest, FlaxFolderKeepsFlaxNamesAndFloatSteps) {
  TempDir tmp;
  const std::string dir = tmp.Sub("flax");
  WriteFile(dir + "/checkpoint_1", FlaxFile(MsgpackF32({1})));
  WriteFile(dir + "/checkpoint_2.0", FlaxFile(MsgpackF32({2})));
  WriteFile(dir + "/checkpoint_tmp", "junk");
  auto mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok());
  auto r = ImportAll(**mgr, dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->format, "msgpack");
  ASSERT_EQ(r->steps.size(), 2u);
  EXPECT_EQ(r->steps[0].name, "checkpoint_1");
  EXPECT_EQ(r->steps[1].name, "checkpoint_2.0");
  EXPECT_EQ(r->steps[1].step, 2);
  EXPECT_THAT((*mgr)->AllSteps(), ElementsAre(1, 2));
  EXPECT_EQ((*mgr)->StepName(1), "checkpoint_1");  // naming adopted
  EXPECT_EQ((*mgr)->StepMetadata(2)->name, "checkpoint_2.0");
  // Again: every step exists, nothing is read or saved.
  EXPECT_THAT(ImportAll(**mgr, dir).status(),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("step 1")));
}

TEST(ImportApiTest, ImportAllRollsBackWhenALaterFileIsBad) {
  TempDir tmp;
  const std::string dir = tmp.Sub("flax");
  WriteFile(dir + "/checkpoint_1", FlaxFile(MsgpackF32({1})));
  WriteFile(dir + "/checkpoint_2", FlaxFile(MsgpackF32({2})));
  WriteFile(dir + "/checkpoint_3", "\x81\xa1w\xc7\x10\x01");  // truncated ext
  auto mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok());
  EXPECT_THAT(ImportAll(**mgr, dir).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir + "/checkpoint_3: byte ")));
  EXPECT_TRUE((*mgr)->AllSteps().empty());
  // The database agrees after a reopen.
  mgr->reset();
  mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok());
  EXPECT_TRUE((*mgr)->AllSteps().empty());
}

TEST(ImportApiTest, GdaPlaceholderReadsTheZarrArray) {
  TempDir tmp;
  const std::string file = tmp.Sub("checkpoint_5");
  WriteFile(file, std::string("\x81\xa1w\xb2//GDAPlaceholder:w"));
  // A zarr v2 array of 4 int32 in one raw chunk, as save_checkpoint_
  // multiprocess writes into checkpoint_<step>_gda/<path>.
  WriteFile(file + "_gda/w/.zarray",
            R"({"chunks":[4],"compressor":null,"dtype":"<i4",)"
            R"("fill_value":0,"filters":null,"order":"C","shape":[4],)"
            R"("zarr_format":2})");
  const int32_t v[4] = {7, 8, 9, 10};
  WriteFile(file + "_gda/w/0",
            std::string(reinterpret_cast<const char*>(v), sizeof(v)));
  auto c = ReadCheckpoint(file);
  ASSERT_TRUE(c.ok()) << c.status();
  const Tree& w = *c->items.at("default").Find("w");
  ASSERT_EQ(w.kind(), Tree::Kind::kArray);
  EXPECT_TRUE(w.array().BitwiseEquals(
      Array::FromValues<int32_t>(DType::kInt32, {4}, {7, 8, 9, 10})));
  fs::remove_all(file + "_gda");
  EXPECT_THAT(ReadCheckpoint(file).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("'" + file +
                                 "_gda/w' (save_checkpoint_"
                                 "multiprocess's _gda folder) is missing")));
}

TEST(ImportApiTest, FifoNamedNpyIsRefusedNotAwaited) {
  TempDir tmp;
  fs::create_directories(tmp.Sub("in"));
  WriteFile(tmp.Sub("in/a.npy"),
            Npy(Array::FromValues<float>(DType::kFloat32, {1}, {1})));
  ASSERT_EQ(mkfifo(tmp.Sub("in/x.npy").c_str(), 0600), 0);
  EXPECT_THAT(ReadCheckpoint(tmp.Sub("in")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("in/x.npy' is not a regular file")));
  EXPECT_THAT(ReadCheckpoint(tmp.Sub("in/x.npy")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not a regular file or a folder")));
}

TEST(ImportApiTest, DeepNpzMemberPathIsRefused) {
  TempDir tmp;
  const std::string m =
      Npy(Array::FromValues<float>(DType::kFloat32, {1}, {1}));
  for (int depth : {limits::kMaxTreeDepth, 30000}) {
    std::string name;
    for (int i = 0; i < depth - 1; ++i) name += "a/";
    name += "w.npy";
    const std::string path = tmp.Sub(absl::StrCat(depth, ".npz"));
    auto zip = npy::ZipWriter::Create(path);
    ASSERT_TRUE(zip.ok());
    CKPTDB_ASSERT_OK((*zip)->BeginMember(name, m.size()));
    CKPTDB_ASSERT_OK((*zip)->Write(m));
    CKPTDB_ASSERT_OK((*zip)->EndMember());
    CKPTDB_ASSERT_OK((*zip)->Finish());
    auto c = ReadCheckpoint(path);
    if (depth == limits::kMaxTreeDepth) {
      EXPECT_TRUE(c.ok()) << c.status();
    } else {
      EXPECT_THAT(c.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("(the limit is 256)")));
    }
  }
}

// Central directory entries that all point at one member's bytes.
TEST(ImportApiTest, OverlappingZipEntriesAreRefused) {
  TempDir tmp;
  const std::string path = tmp.Sub("bomb.npz");
  const std::string m =
      Npy(Array::FromValues<float>(DType::kFloat32, {4}, {1, 2, 3, 4}));
  {
    auto zip = npy::ZipWriter::Create(path);
    ASSERT_TRUE(zip.ok());
    CKPTDB_ASSERT_OK((*zip)->BeginMember("w.npy", m.size()));
    CKPTDB_ASSERT_OK((*zip)->Write(m));
    CKPTDB_ASSERT_OK((*zip)->EndMember());
    CKPTDB_ASSERT_OK((*zip)->Finish());
  }
  // Duplicate the one central directory entry under other names.
  std::ifstream in(path, std::ios::binary);
  std::string z((std::istreambuf_iterator<char>(in)),
                std::istreambuf_iterator<char>());
  const size_t cd = z.find("PK\x01\x02");
  const size_t end = z.find("PK\x05\x06");
  ASSERT_NE(cd, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::string entry = z.substr(cd, end - cd);
  std::string dir = entry;
  for (char c : {'x', 'y'}) {
    std::string e = entry;
    e[46] = c;  // first byte of the name: "x.npy", "y.npy"
    dir += e;
  }
  std::string eocd = z.substr(end);
  eocd[8] = eocd[10] = 3;  // entries on this disk, total entries
  const uint32_t size = static_cast<uint32_t>(dir.size());
  std::memcpy(&eocd[12], &size, 4);
  WriteFile(path, z.substr(0, cd) + dir + eocd);
  EXPECT_THAT(ReadCheckpoint(path).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("overlap at byte 0")));
}

TEST(ImportApiTest, NodeCountAndDepthLimitsAreErrors) {
  TempDir tmp;
  // An array32 of 2^22 + 1 nils: 4 MiB on disk, ~1.6 GB as tree nodes;
  // refused from its count, before any node is built.
  const uint32_t n = static_cast<uint32_t>(limits::kMaxDecodedNodes) + 1;
  std::string many = "\x81\xa1w\xdd";
  for (int i = 3; i >= 0; --i) many += static_cast<char>(n >> (8 * i));
  many.append(n, '\xc0');
  WriteFile(tmp.Sub("many"), many);
  EXPECT_THAT(ReadCheckpoint(tmp.Sub("many")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 4194304 values")));
  // Maps nested one level deeper than the shared limit.
  std::string deep;
  for (int i = 0; i <= limits::kMaxTreeDepth; ++i) deep += "\x81\xa1k";
  deep += '\xc0';
  WriteFile(tmp.Sub("deep"), deep);
  EXPECT_THAT(ReadCheckpoint(tmp.Sub("deep")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nesting deeper than 256")));
}

TEST(ImportApiTest, OrbaxRootImportsEveryStepAndReadsSubtrees) {
  if (!fs::exists(kSarRoot)) GTEST_SKIP() << "no fixtures at " << kSarRoot;
  TempDir tmp;
  auto mgr = OpenManager(tmp.Sub("db"));
  ASSERT_TRUE(mgr.ok());
  auto r = ImportAll(**mgr, kSarRoot);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->format, "orbax");
  ASSERT_EQ(r->steps.size(), 1u);
  EXPECT_THAT(r->steps[0].items, ElementsAre("default"));
  auto whole = ReadCheckpoint(kSarRoot + "/1");
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto restored = (*mgr)->Restore(1);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(*restored, whole->items.at("default"));
  // Only one subtree: the other leaves are None, unread.
  ImportOptions only;
  only.only_paths = {{"params", "decoder", "embedding"}};
  auto part = ReadCheckpoint(kSarRoot + "/1/default", only);
  ASSERT_TRUE(part.ok()) << part.status();
  const Tree& t = part->items.at("default");
  const Tree* emb = t.Find("params")->Find("decoder")->Find("embedding");
  EXPECT_EQ(*emb,
            *whole->items.at("default").Find("params")->Find("decoder")->Find(
                "embedding"));
  EXPECT_EQ(t.Find("step")->kind(), Tree::Kind::kNone);
  EXPECT_LT(t.TotalArrayBytes(), whole->items.at("default").TotalArrayBytes());
  // A damaged copy imports nothing, and names the file.
  fs::copy(kSarRoot, tmp.Sub("root"), fs::copy_options::recursive);
  fs::copy(kSarRoot + "/1", tmp.Sub("root/2"), fs::copy_options::recursive);
  fs::remove(tmp.Sub("root/2/default/manifest.ocdbt"));
  auto mgr2 = OpenManager(tmp.Sub("db2"));
  ASSERT_TRUE(mgr2.ok());
  EXPECT_THAT(
      ImportAll(**mgr2, tmp.Sub("root")).status(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("root/2/default")));
  EXPECT_TRUE((*mgr2)->AllSteps().empty());
}

}  // namespace
}  // namespace ckptdb
