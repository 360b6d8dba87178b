// Reading a whole OCDBT database from a folder: the manifest's (or, for
// numbered manifests, the highest manifest.<generation> file's) latest
// version, its B+tree walked from the root, out-of-line values read from
// the data files under `d/` (or any relative path the tables name, such as
// Orbax's per-process `ocdbt.process_N/d/...`, which the root manifest of a
// multi-process checkpoint references). Data file paths that would leave
// the folder are refused.
#ifndef CKPTDB_CORE_OCDBT_READER_H_
#define CKPTDB_CORE_OCDBT_READER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/ocdbt_format.h"

namespace ckptdb::ocdbt {

// A key's value: inline bytes, or where to read them.
struct ValueRef {
  bool is_inline = true;
  std::string value;
  Reference ref;
};

class OcdbtReader {
 public:
  // Reads `dir`/manifest.ocdbt and lists every key of its latest version.
  // NotFound naming the manifest if it is missing; DataLoss naming the
  // file (and offset) for a corrupt manifest, a missing or short data file
  // or a corrupt node.
  static absl::StatusOr<OcdbtReader> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const Manifest& manifest() const { return manifest_; }
  // Every key of the latest version, sorted.
  const std::map<std::string, ValueRef>& entries() const { return entries_; }

  // The value of `key`; NotFound if absent.
  absl::StatusOr<std::string> Get(const std::string& key) const;
  absl::StatusOr<std::string> Read(const ValueRef& v) const;

 private:
  absl::Status Walk(const Reference& ref, uint8_t height,
                    const std::string& prefix, int depth);
  absl::StatusOr<std::string> ReadRef(const Reference& ref) const;

  std::string dir_;
  Manifest manifest_;
  std::map<std::string, ValueRef> entries_;
};

}  // namespace ckptdb::ocdbt

#endif  // CKPTDB_CORE_OCDBT_READER_H_
