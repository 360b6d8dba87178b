// Sharded arrays: a global array split over a mesh of devices, of which
// each process holds some shards (JAX's NamedSharding, in ckptdb's words).
//
//   Mesh mesh = *Mesh::Create({"data", "model"}, {2, 2}, /*process_count=*/4);
//   Sharding s{mesh, PartitionSpec{{"data"}, {"model"}}};
//   // Process 3 holds the box [4:8, 8:16] of a (8, 16) array:
//   auto boxes = ProcessBoxes(s, {8, 16}, /*process=*/3);
//
// Array dimension i is split over the mesh axes in spec[i] (the first axis
// major), into equal parts; dimensions past the end of the spec, and axes
// no dimension uses, are not split: devices along an unused axis hold the
// same box (replicas). Of the devices holding one box, the first in the
// mesh's row-major order holds replica 0, and its process writes the box
// when the array is saved: replicated data is written once.
#ifndef CKPTDB_SHARDING_H_
#define CKPTDB_SHARDING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ckptdb/array.h"

namespace ckptdb {

struct Mesh {
  std::vector<std::string> axis_names;
  std::vector<int64_t> axis_sizes;
  // The process of each device, devices in the mesh's row-major order
  // (product(axis_sizes) entries).
  std::vector<int> device_processes;

  // A mesh whose devices are spread over `process_count` processes in
  // row-major blocks: device d belongs to process d / (devices / count).
  // InvalidArgument if the device count is not a multiple of it.
  static absl::StatusOr<Mesh> Create(std::vector<std::string> axis_names,
                                     std::vector<int64_t> axis_sizes,
                                     int process_count = 1);
  int64_t num_devices() const;
  // Distinct, non-empty names; sizes >= 1; one process per device.
  absl::Status Validate() const;
  // "{'data': 2, 'model': 2}".
  std::string ToString() const;
  friend bool operator==(const Mesh& a, const Mesh& b) {
    return a.axis_names == b.axis_names && a.axis_sizes == b.axis_sizes &&
           a.device_processes == b.device_processes;
  }
};

// For each array dimension, the mesh axes splitting it (empty: not split).
using PartitionSpec = std::vector<std::vector<std::string>>;
// "P('data', None, ('x', 'y'))".
std::string PartitionSpecToString(const PartitionSpec& spec);

struct Sharding {
  Mesh mesh;
  PartitionSpec spec;
};

// A box of an n-d array: elements start[i] <= index[i] < start[i] + shape[i].
struct Box {
  Shape start;
  Shape shape;
  int rank() const { return static_cast<int>(shape.size()); }
  bool Contains(const Box& other) const;
  // "[0:4, 8:16]".
  std::string ToString() const;
  friend bool operator==(const Box& a, const Box& b) {
    return a.start == b.start && a.shape == b.shape;
  }
  friend bool operator!=(const Box& a, const Box& b) { return !(a == b); }
  friend bool operator<(const Box& a, const Box& b) {
    return a.start != b.start ? a.start < b.start : a.shape < b.shape;
  }
};
// The whole of an array of `shape`.
Box WholeBox(const Shape& shape);

// One device's shard of a global array.
struct DeviceShard {
  Box box;
  int process = 0;
  int replica_id = 0;  // 0 for the first device holding the box
};
// Each device's box, in the mesh's row-major device order.
// InvalidArgument naming the problem: an unknown or repeated mesh axis, a
// spec longer than the rank, a dimension not divisible by its split.
absl::StatusOr<std::vector<DeviceShard>> DeviceShards(const Sharding& sharding,
                                                      const Shape& global);

// The distinct boxes held by the devices of `process`, in device order;
// `writes` is true where this process holds replica 0 of the box.
struct ProcessBox {
  Box box;
  bool writes = false;
};
absl::StatusOr<std::vector<ProcessBox>> ProcessBoxes(const Sharding& sharding,
                                                     const Shape& global,
                                                     int process);

struct Shard {
  Box box;
  Array data;  // shape == box.shape
};

// One process's shards of a global array.
struct ShardedArray {
  DType dtype = DType::kFloat32;
  Shape global_shape;
  Sharding sharding;
  // The process holding these shards (the saving process's index).
  int process = 0;
  std::vector<Shard> shards;

  // Copies of `process`'s boxes of `global`.
  static absl::StatusOr<ShardedArray> FromGlobal(const Array& global,
                                                 const Sharding& sharding,
                                                 int process);
  // The global array; InvalidArgument (naming an uncovered element) unless
  // the shards cover it.
  absl::StatusOr<Array> ToGlobal() const;
  // Checks the sharding against the global shape, and each shard: dtype,
  // data shape equal to its box, a box of a device of `process`.
  absl::Status Validate() const;
  // Bytes of the shards held here.
  size_t local_nbytes() const;
  // "ShardedArray(shape=(8, 16), dtype=float32, mesh={'x': 2},
  //  spec=P('x'), 1 local shard)".
  std::string ToString() const;
};

}  // namespace ckptdb

#endif  // CKPTDB_SHARDING_H_
