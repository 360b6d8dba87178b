// The baselines of issue 6, each saving and restoring a Workload whose
// arrays live in an arena: raw single file, raw file per leaf, HDF5, borg.
// Every function Fail()s (exits non-zero) on an I/O error.
#ifndef CKPTDB_BENCH_BASELINES_H_
#define CKPTDB_BENCH_BASELINES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/workloads.h"

namespace ckptdb_bench {

// Restored scalar leaves, as 8-byte bit patterns indexed like w.leaves.
using ScalarBits = std::vector<uint64_t>;

// True if every scalar leaf's restored bits equal its value.
bool ScalarsMatch(const Workload& w, const ScalarBits& got, std::string* what);

// Raw single file (what safetensors does): all leaves back to back, written
// with write() from the caller's buffers (small leaves coalesced through a
// reused 4 MiB buffer), then one fsync. Restore: pread into `dst`.
void RawSingleSave(const Workload& w, const char* base,
                   const std::string& path);
void RawSingleRestore(const Workload& w, char* dst, const std::string& path,
                      ScalarBits* scalars);

// Raw file per leaf (TensorStore/zarr-like): one file per leaf in nested
// directories, each written and fsynced. Restore: open + pread + close.
void PerLeafSave(const Workload& w, const char* base, const std::string& dir);
void PerLeafRestore(const Workload& w, char* dst, const std::string& dir,
                    ScalarBits* scalars);

// HDF5: one contiguous dataset per leaf (scalars as rank-0 datasets) in
// nested groups; H5Fflush, H5Fclose, then fsync of the file. Restore:
// H5Dread of every dataset into `dst`.
void Hdf5Save(const Workload& w, const char* base, const std::string& path);
void Hdf5Restore(const Workload& w, char* dst, const std::string& path,
                 ScalarBits* scalars);

// Writes `bytes` at `p` to `path` (no fsync): W3's checkpoint files for
// borg.
void WriteWholeFile(const std::string& path, const char* p, size_t bytes);

// borg (Debian's borgbackup). BORG_BASE_DIR etc. must be set (see
// SetBorgEnvironment).
void SetBorgEnvironment(const std::string& base_dir);
void BorgInit(const std::string& repo);
// `borg create --compression none repo::archive file`, run in `dir`.
void BorgCreate(const std::string& repo, const std::string& archive,
                const std::string& dir, const std::string& file);
// True if `borg extract --stdout repo::archive file` yields exactly
// `bytes` bytes equal to `p`.
bool BorgExtractEquals(const std::string& repo, const std::string& archive,
                       const std::string& file, const char* p, size_t bytes);
// "borg 1.2.4", or "" if borg is not installed.
std::string BorgVersion();

}  // namespace ckptdb_bench

#endif  // CKPTDB_BENCH_BASELINES_H_
