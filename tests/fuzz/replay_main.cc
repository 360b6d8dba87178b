// A main() for a fuzz target's entry point in the ordinary build: feeds
// every file named on the command line, or found (recursively) in a folder
// named there, through LLVMFuzzerTestOneInput once. A crash or sanitizer
// report fails the test; errors returned by the decoders are expected.
// CTest runs it over tests/fuzz/corpus/<target>/ and
// tests/fuzz/regressions/<target>/ (fuzz_replay.<target>), so every input
// the fuzzer ever crashed on stays a regression test.
//
// With --mutate SECONDS it then feeds random mutations of those inputs for
// that long (fuzz_mutate.<target> in CTest: the test command's short
// fuzzing run in the ordinary build; scripts/fuzz.sh runs libFuzzer's
// coverage-guided search under ASan). Each mutation applies one to four
// edits to one input: a flipped bit, a byte or a 2/4/8-byte integer set to
// an edge value, a range deleted, a range of this or another input
// inserted, a cut. --seed N repeats a run (the seed is printed); a crash
// (a signal handler on its own stack: stack overflows too) or an input
// running for 20 s writes that input to --crash-file (default
// fuzz-crash-input) and fails the run; add it to regressions/.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// What the signal handler and the watchdog write out: the input being run.
std::atomic<const std::string*> current_input{nullptr};
std::atomic<uint64_t> runs_started{0};
const char* crash_file = "fuzz-crash-input";
// An input that runs this long is a hang.
constexpr int kHangSeconds = 20;

// Writes the current input to crash_file and `why` to stderr; only
// async-signal-safe calls.
void SaveCurrentInput(const char* why) {
  const std::string* input = current_input.load();
  if (input == nullptr) return;
  const int fd = open(crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t ignored = write(fd, input->data(), input->size());
    (void)ignored;
    close(fd);
  }
  for (const char* part : {"fuzz_mutate: ", why, "; the input is in ",
                           static_cast<const char*>(crash_file), "\n"}) {
    ssize_t ignored = write(2, part, strlen(part));
    (void)ignored;
  }
}

void OnCrash(int sig) {
  SaveCurrentInput("crashed");
  raise(sig);  // SA_RESETHAND: the default action now
}

// On an alternate stack, so that a stack overflow is caught too.
void InstallCrashHandlers() {
  static char alternate[1 << 16];
  stack_t ss{};
  ss.ss_sp = alternate;
  ss.ss_size = sizeof(alternate);
  sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = OnCrash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) {
    sigaction(sig, &sa, nullptr);
  }
}

// Fails the run when one input has run for kHangSeconds.
void WatchForHangs() {
  std::thread([] {
    uint64_t last = runs_started.load();
    int still = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const uint64_t now = runs_started.load();
      still = (now == last && current_input.load() != nullptr) ? still + 1 : 0;
      last = now;
      if (still >= kHangSeconds) {
        SaveCurrentInput("an input ran for 20 s (a hang)");
        std::_Exit(1);
      }
    }
  }).detach();
}

void Run(const std::string& input) {
  current_input.store(&input);
  runs_started.fetch_add(1);
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
  current_input.store(nullptr);
}

// One to four random edits of `in`, `other` the source of inserted bytes.
std::string Mutate(std::string in, const std::string& other,
                   std::mt19937_64* rng) {
  constexpr size_t kMaxSize = 1 << 20;
  auto below = [rng](size_t n) { return n == 0 ? 0 : (*rng)() % n; };
  static const uint64_t kEdges[] = {
      0,      1,          0x7f,       0x80,       0xff,  0x7fff,
      0xffff, 0x7fffffff, 0xffffffff, 1ull << 63, ~0ull, 0x7fffffffffffffff};
  const int edits = 1 + static_cast<int>(below(4));
  for (int e = 0; e < edits; ++e) {
    switch (below(6)) {
      case 0:  // flip a bit
        if (!in.empty()) in[below(in.size())] ^= 1 << below(8);
        break;
      case 1: {  // an edge value, 1, 2, 4 or 8 bytes
        const size_t width = size_t{1} << below(4);
        if (in.size() < width) break;
        const uint64_t v = kEdges[below(std::size(kEdges))];
        std::memcpy(&in[below(in.size() - width + 1)], &v, width);
        break;
      }
      case 2: {  // delete a range
        const size_t at = below(in.size() + 1);
        in.erase(at, 1 + below(std::min<size_t>(in.size() - at, 64) + 1));
        break;
      }
      case 3: {  // insert a range of this input or the other
        const std::string& from = below(2) ? in : other;
        if (from.empty() || in.size() >= kMaxSize) break;
        const size_t at = below(from.size());
        const std::string piece =
            from.substr(at, 1 + below(std::min<size_t>(from.size() - at, 256)));
        in.insert(below(in.size() + 1), piece);
        break;
      }
      case 4:  // cut
        in.resize(below(in.size() + 1));
        break;
      default:  // a random byte
        if (!in.empty()) in[below(in.size())] = static_cast<char>((*rng)());
        break;
    }
  }
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> files;
  double mutate_seconds = 0;
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--mutate") {
      mutate_seconds = std::atof(argv[++i]);
      continue;
    }
    if (i + 1 < argc && a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 10);
      continue;
    }
    if (i + 1 < argc && a == "--crash-file") {
      crash_file = argv[++i];
      continue;
    }
    const fs::path arg(argv[i]);
    if (fs::is_directory(arg)) {
      for (const auto& e : fs::recursive_directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else if (!fs::exists(arg)) {
      std::fprintf(stderr, "note: %s does not exist (skipped)\n", argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr,
                 "no inputs: a replay that runs nothing tests nothing\n");
    return 1;
  }
  std::vector<std::string> inputs;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    inputs.emplace_back((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 1;
    }
  }
  InstallCrashHandlers();
  WatchForHangs();
  for (size_t i = 0; i < files.size(); ++i) {
    std::fprintf(stderr, "%s\n", files[i].c_str());
    Run(inputs[i]);
  }
  std::printf("replayed %zu inputs\n", files.size());
  if (mutate_seconds <= 0) return 0;

  std::printf("mutating for %.0f s, --seed %llu\n", mutate_seconds,
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration<double>(mutate_seconds);
  uint64_t runs = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int batch = 0; batch < 16; ++batch, ++runs) {
      const std::string& base = inputs[rng() % inputs.size()];
      const std::string& other = inputs[rng() % inputs.size()];
      Run(Mutate(base, other, &rng));
    }
  }
  std::printf("ran %llu mutated inputs\n",
              static_cast<unsigned long long>(runs));
  return 0;
}
