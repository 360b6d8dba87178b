// Importers: a source read by core/import_source.h, committed as a step
// through its manager (api/manager_access.h).
//
// ImportAll protocol (one read per source, nothing partial kept):
//   1. List the root (Orbax's committed steps, or Flax's files) and check
//      that no step number exists yet (AlreadyExists, nothing saved).
//   2. Adopt the root's step naming if the manager has none.
//   3. For each source in order: read it whole, commit it. If a read or a
//      commit fails, delete the steps committed in step 3 so far (they were
//      new, step 1) and return that error. Only one source is in memory at
//      a time. A crash during step 3 leaves the steps committed before it.
#include "ckptdb/import.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/manager_access.h"
#include "api/save_validation.h"
#include "ckptdb/status.h"
#include "core/file_bytes.h"
#include "core/flax_files.h"
#include "core/import_source.h"
#include "core/orbax_checkpoint.h"

namespace ckptdb {
namespace {

using import_source::Format;

Format ToFormat(ImportFormat f) {
  switch (f) {
    case ImportFormat::kAuto:
      return Format::kAuto;
    case ImportFormat::kOrbax:
      return Format::kOrbax;
    case ImportFormat::kFlaxMsgpack:
      return Format::kFlaxMsgpack;
    case ImportFormat::kSafetensors:
      return Format::kSafetensors;
    case ImportFormat::kNpz:
      return Format::kNpz;
    case ImportFormat::kNpy:
      return Format::kNpy;
  }
  return Format::kAuto;
}

absl::StatusOr<import_source::Source> ReadSource(const std::string& src,
                                                 const ImportOptions& options,
                                                 Format format) {
  if (options.item.empty()) {
    return absl::InvalidArgumentError("the item name must not be empty");
  }
  import_source::ReadOptions ro;
  ro.format = format;
  ro.flat = options.flat;
  ro.lists = options.lists;
  ro.orbax.items = options.only_items;
  ro.orbax.leaves.only = options.only_paths;
  ro.progress = options.progress;
  return import_source::Read(src, ro);
}

std::string ItemName(const orbax::Item& item, const ImportOptions& options) {
  return item.name.empty() ? options.item : item.name;
}

// Saves `src` as step `step` named `name`.
absl::StatusOr<ImportedStep> Commit(CheckpointManager& manager, int64_t step,
                                    const std::string& name,
                                    const std::string& path,
                                    const import_source::Source& src,
                                    const ImportOptions& options) {
  internal::StepSaveRequest req;
  req.step = step;
  req.name = name;
  ImportedStep out;
  for (const orbax::Item& item : src.step.items) {
    out.items.push_back(ItemName(item, options));
    CKPTDB_ASSIGN_OR_RETURN(
        internal::SaveItem si,
        internal::PrepareSaveItem(out.items.back(), item.tree, nullptr));
    req.items.push_back(std::move(si));
  }
  if (src.step.has_metrics) req.metrics = &src.step.metrics;
  if (src.step.custom_metadata.kind() != Tree::Kind::kNone) {
    req.custom_metadata = &src.step.custom_metadata;
  }
  if (src.step.init_time_ns > 0) req.init_time_ns = src.step.init_time_ns;
  if (src.step.commit_time_ns > 0) req.commit_time_ns = src.step.commit_time_ns;
  CKPTDB_ASSIGN_OR_RETURN(StepInfo saved,
                          internal::ManagerAccess::CommitStep(manager, req));
  out.source = path;
  out.step = saved.step;
  out.name = saved.name;
  out.format = std::string(import_source::FormatName(src.format));
  out.files = src.files;
  out.logical_bytes = saved.logical_bytes;
  out.new_bytes = saved.new_bytes;
  out.ignored = src.ignored;
  return out;
}

absl::Status StepExists(const CheckpointManager& manager, int64_t step) {
  for (int64_t s : manager.AllSteps()) {
    if (s == step) {
      return absl::AlreadyExistsError(absl::StrCat(
          "step ", step, " already exists in '", manager.directory(), "'"));
    }
  }
  return absl::OkStatus();
}

struct RootEntry {
  std::string path;
  int64_t step = 0;
  std::string flax_name;  // Flax: the file's name; Orbax: empty
};

// Step 3 of the protocol at the top of this file.
absl::Status ImportEach(CheckpointManager& manager,
                        const std::vector<RootEntry>& entries, Format format,
                        const std::string& flax_prefix,
                        const ImportOptions& options, ImportAllResult* out) {
  ImportOptions per_source = options;
  per_source.progress = nullptr;
  absl::Status failed;
  for (size_t i = 0; i < entries.size() && failed.ok(); ++i) {
    const RootEntry& e = entries[i];
    absl::StatusOr<import_source::Source> src =
        ReadSource(e.path, per_source, format);
    if (!src.ok()) {
      failed = src.status();
      break;
    }
    std::string name = manager.StepName(e.step);
    // Flax's own name when the manager names integer steps as Flax does
    // ("checkpoint_2.0" stays so).
    if (!e.flax_name.empty() && name == absl::StrCat(flax_prefix, e.step)) {
      name = e.flax_name;
    }
    absl::StatusOr<ImportedStep> saved =
        Commit(manager, e.step, name, e.path, *src, options);
    if (!saved.ok()) {
      failed = saved.status();
      break;
    }
    out->steps.push_back(*std::move(saved));
    if (options.progress) options.progress(i + 1, entries.size());
  }
  if (failed.ok()) return failed;
  for (const ImportedStep& s : out->steps) {
    if (absl::Status d = manager.Delete(s.step); !d.ok()) {
      return absl::Status(
          failed.code(),
          absl::StrCat(failed.message(), " (and removing step ", s.step,
                       ", imported before it, failed: ", d.message(), ")"));
    }
  }
  out->steps.clear();
  return failed;
}

absl::StatusOr<ImportAllResult> ImportOrbaxRoot(CheckpointManager& manager,
                                                const orbax::RootListing& root,
                                                const ImportOptions& options) {
  ImportAllResult out;
  out.format = "orbax";
  out.skipped = root.skipped;
  std::vector<RootEntry> entries;
  for (const orbax::RootStep& s : root.steps) {
    CKPTDB_RETURN_IF_ERROR(StepExists(manager, s.step));
    entries.push_back({s.dir, s.step, ""});
  }
  if (options.adopt_naming) {
    CKPTDB_RETURN_IF_ERROR(internal::ManagerAccess::AdoptNaming(
        manager, root.prefix, root.fixed_length));
  }
  CKPTDB_RETURN_IF_ERROR(
      ImportEach(manager, entries, Format::kOrbax, "", options, &out));
  return out;
}

absl::StatusOr<ImportAllResult> ImportFlaxFolder(CheckpointManager& manager,
                                                 const std::string& dir,
                                                 const std::string& prefix,
                                                 const ImportOptions& options) {
  CKPTDB_ASSIGN_OR_RETURN(flax_files::Directory found,
                          flax_files::FindCheckpoints(dir, prefix));
  if (found.files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", dir, "' holds no files named ", prefix, "<step>"));
  }
  ImportAllResult out;
  out.format = "msgpack";
  out.skipped = found.skipped;
  std::vector<RootEntry> entries;
  for (const flax_files::CheckpointFile& f : found.files) {
    CKPTDB_RETURN_IF_ERROR(StepExists(manager, f.step));
    entries.push_back({f.path, f.step, f.name});
  }
  // The prefix without its trailing '_' names steps as Flax did.
  if (options.adopt_naming && prefix.size() >= 2 && prefix.back() == '_') {
    CKPTDB_RETURN_IF_ERROR(internal::ManagerAccess::AdoptNaming(
        manager, prefix.substr(0, prefix.size() - 1), 0));
  }
  CKPTDB_RETURN_IF_ERROR(ImportEach(manager, entries, Format::kFlaxMsgpack,
                                    prefix, options, &out));
  return out;
}

}  // namespace

absl::StatusOr<CheckpointContents> ReadCheckpoint(
    const std::string& src, const ImportOptions& options) {
  CKPTDB_ASSIGN_OR_RETURN(import_source::Source s,
                          ReadSource(src, options, ToFormat(options.format)));
  CheckpointContents out;
  out.format = std::string(import_source::FormatName(s.format));
  for (orbax::Item& item : s.step.items) {
    const std::string name = ItemName(item, options);
    out.item_order.push_back(name);
    out.items[name] = std::move(item.tree);
  }
  if (s.step.has_metrics) out.metrics = std::move(s.step.metrics);
  out.custom_metadata = std::move(s.step.custom_metadata);
  out.init_time_ns = s.step.init_time_ns;
  out.commit_time_ns = s.step.commit_time_ns;
  out.files = s.files;
  out.array_bytes = s.array_bytes;
  out.ignored = std::move(s.ignored);
  return out;
}

absl::StatusOr<ImportedStep> ImportCheckpoint(CheckpointManager& manager,
                                              int64_t step,
                                              const std::string& src,
                                              const ImportOptions& options) {
  if (step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("step must be >= 0, got ", step));
  }
  // A step that exists fails before the source is read.
  CKPTDB_RETURN_IF_ERROR(StepExists(manager, step));
  CKPTDB_ASSIGN_OR_RETURN(import_source::Source s,
                          ReadSource(src, options, ToFormat(options.format)));
  return Commit(manager, step, manager.StepName(step), src, s, options);
}

absl::StatusOr<ImportAllResult> ImportAll(CheckpointManager& manager,
                                          const std::string& root,
                                          const ImportOptions& options) {
  const Format format = ToFormat(options.format);
  if (format != Format::kAuto && format != Format::kOrbax &&
      format != Format::kFlaxMsgpack) {
    return absl::InvalidArgumentError(
        "import --all reads Orbax step folders or Flax msgpack files only");
  }
  if (options.flat) {
    return absl::InvalidArgumentError("--flat applies to safetensors files");
  }
  if (options.item.empty()) {
    return absl::InvalidArgumentError("the item name must not be empty");
  }
  if (!file_bytes::IsDir(root)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", root, "' is not a folder"));
  }
  if (format != Format::kFlaxMsgpack && !options.flax_prefix.has_value()) {
    CKPTDB_ASSIGN_OR_RETURN(orbax::RootListing found, orbax::FindSteps(root));
    if (!found.steps.empty() || format == Format::kOrbax) {
      if (found.steps.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", root, "' holds no committed Orbax step folders"));
      }
      if (options.lists) {
        return absl::InvalidArgumentError("--lists applies to msgpack files");
      }
      return ImportOrbaxRoot(manager, found, options);
    }
  }
  return ImportFlaxFolder(manager, root,
                          options.flax_prefix.value_or("checkpoint_"), options);
}

}  // namespace ckptdb
