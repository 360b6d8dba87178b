// export and import: a step's item as .npy files in a folder tree (one
// folder per container, one file per leaf) or as one .npz archive, and
// back. Path components are file names, escaped as EncodePathComponent
// describes; int dict keys and sequence indices become their decimal
// strings.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api/save_validation.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/status.h"
#include "core/orbax_checkpoint.h"
#include "tools/cli.h"
#include "tools/cli_flax.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_orbax.h"
#include "tools/cli_progress.h"
#include "tools/cli_safetensors.h"
#include "tools/npy.h"

namespace ckptdb::cli {
namespace {

namespace fs = std::filesystem;

absl::Status IoError(const std::string& what, const std::string& path,
                     int err) {
  const std::string msg =
      absl::StrCat("cannot ", what, " '", path, "': ", std::strerror(err));
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status WriteWholeFile(const std::string& path,
                            const std::vector<absl::string_view>& parts) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", path, errno);
  for (absl::string_view p : parts) {
    while (!p.empty()) {
      const ssize_t n = write(fd, p.data(), p.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        close(fd);
        return IoError("write", path, err);
      }
      p.remove_prefix(static_cast<size_t>(n));
    }
  }
  if (close(fd) != 0) return IoError("write", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> ReadWholeFile(
    const std::string& path, Progress* progress) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("open", path, errno);
  auto out = std::make_shared<std::string>();
  const off_t size = lseek(fd, 0, SEEK_END);
  if (size < 0) {
    close(fd);
    return IoError("read", path, errno);
  }
  out->resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out->size()) {
    const size_t want = std::min<size_t>(out->size() - done, 8 << 20);
    const ssize_t n = pread(fd, out->data() + done, want, done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      close(fd);
      return IoError("read", path, err);
    }
    done += static_cast<size_t>(n);
    if (progress != nullptr) progress->Add(static_cast<uint64_t>(n));
  }
  close(fd);
  return std::shared_ptr<const std::string>(std::move(out));
}

// ---- export -----------------------------------------------------------------

struct ExportedLeaf {
  std::string path;  // tree path
  std::string file;  // relative file (or npz member) name
  std::string dtype;
  std::string stored_dtype;  // differs for bfloat16 (written as float32)
  Shape shape;
  uint64_t bytes = 0;
};

class Exporter {
 public:
  Exporter(const Store& store, const StoredItem& item, const std::string& out,
           npy::ZipWriter* zip, Progress* progress)
      : store_(store), item_(item), out_(out), zip_(zip), progress_(progress) {}

  absl::Status Run() {
    const StoredNode& root = item_.nodes[0];
    if (IsContainer(root)) {
      return Visit(0, "");
    }
    // A single leaf: one file named after the item.
    return WriteLeaf(0, EncodePathComponent(item_.item));
  }

  std::vector<ExportedLeaf> leaves;
  std::vector<std::string> skipped;  // None leaves, empty containers (npz)
  std::vector<std::string> empty_dirs;
  uint64_t bytes = 0;

 private:
  static bool IsContainer(const StoredNode& n) {
    return n.kind == Tree::Kind::kDict || n.kind == Tree::Kind::kList ||
           n.kind == Tree::Kind::kTuple;
  }

  absl::Status Claim(const std::string& rel, bool dir) {
    auto [it, inserted] = names_.emplace(rel, dir);
    if (!inserted && !(dir && it->second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot export: two entries map to the file name '", rel,
                       "' (dict keys that differ only by a '.npy' suffix)"));
    }
    return absl::OkStatus();
  }

  absl::Status Visit(uint32_t node, const std::string& rel) {
    const StoredNode& n = item_.nodes[node];
    if (!IsContainer(n)) return WriteLeaf(node, rel);
    if (!rel.empty()) CKPTDB_RETURN_IF_ERROR(Claim(rel, true));
    if (zip_ == nullptr) {
      std::error_code ec;
      fs::create_directories(fs::path(out_) / rel, ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("cannot create '",
                                                (fs::path(out_) / rel).string(),
                                                "': ", ec.message()));
      }
    }
    if (n.children.empty() && !rel.empty()) {
      if (zip_ != nullptr) {
        skipped.push_back(item_.PathOf(node).ToString());
      } else {
        empty_dirs.push_back(rel);
      }
    }
    for (uint32_t c : n.children) {
      const StoredNode& cn = item_.nodes[c];
      const std::string comp = EncodePathComponent(
          cn.key_is_index ? absl::StrCat(cn.index) : cn.key.ToString());
      CKPTDB_RETURN_IF_ERROR(Visit(c, rel.empty() ? comp : rel + "/" + comp));
    }
    return absl::OkStatus();
  }

  absl::Status WriteLeaf(uint32_t node, const std::string& rel) {
    const StoredNode& n = item_.nodes[node];
    const std::string path = item_.PathOf(node).ToString();
    std::string header;
    std::string payload_holder;
    absl::string_view payload;
    Array a;
    ExportedLeaf leaf;
    leaf.path = path;
    switch (n.kind) {
      case Tree::Kind::kNone:
      case Tree::Kind::kPlaceholder:
        skipped.push_back(path);
        return absl::OkStatus();
      case Tree::Kind::kString:
        payload_holder = npy::EncodeStringNpy(n.scalar.string_value());
        payload = payload_holder;
        leaf.dtype = leaf.stored_dtype = "str";
        break;
      case Tree::Kind::kArray: {
        CKPTDB_ASSIGN_OR_RETURN(a, ReadArray(store_, item_, node));
        leaf.dtype = std::string(DTypeName(a.dtype()));
        if (a.dtype() == DType::kBFloat16) a = a.AsType(DType::kFloat32);
        leaf.stored_dtype = std::string(DTypeName(a.dtype()));
        break;
      }
      default: {
        const Tree& s = n.scalar;
        if (s.kind() == Tree::Kind::kBool) {
          a = Array::FromValues<uint8_t>(
              DType::kBool, {}, {static_cast<uint8_t>(s.bool_value())});
        } else if (s.kind() == Tree::Kind::kInt) {
          a = Array::FromValues<int64_t>(DType::kInt64, {}, {s.int_value()});
        } else {
          a = Array::FromValues<uint64_t>(DType::kFloat64, {},
                                          {s.float_bits()});
        }
        leaf.dtype = std::string(TreeKindName(s.kind()));
        leaf.stored_dtype = std::string(DTypeName(a.dtype()));
      }
    }
    if (n.kind != Tree::Kind::kString) {
      CKPTDB_ASSIGN_OR_RETURN(std::string descr, npy::DescrForDType(a.dtype()));
      header = npy::EncodeNpyHeader(descr, a.shape());
      payload =
          absl::string_view(static_cast<const char*>(a.data()), a.nbytes());
      leaf.shape = a.shape();
    }
    leaf.file = rel + ".npy";
    CKPTDB_RETURN_IF_ERROR(Claim(leaf.file, false));
    const uint64_t size = header.size() + payload.size();
    if (zip_ != nullptr) {
      CKPTDB_RETURN_IF_ERROR(zip_->BeginMember(leaf.file, size));
      CKPTDB_RETURN_IF_ERROR(zip_->Write(header));
      CKPTDB_RETURN_IF_ERROR(zip_->Write(payload));
      CKPTDB_RETURN_IF_ERROR(zip_->EndMember());
    } else {
      CKPTDB_RETURN_IF_ERROR(WriteWholeFile(
          (fs::path(out_) / leaf.file).string(), {header, payload}));
    }
    leaf.bytes = payload.size();
    bytes += payload.size();
    if (n.kind == Tree::Kind::kArray) progress_->Add(n.nbytes);
    leaves.push_back(std::move(leaf));
    return absl::OkStatus();
  }

  const Store& store_;
  const StoredItem& item_;
  const std::string out_;
  npy::ZipWriter* zip_;
  Progress* progress_;
  std::map<std::string, bool> names_;  // relative name -> is a directory
};

absl::Status RunExport(const Args& args) {
  std::string spec;
  CKPTDB_ASSIGN_OR_RETURN(
      auto store, OpenForStep(args[0], OpenMode::kReadOnly, args[1], &spec));
  CKPTDB_ASSIGN_OR_RETURN(StepInfo info, ResolveStep(*store, spec));
  CKPTDB_ASSIGN_OR_RETURN(std::string item_name,
                          ResolveItem(info, args.GetOptional("item")));
  CKPTDB_ASSIGN_OR_RETURN(StoredItem item, ReadItem(*store, info, item_name));
  const std::string out = args[2];
  const bool npz = args.Has("npz");
  std::error_code ec;
  if (out.empty()) return UsageError("OUT is empty");
  if (args.Has("safetensors")) {
    if (npz) return UsageError("--npz and --safetensors exclude each other");
    return ExportSafetensors(args, *store, info, item, out);
  }
  if (npz) {
    if (fs::exists(out, ec)) {
      return UsageError(absl::StrCat("'", out,
                                     "' already exists; remove it or choose "
                                     "another name"));
    }
  } else if (fs::exists(out, ec) &&
             (!fs::is_directory(out, ec) || !fs::is_empty(out, ec))) {
    return UsageError(
        absl::StrCat("'", out, "' exists and is not an empty directory"));
  }
  uint64_t total = 0;
  for (const StoredNode& n : item.nodes) {
    if (n.kind == Tree::Kind::kArray) total += n.nbytes;
  }
  std::unique_ptr<npy::ZipWriter> zip;
  if (npz) {
    // Missing parent folders are created, as for a folder export.
    const fs::path parent = fs::path(out).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat(
          "cannot create '", parent.string(), "': ", ec.message()));
    }
    CKPTDB_ASSIGN_OR_RETURN(zip, npy::ZipWriter::Create(out));
  } else {
    fs::create_directories(out, ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot create '", out, "': ", ec.message()));
    }
  }
  Progress progress(args, "export", total);
  Exporter ex(*store, item, out, zip.get(), &progress);
  absl::Status s = ex.Run();
  if (s.ok() && zip != nullptr) s = zip->Finish();
  progress.Done();
  if (!s.ok()) {
    // OUT did not exist or was empty: leave nothing half-written.
    zip.reset();
    if (npz) {
      fs::remove(out, ec);
    } else {
      fs::remove_all(out, ec);
    }
    return s;
  }
  std::vector<std::string> widened;
  for (const ExportedLeaf& l : ex.leaves) {
    if (l.dtype == DTypeName(DType::kBFloat16)) widened.push_back(l.path);
  }
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.FieldInt("step", info.step);
    w.Field("name", info.name);
    w.Field("item", item_name);
    w.Field("output", out);
    w.Field("format", npz ? "npz" : "npy");
    w.FieldUint("bytes", ex.bytes);
    w.Key("files");
    w.BeginArray();
    for (const ExportedLeaf& l : ex.leaves) {
      w.BeginObject(true);
      w.Field("path", l.path);
      w.Field("file", l.file);
      w.Field("dtype", l.dtype);
      w.Field("file_dtype", l.stored_dtype);
      w.Key("shape");
      w.BeginArray();
      for (int64_t d : l.shape) w.Int(d);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("skipped");
    w.BeginArray(true);
    for (const std::string& p : ex.skipped) w.String(p);
    w.EndArray();
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  std::string text = absl::StrCat("exported ", ex.leaves.size(),
                                  ex.leaves.size() == 1 ? " leaf" : " leaves",
                                  " (", HumanBytes(ex.bytes), ") of step ",
                                  StepLabel(info), " item '", item_name,
                                  "' to ", out, npz ? " (npz)" : "", "\n");
  if (!widened.empty()) {
    absl::StrAppend(&text,
                    "note: numpy has no bfloat16; written as float32 "
                    "(exact): ",
                    absl::StrJoin(widened, ", "), "\n");
  }
  if (!ex.skipped.empty()) {
    absl::StrAppend(&text, "note: not representable in ", npz ? ".npz" : ".npy",
                    " files, skipped: ", absl::StrJoin(ex.skipped, ", "), "\n");
  }
  Print(text);
  return absl::OkStatus();
}

// ---- import -----------------------------------------------------------------

// Inserts `leaf` at `components` under `root` (a dict), creating dicts.
absl::Status InsertAt(Tree* root, const std::vector<std::string>& components,
                      Tree leaf, const std::string& source) {
  Tree* cur = root;
  for (size_t i = 0; i + 1 < components.size(); ++i) {
    Tree* next = cur->Find(DictKey(components[i]));
    if (next == nullptr) {
      next = &cur->Insert(DictKey(components[i]), Tree::Dict());
    } else if (next->kind() != Tree::Kind::kDict) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", source, "': '",
          absl::StrJoin(components.begin(), components.begin() + i + 1, "/"),
          "' is both a leaf and a folder"));
    }
    cur = next;
  }
  if (cur->Find(DictKey(components.back())) != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", source, "': '", absl::StrJoin(components, "/"),
                     "' appears twice"));
  }
  cur->Insert(DictKey(components.back()), std::move(leaf));
  return absl::OkStatus();
}

absl::StatusOr<Tree> LeafFromNpy(std::shared_ptr<const std::string> bytes,
                                 const std::string& what) {
  CKPTDB_ASSIGN_OR_RETURN(npy::NpyValue v,
                          npy::DecodeNpy(std::move(bytes), what));
  if (v.is_string) return Tree::String(std::move(v.str));
  return Tree(std::move(v.array));
}

enum class ImportFormat {
  kNpyFolder,
  kNpy,
  kNpz,
  kSafetensors,
  kFlaxMsgpack,
  kOrbax
};

struct ImportSource {
  ImportFormat format = ImportFormat::kNpz;
  Tree tree;
  Tree metadata;  // the step's custom metadata (safetensors); None if none
  uint64_t files = 0;
  uint64_t array_bytes = 0;
  std::vector<std::string> ignored;
  std::optional<orbax::Step> orbax;  // kOrbax: every item, step metadata
};

// Device and inode of a directory (through symlinks), to find cycles.
std::pair<uint64_t, uint64_t> DirId(const fs::path& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return {0, 0};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

absl::Status ImportFolder(const fs::path& dir, std::vector<std::string> prefix,
                          Progress* progress, ImportSource* src,
                          std::vector<std::pair<uint64_t, uint64_t>>* open) {
  open->push_back(DirId(dir));
  std::vector<fs::directory_entry> entries;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    entries.push_back(*it);
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot list '", dir.string(), "': ", ec.message()));
  }
  std::sort(entries.begin(), entries.end(),
            [](const fs::directory_entry& a, const fs::directory_entry& b) {
              return a.path().filename().string() <
                     b.path().filename().string();
            });
  for (const auto& e : entries) {
    const std::string name = e.path().filename().string();
    std::vector<std::string> comps = prefix;
    const bool is_npy = absl::EndsWithIgnoreCase(name, ".npy");
    if ((e.is_directory(ec) || is_npy) && !IsValidUtf8(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", EscapeInvalidUtf8(e.path().string()),
                       "': the name is not valid UTF-8 (keys must be text)"));
    }
    if (e.is_directory(ec)) {
      const auto id = DirId(e.path());
      if (std::find(open->begin(), open->end(), id) != open->end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", e.path().string(),
                         "' leads back to a folder being imported (a "
                         "symlink cycle)"));
      }
      comps.push_back(DecodePathComponent(name));
      // An empty folder is an empty dict.
      CKPTDB_RETURN_IF_ERROR(
          InsertAt(&src->tree, comps, Tree::Dict(), e.path().string()));
      CKPTDB_RETURN_IF_ERROR(
          ImportFolder(e.path(), comps, progress, src, open));
      continue;
    }
    if (!is_npy) {
      src->ignored.push_back(e.path().string());
      continue;
    }
    comps.push_back(DecodePathComponent(name.substr(0, name.size() - 4)));
    CKPTDB_ASSIGN_OR_RETURN(auto bytes,
                            ReadWholeFile(e.path().string(), progress));
    CKPTDB_ASSIGN_OR_RETURN(Tree leaf, LeafFromNpy(bytes, e.path().string()));
    if (leaf.kind() == Tree::Kind::kArray) {
      src->array_bytes += leaf.array().nbytes();
    }
    ++src->files;
    CKPTDB_RETURN_IF_ERROR(
        InsertAt(&src->tree, comps, std::move(leaf), e.path().string()));
  }
  open->pop_back();
  return absl::OkStatus();
}

absl::Status ImportNpz(const std::string& path, Progress* progress,
                       ImportSource* src) {
  CKPTDB_ASSIGN_OR_RETURN(auto zip, npy::ZipReader::Open(path));
  uint64_t total = 0;
  for (const auto& m : zip->members()) total += m.compressed_size;
  progress->SetTotal(total);
  uint64_t before = 0;
  for (const auto& m : zip->members()) {
    if (absl::EndsWith(m.name, "/")) continue;  // a directory entry
    if (!absl::EndsWithIgnoreCase(m.name, ".npy")) {
      src->ignored.push_back(absl::StrCat(path, ":", m.name));
      continue;
    }
    if (!IsValidUtf8(m.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": member '", EscapeInvalidUtf8(m.name),
                       "': the name is not valid UTF-8 (keys must be text)"));
    }
    auto bytes = std::make_shared<std::string>();
    CKPTDB_RETURN_IF_ERROR(zip->Read(
        m, bytes.get(), [&](uint64_t n) { progress->Set(before + n); }));
    before += m.compressed_size;
    std::vector<std::string> comps;
    for (absl::string_view c : absl::StrSplit(
             m.name.substr(0, m.name.size() - 4), '/', absl::SkipEmpty())) {
      comps.push_back(DecodePathComponent(c));
    }
    if (comps.empty()) comps.push_back("");
    const std::string what = absl::StrCat(path, ":", m.name);
    CKPTDB_ASSIGN_OR_RETURN(Tree leaf, LeafFromNpy(std::move(bytes), what));
    if (leaf.kind() == Tree::Kind::kArray) {
      src->array_bytes += leaf.array().nbytes();
    }
    ++src->files;
    CKPTDB_RETURN_IF_ERROR(InsertAt(&src->tree, comps, std::move(leaf), what));
  }
  return absl::OkStatus();
}

// The chunk size of the latest step's first chunked array; 0 if none.
uint32_t LatestChunkBytes(const Store& store) {
  const std::vector<StepInfo> steps = store.Steps();
  if (steps.empty()) return 0;
  for (const ItemSummary& is : steps.back().items) {
    auto item = store.ReadItem(steps.back().step, is.name);
    if (!item.ok()) continue;
    for (const StoredNode& n : item->nodes) {
      if (!n.chunks.empty()) return n.chunk_bytes;
    }
  }
  return 0;
}

bool LooksLikeZip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "PK", 2) == 0;
}

const char* FormatName(ImportFormat f) {
  switch (f) {
    case ImportFormat::kNpyFolder:
    case ImportFormat::kNpy:
      return "npy";
    case ImportFormat::kNpz:
      return "npz";
    case ImportFormat::kSafetensors:
      return "safetensors";
    case ImportFormat::kFlaxMsgpack:
      return "msgpack";
    case ImportFormat::kOrbax:
      return "orbax";
  }
  return "?";
}

bool LooksLikeNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[6] = {};
  in.read(magic, 6);
  return in.gcount() == 6 && std::memcmp(magic, "\x93NUMPY", 6) == 0;
}

// The format of IN: --format if given, else by content (a folder is .npy
// files; a file by its first bytes; else by its name, as before).
absl::StatusOr<ImportFormat> DetectFormat(const Args& args,
                                          const std::string& in, bool is_dir) {
  const std::optional<std::string> forced = args.GetOptional("format");
  if (forced.has_value()) {
    if (*forced == "orbax") {
      if (!is_dir) {
        return UsageError(
            absl::StrCat("--format orbax: '", in, "' is not a folder"));
      }
      return ImportFormat::kOrbax;
    }
    if (*forced == "safetensors" || *forced == "npz" || *forced == "msgpack") {
      if (is_dir) {
        return UsageError(absl::StrCat("--format ", *forced, ": '", in,
                                       "' is a folder, not a file"));
      }
      if (*forced == "msgpack") return ImportFormat::kFlaxMsgpack;
      return *forced == "npz" ? ImportFormat::kNpz : ImportFormat::kSafetensors;
    }
    if (*forced == "npy") {
      return is_dir ? ImportFormat::kNpyFolder : ImportFormat::kNpy;
    }
    return UsageError(
        absl::StrCat("--format must be orbax, msgpack, safetensors, npz or "
                     "npy, got '",
                     *forced, "'"));
  }
  if (is_dir && DirLooksLikeOrbax(in)) return ImportFormat::kOrbax;
  if (is_dir) {
    absl::StatusOr<orbax::RootListing> root = orbax::FindSteps(in);
    if (root.ok() && !root->steps.empty()) {
      return UsageError(absl::StrCat(
          "'", in, "' is an Orbax CheckpointManager root (", root->steps.size(),
          " steps, e.g. '", root->steps.back().dir,
          "'): import one step folder, or all with --all"));
    }
    return ImportFormat::kNpyFolder;
  }
  if (LooksLikeNpy(in)) return ImportFormat::kNpy;
  if (LooksLikeZip(in)) return ImportFormat::kNpz;
  if (FileLooksLikeSafetensors(in)) return ImportFormat::kSafetensors;
  if (FileLooksLikeFlaxMsgpack(in)) return ImportFormat::kFlaxMsgpack;
  if (absl::EndsWith(in, ".npy")) return ImportFormat::kNpy;
  return ImportFormat::kNpz;
}

// Reads IN (whole, before anything is saved) into `src`.
absl::Status ReadImportSource(const Args& args, const std::string& in,
                              ImportSource* src) {
  std::error_code ec;
  const bool is_dir = fs::is_directory(in, ec);
  CKPTDB_ASSIGN_OR_RETURN(src->format, DetectFormat(args, in, is_dir));
  if (args.Has("flat") && src->format != ImportFormat::kSafetensors) {
    return UsageError("--flat applies to safetensors files only");
  }
  if (args.Has("lists") && src->format != ImportFormat::kFlaxMsgpack) {
    return UsageError("--lists applies to Flax msgpack files only");
  }
  src->tree = Tree::Dict();
  uint64_t total = 0;
  if (is_dir) {
    for (auto it = fs::recursive_directory_iterator(in, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code fe;
      if (it->is_regular_file(fe)) {
        const uint64_t n = it->file_size(fe);
        if (!fe) total += n;
      }
    }
    ec.clear();
  } else {
    total = fs::file_size(in, ec);
  }
  Progress progress(args, "import: reading", total);
  switch (src->format) {
    case ImportFormat::kNpyFolder: {
      std::vector<std::pair<uint64_t, uint64_t>> open;
      return ImportFolder(in, {}, &progress, src, &open);
    }
    case ImportFormat::kNpy: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(in, &progress));
      CKPTDB_ASSIGN_OR_RETURN(src->tree, LeafFromNpy(bytes, in));
      src->files = 1;
      if (src->tree.kind() == Tree::Kind::kArray) {
        src->array_bytes = src->tree.array().nbytes();
      }
      return absl::OkStatus();
    }
    case ImportFormat::kNpz:
      return ImportNpz(in, &progress, src);
    case ImportFormat::kSafetensors: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(in, &progress));
      CKPTDB_ASSIGN_OR_RETURN(
          SafetensorsTree st,
          SafetensorsToTree(std::move(bytes), in, args.Has("flat")));
      src->tree = std::move(st.tree);
      src->metadata = std::move(st.metadata);
      src->files = st.tensors;
      return absl::OkStatus();
    }
    case ImportFormat::kOrbax: {
      CKPTDB_ASSIGN_OR_RETURN(src->orbax, orbax::ReadStep(in));
      src->files = src->orbax->items.size();
      src->array_bytes = OrbaxArrayBytes(*src->orbax);
      progress.Add(total);
      return absl::OkStatus();
    }
    case ImportFormat::kFlaxMsgpack: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(in, &progress));
      CKPTDB_ASSIGN_OR_RETURN(src->tree, FlaxMsgpackToTree(std::move(bytes), in,
                                                           args.Has("lists")));
      src->files = 1;
      src->array_bytes = src->tree.TotalArrayBytes();
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Saves `src` as step `step` named `name` of `store`.
absl::StatusOr<StepInfo> SaveImported(Store* store, int64_t step,
                                      const std::string& name,
                                      const std::string& item_name,
                                      const ImportSource& src) {
  internal::StepSaveRequest req;
  if (src.orbax.has_value()) {
    CKPTDB_ASSIGN_OR_RETURN(
        req, OrbaxSaveRequest(*src.orbax, step, name, item_name));
    absl::StatusOr<StepInfo> saved = store->SaveStep(req);
    if (!saved.ok() &&
        saved.status().code() == absl::StatusCode::kAlreadyExists) {
      return WithExit(saved.status(), Exit::kExists);
    }
    return saved;
  }
  req.step = step;
  req.name = name;
  CKPTDB_ASSIGN_OR_RETURN(
      internal::SaveItem si,
      internal::PrepareSaveItem(item_name, src.tree, nullptr));
  req.items.push_back(std::move(si));
  if (src.metadata.kind() != Tree::Kind::kNone) {
    req.custom_metadata = &src.metadata;
  }
  absl::StatusOr<StepInfo> saved = store->SaveStep(req);
  if (!saved.ok() &&
      saved.status().code() == absl::StatusCode::kAlreadyExists) {
    return WithExit(saved.status(), Exit::kExists);
  }
  return saved;
}

// The name the database's manager gives `step`.
std::string ManagerStepName(const Store& store, int64_t step) {
  const internal::NamingRecord rec = store.GetNamingRecord();
  return FormatStepName(step, rec.step_prefix,
                        rec.step_format_fixed_length > 0
                            ? std::optional<int>(rec.step_format_fixed_length)
                            : std::nullopt);
}

absl::StatusOr<std::unique_ptr<Store>> OpenForImport(const Args& args) {
  // Open first: a busy database or an existing step fails before reading.
  CKPTDB_ASSIGN_OR_RETURN(
      auto store,
      OpenDatabase(args[0], OpenMode::kReadWrite, args.Has("create")));
  // New chunks the size of the latest step's, so that arrays it already
  // holds deduplicate.
  if (uint32_t cb = LatestChunkBytes(*store); cb != 0 && cb != (1u << 20)) {
    store.reset();
    CKPTDB_ASSIGN_OR_RETURN(
        store, OpenDatabase(args[0], OpenMode::kReadWrite, false, cb));
  }
  return store;
}

absl::Status StepExists(const Args& args, int64_t step) {
  return WithExit(absl::AlreadyExistsError(absl::StrCat(
                      "step ", step, " already exists in '", args[0],
                      "' (remove it first with `ckptdb rm`)")),
                  Exit::kExists);
}

// Names the steps of a Flax directory as Flax named them (prefix + step)
// when the database's naming can: a new database whose manager record is
// unset takes the prefix (without its trailing '_') as its step prefix.
absl::Status AdoptFlaxNaming(Store* store, const std::string& prefix) {
  internal::NamingRecord rec = store->GetNamingRecord();
  if (!store->Steps().empty() || !rec.step_prefix.empty() ||
      rec.step_format_fixed_length != 0 || prefix.size() < 2 ||
      prefix.back() != '_') {
    return absl::OkStatus();
  }
  rec.step_prefix = prefix.substr(0, prefix.size() - 1);
  return store->SetNamingRecord(rec);
}

// Names the steps of an Orbax CheckpointManager root as Orbax named them
// when the database's naming can (a new database whose record is unset).
absl::Status AdoptOrbaxNaming(Store* store, const orbax::RootListing& root) {
  internal::NamingRecord rec = store->GetNamingRecord();
  if (!store->Steps().empty() || !rec.step_prefix.empty() ||
      rec.step_format_fixed_length != 0 ||
      (root.prefix.empty() && root.fixed_length == 0)) {
    return absl::OkStatus();
  }
  rec.step_prefix = root.prefix;
  rec.step_format_fixed_length = root.fixed_length;
  return store->SetNamingRecord(rec);
}

std::string ItemNames(const orbax::Step& step, const std::string& item_name) {
  std::vector<std::string> names;
  for (const orbax::Item& i : step.items) {
    names.push_back(i.name.empty() ? item_name : i.name);
  }
  return absl::StrJoin(names, "', '");
}

// `ckptdb import DB --all ROOT`: every committed step of an Orbax
// CheckpointManager root. Every step is read once before anything is saved
// (a damaged one saves nothing), then again to save it, so that only one
// step is in memory at a time.
absl::Status RunImportOrbaxAll(const Args& args,
                               const orbax::RootListing& found) {
  const std::string item_name = args.Get("item", "default");
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenForImport(args));
  for (const orbax::RootStep& s : found.steps) {
    if (store->HasStep(s.step)) return StepExists(args, s.step);
  }
  Progress check(args, "import: checking", found.steps.size());
  for (const orbax::RootStep& s : found.steps) {
    CKPTDB_RETURN_IF_ERROR(orbax::ReadStep(s.dir).status());
    check.Add(1);
  }
  check.Done();
  for (const std::string& s : found.skipped) {
    std::fprintf(stderr, "ckptdb import: skipping '%s'\n", s.c_str());
  }
  CKPTDB_RETURN_IF_ERROR(AdoptOrbaxNaming(store.get(), found));
  JsonWriter* w = nullptr;
  std::optional<JsonWriter> json;
  if (args.json()) {
    json.emplace(stdout);
    w = &*json;
    w->BeginObject();
    w->Field("database", args[0]);
    w->Field("format", "orbax");
    w->Key("steps");
    w->BeginArray();
  }
  for (const orbax::RootStep& s : found.steps) {
    ImportSource src;
    CKPTDB_ASSIGN_OR_RETURN(src.orbax, orbax::ReadStep(s.dir));
    CKPTDB_ASSIGN_OR_RETURN(
        StepInfo saved,
        SaveImported(store.get(), s.step, ManagerStepName(*store, s.step),
                     item_name, src));
    if (w != nullptr) {
      w->BeginObject();
      w->Field("folder", s.dir);
      w->FieldInt("step", saved.step);
      w->Field("name", saved.name);
      w->FieldUint("logical_bytes", saved.logical_bytes);
      w->FieldUint("new_bytes", saved.new_bytes);
      w->EndObject();
      continue;
    }
    Print(absl::StrCat("imported ", s.dir, " as step ", StepLabel(saved),
                       " items '", ItemNames(*src.orbax, item_name), "' (",
                       HumanBytes(saved.logical_bytes),
                       "): ", HumanBytes(saved.new_bytes), " new on disk\n"));
  }
  if (w != nullptr) {
    w->EndArray();
    w->EndObject();
    w->Finish();
  }
  return absl::OkStatus();
}

// `ckptdb import DB --all DIR`: every checkpoint of a legacy Flax directory
// or of an Orbax CheckpointManager root.
absl::Status RunImportAll(const Args& args) {
  if (args.size() != 2) {
    return UsageError("import --all takes DB and a Flax checkpoint folder");
  }
  if (args.Has("format") && args.Get("format", "") != "msgpack" &&
      args.Get("format", "") != "orbax") {
    return UsageError(
        "import --all reads Orbax step folders or Flax msgpack files only");
  }
  if (args.Has("flat")) return UsageError("--flat applies to safetensors");
  const std::string dir = args[1];
  const std::string prefix = args.Get("prefix", "checkpoint_");
  const std::string item_name = args.Get("item", "default");
  if (item_name.empty()) return UsageError("--item must not be empty");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return UsageError(absl::StrCat("'", dir, "' is not a folder"));
  }
  if (args.Get("format", "orbax") == "orbax" && !args.Has("prefix")) {
    CKPTDB_ASSIGN_OR_RETURN(orbax::RootListing root, orbax::FindSteps(dir));
    if (!root.steps.empty() || args.Has("format")) {
      if (root.steps.empty()) {
        return UsageError(
            absl::StrCat("'", dir, "' holds no committed Orbax step folders"));
      }
      if (args.Has("lists")) return UsageError("--lists applies to msgpack");
      return RunImportOrbaxAll(args, root);
    }
  }
  CKPTDB_ASSIGN_OR_RETURN(FlaxDirectory found,
                          FindFlaxCheckpoints(dir, prefix));
  if (found.files.empty()) {
    return UsageError(
        absl::StrCat("'", dir, "' holds no files named ", prefix, "<step>"));
  }
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenForImport(args));
  for (const FlaxCheckpointFile& f : found.files) {
    if (store->HasStep(f.step)) return StepExists(args, f.step);
  }
  // Every file is decoded once before anything is saved: a bad one saves
  // nothing.
  Progress check(args, "import: checking", found.files.size());
  for (const FlaxCheckpointFile& f : found.files) {
    CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(f.path, nullptr));
    CKPTDB_RETURN_IF_ERROR(
        FlaxMsgpackToTree(std::move(bytes), f.path, args.Has("lists"))
            .status());
    check.Add(1);
  }
  check.Done();
  for (const std::string& s : found.skipped) {
    std::fprintf(stderr, "ckptdb import: skipping '%s'\n", s.c_str());
  }
  CKPTDB_RETURN_IF_ERROR(AdoptFlaxNaming(store.get(), prefix));
  JsonWriter* w = nullptr;
  std::optional<JsonWriter> json;
  if (args.json()) {
    json.emplace(stdout);
    w = &*json;
    w->BeginObject();
    w->Field("database", args[0]);
    w->Field("item", item_name);
    w->Field("format", "msgpack");
    w->Key("steps");
    w->BeginArray();
  }
  for (const FlaxCheckpointFile& f : found.files) {
    ImportSource src;
    CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(f.path, nullptr));
    CKPTDB_ASSIGN_OR_RETURN(
        src.tree,
        FlaxMsgpackToTree(std::move(bytes), f.path, args.Has("lists")));
    const std::string managed = ManagerStepName(*store, f.step);
    CKPTDB_ASSIGN_OR_RETURN(
        StepInfo saved,
        SaveImported(store.get(), f.step, managed, item_name, src));
    if (w != nullptr) {
      w->BeginObject();
      w->Field("file", f.path);
      w->FieldInt("step", saved.step);
      w->Field("name", saved.name);
      w->FieldUint("logical_bytes", saved.logical_bytes);
      w->FieldUint("new_bytes", saved.new_bytes);
      w->EndObject();
      continue;
    }
    Print(absl::StrCat("imported ", f.path, " as step ", StepLabel(saved),
                       " item '", item_name, "' (",
                       HumanBytes(saved.logical_bytes),
                       "): ", HumanBytes(saved.new_bytes), " new on disk\n"));
  }
  if (w != nullptr) {
    w->EndArray();
    w->EndObject();
    w->Finish();
  }
  return absl::OkStatus();
}

absl::Status RunImport(const Args& args) {
  if (args.Has("all")) return RunImportAll(args);
  if (args.Has("prefix")) return UsageError("--prefix needs --all");
  if (args.size() != 3) return UsageError("import takes DB STEP IN");
  int64_t step;
  if (!absl::SimpleAtoi(args[1], &step) || step < 0) {
    return UsageError(
        absl::StrCat("STEP must be a step number (>= 0), got '", args[1], "'"));
  }
  const std::string in = args[2];
  const std::string item_name = args.Get("item", "default");
  if (item_name.empty()) return UsageError("--item must not be empty");
  std::error_code ec;
  if (!fs::exists(in, ec)) {
    return UsageError(absl::StrCat("no such file or folder '", in, "'"));
  }
  CKPTDB_ASSIGN_OR_RETURN(auto store, OpenForImport(args));
  if (store->HasStep(step)) return StepExists(args, step);
  ImportSource src;
  CKPTDB_RETURN_IF_ERROR(ReadImportSource(args, in, &src));
  if (src.files == 0 && src.format != ImportFormat::kSafetensors) {
    return UsageError(absl::StrCat("'", in, "' holds no .npy files"));
  }
  for (const std::string& f : src.ignored) {
    std::fprintf(stderr, "ckptdb import: ignoring '%s' (not a .npy file)\n",
                 f.c_str());
  }
  CKPTDB_ASSIGN_OR_RETURN(
      StepInfo saved,
      SaveImported(store.get(), step, ManagerStepName(*store, step), item_name,
                   src));
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.FieldInt("step", saved.step);
    w.Field("name", saved.name);
    w.Field("item", item_name);
    w.FieldUint("files", src.files);
    w.FieldUint("logical_bytes", saved.logical_bytes);
    w.FieldUint("new_bytes", saved.new_bytes);
    w.Field("format", FormatName(src.format));
    if (src.orbax.has_value()) {
      w.Key("items");
      w.BeginArray(/*compact=*/true);
      for (const orbax::Item& i : src.orbax->items) {
        w.String(i.name.empty() ? item_name : i.name);
      }
      w.EndArray();
    }
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  if (src.orbax.has_value()) {
    Print(absl::StrCat("imported Orbax checkpoint ", in, " as step ",
                       StepLabel(saved), " items '",
                       ItemNames(*src.orbax, item_name), "' (",
                       HumanBytes(saved.logical_bytes),
                       "): ", HumanBytes(saved.new_bytes), " new on disk\n"));
    return absl::OkStatus();
  }
  const char* unit =
      src.format == ImportFormat::kSafetensors ? " tensor" : " file";
  Print(absl::StrCat("imported ", src.files, unit, src.files == 1 ? "" : "s",
                     " (", HumanBytes(saved.logical_bytes), ") from ", in,
                     " as step ", StepLabel(saved), " item '", item_name,
                     "': ", HumanBytes(saved.new_bytes), " new on disk\n"));
  return absl::OkStatus();
}

}  // namespace

Command ExportCommand() {
  Command c;
  c.name = "export";
  c.synopsis =
      "export DB STEP OUT [--item NAME] [--npz | --safetensors] [--json] "
      "[--no-progress]";
  c.summary = "Write a step's arrays as .npy files (or .npz, safetensors).";
  c.description =
      "Each leaf becomes OUT/<path>.npy (dicts, lists and tuples become\n"
      "folders; list indices and int keys their decimal names), readable with\n"
      "numpy.load. Scalars become 0-d arrays (int64, float64, bool) and\n"
      "strings 0-d str arrays; None leaves are skipped; empty containers are\n"
      "empty folders. bfloat16 arrays are written as float32 (exact; numpy "
      "has\n"
      "no bfloat16). With --npz, OUT is one .npz file with members\n"
      "<path>.npy (np.load(OUT)['params/w']). In names, '/', '%' and NUL are\n"
      "written %2F, %25, %00, an empty key as '%', and keys '.' and '..' as\n"
      "%2E and %2E%2E. OUT must not exist (or be an empty folder).\n"
      "With --safetensors, OUT is one safetensors file: each array leaf a\n"
      "tensor named by its path joined with '.' (params.w; list indices\n"
      "and int keys as decimals), the step's custom metadata (if a dict of\n"
      "strings) as __metadata__. Leaves it cannot hold (scalars, strings,\n"
      "None, empty containers, complex128, keys containing '.') are refused\n"
      "with their paths; nothing is written then.\n";
  c.flags = {ItemFlag(),
             {"npz", "", "write one .npz archive (stored, as np.savez)"},
             {"safetensors", "", "write one safetensors file"},
             JsonFlag(),
             NoProgressFlag()};
  c.min_args = c.max_args = 3;
  c.example =
      "  ckptdb export /ckpt/run1 latest /tmp/step\n"
      "  python3 -c \"import numpy as np; "
      "print(np.load('/tmp/step/params/w.npy'))\"\n"
      "  ckptdb export /ckpt/run1 4 /tmp/step4.npz --npz\n";
  c.run = RunExport;
  return c;
}

Command ImportCommand() {
  Command c;
  c.name = "import";
  c.synopsis =
      "import DB STEP IN [--item NAME] [--format F] [--flat] [--lists] "
      "[--create] [--json] [--no-progress]\n"
      "       ckptdb import DB --all DIR [--prefix P] [--lists] [--item NAME] "
      "[--create] [--json] [--no-progress]";
  c.summary =
      "Save .npy, .npz, safetensors, Flax msgpack files or an Orbax "
      "checkpoint as a step.";
  c.description =
      "IN is a folder of .npy files (subfolders become dicts, files their\n"
      "leaves, keyed by name without .npy, sorted), an .npz archive (as\n"
      "written by np.savez or np.savez_compressed; member paths a/b/c.npy\n"
      "become nested dicts), or one .npy file (the item is that array).\n"
      "Names are unescaped as export escapes them. Arrays keep their dtype\n"
      "and shape (big-endian and Fortran-ordered arrays are converted); 0-d\n"
      "str arrays become strings. A safetensors file (recognised by its\n"
      "content) is validated whole first; tensor names split on '.' into\n"
      "nested dicts (with --flat, one dict keyed by the full names; a name\n"
      "that is a prefix of another, 'a' and 'a.b', is an error naming both),\n"
      "and its __metadata__ becomes the step's custom metadata. A legacy\n"
      "Flax msgpack checkpoint (flax.training.checkpoints before Orbax,\n"
      "flax.serialization.to_bytes; recognised by its content) becomes its\n"
      "tree: arrays, numpy scalars (0-d arrays), complex (0-d complex128),\n"
      "chunked arrays joined, key order kept; Flax stores lists as maps\n"
      "keyed '0'..'n-1', which --lists turns back into lists. An Orbax\n"
      "checkpoint folder (a step folder or an item folder: _METADATA,\n"
      "manifest.ocdbt, an aggregate 'checkpoint' file) is read natively\n"
      "(OCDBT, zarr v2/v3): each item folder becomes an item of the step,\n"
      "the tree rebuilt from _METADATA, _CHECKPOINT_METADATA's times,\n"
      "metrics and custom metadata carried over. --format\n"
      "orbax|msgpack|safetensors|npz|npy skips the detection. With --all,\n"
      "DIR is an Orbax CheckpointManager root (every committed step folder\n"
      "<step> or <prefix>_<step>, *.orbax-checkpoint-tmp* skipped) or a\n"
      "legacy Flax checkpoint folder: every file <prefix><step> (--prefix,\n"
      "default checkpoint_) becomes step <step>, in Flax's natural order,\n"
      "skipping <prefix>tmp, *_tmp and *_gda; a new database takes the\n"
      "prefix as its step prefix so steps keep Flax's names. Every file is\n"
      "decoded before anything is saved. Nothing is saved on error.\n"
      "STEP must be a new step number; it is named as the database's\n"
      "manager names steps. Needs write access:\n"
      "fails with exit code 7 while another process has the database open.\n";
  c.flags = {ItemFlag(),
             {"create", "", "create the database if it does not exist"},
             {"format", "F",
              "orbax, msgpack, safetensors, npz or npy: skip the detection"},
             {"flat", "", "safetensors: keep tensor names as flat keys"},
             {"lists", "", "msgpack: maps keyed '0'..'n-1' become lists"},
             {"all", "", "import every step of an Orbax root or a Flax folder"},
             {"prefix", "P", "with --all: file name prefix (checkpoint_)"},
             JsonFlag(),
             NoProgressFlag()};
  c.min_args = 2;
  c.max_args = 3;
  c.example =
      "  python3 -c \"import numpy as np; np.savez('/tmp/w.npz', "
      "**{'params/w': np.ones((2, 3))})\"\n"
      "  ckptdb import /ckpt/run1 100 /tmp/w.npz\n"
      "  ckptdb import /ckpt/run2 --all /old/flax_ckpts --create\n"
      "  ckptdb import /ckpt/run3 --all /old/orbax_run --create\n";
  c.run = RunImport;
  return c;
}

}  // namespace ckptdb::cli
