// libFuzzer target: .npz archives read as the CLI's and ImportCheckpoint's
// importer reads them (core/import_source with the npz format: the zip
// reader, member names as tree paths, each member's .npy decode).
//
// The input is written to a memfd (the reader takes a path) and read
// through /proc/self/fd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/import_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz.npz", 0);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0) std::abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  ckptdb::import_source::ReadOptions options;
  options.format = ckptdb::import_source::Format::kNpz;
  (void)ckptdb::import_source::Read(path, options);
  return 0;
}
