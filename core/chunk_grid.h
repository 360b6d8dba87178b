// An array stored as an n-d grid of chunks: every chunk is a box of the
// array ("cell"), cells of one shape tile the array (those on its far edges
// clipped), and a chunk's bytes are its cell's elements in C order. Cells
// are numbered in C order over the grid. Also: copying the elements of a
// box between two C-ordered buffers holding other boxes. No I/O.
#ifndef CKPTDB_CORE_CHUNK_GRID_H_
#define CKPTDB_CORE_CHUNK_GRID_H_

#include <cstdint>
#include <functional>

#include "ckptdb/dtype.h"
#include "ckptdb/sharding.h"

namespace ckptdb::internal {

// The overlap of two boxes of one rank; false if it is empty.
bool IntersectBoxes(const Box& a, const Box& b, Box* out);

// Copies the elements of `region` from `src` (C order over `src_box`) to
// `dst` (C order over `dst_box`), converting src_dtype to dst_dtype.
// `region` must lie inside both boxes.
void CopyBoxElements(DType src_dtype, const void* src, const Box& src_box,
                     DType dst_dtype, void* dst, const Box& dst_box,
                     const Box& region);

class ChunkGrid {
 public:
  ChunkGrid(Shape shape, Shape cell);
  // The cell shape a sharded array is stored with: within a shard of
  // `shard_shape`, cells of shape [1, ..., 1, c, full extents...] with the
  // most elements whose bytes fit in `chunk_bytes` (at least one element),
  // so that every cell is contiguous in the shard's C-ordered buffer; c
  // divides the shard's extent where the array is split (a cell never
  // straddles two shards).
  static Shape ChooseCell(const Shape& global, const Shape& shard_shape,
                          size_t item_size, uint64_t chunk_bytes);

  const Shape& shape() const { return shape_; }
  const Shape& cell() const { return cell_; }
  int64_t num_cells() const { return num_cells_; }
  // Cells per dimension.
  const Shape& counts() const { return counts_; }
  Box CellBox(int64_t index) const;
  int64_t CellElements(int64_t index) const;
  // Calls fn(index) for every cell overlapping `box`, in C order.
  void ForEachCell(const Box& box,
                   const std::function<void(int64_t)>& fn) const;

 private:
  Shape shape_;
  Shape cell_;
  Shape counts_;
  int64_t num_cells_ = 1;
};

}  // namespace ckptdb::internal

#endif  // CKPTDB_CORE_CHUNK_GRID_H_
