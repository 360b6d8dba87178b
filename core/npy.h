// numpy's .npy and .npz file formats, for `ckptdb export` and `ckptdb import`.
//
// .npy (numpy.lib.format, versions 1.0, 2.0 and 3.0): a magic string, a
// header length, a Python-literal dict header
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline to a multiple of 64 bytes, then the
// elements. .npz: a zip archive of .npy members, stored (np.savez) or
// deflated (np.savez_compressed), with Zip64 extensions (numpy writes every
// member with force_zip64).
//
// No exceptions: every function returns absl::Status / absl::StatusOr.
#ifndef CKPTDB_CORE_NPY_H_
#define CKPTDB_CORE_NPY_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ckptdb/array.h"
#include "ckptdb/dtype.h"

namespace ckptdb::npy {

// Length of the valid UTF-8 sequence at s[i] (1 for ASCII), with its code
// point in *cp; 0 if the bytes there are not valid UTF-8 (bad or truncated
// sequence, overlong form, surrogate, beyond U+10FFFF).
size_t DecodeUtf8At(absl::string_view s, size_t i, uint32_t* cp);
// True if `s` is valid UTF-8 (no overlong forms, no surrogates).
bool IsValidUtf8(absl::string_view s);
// `s` with each byte that is not valid UTF-8 written as \xNN (for messages).
std::string EscapeInvalidUtf8(absl::string_view s);

// Path components as file names: "%" for "", %XX escapes for '/', '%',
// NUL and for names that are "." or "..".
std::string EncodePathComponent(absl::string_view key);
std::string DecodePathComponent(absl::string_view name);

// The parsed header of a .npy file.
struct NpyHeader {
  std::string descr;  // numpy's dtype string: "<f4", "|b1", "<U5", ...
  bool fortran_order = false;
  Shape shape;
  // Bytes before the first element (magic, length, dict, padding).
  size_t data_offset = 0;
};

// The little-endian descr numpy writes for `dtype` ("<f4", "|u1", "<c16").
// InvalidArgument for bfloat16, which numpy does not have (callers widen
// it to float32 first).
absl::StatusOr<std::string> DescrForDType(DType dtype);

// The DType of a numeric descr ("<f4", ">i8", "=u2", "|b1", "?", "f8",
// ...); `*byte_swapped` is set when the elements are big-endian.
// InvalidArgument naming the descr for anything else (strings, objects,
// structured or datetime dtypes).
absl::StatusOr<DType> DTypeForDescr(absl::string_view descr,
                                    bool* byte_swapped);

// The complete header (magic through the padding newline) of a .npy file:
// version 1.0, or 2.0 when the dict does not fit 64 KiB; its size is a
// multiple of 64 bytes.
std::string EncodeNpyHeader(absl::string_view descr, const Shape& shape,
                            bool fortran_order = false);

// Parses the header at the start of `file`; `file` may be just a prefix of
// the file (the first 64 KiB hold any header numpy writes in version 1.0).
// InvalidArgument naming what is wrong.
absl::StatusOr<NpyHeader> DecodeNpyHeader(absl::string_view file);

// Encodes a rank-0 '<U' string array (numpy's str scalar) as a .npy file.
std::string EncodeStringNpy(absl::string_view utf8);

// A decoded .npy file.
struct NpyValue {
  bool is_string = false;  // a rank-0 '<U' array: `str` holds it (UTF-8)
  std::string str;
  Array array;  // otherwise: C-ordered, little-endian
};

// Decodes a whole .npy file held in `file`. The returned array shares
// `file`'s memory when the elements are stored little-endian in C order
// (no copy); otherwise it is a converted copy. InvalidArgument for
// unsupported dtypes and truncated data; `what` names the file in errors.
absl::StatusOr<NpyValue> DecodeNpy(std::shared_ptr<const std::string> file,
                                   absl::string_view what);

// ---- .npz (zip) -----------------------------------------------------------

// Writes a zip archive of stored (uncompressed) members, as np.savez does.
// Members are written in order; each member's size must be known when it
// begins. Member timestamps are fixed (1980-01-01) so exports are
// reproducible.
class ZipWriter {
 public:
  struct Options {
    // Write Zip64 size fields for every member, as numpy does. Zip64 is
    // used anyway for members or offsets beyond 4 GiB.
    bool force_zip64 = false;
  };
  static absl::StatusOr<std::unique_ptr<ZipWriter>> Create(
      const std::string& path, const Options& options);
  static absl::StatusOr<std::unique_ptr<ZipWriter>> Create(
      const std::string& path) {
    return Create(path, Options());
  }
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // Starts a member named `name` ("params/w.npy") of exactly `size` bytes.
  absl::Status BeginMember(absl::string_view name, uint64_t size);
  // Appends bytes to the current member.
  absl::Status Write(absl::string_view bytes);
  // Ends the current member (its size must be complete).
  absl::Status EndMember();
  // Writes the central directory and closes the file.
  absl::Status Finish();

 private:
  struct Entry {
    std::string name;
    uint64_t size = 0;
    uint64_t offset = 0;
    uint32_t crc = 0;
    bool zip64 = false;
  };
  ZipWriter(std::FILE* f, std::string path, Options options)
      : f_(f), path_(std::move(path)), options_(options) {}
  absl::Status WriteRaw(absl::string_view bytes);
  absl::Status IoError(absl::string_view what) const;

  std::FILE* f_;
  std::string path_;
  Options options_;
  uint64_t offset_ = 0;
  std::vector<Entry> entries_;
  bool in_member_ = false;
  uint64_t written_ = 0;
  uint32_t crc_ = 0;
  uint64_t crc_pos_ = 0;  // file offset of the local header's crc field
};

// Reads members of a zip archive: stored or deflated, with or without
// Zip64, CRC-32 checked. Members whose byte ranges overlap, and deflated
// members declaring more than deflate's 1032:1 expansion, are refused when
// the archive is opened.
class ZipReader {
 public:
  struct Member {
    std::string name;
    uint16_t method = 0;  // 0 stored, 8 deflated
    uint16_t flags = 0;
    uint32_t crc = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;
    uint64_t local_header_offset = 0;
  };
  // InvalidArgument if `path` is not a zip archive (or uses a feature this
  // reader does not have: encryption, multi-disk, other compression).
  static absl::StatusOr<std::unique_ptr<ZipReader>> Open(
      const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  // In central directory order.
  const std::vector<Member>& members() const { return members_; }
  // Reads a member's uncompressed bytes into `out`; `progress` (optional)
  // is called with the number of input bytes consumed so far.
  absl::Status Read(
      const Member& m, std::string* out,
      const std::function<void(uint64_t)>& progress = nullptr) const;

 private:
  ZipReader(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), file_size_(size) {}
  absl::Status ReadAt(uint64_t offset, size_t n, std::string* out) const;
  absl::Status ReadDirectory();
  absl::Status CheckNoOverlap() const;

  int fd_;
  std::string path_;
  uint64_t file_size_;
  std::vector<Member> members_;
};

}  // namespace ckptdb::npy

#endif  // CKPTDB_CORE_NPY_H_
