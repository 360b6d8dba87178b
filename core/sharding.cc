#include "ckptdb/sharding.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/chunk_grid.h"

namespace ckptdb {

absl::StatusOr<Mesh> Mesh::Create(std::vector<std::string> axis_names,
                                  std::vector<int64_t> axis_sizes,
                                  int process_count) {
  Mesh m;
  m.axis_names = std::move(axis_names);
  m.axis_sizes = std::move(axis_sizes);
  const int64_t devices = m.num_devices();
  if (process_count < 1 || devices < 1 || devices % process_count != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a mesh of ", devices, " devices cannot be spread over ",
                     process_count, " processes"));
  }
  const int64_t per_process = devices / process_count;
  for (int64_t d = 0; d < devices; ++d) {
    m.device_processes.push_back(static_cast<int>(d / per_process));
  }
  absl::Status s = m.Validate();
  if (!s.ok()) return s;
  return m;
}

int64_t Mesh::num_devices() const {
  int64_t n = 1;
  for (int64_t s : axis_sizes) n *= std::max<int64_t>(s, 0);
  return n;
}

absl::Status Mesh::Validate() const {
  if (axis_names.size() != axis_sizes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mesh: ", axis_names.size(), " axis names but ",
                     axis_sizes.size(), " sizes"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < axis_names.size(); ++i) {
    if (axis_names[i].empty() || !seen.insert(axis_names[i]).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mesh: axis name '", axis_names[i], "' is empty or repeated"));
    }
    if (axis_sizes[i] < 1 || axis_sizes[i] > (1 << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mesh: axis '", axis_names[i], "' has size ", axis_sizes[i]));
    }
  }
  if (static_cast<int64_t>(device_processes.size()) != num_devices()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mesh ", ToString(), " has ", num_devices(), " devices but ",
        device_processes.size(), " device processes"));
  }
  for (int p : device_processes) {
    if (p < 0) return absl::InvalidArgumentError("mesh: negative process");
  }
  return absl::OkStatus();
}

std::string Mesh::ToString() const {
  std::vector<std::string> parts;
  for (size_t i = 0; i < axis_names.size() && i < axis_sizes.size(); ++i) {
    parts.push_back(absl::StrCat("'", axis_names[i], "': ", axis_sizes[i]));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

std::string PartitionSpecToString(const PartitionSpec& spec) {
  std::vector<std::string> parts;
  for (const std::vector<std::string>& axes : spec) {
    if (axes.empty()) {
      parts.push_back("None");
    } else if (axes.size() == 1) {
      parts.push_back(absl::StrCat("'", axes[0], "'"));
    } else {
      parts.push_back(absl::StrCat(
          "(",
          absl::StrJoin(axes, ", ",
                        [](std::string* out, const std::string& a) {
                          absl::StrAppend(out, "'", a, "'");
                        }),
          ")"));
    }
  }
  return absl::StrCat("P(", absl::StrJoin(parts, ", "), ")");
}

bool Box::Contains(const Box& o) const {
  if (o.shape.size() != shape.size()) return false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (o.start[d] < start[d] ||
        o.start[d] + o.shape[d] > start[d] + shape[d]) {
      return false;
    }
  }
  return true;
}

std::string Box::ToString() const {
  std::vector<std::string> parts;
  for (size_t d = 0; d < shape.size(); ++d) {
    parts.push_back(absl::StrCat(start[d], ":", start[d] + shape[d]));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

Box WholeBox(const Shape& shape) { return Box{Shape(shape.size(), 0), shape}; }

namespace {

// For each array dimension, the mesh axes (by number) splitting it.
absl::StatusOr<std::vector<std::vector<int>>> ResolveSpec(const Sharding& s,
                                                          const Shape& global) {
  absl::Status valid = s.mesh.Validate();
  if (!valid.ok()) return valid;
  if (s.spec.size() > global.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition spec ", PartitionSpecToString(s.spec), " has ",
                     s.spec.size(), " entries, more than the array's rank ",
                     global.size(), " (shape ", ShapeToString(global), ")"));
  }
  std::vector<std::vector<int>> axes(global.size());
  std::set<int> used;
  for (size_t d = 0; d < s.spec.size(); ++d) {
    int64_t split = 1;
    for (const std::string& name : s.spec[d]) {
      auto it =
          std::find(s.mesh.axis_names.begin(), s.mesh.axis_names.end(), name);
      if (it == s.mesh.axis_names.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition spec ", PartitionSpecToString(s.spec),
            " names mesh axis '", name, "', not in mesh ", s.mesh.ToString()));
      }
      const int a = static_cast<int>(it - s.mesh.axis_names.begin());
      if (!used.insert(a).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("partition spec ", PartitionSpecToString(s.spec),
                         " uses mesh axis '", name, "' twice"));
      }
      axes[d].push_back(a);
      split *= s.mesh.axis_sizes[a];
    }
    if (global[d] % split != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dimension ", d, " of shape ", ShapeToString(global), " (size ",
          global[d], ") is not divisible into ", split,
          " shards by partition spec ", PartitionSpecToString(s.spec)));
    }
  }
  return axes;
}

}  // namespace

absl::StatusOr<std::vector<DeviceShard>> DeviceShards(const Sharding& sharding,
                                                      const Shape& global) {
  auto axes = ResolveSpec(sharding, global);
  if (!axes.ok()) return axes.status();
  const Mesh& mesh = sharding.mesh;
  const size_t n_axes = mesh.axis_sizes.size();
  const int64_t devices = mesh.num_devices();
  std::vector<DeviceShard> out(devices);
  std::map<Box, int> replicas;
  Shape coord(n_axes, 0);
  for (int64_t dev = 0; dev < devices; ++dev) {
    int64_t rest = dev;
    for (size_t a = n_axes; a-- > 0;) {
      coord[a] = rest % mesh.axis_sizes[a];
      rest /= mesh.axis_sizes[a];
    }
    DeviceShard& ds = out[dev];
    ds.box = WholeBox(global);
    for (size_t d = 0; d < global.size(); ++d) {
      int64_t part = 0;
      int64_t parts = 1;
      for (int a : (*axes)[d]) {
        part = part * mesh.axis_sizes[a] + coord[a];
        parts *= mesh.axis_sizes[a];
      }
      ds.box.shape[d] = global[d] / parts;
      ds.box.start[d] = part * ds.box.shape[d];
    }
    ds.process = mesh.device_processes[dev];
    ds.replica_id = replicas[ds.box]++;
  }
  return out;
}

absl::StatusOr<std::vector<ProcessBox>> ProcessBoxes(const Sharding& sharding,
                                                     const Shape& global,
                                                     int process) {
  auto shards = DeviceShards(sharding, global);
  if (!shards.ok()) return shards.status();
  std::vector<ProcessBox> out;
  for (const DeviceShard& ds : *shards) {
    if (ds.process != process) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const ProcessBox& p) {
      return p.box == ds.box;
    });
    if (it == out.end()) {
      out.push_back({ds.box, ds.replica_id == 0});
    } else if (ds.replica_id == 0) {
      it->writes = true;
    }
  }
  return out;
}

absl::StatusOr<ShardedArray> ShardedArray::FromGlobal(const Array& global,
                                                      const Sharding& sharding,
                                                      int process) {
  auto boxes = ProcessBoxes(sharding, global.shape(), process);
  if (!boxes.ok()) return boxes.status();
  ShardedArray out;
  out.dtype = global.dtype();
  out.global_shape = global.shape();
  out.sharding = sharding;
  out.process = process;
  const Box whole = WholeBox(global.shape());
  for (const ProcessBox& pb : *boxes) {
    Array data = Array::Allocate(global.dtype(), pb.box.shape);
    internal::CopyBoxElements(global.dtype(), global.data(), whole,
                              global.dtype(), data.mutable_data(), pb.box,
                              pb.box);
    out.shards.push_back({pb.box, std::move(data)});
  }
  return out;
}

absl::StatusOr<Array> ShardedArray::ToGlobal() const {
  Array out = Array::Zeros(dtype, global_shape);
  const Box whole = WholeBox(global_shape);
  std::vector<uint8_t> covered(static_cast<size_t>(out.num_elements()), 0);
  for (const Shard& s : shards) {
    internal::CopyBoxElements(dtype, s.data.data(), s.box, dtype,
                              out.mutable_data(), whole, s.box);
    // Mark the covered elements: a box of ones, as uint8.
    std::vector<uint8_t> ones(static_cast<size_t>(s.data.num_elements()), 1);
    internal::CopyBoxElements(DType::kUInt8, ones.data(), s.box, DType::kUInt8,
                              covered.data(), whole, s.box);
  }
  auto gap = std::find(covered.begin(), covered.end(), 0);
  if (gap != covered.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the local shards of ", ToString(),
                     " do not cover element #", gap - covered.begin(),
                     " of the global array: it is not fully addressable here"));
  }
  return out;
}

absl::Status ShardedArray::Validate() const {
  auto boxes = ProcessBoxes(sharding, global_shape, process);
  if (!boxes.ok()) return boxes.status();
  for (const Shard& s : shards) {
    if (s.data.dtype() != dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shard ", s.box.ToString(), " has dtype ", DTypeName(s.data.dtype()),
          ", the array ", DTypeName(dtype)));
    }
    if (s.data.shape() != s.box.shape) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard ", s.box.ToString(), " holds an array of shape ",
                       ShapeToString(s.data.shape())));
    }
    auto it = std::find_if(boxes->begin(), boxes->end(),
                           [&](const ProcessBox& p) { return p.box == s.box; });
    if (it == boxes->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard ", s.box.ToString(), " is not a box of process ",
                       process, " under mesh ", sharding.mesh.ToString(),
                       " and spec ", PartitionSpecToString(sharding.spec),
                       " for shape ", ShapeToString(global_shape)));
    }
  }
  return absl::OkStatus();
}

size_t ShardedArray::local_nbytes() const {
  size_t n = 0;
  for (const Shard& s : shards) n += s.data.nbytes();
  return n;
}

std::string ShardedArray::ToString() const {
  return absl::StrCat(
      "ShardedArray(shape=", ShapeToString(global_shape),
      ", dtype=", DTypeName(dtype), ", mesh=", sharding.mesh.ToString(),
      ", spec=", PartitionSpecToString(sharding.spec), ", ", shards.size(),
      " local shard", shards.size() == 1 ? "" : "s", ")");
}

}  // namespace ckptdb
