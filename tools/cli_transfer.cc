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
#include "api/manager_access.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/import.h"
#include "ckptdb/status.h"
#include "core/file_bytes.h"
#include "core/import_source.h"
#include "core/npy.h"
#include "tools/cli.h"
#include "tools/cli_format.h"
#include "tools/cli_json.h"
#include "tools/cli_progress.h"
#include "tools/cli_safetensors.h"
#include "tools/cli_tree.h"

namespace ckptdb::cli {
namespace {

namespace fs = std::filesystem;

absl::Status WriteWholeFile(const std::string& path,
                            const std::vector<absl::string_view>& parts) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return file_bytes::IoError("create", path, errno);
  for (absl::string_view p : parts) {
    while (!p.empty()) {
      const ssize_t n = write(fd, p.data(), p.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        close(fd);
        return file_bytes::IoError("write", path, err);
      }
      p.remove_prefix(static_cast<size_t>(n));
    }
  }
  if (close(fd) != 0) return file_bytes::IoError("write", path, errno);
  return absl::OkStatus();
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

  // A tree entry in an error message: its path, and what its last
  // component is, since an int key, a string key and an index print alike.
  std::string Describe(uint32_t node) const {
    const TreePath path = item_.PathOf(node);
    if (path.empty()) return "the root";
    const PathEntry& e = path.entries().back();
    std::string last;
    if (e.kind == PathEntry::Kind::kIndex) {
      last = absl::StrCat("index ", e.index);
    } else if (e.key.is_int()) {
      last = absl::StrCat("int key ", e.key.int_value());
    } else {
      last = absl::StrCat("string key '", npy::EscapeInvalidUtf8(e.key.str()),
                          "'");
    }
    return absl::StrCat("'", PathKey(path, false), "' (", last, ")");
  }

  // Each file name is written once. Two containers may share a directory
  // (the int key 1 and the string key "1" both holding dicts), as long as
  // the leaves under them do not collide.
  absl::Status Claim(const std::string& rel, uint32_t node, bool dir) {
    auto [it, inserted] = names_.emplace(rel, ClaimedName{dir, node});
    if (!inserted && !(dir && it->second.dir)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot export: ", Describe(it->second.node), " and ", Describe(node),
          " both map to the file name '", rel,
          "' (files are named after paths: an int key and a string key "
          "of the same spelling, or keys that differ only by a '.npy' "
          "suffix, collide)"));
    }
    return absl::OkStatus();
  }

  absl::Status Visit(uint32_t node, const std::string& rel) {
    const StoredNode& n = item_.nodes[node];
    if (!IsContainer(n)) return WriteLeaf(node, rel);
    if (!rel.empty()) CKPTDB_RETURN_IF_ERROR(Claim(rel, node, true));
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
    CKPTDB_RETURN_IF_ERROR(Claim(leaf.file, node, false));
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
  struct ClaimedName {
    bool dir;
    uint32_t node;
  };
  std::map<std::string, ClaimedName> names_;  // by relative file name
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

// ImportOptions from the command line.
absl::StatusOr<ImportOptions> ImportOptionsFromArgs(const Args& args) {
  ImportOptions o;
  if (const auto f = args.GetOptional("format"); f.has_value()) {
    CKPTDB_ASSIGN_OR_RETURN(import_source::Format format,
                            import_source::ParseFormat(*f));
    if (format == import_source::Format::kAuto) {
      return UsageError(
          "--format must be orbax, msgpack, safetensors, npz or npy, got "
          "'auto'");
    }
    o.format = static_cast<ImportFormat>(format);
  }
  o.flat = args.Has("flat");
  o.lists = args.Has("lists");
  o.item = args.Get("item", "default");
  if (o.item.empty()) return UsageError("--item must not be empty");
  if (args.Has("prefix")) o.flax_prefix = args.Get("prefix", "");
  return o;
}

// Opens DB for an import: fails busy (exit code 7) while another process
// writes it, names steps as its writer recorded.
absl::StatusOr<std::unique_ptr<CheckpointManager>> OpenForImport(
    const Args& args) {
  auto m = internal::ManagerAccess::OpenForTool(args[0], args.Has("create"));
  if (m.ok()) return m;
  return OpenError(args[0], OpenMode::kReadWrite, m.status());
}

// An existing step is exit code 8, with a hint.
absl::Status ImportError(const Args& args, absl::Status s) {
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return WithExit(absl::AlreadyExistsError(absl::StrCat(
                        s.message(), " (remove it first with `ckptdb rm`)")),
                    Exit::kExists);
  }
  return s;
}

void PrintImportedStepJson(JsonWriter* w, const ImportedStep& s,
                           const char* source_key) {
  w->BeginObject();
  w->Field(source_key, s.source);
  w->FieldInt("step", s.step);
  w->Field("name", s.name);
  w->FieldUint("logical_bytes", s.logical_bytes);
  w->FieldUint("new_bytes", s.new_bytes);
  w->EndObject();
}

std::string StepText(const ImportedStep& s) {
  return s.name.empty() || s.name == absl::StrCat(s.step)
             ? absl::StrCat(s.step)
             : absl::StrCat(s.step, " (", s.name, ")");
}

// `ckptdb import DB --all DIR`: every checkpoint of a legacy Flax directory
// or of an Orbax CheckpointManager root (ckptdb::ImportAll).
absl::Status RunImportAll(const Args& args) {
  if (args.size() != 2) {
    return UsageError("import --all takes DB and a checkpoint folder");
  }
  CKPTDB_ASSIGN_OR_RETURN(ImportOptions opts, ImportOptionsFromArgs(args));
  const std::string dir = args[1];
  if (!std::filesystem::is_directory(dir)) {
    return UsageError(absl::StrCat("'", dir, "' is not a folder"));
  }
  CKPTDB_ASSIGN_OR_RETURN(auto manager, OpenForImport(args));
  std::optional<Progress> progress;
  progress.emplace(args, "import", 0);
  opts.progress = [&](uint64_t done, uint64_t total) {
    progress->SetTotal(total);
    progress->Set(done);
  };
  absl::StatusOr<ImportAllResult> r = ImportAll(*manager, dir, opts);
  progress.reset();
  if (!r.ok()) return ImportError(args, r.status());
  for (const std::string& s : r->skipped) {
    std::fprintf(stderr, "ckptdb import: skipping '%s'\n", s.c_str());
  }
  const bool orbax = r->format == "orbax";
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    if (!orbax) w.Field("item", opts.item);
    w.Field("format", r->format);
    w.Key("steps");
    w.BeginArray();
    for (const ImportedStep& s : r->steps) {
      PrintImportedStepJson(&w, s, orbax ? "folder" : "file");
    }
    w.EndArray();
    w.EndObject();
    w.Finish();
    return absl::OkStatus();
  }
  for (const ImportedStep& s : r->steps) {
    Print(absl::StrCat("imported ", s.source, " as step ", StepText(s),
                       orbax ? " items '" : " item '",
                       absl::StrJoin(s.items, "', '"), "' (",
                       HumanBytes(s.logical_bytes),
                       "): ", HumanBytes(s.new_bytes), " new on disk\n"));
  }
  return absl::OkStatus();
}

void PrintImported(const Args& args, const std::string& in,
                   const ImportedStep& saved) {
  if (args.json()) {
    JsonWriter w(stdout);
    w.BeginObject();
    w.Field("database", args[0]);
    w.FieldInt("step", saved.step);
    w.Field("name", saved.name);
    w.Field("item", saved.items.front());
    w.FieldUint("files", saved.files);
    w.FieldUint("logical_bytes", saved.logical_bytes);
    w.FieldUint("new_bytes", saved.new_bytes);
    w.Field("format", saved.format);
    if (saved.format == "orbax") {
      w.Key("items");
      w.BeginArray(/*compact=*/true);
      for (const std::string& i : saved.items) w.String(i);
      w.EndArray();
    }
    w.EndObject();
    w.Finish();
    return;
  }
  if (saved.format == "orbax") {
    Print(absl::StrCat("imported Orbax checkpoint ", in, " as step ",
                       StepText(saved), " items '",
                       absl::StrJoin(saved.items, "', '"), "' (",
                       HumanBytes(saved.logical_bytes),
                       "): ", HumanBytes(saved.new_bytes), " new on disk\n"));
    return;
  }
  const char* unit = saved.format == "safetensors" ? " tensor" : " file";
  Print(
      absl::StrCat("imported ", saved.files, unit, saved.files == 1 ? "" : "s",
                   " (", HumanBytes(saved.logical_bytes), ") from ", in,
                   " as step ", StepText(saved), " item '", saved.items.front(),
                   "': ", HumanBytes(saved.new_bytes), " new on disk\n"));
}

// `ckptdb import DB STEP IN` (ckptdb::ImportCheckpoint).
absl::Status RunImport(const Args& args) {
  if (args.Has("all")) return RunImportAll(args);
  if (args.Has("prefix")) return UsageError("--prefix needs --all");
  if (args.size() != 3) return UsageError("import takes DB STEP IN");
  int64_t step;
  if (!ParseStepNumber(args[1], &step)) {
    return UsageError(absl::StrCat(
        "STEP must be a step number (decimal digits), got '", args[1], "'"));
  }
  const std::string in = args[2];
  CKPTDB_ASSIGN_OR_RETURN(ImportOptions opts, ImportOptionsFromArgs(args));
  std::error_code ec;
  if (!fs::exists(in, ec)) {
    return UsageError(absl::StrCat("no such file or folder '", in, "'"));
  }
  CKPTDB_ASSIGN_OR_RETURN(auto manager, OpenForImport(args));
  std::optional<Progress> progress;
  progress.emplace(args, "import: reading", 0);
  opts.progress = [&](uint64_t done, uint64_t total) {
    progress->SetTotal(total);
    progress->Set(done);
  };
  absl::StatusOr<ImportedStep> saved =
      ImportCheckpoint(*manager, step, in, opts);
  progress.reset();
  if (!saved.ok()) return ImportError(args, saved.status());
  for (const std::string& f : saved->ignored) {
    std::fprintf(stderr, "ckptdb import: ignoring '%s' (not a .npy file)\n",
                 f.c_str());
  }
  PrintImported(args, in, *saved);
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
