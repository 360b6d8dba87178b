#include "core/import_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ckptdb/status.h"
#include "core/file_bytes.h"
#include "core/flax_files.h"
#include "core/limits.h"
#include "core/npy.h"
#include "core/safetensors_tree.h"

namespace ckptdb::import_source {
namespace {

namespace fs = std::filesystem;

absl::Status TooDeep(const std::string& what, size_t depth) {
  return absl::InvalidArgumentError(absl::StrCat("'", what, "': nested ", depth,
                                                 " levels deep (the limit is ",
                                                 limits::kMaxTreeDepth, ")"));
}

// Inserts `leaf` at `components` under `root` (a dict), creating dicts.
absl::Status InsertAt(Tree* root, const std::vector<std::string>& components,
                      Tree leaf, const std::string& source) {
  if (components.size() > static_cast<size_t>(limits::kMaxTreeDepth)) {
    return TooDeep(source, components.size());
  }
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

// Device and inode of a directory (through symlinks), to find cycles.
std::pair<uint64_t, uint64_t> DirId(const fs::path& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return {0, 0};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// Reading state shared by the readers: progress over the bytes read.
struct Reading {
  const ReadOptions& options;
  uint64_t total = 0;
  uint64_t done = 0;
  void Add(uint64_t n) {
    done += n;
    if (options.progress) options.progress(done, total);
  }
  void Set(uint64_t n) {
    done = n;
    if (options.progress) options.progress(done, total);
  }
};

absl::Status ReadFolder(const fs::path& dir, std::vector<std::string> prefix,
                        Reading* r, Source* src, Tree* tree,
                        std::vector<std::pair<uint64_t, uint64_t>>* open);

absl::Status ReadFolderEntry(const fs::directory_entry& e,
                             const std::vector<std::string>& prefix, Reading* r,
                             Source* src, Tree* tree,
                             std::vector<std::pair<uint64_t, uint64_t>>* open) {
  std::error_code ec;
  const std::string name = e.path().filename().string();
  std::vector<std::string> comps = prefix;
  const bool is_npy = absl::EndsWithIgnoreCase(name, ".npy");
  const bool is_dir = e.is_directory(ec);
  if ((is_dir || is_npy) && !npy::IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", npy::EscapeInvalidUtf8(e.path().string()),
                     "': the name is not valid UTF-8 (keys must be text)"));
  }
  if (is_dir) {
    const auto id = DirId(e.path());
    if (std::find(open->begin(), open->end(), id) != open->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", e.path().string(),
                       "' leads back to a folder being imported (a "
                       "symlink cycle)"));
    }
    comps.push_back(npy::DecodePathComponent(name));
    // An empty folder is an empty dict.
    CKPTDB_RETURN_IF_ERROR(
        InsertAt(tree, comps, Tree::Dict(), e.path().string()));
    return ReadFolder(e.path(), comps, r, src, tree, open);
  }
  if (!is_npy) {
    src->ignored.push_back(e.path().string());
    return absl::OkStatus();
  }
  comps.push_back(npy::DecodePathComponent(name.substr(0, name.size() - 4)));
  CKPTDB_ASSIGN_OR_RETURN(
      auto bytes,
      ReadWholeFile(e.path().string(), [r](uint64_t n) { r->Add(n); }));
  CKPTDB_ASSIGN_OR_RETURN(Tree leaf, LeafFromNpy(bytes, e.path().string()));
  if (leaf.kind() == Tree::Kind::kArray) {
    src->array_bytes += leaf.array().nbytes();
  }
  ++src->files;
  return InsertAt(tree, comps, std::move(leaf), e.path().string());
}

absl::Status ReadFolder(const fs::path& dir, std::vector<std::string> prefix,
                        Reading* r, Source* src, Tree* tree,
                        std::vector<std::pair<uint64_t, uint64_t>>* open) {
  if (prefix.size() >= static_cast<size_t>(limits::kMaxTreeDepth)) {
    return TooDeep(dir.string(), prefix.size() + 1);
  }
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
    CKPTDB_RETURN_IF_ERROR(ReadFolderEntry(e, prefix, r, src, tree, open));
  }
  open->pop_back();
  return absl::OkStatus();
}

absl::Status ReadNpz(const std::string& path, Reading* r, Source* src,
                     Tree* tree) {
  CKPTDB_ASSIGN_OR_RETURN(auto zip, npy::ZipReader::Open(path));
  r->total = 0;
  for (const auto& m : zip->members()) r->total += m.compressed_size;
  uint64_t before = 0;
  for (const auto& m : zip->members()) {
    if (absl::EndsWith(m.name, "/")) continue;  // a directory entry
    if (!absl::EndsWithIgnoreCase(m.name, ".npy")) {
      src->ignored.push_back(absl::StrCat(path, ":", m.name));
      continue;
    }
    if (!npy::IsValidUtf8(m.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": member '", npy::EscapeInvalidUtf8(m.name),
                       "': the name is not valid UTF-8 (keys must be text)"));
    }
    const std::string what = absl::StrCat(path, ":", m.name);
    std::vector<std::string> comps;
    for (absl::string_view c : absl::StrSplit(
             m.name.substr(0, m.name.size() - 4), '/', absl::SkipEmpty())) {
      if (comps.size() >= static_cast<size_t>(limits::kMaxTreeDepth)) {
        return TooDeep(absl::StrCat(path, ":", m.name.substr(0, 64), "..."),
                       comps.size() + 1);
      }
      comps.push_back(npy::DecodePathComponent(c));
    }
    if (comps.empty()) comps.push_back("");
    auto bytes = std::make_shared<std::string>();
    CKPTDB_RETURN_IF_ERROR(
        zip->Read(m, bytes.get(), [&](uint64_t n) { r->Set(before + n); }));
    before += m.compressed_size;
    CKPTDB_ASSIGN_OR_RETURN(Tree leaf, LeafFromNpy(std::move(bytes), what));
    if (leaf.kind() == Tree::Kind::kArray) {
      src->array_bytes += leaf.array().nbytes();
    }
    ++src->files;
    CKPTDB_RETURN_IF_ERROR(InsertAt(tree, comps, std::move(leaf), what));
  }
  return absl::OkStatus();
}

bool StartsWithBytes(const std::string& path, absl::string_view magic) {
  if (!file_bytes::IsFile(path)) return false;
  std::ifstream in(path, std::ios::binary);
  std::string head(magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return static_cast<size_t>(in.gcount()) == magic.size() && head == magic;
}

// Total bytes of the input (for progress).
uint64_t TotalBytes(const std::string& path, bool is_dir) {
  std::error_code ec;
  return is_dir ? file_bytes::TreeBytes(path) : fs::file_size(path, ec);
}

// Reads a file format into `src` (one item named "").
absl::Status ReadFile(const std::string& path, Reading* r, Source* src) {
  Tree tree = Tree::Dict();
  auto add = [r](uint64_t n) { r->Add(n); };
  switch (src->format) {
    case Format::kNpy: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(path, add));
      CKPTDB_ASSIGN_OR_RETURN(tree, LeafFromNpy(bytes, path));
      src->files = 1;
      if (tree.kind() == Tree::Kind::kArray) {
        src->array_bytes = tree.array().nbytes();
      }
      break;
    }
    case Format::kNpz:
      CKPTDB_RETURN_IF_ERROR(ReadNpz(path, r, src, &tree));
      break;
    case Format::kSafetensors: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(path, add));
      CKPTDB_ASSIGN_OR_RETURN(
          safetensors::FileTree st,
          safetensors::FileToTree(std::move(bytes), path, r->options.flat));
      tree = std::move(st.tree);
      src->step.custom_metadata = std::move(st.metadata);
      src->files = st.tensors;
      src->array_bytes = tree.TotalArrayBytes();
      break;
    }
    case Format::kFlaxMsgpack: {
      CKPTDB_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(path, add));
      CKPTDB_ASSIGN_OR_RETURN(
          tree,
          flax_files::DecodeFile(std::move(bytes), path, r->options.lists));
      src->files = 1;
      src->array_bytes = tree.TotalArrayBytes();
      break;
    }
    default:
      return absl::InternalError("ReadFile: not a file format");
  }
  src->step.items.push_back({"", std::move(tree)});
  return absl::OkStatus();
}

}  // namespace

absl::string_view FormatName(Format format) {
  switch (format) {
    case Format::kAuto:
      return "auto";
    case Format::kOrbax:
      return "orbax";
    case Format::kFlaxMsgpack:
      return "msgpack";
    case Format::kSafetensors:
      return "safetensors";
    case Format::kNpz:
      return "npz";
    case Format::kNpy:
      return "npy";
  }
  return "?";
}

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  for (Format f : {Format::kAuto, Format::kOrbax, Format::kFlaxMsgpack,
                   Format::kSafetensors, Format::kNpz, Format::kNpy}) {
    if (FormatName(f) == name) return f;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be orbax, msgpack, safetensors, npz or "
                   "npy, got '",
                   name, "'"));
}

absl::StatusOr<Format> DetectFormat(const std::string& path, Format forced) {
  const bool is_dir = file_bytes::IsDir(path);
  if (forced == Format::kOrbax && !is_dir) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format orbax: '", path, "' is not a folder"));
  }
  if ((forced == Format::kSafetensors || forced == Format::kNpz ||
       forced == Format::kFlaxMsgpack) &&
      is_dir) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format ", FormatName(forced), ": '", path,
                     "' is a folder, not a file"));
  }
  if (forced != Format::kAuto) return forced;
  if (is_dir && orbax::LooksLikeOrbaxCheckpoint(path)) return Format::kOrbax;
  if (is_dir) {
    absl::StatusOr<orbax::RootListing> root = orbax::FindSteps(path);
    if (root.ok() && !root->steps.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "' is an Orbax CheckpointManager root (",
          root->steps.size(), " steps, e.g. '", root->steps.back().dir,
          "'): import one step folder, or all with --all"));
    }
    return Format::kNpy;
  }
  if (StartsWithBytes(path, "\x93NUMPY")) return Format::kNpy;
  if (StartsWithBytes(path, "PK")) return Format::kNpz;
  if (safetensors::FileLooksLikeSafetensors(path)) return Format::kSafetensors;
  if (flax_files::FileLooksLikeFlaxMsgpack(path)) return Format::kFlaxMsgpack;
  if (absl::EndsWith(path, ".npy")) return Format::kNpy;
  return Format::kNpz;
}

absl::StatusOr<Source> Read(const std::string& path,
                            const ReadOptions& options) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no such file or folder '", path, "'"));
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path,
                     "' is not a regular file or a folder (a FIFO, socket or "
                     "device cannot be imported)"));
  }
  Source src;
  CKPTDB_ASSIGN_OR_RETURN(src.format, DetectFormat(path, options.format));
  if (options.flat && src.format != Format::kSafetensors) {
    return absl::InvalidArgumentError(
        "--flat applies to safetensors files only");
  }
  if (options.lists && src.format != Format::kFlaxMsgpack) {
    return absl::InvalidArgumentError(
        "--lists applies to Flax msgpack files only");
  }
  const bool is_dir = S_ISDIR(st.st_mode);
  Reading r{options, TotalBytes(path, is_dir)};
  if (src.format == Format::kOrbax) {
    CKPTDB_ASSIGN_OR_RETURN(src.step, orbax::ReadStep(path, options.orbax));
    src.files = src.step.items.size();
    for (const orbax::Item& i : src.step.items) {
      src.array_bytes += i.tree.TotalArrayBytes();
    }
    r.Set(r.total);
    return src;
  }
  if (is_dir) {  // a folder of .npy files
    Tree tree = Tree::Dict();
    std::vector<std::pair<uint64_t, uint64_t>> open;
    CKPTDB_RETURN_IF_ERROR(ReadFolder(path, {}, &r, &src, &tree, &open));
    if (src.files == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' holds no .npy files"));
    }
    src.step.items.push_back({"", std::move(tree)});
    return src;
  }
  CKPTDB_RETURN_IF_ERROR(ReadFile(path, &r, &src));
  if (src.files == 0 && src.format == Format::kNpz) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' holds no .npy files"));
  }
  return src;
}

absl::StatusOr<std::shared_ptr<const std::string>> ReadWholeFile(
    const std::string& path, const std::function<void(uint64_t)>& progress) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return file_bytes::IoError("open", path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("'", path,
                     "' is not a regular file (a FIFO, socket or device "
                     "cannot be imported)"));
  }
  auto out = std::make_shared<std::string>();
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out->size()) {
    const size_t want = std::min<size_t>(out->size() - done, 8 << 20);
    const ssize_t n = pread(fd, out->data() + done, want, done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      close(fd);
      return file_bytes::IoError("read", path, err);
    }
    done += static_cast<size_t>(n);
    if (progress) progress(static_cast<uint64_t>(n));
  }
  close(fd);
  return std::shared_ptr<const std::string>(std::move(out));
}

}  // namespace ckptdb::import_source
