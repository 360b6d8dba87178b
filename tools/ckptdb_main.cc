// ckptdb: the command-line tool. `ckptdb --help` lists the subcommands;
// each lives in a tools/cli_*.cc file (see tools/cli.h).
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/cli.h"

namespace ckptdb::cli {
namespace {

std::string MainHelp() {
  std::string out =
      "usage: ckptdb COMMAND [ARGS] [OPTIONS]\n"
      "\n"
      "Inspect, verify, export, import and maintain ckptdb checkpoint "
      "databases.\n"
      "\n"
      "commands:\n";
  size_t w = 0;
  for (const Command& c : Commands()) w = std::max(w, c.name.size());
  for (const Command& c : Commands()) {
    absl::StrAppendFormat(&out, "  %-*s  %s\n", static_cast<int>(w), c.name,
                          c.summary);
  }
  absl::StrAppend(
      &out,
      "\n"
      "Steps are given by number (4), by display name (test_4) or as "
      "\"latest\".\n"
      "Read commands (ls, tree, show, dump, stats, verify, diff, export) open "
      "the\n"
      "database read-only and work while another process has it open for\n"
      "writing; rm, gc and import need the write lock. Every read command "
      "takes\n"
      "--json. `ckptdb COMMAND --help` describes a command, with an example.\n"
      "\n"
      "exit codes:\n",
      ExitCodeTable());
  return out;
}

const Command* Find(const std::string& name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int Main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) {
    std::fputs(MainHelp().c_str(), stderr);
    return static_cast<int>(Exit::kUsage);
  }
  const std::string first = words[0];
  if (first == "-h" || first == "--help" || first == "help") {
    if (words.size() > 1) {
      if (words[1] == "exit-codes") {
        Print(absl::StrCat("exit codes:\n", ExitCodeTable()));
        return 0;
      }
      const Command* c = Find(words[1]);
      if (c == nullptr) {
        std::fprintf(stderr,
                     "ckptdb: unknown command '%s' (see ckptdb --help)\n",
                     words[1].c_str());
        return static_cast<int>(Exit::kUsage);
      }
      Print(CommandHelp(*c));
      return 0;
    }
    Print(MainHelp());
    return 0;
  }
  if (first == "--version") {
    Print("ckptdb 0.1.0\n");
    return 0;
  }
  const Command* cmd = Find(first);
  if (cmd == nullptr) {
    std::fprintf(stderr, "ckptdb: unknown command '%s' (see ckptdb --help)\n",
                 first.c_str());
    return static_cast<int>(Exit::kUsage);
  }
  std::vector<std::string> rest(words.begin() + 1, words.end());
  for (const std::string& w : rest) {
    if (w == "--") break;
    if (w == "-h" || w == "--help") {
      Print(CommandHelp(*cmd));
      return 0;
    }
  }
  absl::StatusOr<Args> args = ParseArgs(cmd->flags, rest);
  absl::Status status = args.status();
  if (status.ok()) {
    const int n = static_cast<int>(args->size());
    if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args)) {
      status = UsageError(n < cmd->min_args ? "missing arguments"
                                            : "too many arguments");
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr,
                 "ckptdb %s: %s\nusage: ckptdb %s\n(see ckptdb %s --help)\n",
                 cmd->name.c_str(), std::string(status.message()).c_str(),
                 cmd->synopsis.c_str(), cmd->name.c_str());
    return static_cast<int>(Exit::kUsage);
  }
  status = cmd->run(*args);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "ckptdb %s: cannot write the output\n",
                 cmd->name.c_str());
    return static_cast<int>(Exit::kError);
  }
  if (!status.ok()) {
    if (!status.message().empty()) {
      std::fprintf(stderr, "ckptdb %s: %s\n", cmd->name.c_str(),
                   std::string(status.message()).c_str());
    }
    return static_cast<int>(ExitCodeOf(status));
  }
  return 0;
}

}  // namespace
}  // namespace ckptdb::cli

int main(int argc, char** argv) {
  // Every open database keeps each of its table files open: take the whole
  // hard limit on open files, not the soft 1024 shells often start with.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Large restore/export buffers: keep freed memory for reuse instead of
  // returning it to the kernel after every array.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  return ckptdb::cli::Main(argc, argv);
}
