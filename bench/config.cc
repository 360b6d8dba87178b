#include "bench/config.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace ckptdb_bench {
namespace {

[[noreturn]] void Usage(int rc) {
  std::fprintf(
      rc == 0 ? stdout : stderr,
      "usage: ckptdb_bench [--quick]\n"
      "                    [--workload "
      "W1,W2,W3,W4,RSS,OPEN,ASYNC,FOLLOW,MANY]\n"
      "                    [--pairs N] [--warmup N] [--dir PATH] [--json "
      "FILE]\n"
      "                    [--w2-per-leaf] [--chunk-bytes N] "
      "[--mmap-reads] [--no-coding] [--save-nice N] [--keep]\n"
      "                    [--check] [--lever "
      "writeback[=BYTES]|mmap|coding|nice|direct]\n"
      "                    [--many-parts 1,2,3]\n"
      "  --quick        small smoke run (correctness only; 1 pair, no "
      "warm-up)\n"
      "  --workload     comma-separated subset (default: all). RSS = peak RSS\n"
      "                 of a W1 save/restore; OPEN = 1,000-step database "
      "open;\n"
      "                 FOLLOW = a follower's restore while the writer saves;\n"
      "                 MANY = 4 processes saving into one database (W3\n"
      "                 sweep, commit latency, a reader while they save)\n"
      "  --pairs N      recorded samples per comparison (default 3); a W1/W2\n"
      "                 sample is an A B B A block (two pairs), a W3 sample a\n"
      "                 whole sweep\n"
      "  --warmup N     unrecorded warm-up pairs/rounds first (default 1)\n"
      "  --dir PATH     where to write (default %s); not a tmpfs\n"
      "  --json FILE    also write the results as JSON\n"
      "  --w2-per-leaf  include the file-per-leaf baseline in W2 (100,000\n"
      "                 fsyncs: minutes)\n"
      "  --chunk-bytes N  ckptdb StoreTuning::chunk_bytes for every store "
      "(default:\n"
      "                 the library's default)\n"
      "  --mmap-reads     StoreTuning::mmap_reads = true for every store\n"
      "  --no-coding      StoreTuning::delta_chunks and compress_chunks =\n"
      "                 false for every store (W3 with and without them)\n"
      "  --keep         keep the data directory\n"
      "  --check        exit %d when a ratio of issue 19's regression guard\n"
      "                 falls short (W1 against the disk ceiling, peak RSS);\n"
      "                 needs W1 and --pairs >= 5; --quick only reports\n"
      "  --lever L      also run the LEVER workload: W1 saves and restores\n"
      "                 with the lever against without it, A B B A\n"
      "                 (writeback: StoreTuning::writeback_bytes, default\n"
      "                 1 MiB; mmap: StoreTuning::mmap_reads; coding:\n"
      "                 StoreTuning::delta_chunks and compress_chunks;\n"
      "                 nice: StoreTuning::save_nice at its default vs 0;\n"
      "                 direct: StoreTuning::direct_reads)\n"
      "  --save-nice N  StoreTuning::save_nice for every store of this\n"
      "                 process and of the writer processes of FOLLOW and\n"
      "                 MANY part 3 (MANY 3 with 0 against the default)\n"
      "  --many-parts   MANY's parts to run: 1 sweep, 2 commit latency, 3 "
      "reader\n"
      "                 (default: all)\n",
      CKPTDB_BENCH_DEFAULT_DIR, kExitTargetMissed);
  std::exit(rc);
}

// "writeback", "writeback=BYTES", "mmap", "coding", "nice" or "direct".
void ParseLever(const std::string& v, Config* cfg) {
  const size_t eq = v.find('=');
  cfg->lever = v.substr(0, eq);
  if (cfg->lever != "writeback" && cfg->lever != "mmap" &&
      cfg->lever != "coding" && cfg->lever != "nice" &&
      cfg->lever != "direct") {
    std::fprintf(stderr,
                 "unknown --lever '%s' (expected writeback[=BYTES], mmap, "
                 "coding, nice or direct)\n",
                 v.c_str());
    std::exit(kExitUsage);
  }
  if (eq == std::string::npos) return;
  char* end = nullptr;
  const std::string n = v.substr(eq + 1);
  cfg->lever_bytes = std::strtoull(n.c_str(), &end, 0);
  if (cfg->lever != "writeback" || n.empty() || *end != 0 ||
      cfg->lever_bytes == 0) {
    std::fprintf(stderr,
                 "--lever '%s': only writeback takes a byte count, a "
                 "positive integer\n",
                 v.c_str());
    std::exit(kExitUsage);
  }
}

}  // namespace

Config ParseArgs(int argc, char** argv) {
  Config cfg;
  bool pairs_set = false, warmup_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(kExitUsage);
      return argv[++i];
    };
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--pairs") {
      cfg.pairs = std::atoi(value().c_str());
      pairs_set = true;
    } else if (a == "--warmup") {
      cfg.warmup = std::atoi(value().c_str());
      warmup_set = true;
    } else if (a == "--dir") {
      cfg.dir = value();
    } else if (a == "--json") {
      cfg.json = value();
    } else if (a == "--workload" || a == "--workloads") {
      cfg.workloads.clear();
      std::stringstream ss(value());
      std::string item;
      while (std::getline(ss, item, ',')) {
        for (char& c : item) c = static_cast<char>(std::toupper(c));
        if (item.empty()) continue;
        static const std::set<std::string> kKnown = {
            "W1",   "W2",    "W3",     "W4",   "RSS",
            "OPEN", "ASYNC", "FOLLOW", "MANY", "LEVER"};
        if (!kKnown.count(item)) {
          std::fprintf(stderr, "unknown workload '%s'\n", item.c_str());
          Usage(kExitUsage);
        }
        cfg.workloads.insert(item);
      }
    } else if (a == "--w2-per-leaf") {
      cfg.w2_per_leaf = true;
    } else if (a == "--keep") {
      cfg.keep = true;
    } else if (a == "--check") {
      cfg.check = true;
    } else if (a == "--lever") {
      ParseLever(value(), &cfg);
    } else if (a == "--mmap-reads") {
      cfg.tuning.mmap_reads = true;
    } else if (a == "--no-coding") {
      cfg.tuning.delta_chunks = false;
      cfg.tuning.compress_chunks = false;
    } else if (a == "--save-nice") {
      cfg.tuning.save_nice = std::atoi(value().c_str());
    } else if (a == "--chunk-bytes") {
      cfg.tuning.chunk_bytes =
          static_cast<uint32_t>(std::strtoul(value().c_str(), nullptr, 0));
      cfg.chunk_bytes_set = true;
    } else if (a == "--follow-writer") {
      cfg.follow_writer = value();
    } else if (a == "--writer-index") {
      cfg.writer_index = std::atoi(value().c_str());
    } else if (a == "--many-child") {
      cfg.many_child = value();
    } else if (a == "--many-db") {
      cfg.many_db = value();
    } else if (a == "--many-index") {
      cfg.many_index = std::atoi(value().c_str());
    } else if (a == "--many-parts") {
      cfg.many_parts.clear();
      std::stringstream ss(value());
      std::string item;
      while (std::getline(ss, item, ',')) {
        if (item != "1" && item != "2" && item != "3") Usage(kExitUsage);
        cfg.many_parts.insert(item);
      }
    } else if (a == "--many-saves") {
      cfg.many_saves = std::atoi(value().c_str());
    } else if (a == "--rss-child") {
      cfg.rss_child = value();
    } else if (a == "--rss-dir") {
      cfg.rss_dir = value();
    } else if (a == "--rss-db") {
      cfg.rss_db = value();
    } else if (a == "--rss-raw") {
      cfg.rss_raw = value();
    } else if (a == "-h" || a == "--help") {
      Usage(kExitOk);
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
      Usage(kExitUsage);
    }
  }
  if (cfg.quick) {
    if (!pairs_set) cfg.pairs = 1;
    if (!warmup_set) cfg.warmup = 0;
  }
  if (cfg.pairs < 1 || cfg.warmup < 0) Usage(kExitUsage);
  if (!cfg.lever.empty()) cfg.workloads.insert("LEVER");
  if (cfg.workloads.count("LEVER") && cfg.lever.empty()) {
    std::fprintf(stderr,
                 "workload LEVER needs --lever "
                 "writeback|mmap|coding|nice|direct\n");
    std::exit(kExitUsage);
  }
  if (cfg.check && !cfg.workloads.count("W1")) {
    std::fprintf(stderr,
                 "--check compares W1's ratios with issue 19's targets: "
                 "--workload must include W1\n");
    std::exit(kExitUsage);
  }
  if (cfg.check && !cfg.quick && cfg.pairs < 5) {
    std::fprintf(stderr,
                 "--check needs --pairs 5 or more (issue 19's targets are "
                 "medians of at least 5 samples), got --pairs %d\n",
                 cfg.pairs);
    std::exit(kExitUsage);
  }
  return cfg;
}

}  // namespace ckptdb_bench
