// The ckptdb command-line tool: subcommands, argument parsing, exit codes,
// and the helpers the subcommands share (opening a database, resolving
// steps, items and paths).
//
// Errors travel as absl::Status; a status may carry the exit code it must
// produce (WithExit). Subcommands print their results on stdout; errors are
// printed once, by main, on stderr.
#ifndef CKPTDB_TOOLS_CLI_H_
#define CKPTDB_TOOLS_CLI_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/metadata.h"
#include "ckptdb/tree.h"
#include "core/npy.h"
#include "db/store.h"

namespace ckptdb::cli {

using internal::Store;
using internal::StoredItem;
using internal::StoredNode;

// Exit codes (documented by `ckptdb help exit-codes` and docs/cli.md).
enum class Exit : int {
  kOk = 0,
  kError = 1,       // any other failure (I/O, internal); diff --exit-code
  kUsage = 2,       // bad arguments
  kNoDatabase = 3,  // no such database (or not a ckptdb database)
  kNoStep = 4,      // no such step
  kNoPath = 5,      // no such item or leaf path in the step
  kCorrupt = 6,     // corruption found (verify, or any read)
  kBusy = 7,        // another process holds the database open for writing
  kExists = 8,      // the step to create already exists (import)
};

// The exit-code table, as printed by --help.
std::string ExitCodeTable();

// Attaches `code` to `s` (which must not be OK).
absl::Status WithExit(absl::Status s, Exit code);
// The exit code for a status: the attached one, else by status code
// (InvalidArgument: usage, DataLoss: corruption, AlreadyExists: exists,
// anything else: error).
Exit ExitCodeOf(const absl::Status& s);
// An InvalidArgument status with exit code kUsage.
absl::Status UsageError(absl::string_view message);

// ---- command line -----------------------------------------------------------

struct FlagSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // empty for a boolean flag
  std::string help;
};

// One parsed command line of a subcommand.
class Args {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  size_t size() const { return positional_.size(); }
  const std::string& operator[](size_t i) const { return positional_[i]; }
  bool Has(absl::string_view flag) const;
  // The flag's value, or `fallback` when absent.
  std::string Get(absl::string_view flag,
                  const std::string& fallback = "") const;
  std::optional<std::string> GetOptional(absl::string_view flag) const;
  bool json() const { return Has("json"); }

 private:
  friend absl::StatusOr<Args> ParseArgs(const std::vector<FlagSpec>& flags,
                                        const std::vector<std::string>& argv);
  std::vector<std::string> positional_;
  std::map<std::string, std::string, std::less<>> flags_;
};

// Parses `argv` (the words after the subcommand) against `flags`:
// "--name", "--name=value", "--name value", "--" ends the flags; flags and
// positional arguments may be mixed. Unknown flags are usage errors.
absl::StatusOr<Args> ParseArgs(const std::vector<FlagSpec>& flags,
                               const std::vector<std::string>& argv);

struct Command {
  std::string name;
  std::string synopsis;     // "ls DB"
  std::string summary;      // one line, for the command list
  std::string description;  // paragraphs for --help
  std::vector<FlagSpec> flags;
  int min_args = 0;
  int max_args = 0;
  std::string example;
  std::function<absl::Status(const Args&)> run;
};

// The subcommands, in the order --help lists them.
const std::vector<Command>& Commands();
std::string CommandHelp(const Command& c);

// Subcommand factories (one per source file group).
Command LsCommand();
Command RunsCommand();
Command TreeCommand();
Command ShowCommand();
Command DumpCommand();
Command StatsCommand();
Command VerifyCommand();
Command DiffCommand();
Command ExportCommand();
Command ImportCommand();
Command RmCommand();
Command GcCommand();
Command DemoCommand();

// Flags most commands share.
FlagSpec JsonFlag();
FlagSpec ItemFlag();
FlagSpec NoProgressFlag();

// ---- opening databases, resolving steps, items and paths -------------------

enum class OpenMode {
  kReadOnly,   // RocksDB OpenForReadOnly: no lock, works beside a writer
  kReadWrite,  // takes the database lock: kBusy if another process has it
  // kReadWrite that opens around damaged tables of step data, for deleting
  // the steps that need them (rm; StoreOptions::open_around_damaged_tables).
  kReadWriteAroundDamage,
};
// Opens the database at `path`. Errors carry kNoDatabase (missing, or not a
// ckptdb database), kBusy (locked by another process), kCorrupt (damaged).
// `chunk_bytes` (0: the default, 1 MiB) is the chunk size of new saves.
// `run` selects the run whose steps the store lists ("": the default run).
absl::StatusOr<std::unique_ptr<Store>> OpenDatabase(
    const std::string& path, OpenMode mode, bool create = false,
    uint32_t chunk_bytes = 0, const std::string& run = "");

// A step argument: "STEP" (the default run) or "RUN:STEP" (run names have
// no ':'). STEP is a number, a display name or "latest".
struct RunStep {
  std::string run;
  std::string step;
};
RunStep SplitRunStep(absl::string_view spec);
// The exit code and message for a failed open of `path`: busy (another
// process writes it), missing, newer format, damaged.
absl::Status OpenError(const std::string& path, OpenMode mode,
                       const absl::Status& s);

// OpenDatabase for the run a step argument names; *step gets its STEP part.
absl::StatusOr<std::unique_ptr<Store>> OpenForStep(const std::string& path,
                                                   OpenMode mode,
                                                   absl::string_view spec,
                                                   std::string* step);

// A step number as the command line takes it: decimal digits only (no
// sign, no spaces), at most INT64_MAX.
bool ParseStepNumber(absl::string_view text, int64_t* step);

// Resolves a step given as a number, a display name ("test_4") or
// "latest". kNoStep if there is no such step.
absl::StatusOr<StepInfo> ResolveStep(const Store& store,
                                     absl::string_view spec);
// "4 (test_4)", or "4" when the name is the number.
std::string StepLabel(const StepInfo& info);
// The item to use: `requested` if given (kNoPath if the step lacks it),
// else "default", else the step's only item.
absl::StatusOr<std::string> ResolveItem(const StepInfo& info,
                                        const std::optional<std::string>& item);
// Reads an item's tree; a missing item is kNoPath.
absl::StatusOr<StoredItem> ReadItem(const Store& store, const StepInfo& info,
                                    const std::string& item);
// The node at `path` ("params/w", "opt_state/0/mu"; "" or "/" is the
// root). A component matches a string key, else an int key or sequence
// index with that value; a component with %XX escapes (as export writes
// them) matches the decoded key too. kNoPath naming the first component
// that matches nothing.
absl::StatusOr<uint32_t> ResolvePath(const StoredItem& item,
                                     absl::string_view path);
// Reads one array leaf's elements (as stored, C order).
absl::StatusOr<Array> ReadArray(const Store& store, const StoredItem& item,
                                uint32_t node);

// Unique bytes of each step: stored bytes of the chunks that no other step
// references (what deleting only that step frees). With `damaged`, a step
// whose chunk list is damaged is left out and its error kept there (by
// step); without, it fails the call.
absl::StatusOr<std::map<int64_t, uint64_t>> UniqueBytesPerStep(
    const Store& store, std::map<int64_t, std::string>* damaged = nullptr);

// The runs of a database with their bytes (ckptdb runs, ckptdb stats).
struct RunBytes {
  Store::RunSummary summary;
  uint64_t unique_bytes = 0;  // stored bytes of chunks no other run holds
};
struct RunsBytes {
  std::vector<RunBytes> runs;
  uint64_t shared_bytes = 0;  // stored bytes of chunks several runs hold
};
absl::StatusOr<RunsBytes> CollectRunBytes(const std::string& db);

// Path components as file names (core/npy.h).
using npy::DecodePathComponent;
using npy::EncodePathComponent;

// Writes `text` to stdout.
void Print(absl::string_view text);

}  // namespace ckptdb::cli

#endif  // CKPTDB_TOOLS_CLI_H_
