#include "core/chunk_grid.h"

#include <algorithm>

namespace ckptdb::internal {
namespace {

Shape StridesOf(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) {
    strides[d - 1] = strides[d] * shape[d];
  }
  return strides;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

bool IntersectBoxes(const Box& a, const Box& b, Box* out) {
  const size_t n = a.shape.size();
  out->start.resize(n);
  out->shape.resize(n);
  for (size_t d = 0; d < n; ++d) {
    const int64_t lo = std::max(a.start[d], b.start[d]);
    const int64_t hi =
        std::min(a.start[d] + a.shape[d], b.start[d] + b.shape[d]);
    if (hi <= lo) return false;
    out->start[d] = lo;
    out->shape[d] = hi - lo;
  }
  return true;
}

void CopyBoxElements(DType src_dtype, const void* src, const Box& src_box,
                     DType dst_dtype, void* dst, const Box& dst_box,
                     const Box& region) {
  const int n = region.rank();
  const size_t src_item = DTypeSize(src_dtype);
  const size_t dst_item = DTypeSize(dst_dtype);
  if (n == 0) {
    CastElements(src_dtype, src, dst_dtype, dst, 1);
    return;
  }
  // Dimensions from `inner` on are one contiguous run in both buffers.
  int inner = n - 1;
  int64_t run = region.shape[inner];
  while (inner > 0 && region.shape[inner] == src_box.shape[inner] &&
         region.shape[inner] == dst_box.shape[inner]) {
    --inner;
    run *= region.shape[inner];
  }
  const Shape src_strides = StridesOf(src_box.shape);
  const Shape dst_strides = StridesOf(dst_box.shape);
  Shape index(inner, 0);
  for (;;) {
    int64_t s = 0;
    int64_t t = 0;
    for (int d = 0; d < n; ++d) {
      const int64_t at = region.start[d] + (d < inner ? index[d] : 0);
      s += (at - src_box.start[d]) * src_strides[d];
      t += (at - dst_box.start[d]) * dst_strides[d];
    }
    CastElements(src_dtype, static_cast<const char*>(src) + s * src_item,
                 dst_dtype, static_cast<char*>(dst) + t * dst_item,
                 static_cast<size_t>(run));
    int d = inner - 1;
    for (; d >= 0; --d) {
      if (++index[d] < region.shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

ChunkGrid::ChunkGrid(Shape shape, Shape cell)
    : shape_(std::move(shape)), cell_(std::move(cell)) {
  counts_.resize(shape_.size());
  for (size_t d = 0; d < shape_.size(); ++d) {
    counts_[d] = CeilDiv(shape_[d], cell_[d]);
    num_cells_ *= counts_[d];
  }
}

Shape ChunkGrid::ChooseCell(const Shape& global, const Shape& shard_shape,
                            size_t item_size, uint64_t chunk_bytes) {
  const int n = static_cast<int>(shard_shape.size());
  Shape cell(n, 1);
  if (n == 0) return cell;
  for (int64_t e : shard_shape) {
    if (e == 0) return cell;  // no elements: any cell shape will do
  }
  const uint64_t budget = std::max<uint64_t>(chunk_bytes / item_size, 1);
  uint64_t tail = 1;
  int k = n - 1;
  while (k > 0 && tail * static_cast<uint64_t>(shard_shape[k]) <= budget) {
    tail *= static_cast<uint64_t>(shard_shape[k]);
    cell[k] = shard_shape[k];
    --k;
  }
  int64_t c = static_cast<int64_t>(
      std::min<uint64_t>(std::max<uint64_t>(budget / tail, 1),
                         static_cast<uint64_t>(shard_shape[k])));
  if (shard_shape[k] < global[k]) {
    while (shard_shape[k] % c != 0) --c;  // cells never straddle shards
  }
  cell[k] = c;
  return cell;
}

Box ChunkGrid::CellBox(int64_t index) const {
  const size_t n = shape_.size();
  Box b;
  b.start.assign(n, 0);
  b.shape.assign(n, 0);
  for (size_t d = n; d-- > 0;) {
    const int64_t at = index % counts_[d];
    index /= counts_[d];
    b.start[d] = at * cell_[d];
    b.shape[d] = std::min(cell_[d], shape_[d] - b.start[d]);
  }
  return b;
}

int64_t ChunkGrid::CellElements(int64_t index) const {
  const Box b = CellBox(index);
  int64_t n = 1;
  for (int64_t e : b.shape) n *= e;
  return n;
}

void ChunkGrid::ForEachCell(const Box& box,
                            const std::function<void(int64_t)>& fn) const {
  const size_t n = shape_.size();
  Shape lo(n), hi(n);
  for (size_t d = 0; d < n; ++d) {
    const int64_t end = std::min(box.start[d] + box.shape[d], shape_[d]);
    const int64_t begin = std::max<int64_t>(box.start[d], 0);
    if (end <= begin) return;
    lo[d] = begin / cell_[d];
    hi[d] = CeilDiv(end, cell_[d]);
  }
  Shape at = lo;
  for (;;) {
    int64_t index = 0;
    for (size_t d = 0; d < n; ++d) index = index * counts_[d] + at[d];
    fn(index);
    size_t d = n;
    while (d-- > 0) {
      if (++at[d] < hi[d]) break;
      at[d] = lo[d];
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

}  // namespace ckptdb::internal
