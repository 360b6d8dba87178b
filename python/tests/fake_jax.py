"""A stand-in `jax` module (JAX cannot be installed here) with what ckptdb
duck-types of a multi-process JAX: devices with process indices, a Mesh,
NamedSharding, jax.Array with addressable shards, make_array_from_callback,
ShapeDtypeStruct, process_index/count."""
import types

import numpy as np


def make(process_index: int, process_count: int, mesh_shape=(2, 2),
         axis_names=('x', 'y')) -> types.ModuleType:
  jax = types.ModuleType('jax')
  n = int(np.prod(mesh_shape))

  class Device:
    def __init__(self, i, process):
      self.id, self.process_index = i, process

    def __repr__(self):
      return f'FakeDevice({self.id}, process {self.process_index})'

  class Mesh:
    def __init__(self, devices, names):
      self.devices, self.axis_names = devices, tuple(names)

  class NamedSharding:
    def __init__(self, mesh, spec):
      self.mesh, self.spec = mesh, spec

  class Shard:
    def __init__(self, device, index, replica_id, data):
      self.device, self.index = device, index
      self.replica_id, self.data = replica_id, data

  class Array:
    def __init__(self, shape, dtype, sharding, shards):
      self.shape, self.dtype, self.sharding = tuple(shape), dtype, sharding
      self.addressable_shards = shards
      self.is_fully_addressable = process_count == 1

    def __array__(self, dtype=None):
      if not self.is_fully_addressable:
        raise ValueError('not fully addressable')
      out = np.zeros(self.shape, self.dtype)
      for s in self.addressable_shards:
        out[s.index] = s.data
      return out if dtype is None else out.astype(dtype)

  class ShapeDtypeStruct:
    def __init__(self, shape, dtype, sharding=None):
      self.shape, self.dtype, self.sharding = tuple(shape), dtype, sharding

  def make_array_from_callback(shape, sharding, callback):
    from ckptdb import sharding as shd  # pylint: disable=g-import-not-at-top
    named = shd.as_named_sharding(sharding)
    indices = named.devices_indices_map(tuple(shape))
    seen, shards = {}, []
    for device in sharding.mesh.devices.flat:
      if device.process_index != process_index:
        continue
      index = indices[device]
      key = tuple((s.start, s.stop) for s in index)
      shards.append(Shard(device, index, seen.get(key, 0),
                          np.asarray(callback(index))))
      seen[key] = seen.get(key, 0) + 1
    dtype = shards[0].data.dtype if shards else np.float32
    return Array(shape, dtype, sharding, shards)

  devices = np.empty(n, dtype=object)
  per = n // process_count
  for i in range(n):
    devices[i] = Device(i, i // per)
  jax.mesh = Mesh(devices.reshape(mesh_shape), axis_names)
  jax.Mesh, jax.NamedSharding, jax.Shard = Mesh, NamedSharding, Shard
  jax.Array, jax.ShapeDtypeStruct = Array, ShapeDtypeStruct
  jax.make_array_from_callback = make_array_from_callback
  jax.process_index = lambda: process_index
  jax.process_count = lambda: process_count
  return jax
