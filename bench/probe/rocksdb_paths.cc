// Probe behind the chunk-storage choices in docs/design.md: raw write()+fsync
// vs SstFileWriter+IngestExternalFile for 1 GiB of 1 MiB (or N MiB) values,
// and raw pread vs RocksDB Get (with and without mmap reads) + XXH3 verify.
// Build and run (from the project root, after scripts/install-deps.sh):
//   g++ -O2 -mavx2 -std=c++17 bench/probe/rocksdb_paths.cc -o /tmp/probe
//   -lrocksdb -lpthread /tmp/probe 1; MMAP=1 /tmp/probe 1; MMAP=1 /tmp/probe 4
// It writes about 2 GiB under ./probe_data and removes it at the end.
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>
#define XXH_INLINE_ALL
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <xxhash.h>
using namespace std;
static double now() {
  return chrono::duration<double>(
             chrono::steady_clock::now().time_since_epoch())
      .count();
}
int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  size_t chunk = (argc > 1 ? atol(argv[1]) : 1) << 20;
  size_t total = 1ull << 30;
  size_t n = total / chunk;
  string dir = "probe_data";
  system(("rm -rf " + dir + "; mkdir -p " + dir).c_str());
  char* src = (char*)aligned_alloc(4096, total);
  char* dst = (char*)aligned_alloc(4096, total);
  mt19937_64 rng(1);
  for (size_t i = 0; i < total / 8; i++) ((uint64_t*)src)[i] = rng();
  memset(dst, 1, total);
  for (int rep = 0; rep < 3; rep++) {
    // raw write
    string f = dir + "/raw.bin";
    unlink(f.c_str());
    double t0 = now();
    int fd = open(f.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    for (size_t i = 0; i < n; i++) write(fd, src + i * chunk, chunk);
    fsync(fd);
    close(fd);
    double traw = now() - t0;
    // sst write
    rocksdb::Options o;
    o.create_if_missing = true;
    o.compression = rocksdb::kNoCompression;
    rocksdb::BlockBasedTableOptions bo;
    bo.checksum = rocksdb::kXXH3;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bo));
    o.allow_mmap_reads = getenv("MMAP") != nullptr;
    o.advise_random_on_open = false;
    rocksdb::DestroyDB(dir + "/db", o);
    rocksdb::DB* db;
    auto s = rocksdb::DB::Open(o, dir + "/db", &db);
    if (!s.ok()) {
      puts(s.ToString().c_str());
      return 1;
    }
    t0 = now();
    rocksdb::EnvOptions eo;
    rocksdb::SstFileWriter w(eo, o);
    string sf = dir + "/x.sst";
    s = w.Open(sf);
    char key[8];
    for (size_t i = 0; i < n; i++) {
      uint64_t k = __builtin_bswap64(i);
      memcpy(key, &k, 8);
      s = w.Put(rocksdb::Slice(key, 8), rocksdb::Slice(src + i * chunk, chunk));
    }
    s = w.Finish();
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;
    io.write_global_seqno = false;
    s = db->IngestExternalFile({sf}, io);
    if (!s.ok()) puts(s.ToString().c_str());
    double tsst = now() - t0;
    // raw pread
    double tpr = 1e9, tget = 1e9, tgeth = 1e9, tget2 = 1e9, tprh2 = 1e9;
    for (int k = 0; k < 3; k++) {
      fd = open(f.c_str(), O_RDONLY);
      t0 = now();
      for (size_t i = 0; i < n; i++)
        pread(fd, dst + i * chunk, chunk, i * chunk);
      tpr = min(tpr, now() - t0);
      t0 = now();
      {
        auto work = [&](int id) {
          for (size_t i = id; i < n; i += 2) {
            pread(fd, dst + i * chunk, chunk, i * chunk);
            volatile auto h = XXH3_128bits(dst + i * chunk, chunk);
          }
        };
        thread a(work, 0), b(work, 1);
        a.join();
        b.join();
      }
      tprh2 = min(tprh2, now() - t0);
      close(fd);
      rocksdb::ReadOptions ro;
      ro.verify_checksums = false;
      ro.fill_cache = false;
      rocksdb::PinnableSlice ps;
      t0 = now();
      for (size_t i = 0; i < n; i++) {
        uint64_t kk = __builtin_bswap64(i);
        memcpy(key, &kk, 8);
        db->Get(ro, db->DefaultColumnFamily(), rocksdb::Slice(key, 8), &ps);
        memcpy(dst + i * chunk, ps.data(), ps.size());
        ps.Reset();
      }
      tget = min(tget, now() - t0);
      t0 = now();
      for (size_t i = 0; i < n; i++) {
        uint64_t kk = __builtin_bswap64(i);
        memcpy(key, &kk, 8);
        db->Get(ro, db->DefaultColumnFamily(), rocksdb::Slice(key, 8), &ps);
        memcpy(dst + i * chunk, ps.data(), ps.size());
        volatile auto h = XXH3_128bits(dst + i * chunk, chunk);
        ps.Reset();
      }
      tgeth = min(tgeth, now() - t0);
      t0 = now();
      {
        auto work = [&](int id) {
          rocksdb::PinnableSlice p;
          char kb[8];
          for (size_t i = id; i < n; i += 2) {
            uint64_t kk = __builtin_bswap64(i);
            memcpy(kb, &kk, 8);
            db->Get(ro, db->DefaultColumnFamily(), rocksdb::Slice(kb, 8), &p);
            memcpy(dst + i * chunk, p.data(), p.size());
            volatile auto h = XXH3_128bits(dst + i * chunk, chunk);
            p.Reset();
          }
        };
        thread a(work, 0), b(work, 1);
        a.join();
        b.join();
      }
      tget2 = min(tget2, now() - t0);
    }
    printf(
        "chunk=%zuMiB mmap=%d write: raw %.2f GB/s sst+ingest %.2f GB/s (ratio "
        "%.2f) | read: raw pread %.2f, raw pread+hash 2thr %.2f, get+memcpy "
        "%.2f, get+memcpy+hash %.2f, 2thr %.2f GB/s\n",
        chunk >> 20, (int)o.allow_mmap_reads, 1.0737 / traw, 1.0737 / tsst,
        traw / tsst, 1.0737 / tpr, 1.0737 / tprh2, 1.0737 / tget,
        1.0737 / tgeth, 1.0737 / tget2);
    delete db;
  }
  system(("rm -rf " + dir).c_str());
  return 0;
}
