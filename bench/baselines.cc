#include "bench/baselines.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"

namespace ckptdb_bench {

namespace {

// Leaves at least this large are written and read directly from/into the
// caller's buffers; smaller ones go through the staging buffer.
constexpr size_t kDirectBytes = 1 << 20;
constexpr size_t kStagingBytes = 4 << 20;

// A reused, pre-faulted staging buffer.
char* Staging() {
  static char* buf = [] {
    char* p = static_cast<char*>(std::aligned_alloc(4096, kStagingBytes));
    std::memset(p, 0, kStagingBytes);
    return p;
  }();
  return buf;
}

void WriteAll(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t k = write(fd, p, std::min(n, size_t{1} << 30));
    if (k < 0) {
      if (errno == EINTR) continue;
      FailErrno("write " + path);
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void PreadAll(int fd, char* p, size_t n, off_t off, const std::string& path) {
  while (n > 0) {
    const ssize_t k = pread(fd, p, std::min(n, size_t{1} << 30), off);
    if (k < 0) {
      if (errno == EINTR) continue;
      FailErrno("pread " + path);
    }
    if (k == 0) Fail("pread " + path + ": unexpected end of file");
    p += k;
    n -= static_cast<size_t>(k);
    off += k;
  }
}

const char* LeafSource(const Leaf& l, const char* base) {
  if (l.kind == Leaf::Kind::kArray) return base + l.offset;
  if (l.kind == Leaf::Kind::kInt) {
    return reinterpret_cast<const char*>(&l.int_value);
  }
  return reinterpret_cast<const char*>(&l.float_value);
}

// Where a restored leaf's bytes go.
char* LeafDest(const Leaf& l, size_t index, char* dst, ScalarBits* scalars) {
  if (l.kind == Leaf::Kind::kArray) return dst + l.offset;
  return reinterpret_cast<char*>(&(*scalars)[index]);
}

void FsyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) FailErrno("open " + path);
  if (fsync(fd) != 0) FailErrno("fsync " + path);
  close(fd);
}

}  // namespace

bool ScalarsMatch(const Workload& w, const ScalarBits& got, std::string* what) {
  for (size_t i = 0; i < w.leaves.size(); ++i) {
    const Leaf& l = w.leaves[i];
    if (l.kind == Leaf::Kind::kArray) continue;
    if (std::memcmp(&got[i], LeafSource(l, nullptr), 8) != 0) {
      *what = w.name + " scalar '" + l.joined + "' differs";
      return false;
    }
  }
  return true;
}

// ---- raw single file -------------------------------------------------------

void RawSingleSave(const Workload& w, const char* base,
                   const std::string& path) {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) FailErrno("open " + path);
  char* staging = Staging();
  size_t used = 0;
  for (const Leaf& l : w.leaves) {
    const char* src = LeafSource(l, base);
    if (l.nbytes >= kDirectBytes) {
      if (used > 0) WriteAll(fd, staging, used, path);
      used = 0;
      WriteAll(fd, src, l.nbytes, path);
      continue;
    }
    if (used + l.nbytes > kStagingBytes) {
      WriteAll(fd, staging, used, path);
      used = 0;
    }
    std::memcpy(staging + used, src, l.nbytes);
    used += l.nbytes;
  }
  if (used > 0) WriteAll(fd, staging, used, path);
  if (fsync(fd) != 0) FailErrno("fsync " + path);
  close(fd);
}

void RawSingleRestore(const Workload& w, char* dst, const std::string& path,
                      ScalarBits* scalars) {
  scalars->assign(w.leaves.size(), 0);
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) FailErrno("open " + path);
  char* staging = Staging();
  size_t i = 0;
  while (i < w.leaves.size()) {
    const Leaf& l = w.leaves[i];
    if (l.nbytes >= kDirectBytes) {
      PreadAll(fd, LeafDest(l, i, dst, scalars), l.nbytes,
               static_cast<off_t>(l.file_offset), path);
      ++i;
      continue;
    }
    // A run of small leaves, read with one pread into the staging buffer.
    size_t j = i;
    size_t span = 0;
    while (j < w.leaves.size() && w.leaves[j].nbytes < kDirectBytes &&
           span + w.leaves[j].nbytes <= kStagingBytes) {
      span += w.leaves[j].nbytes;
      ++j;
    }
    PreadAll(fd, staging, span, static_cast<off_t>(l.file_offset), path);
    for (size_t k = i; k < j; ++k) {
      const Leaf& s = w.leaves[k];
      std::memcpy(LeafDest(s, k, dst, scalars),
                  staging + (s.file_offset - l.file_offset), s.nbytes);
    }
    i = j;
  }
  close(fd);
}

// ---- raw file per leaf ------------------------------------------------------

void PerLeafSave(const Workload& w, const char* base, const std::string& dir) {
  std::unordered_set<std::string> made;
  MakeDirs(dir);
  for (const Leaf& l : w.leaves) {
    std::string d = dir;
    for (size_t c = 0; c + 1 < l.path.size(); ++c) {
      d += "/" + l.path[c].name;
      if (made.insert(d).second && mkdir(d.c_str(), 0755) != 0 &&
          errno != EEXIST) {
        FailErrno("mkdir " + d);
      }
    }
    const std::string f = d + "/" + l.path.back().name;
    const int fd = open(f.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) FailErrno("open " + f);
    WriteAll(fd, LeafSource(l, base), l.nbytes, f);
    if (fsync(fd) != 0) FailErrno("fsync " + f);
    close(fd);
  }
}

void PerLeafRestore(const Workload& w, char* dst, const std::string& dir,
                    ScalarBits* scalars) {
  scalars->assign(w.leaves.size(), 0);
  for (size_t i = 0; i < w.leaves.size(); ++i) {
    const Leaf& l = w.leaves[i];
    const std::string f = dir + "/" + l.joined;
    const int fd = open(f.c_str(), O_RDONLY);
    if (fd < 0) FailErrno("open " + f);
    PreadAll(fd, LeafDest(l, i, dst, scalars), l.nbytes, 0, f);
    close(fd);
  }
}

// ---- HDF5 -------------------------------------------------------------------

namespace {

void H5Check(herr_t rc, const std::string& what) {
  if (rc < 0) Fail("HDF5: " + what);
}
hid_t H5CheckId(hid_t id, const std::string& what) {
  if (id < 0) Fail("HDF5: " + what);
  return id;
}

// The chain of open groups along the current leaf's path.
class GroupStack {
 public:
  GroupStack(hid_t file, bool create) : create_(create) {
    ids_.push_back(file);
  }
  ~GroupStack() { Truncate(0); }

  // Opens (or creates) the groups of `path` without its last component and
  // returns the innermost one.
  hid_t Enter(const std::vector<PathComp>& path) {
    const size_t want = path.size() - 1;
    size_t common = 0;
    while (common < names_.size() && common < want &&
           names_[common] == path[common].name) {
      ++common;
    }
    Truncate(common);
    for (size_t c = common; c < want; ++c) {
      const char* name = path[c].name.c_str();
      hid_t g = create_ ? H5Gcreate2(ids_.back(), name, H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT)
                        : H5Gopen2(ids_.back(), name, H5P_DEFAULT);
      ids_.push_back(H5CheckId(g, std::string("group ") + name));
      names_.push_back(path[c].name);
    }
    return ids_.back();
  }

 private:
  void Truncate(size_t depth) {
    while (names_.size() > depth) {
      H5Gclose(ids_.back());
      ids_.pop_back();
      names_.pop_back();
    }
  }

  bool create_;
  std::vector<hid_t> ids_;  // ids_[0] is the file
  std::vector<std::string> names_;
};

}  // namespace

void Hdf5Save(const Workload& w, const char* base, const std::string& path) {
  const hid_t file = H5CheckId(
      H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
      "create " + path);
  {
    GroupStack groups(file, /*create=*/true);
    std::vector<hsize_t> dims;
    for (const Leaf& l : w.leaves) {
      const hid_t parent = groups.Enter(l.path);
      hid_t space, ftype, mtype;
      if (l.kind == Leaf::Kind::kArray) {
        dims.assign(l.shape.begin(), l.shape.end());
        space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(),
                                 nullptr);
        ftype = H5T_IEEE_F32LE;
        mtype = H5T_NATIVE_FLOAT;
      } else {
        space = H5Screate(H5S_SCALAR);
        ftype = l.kind == Leaf::Kind::kInt ? H5T_STD_I64LE : H5T_IEEE_F64LE;
        mtype =
            l.kind == Leaf::Kind::kInt ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
      }
      H5CheckId(space, "dataspace");
      const hid_t ds =
          H5CheckId(H5Dcreate2(parent, l.path.back().name.c_str(), ftype, space,
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                    "create dataset " + l.joined);
      H5Check(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       LeafSource(l, base)),
              "write " + l.joined);
      H5Dclose(ds);
      H5Sclose(space);
    }
  }
  H5Check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + path);
  H5Check(H5Fclose(file), "close " + path);
  FsyncPath(path);
}

void Hdf5Restore(const Workload& w, char* dst, const std::string& path,
                 ScalarBits* scalars) {
  scalars->assign(w.leaves.size(), 0);
  const hid_t file = H5CheckId(
      H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + path);
  {
    GroupStack groups(file, /*create=*/false);
    for (size_t i = 0; i < w.leaves.size(); ++i) {
      const Leaf& l = w.leaves[i];
      const hid_t parent = groups.Enter(l.path);
      const hid_t ds =
          H5CheckId(H5Dopen2(parent, l.path.back().name.c_str(), H5P_DEFAULT),
                    "open dataset " + l.joined);
      const hid_t mtype = l.kind == Leaf::Kind::kArray ? H5T_NATIVE_FLOAT
                          : l.kind == Leaf::Kind::kInt ? H5T_NATIVE_INT64
                                                       : H5T_NATIVE_DOUBLE;
      H5Check(H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                      LeafDest(l, i, dst, scalars)),
              "read " + l.joined);
      H5Dclose(ds);
    }
  }
  H5Check(H5Fclose(file), "close " + path);
}

// ---- borg
// --------------------------------------------------------------------

void WriteWholeFile(const std::string& path, const char* p, size_t bytes) {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) FailErrno("open " + path);
  WriteAll(fd, p, bytes, path);
  close(fd);
}

void SetBorgEnvironment(const std::string& base_dir) {
  MakeDirs(base_dir);
  setenv("BORG_BASE_DIR", base_dir.c_str(), 1);
  setenv("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes", 1);
  setenv("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes", 1);
  setenv("BORG_DISPLAY_PASSPHRASE", "no", 1);
  unsetenv("BORG_REPO");
  unsetenv("BORG_PASSPHRASE");
}

void BorgInit(const std::string& repo) {
  std::string out;
  if (RunShell("borg init --encryption=none '" + repo + "'", &out) != 0) {
    Fail("borg init " + repo + " failed:\n" + out);
  }
}

void BorgCreate(const std::string& repo, const std::string& archive,
                const std::string& dir, const std::string& file) {
  std::string out;
  const int rc =
      RunShell("cd '" + dir + "' && borg create --compression none '" + repo +
                   "::" + archive + "' '" + file + "'",
               &out);
  if (rc != 0)
    Fail("borg create " + archive + " failed (" + std::to_string(rc) + "):\n" +
         out);
}

bool BorgExtractEquals(const std::string& repo, const std::string& archive,
                       const std::string& file, const char* p, size_t bytes) {
  std::fflush(stdout);
  const std::string cmd =
      "borg extract --stdout '" + repo + "::" + archive + "' '" + file + "'";
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return false;
  std::vector<char> buf(1 << 20);
  size_t pos = 0;
  bool same = true;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    if (pos + n > bytes || std::memcmp(buf.data(), p + pos, n) != 0) {
      same = false;
    }
    pos += n;
  }
  const int st = pclose(f);
  return same && pos == bytes && st == 0;
}

std::string BorgVersion() {
  std::string out;
  if (RunShell("borg --version", &out) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

}  // namespace ckptdb_bench
