#include "ckptdb/array.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ckptdb {

int64_t ShapeNumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

std::string ShapeToString(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

namespace {
std::shared_ptr<void> AllocateAligned(size_t bytes) {
  const size_t rounded = ((bytes + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) return nullptr;
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Array::Array() : shape_{0} {
  static char kEmpty[1];
  data_ = kEmpty;
}

Array::Array(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data,
             bool writable)
    : dtype_(dtype),
      shape_(std::move(shape)),
      owner_(std::move(owner)),
      data_(data),
      writable_(writable) {}

int64_t Array::num_elements() const { return ShapeNumElements(shape_); }

size_t Array::nbytes() const {
  const int64_t n = num_elements();
  return n < 0 ? 0 : static_cast<size_t>(n) * DTypeSize(dtype_);
}

Array Array::Allocate(DType dtype, Shape shape) {
  const int64_t n = ShapeNumElements(shape);
  const size_t bytes = n < 0 ? 0 : static_cast<size_t>(n) * DTypeSize(dtype);
  std::shared_ptr<void> storage = AllocateAligned(bytes);
  if (storage == nullptr) throw std::bad_alloc();
  void* data = storage.get();
  return Array(dtype, std::move(shape), std::move(storage), data, true);
}

Array Array::Zeros(DType dtype, Shape shape) {
  Array a = Allocate(dtype, std::move(shape));
  std::memset(a.data_, 0, a.nbytes());
  return a;
}

Array Array::CopyFrom(DType dtype, Shape shape, const void* data) {
  Array a = Allocate(dtype, std::move(shape));
  if (a.nbytes() > 0) std::memcpy(a.data_, data, a.nbytes());
  return a;
}

Array Array::Borrow(DType dtype, Shape shape, void* data) {
  return Array(dtype, std::move(shape), nullptr, data, true);
}

Array Array::BorrowConst(DType dtype, Shape shape, const void* data) {
  return Array(dtype, std::move(shape), nullptr, const_cast<void*>(data),
               false);
}

Array Array::Share(DType dtype, Shape shape, std::shared_ptr<void> owner,
                   void* data, bool writable) {
  return Array(dtype, std::move(shape), std::move(owner), data, writable);
}

Array Array::Copy() const { return CopyFrom(dtype_, shape_, data_); }

Array Array::AsType(DType dtype) const {
  Array out = Allocate(dtype, shape_);
  CastElements(dtype_, data_, dtype, out.data_,
               static_cast<size_t>(std::max<int64_t>(num_elements(), 0)));
  return out;
}

bool Array::BitwiseEquals(const Array& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  const size_t n = nbytes();
  return n == 0 || std::memcmp(data_, other.data_, n) == 0;
}

}  // namespace ckptdb
