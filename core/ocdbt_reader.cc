#include "core/ocdbt_reader.h"

#include <dirent.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/file_bytes.h"

namespace ckptdb::ocdbt {
namespace {

// The newest manifest.<16 hex digits> file in `dir`.
absl::StatusOr<std::string> LatestNumberedManifest(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot list '", dir, "'"));
  }
  std::string best;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() == 9 + 16 && n.compare(0, 9, "manifest.") == 0 &&
        n.find_first_not_of("0123456789abcdef", 9) == std::string::npos &&
        n > best) {
      best = n;
    }
  }
  closedir(d);
  if (best.empty()) {
    return absl::DataLossError(
        absl::StrCat("'", dir,
                     "/manifest.ocdbt' is a numbered manifest, but no "
                     "manifest.<generation> file is in '",
                     dir, "'"));
  }
  return absl::StrCat(dir, "/", best);
}

}  // namespace

absl::StatusOr<OcdbtReader> OcdbtReader::Open(const std::string& dir) {
  OcdbtReader r;
  r.dir_ = dir;
  const std::string path = absl::StrCat(dir, "/manifest.ocdbt");
  absl::StatusOr<std::string> bytes = file_bytes::ReadAll(path, 64u << 20);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return absl::NotFoundError(
          absl::StrCat("'", dir, "': missing OCDBT manifest '", path, "'"));
    }
    return bytes.status();
  }
  absl::StatusOr<Manifest> m = DecodeManifest(*bytes, path);
  if (!m.ok()) return m.status();
  r.manifest_ = *std::move(m);
  if (r.manifest_.manifest_kind == 1) {
    // "Numbered" manifests: manifest.ocdbt holds the configuration, the
    // versions are in manifest.<16 hex digits>, the highest the latest.
    absl::StatusOr<std::string> numbered = LatestNumberedManifest(dir);
    if (!numbered.ok()) return numbered.status();
    absl::StatusOr<std::string> nbytes =
        file_bytes::ReadAll(*numbered, 64u << 20);
    if (!nbytes.ok()) return nbytes.status();
    absl::StatusOr<Manifest> nm = DecodeManifest(*nbytes, *numbered);
    if (!nm.ok()) return nm.status();
    if (nm->manifest_kind != 0) {
      return absl::DataLossError(absl::StrCat(
          "'", *numbered, "': a numbered manifest must hold its versions"));
    }
    r.manifest_.versions = std::move(nm->versions);
  } else if (r.manifest_.manifest_kind != 0) {
    return absl::DataLossError(absl::StrCat(
        "'", path, "': unknown manifest kind ", r.manifest_.manifest_kind));
  }
  if (r.manifest_.versions.empty()) return r;  // a database never written
  const Version& latest = r.manifest_.versions.back();
  if (latest.root.missing) return r;  // latest version is empty
  absl::Status s = r.Walk(latest.root, latest.root_height, "", 0);
  if (!s.ok()) return s;
  return r;
}

absl::StatusOr<std::string> OcdbtReader::ReadRef(const Reference& ref) const {
  if (!file_bytes::IsContainedRelativePath(ref.file)) {
    return absl::DataLossError(absl::StrCat("'", dir_, "': data file path '",
                                            ref.file,
                                            "' leaves the database folder"));
  }
  absl::StatusOr<std::string> bytes = file_bytes::ReadRange(
      absl::StrCat(dir_, "/", ref.file), ref.offset, ref.length);
  if (!bytes.ok() && absl::IsNotFound(bytes.status())) {
    return absl::DataLossError(absl::StrCat("'", dir_, "': missing data file '",
                                            dir_, "/", ref.file, "'"));
  }
  return bytes;
}

absl::Status OcdbtReader::Walk(const Reference& ref, uint8_t height,
                               const std::string& prefix, int depth) {
  if (depth > 64) {
    return absl::DataLossError(
        absl::StrCat("'", dir_, "': B+tree deeper than 64 levels"));
  }
  absl::StatusOr<std::string> bytes = ReadRef(ref);
  if (!bytes.ok()) return bytes.status();
  const std::string what = absl::StrCat(
      dir_, "/", ref.file, " (B+tree node at byte ", ref.offset, ")");
  const size_t max = manifest_.max_decoded_node_bytes == 0
                         ? size_t{1} << 30
                         : manifest_.max_decoded_node_bytes;
  absl::StatusOr<BtreeNode> node =
      DecodeBtreeNode(*bytes, ref.transitive, what, max);
  if (!node.ok()) return node.status();
  if (node->height != height) {
    return absl::DataLossError(absl::StrCat(
        what, ": height ", int{node->height}, ", expected ", int{height}));
  }
  for (LeafEntry& e : node->leaves) {
    ValueRef v;
    v.is_inline = e.is_inline;
    v.value = std::move(e.value);
    v.ref = std::move(e.ref);
    if (!entries_.emplace(prefix + e.key, std::move(v)).second) {
      return absl::DataLossError(
          absl::StrCat(what, ": key '", prefix, e.key, "' appears twice"));
    }
  }
  for (const ChildEntry& c : node->children) {
    absl::Status s =
        Walk(c.ref, static_cast<uint8_t>(height - 1),
             prefix + c.key.substr(0, c.subtree_prefix_length), depth + 1);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> OcdbtReader::Read(const ValueRef& v) const {
  if (v.is_inline) return v.value;
  return ReadRef(v.ref);
}

absl::StatusOr<std::string> OcdbtReader::Get(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("'", dir_, "': no key '", key, "' in the OCDBT database"));
  }
  return Read(it->second);
}

}  // namespace ckptdb::ocdbt
