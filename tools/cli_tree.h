// Rendering stored trees and steps, as text and as JSON, for ls, tree,
// show, dump and diff.
#ifndef CKPTDB_TOOLS_CLI_TREE_H_
#define CKPTDB_TOOLS_CLI_TREE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "tools/cli.h"
#include "tools/cli_json.h"

namespace ckptdb::cli {

// The JSON "kind" of a node: none, bool, int, float, str, array, list,
// tuple, dict.
std::string JsonKind(Tree::Kind kind);

// A path as the CLI's path arguments spell it ("Paths" in docs/cli.md):
// string keys escaped as file names ("a%2Fb" for the key "a/b", "%" for an
// empty key), int keys and indices in decimal. With `typed`, each
// component is also tagged with its kind (s: string key, k: int key, i:
// sequence index), so that the string key "1", the int key 1 and the
// index 1 differ.
std::string PathKey(const TreePath& path, bool typed);

// "float32 (16, 32)", "int 4", "dict (3 keys)", "str 'abc'".
std::string NodeSummary(const StoredNode& n);

// An indented tree (box-drawing characters) of the subtree at `root`,
// whose root line is labelled `root_label`; one row per node with its
// type, shape or value, and size. With `flat`, one row per leaf with its
// full path instead.
std::string RenderTree(const StoredItem& item, uint32_t root,
                       const std::string& root_label, bool flat);

// Writes the subtree at `node` as JSON:
//   {"kind": "dict", "entries": [{"key": "w", "value": {...}}, ...]}
//   {"kind": "list" | "tuple", "items": [...]}
//   {"kind": "array", "path": "w", "dtype": "float32", "shape": [2, 3],
//    "nbytes": 24, "chunks": 0, "inline": true, "values": [[...], [...]]}
//   {"kind": "int" | "float" | "bool" | "str", "path": "step", "value": 4}
//   {"kind": "none", "path": "x"}
// Array values are included for arrays stored inline (at most 1 KiB) and,
// with `all_values`, for every array (read from the database).
absl::Status WriteNodeJson(const Store& store, const StoredItem& item,
                           uint32_t node, bool all_values, JsonWriter* w);

// The fields of a step's commit record (inside an open JSON object):
// step, name, column_family, times, items, sizes, metrics; unique_bytes
// when given; custom_metadata with `with_custom`.
void WriteStepFields(const Store& store, const StepInfo& info,
                     std::optional<uint64_t> unique_bytes, bool with_custom,
                     JsonWriter* w);

// "loss=0.25 acc=0.9" (scalars of a metrics tree, floats with 6 digits).
std::string MetricsSummary(const StepInfo& info);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_TREE_H_
