// One Orbax pytree item folder (what PyTreeCheckpointHandler /
// StandardCheckpointHandler writes), read into a Tree:
//
//   _METADATA                 the tree: key paths, key and value types
//   manifest.ocdbt, d/, ocdbt.process_N/
//                             OCDBT database holding the arrays as zarr
//                             ("<param>/.zarray" + chunks, or
//                             "<param>/zarr.json" + "c/..." shards)
//   <param>/                  or, without OCDBT, one zarr folder per array
//   checkpoint                the older aggregate layout: a msgpack tree
//                             whose leaves are values or
//                             "PLACEHOLDER://<param>" pointing at zarr
//                             (T5X: TensorStore spec dicts with the
//                             zarr metadata, chunks in <param>/)
//   _strings.json             {param: string} for string leaves
//
// Without _METADATA the tree is the aggregate file's; without either it is
// rebuilt from the OCDBT parameter names split on '.', all dict keys.
// Errors name the file: NotFound for a missing manifest or metadata,
// DataLoss for missing data files and corrupt bytes, InvalidArgument for
// metadata ckptdb cannot read, Unimplemented for a codec it lacks.
#ifndef CKPTDB_CORE_ORBAX_ITEM_H_
#define CKPTDB_CORE_ORBAX_ITEM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ckptdb/tree.h"

namespace ckptdb::orbax {

// True if `dir` holds a pytree item (_METADATA, manifest.ocdbt or an
// aggregate "checkpoint" file).
bool LooksLikeItem(const std::string& dir);

struct ReadItemOptions {
  // Read only the leaves below these key paths (components as strings,
  // sequence indices as decimals); every other leaf of _METADATA comes
  // back as None without its chunks being read. Empty: every leaf.
  // Default: empty.
  std::vector<std::vector<std::string>> only;
};

// Reads the item (or the leaves `options.only` selects) into memory.
absl::StatusOr<Tree> ReadItem(const std::string& dir,
                              const ReadItemOptions& options = {});

// The zarr array (v2 ".zarray" or v3 "zarr.json" and its chunk files)
// stored in the folder `root`/`param`.
absl::StatusOr<Array> ReadZarrFolder(const std::string& root,
                                     const std::string& param);

}  // namespace ckptdb::orbax

#endif  // CKPTDB_CORE_ORBAX_ITEM_H_
