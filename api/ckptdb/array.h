// ckptdb::Array: a dense, C-ordered n-dimensional array of one DType.
//
// An Array either owns its bytes (shared, reference-counted storage) or
// borrows memory that the caller keeps alive. Copying an Array copies the
// handle, not the bytes: both handles see the same memory. Saving borrows
// the caller's bytes (no copy of array data); restoring into a target array
// fills its memory in place.
//
// Thread safety: an Array handle may be read from several threads; writing
// its elements while a save of it is in progress gives unspecified results.
#ifndef CKPTDB_ARRAY_H_
#define CKPTDB_ARRAY_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ckptdb/dtype.h"

namespace ckptdb {

using Shape = std::vector<int64_t>;

// Number of elements of `shape` (1 for rank 0), or -1 if a dimension is
// negative or the product overflows int64.
int64_t ShapeNumElements(const Shape& shape);

// "(2, 3)" / "()" / "(5,)", as numpy prints shapes.
std::string ShapeToString(const Shape& shape);

class Array {
 public:
  // An empty float32 array of shape (0,).
  Array();

  // Owned, uninitialised storage (64-byte aligned).
  static Array Allocate(DType dtype, Shape shape);
  // Owned storage filled with zero bytes.
  static Array Zeros(DType dtype, Shape shape);
  // Owned copy of `data` (byte_size(dtype, shape) bytes).
  static Array CopyFrom(DType dtype, Shape shape, const void* data);
  // Mutable view of caller memory; the caller keeps it alive and unchanged
  // while any save that uses this Array is in progress.
  static Array Borrow(DType dtype, Shape shape, void* data);
  // Read-only view of caller memory (restoring into it allocates instead).
  static Array BorrowConst(DType dtype, Shape shape, const void* data);
  // View of `data` whose lifetime is tied to `owner` (e.g. a numpy array).
  static Array Share(DType dtype, Shape shape, std::shared_ptr<void> owner,
                     void* data, bool writable = true);

  // Owned array from a list of values; T must match dtype's C++ type size.
  // If it does not, or v.size() differs from the shape's element count,
  // the array is all zeros (no error: check your arguments).
  template <typename T>
  static Array FromValues(DType dtype, Shape shape, const std::vector<T>& v) {
    Array a = Allocate(dtype, std::move(shape));
    if (sizeof(T) == DTypeSize(dtype) &&
        v.size() == static_cast<size_t>(a.num_elements())) {
      if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), a.nbytes());
    } else {
      std::memset(a.mutable_data(), 0, a.nbytes());
    }
    return a;
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Number of elements (1 for a rank-0 array).
  int64_t num_elements() const;
  // num_elements() * DTypeSize(dtype()).
  size_t nbytes() const;

  const void* data() const { return data_; }
  // nullptr for a read-only view.
  void* mutable_data() const { return writable_ ? data_ : nullptr; }
  bool writable() const { return writable_; }
  // True if this handle keeps its storage alive (owned or shared).
  bool owns_storage() const { return owner_ != nullptr; }
  const std::shared_ptr<void>& owner() const { return owner_; }

  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }

  // A deep copy with owned storage.
  Array Copy() const;
  // A deep copy converted to `dtype` (see CastElements).
  Array AsType(DType dtype) const;
  // Same dtype, shape and bytes (NaN payloads and -0.0 compared bitwise).
  bool BitwiseEquals(const Array& other) const;

 private:
  Array(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data,
        bool writable);

  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
  bool writable_ = false;
};

}  // namespace ckptdb

#endif  // CKPTDB_ARRAY_H_
