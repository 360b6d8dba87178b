// Quick in-process probe used while designing the write path: a ~1 GiB tree
// of 167 float32 arrays (4 KiB .. 64 MiB) saved with Checkpointer vs one raw
// file (write+fsync), restored with and without a target vs pread, 4 reps.
// Build (after building the project into ./build):
//   g++ -O2 -std=c++17 -Iapi bench/probe/w1_save_restore.cc -o /tmp/w1 \
//     -Lbuild -lckptdb -lrocksdb $(ls /lib/x86_64-linux-gnu/libabsl_*.so | \
//     sed 's|.*/lib\\(absl_[a-z0-9_]*\\)\\.so|-l\\1|') -lpthread
//   /tmp/w1 ./w1data
// The benchmark suite (bench/) is the reference; this is the short loop.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "ckptdb/checkpointer.h"
using namespace ckptdb;
static double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  std::string dir = argc > 1 ? argv[1] : "/work/w1data";
  std::filesystem::create_directories(dir);
  // ~1 GiB: sizes from 4 KiB to 64 MiB
  std::vector<size_t> sizes;
  size_t total = 0;
  std::mt19937_64 rng(1);
  while (total < (1ull << 30)) {
    size_t s = 4096ull << (rng() % 15);
    if (s > (64u << 20)) s = 64u << 20;
    sizes.push_back(s);
    total += s;
  }
  char* buf = (char*)aligned_alloc(4096, total);
  for (size_t i = 0; i < total / 8; i++) ((uint64_t*)buf)[i] = rng();
  char* dst = (char*)aligned_alloc(4096, total);
  memset(dst, 0, total);
  Tree tree = Tree::Dict();
  Tree target = Tree::Dict();
  size_t off = 0;
  for (size_t i = 0; i < sizes.size(); i++) {
    tree.Insert(
        "a" + std::to_string(i),
        Array::Borrow(DType::kFloat32, {(int64_t)(sizes[i] / 4)}, buf + off));
    target.Insert(
        "a" + std::to_string(i),
        Array::Borrow(DType::kFloat32, {(int64_t)(sizes[i] / 4)}, dst + off));
    off += sizes[i];
  }
  printf("%zu arrays, %.2f GiB\n", sizes.size(), total / 1073741824.0);
  Checkpointer ck;
  SaveOptions force;
  force.force = true;
  for (int rep = 0; rep < 4; rep++) {
    std::string raw = dir + "/raw.bin";
    unlink(raw.c_str());
    double t0 = now();
    int fd = open(raw.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    off = 0;
    for (size_t s : sizes) {
      write(fd, buf + off, s);
      off += s;
    }
    fsync(fd);
    close(fd);
    double traw = now() - t0;
    std::filesystem::remove_all(dir + "/ck");
    t0 = now();
    auto st = ck.Save(dir + "/ck", tree, force);
    double tck = now() - t0;
    if (!st.ok()) {
      printf("%s\n", st.ToString().c_str());
      return 1;
    }
    t0 = now();
    fd = open(raw.c_str(), O_RDONLY);
    off = 0;
    for (size_t s : sizes) {
      pread(fd, dst + off, s, off);
      off += s;
    }
    close(fd);
    double tpr = now() - t0;
    t0 = now();
    auto r = ck.Restore(dir + "/ck", target);
    double trt = now() - t0;
    if (!r.ok()) {
      printf("%s\n", r.status().ToString().c_str());
      return 1;
    }
    t0 = now();
    auto r2 = ck.Restore(dir + "/ck");
    double trn = now() - t0;
    if (!r2.ok()) {
      printf("%s\n", r2.status().ToString().c_str());
      return 1;
    }
    printf(
        "rep %d: save raw %.2f GB/s ckptdb %.2f GB/s (%.2fx) | restore pread "
        "%.2f GB/s target %.2f GB/s (%.2fx) no-target %.2f GB/s (%.2fx)\n",
        rep, total / traw / 1e9, total / tck / 1e9, traw / tck,
        total / tpr / 1e9, total / trt / 1e9, tpr / trt, total / trn / 1e9,
        tpr / trn);
  }
  std::filesystem::remove_all(dir);
}
