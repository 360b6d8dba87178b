"""Sharded arrays in JAX's words, without JAX.

    mesh = ckptdb.sharding.Mesh.create((2, 2), ('data', 'model'),
                                       process_count=2)
    sharding = ckptdb.sharding.NamedSharding(mesh, P('data', 'model'))
    x = ckptdb.ShardedArray.from_global(np.arange(16.).reshape(4, 4),
                                        sharding, process_index=0)
    x.addressable_shards[0].index   # (slice(0, 2), slice(0, 2))

The model is JAX's (jax.sharding.Mesh / PartitionSpec / NamedSharding):

* A Mesh is an n-d array of devices with one name per axis. Stand-in
  devices (`Device`) carry an id and the index of the process that owns
  them; a real `jax.sharding.Mesh` is accepted wherever a Mesh is (duck
  typed: `.devices`, `.axis_names`, a device's `.process_index`).
* A PartitionSpec has one entry per leading array dimension: None (not
  split), a mesh axis name, or a tuple of names. Dimension i is split into
  the product of the sizes of the axes of entry i, the first axis major.
  Dimensions past the spec are not split; mesh axes the spec does not name
  replicate the array. Every axis is used at most once.
* Every device holds one box (a tuple of slices, JAX's `index`; dimensions
  that are not split, or split in one piece, are `slice(None)` as in JAX).
  Devices holding the same box are replicas; replica 0 is the lowest
  row-major mesh position.
* Dimensions must divide evenly (ckptdb has no uneven shards).

A `ShardedArray` holds one process's shards of a global array, as a
jax.Array does (`addressable_shards`). `_ckptdb_parts`, `_sharding_parts`,
`_spec_for_rank` and `_from_parts` are the interface of the C++ binding.
"""

import collections
import dataclasses
import itertools
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from ckptdb import multihost
from ckptdb import utils

# jax.ShapeDtypeStruct's stand-in: shape, dtype and an optional sharding.
ShapeDtypeStruct = utils.ShapeDtypeStruct

Index = Tuple[slice, ...]
Box = Tuple[Tuple[int, int], ...]  # (start, stop) per dimension


@dataclasses.dataclass(frozen=True)
class Device:
  """A stand-in for a jax.Device: an id and the process that owns it."""
  id: int
  process_index: int = 0

  def __repr__(self) -> str:
    return f'Device(id={self.id}, process_index={self.process_index})'


# ---- meshes ------------------------------------------------------------------


class Mesh:
  """jax.sharding.Mesh: an n-d array of devices with named axes.

  Attributes:
    devices: np.ndarray (dtype object) of devices, one array axis per name.
    axis_names: tuple of the axis names, unique strings.
  """

  def __init__(self, devices: Any, axis_names: Union[str, Sequence[str]]):
    if isinstance(axis_names, str):
      axis_names = (axis_names,)
    axis_names = tuple(axis_names)
    if isinstance(devices, np.ndarray):
      array = devices
    else:
      array = np.empty(np.shape(np.asarray(devices, dtype=object)),
                       dtype=object)
      array[...] = np.asarray(devices, dtype=object)
    for name in axis_names:
      if not isinstance(name, str):
        raise TypeError(f'Mesh axis names must be strings; got {name!r}')
    if len(set(axis_names)) != len(axis_names):
      raise ValueError(f'Mesh axis names must be unique; got {axis_names}')
    if array.ndim != len(axis_names):
      raise ValueError(
          f'Mesh devices have {array.ndim} dimensions (shape {array.shape}) '
          f'but {len(axis_names)} axis names {axis_names} were given')
    if array.size == 0:
      raise ValueError('Mesh needs at least one device')
    self._devices = array
    self._axis_names = axis_names

  @classmethod
  def create(cls, axis_sizes: Sequence[int], axis_names: Sequence[str],
             process_count: int = 1) -> 'Mesh':
    """A mesh of stand-in devices 0..n-1 laid out row-major.

    Device d belongs to process d // (n // process_count): every process
    owns a contiguous run of n // process_count devices.

    Raises:
      ValueError: process_count < 1, a size < 1, or n not divisible by
        process_count.
    """
    axis_sizes = tuple(int(s) for s in axis_sizes)
    if any(s < 1 for s in axis_sizes):
      raise ValueError(f'Mesh axis sizes must be >= 1; got {axis_sizes}')
    if process_count < 1:
      raise ValueError(f'process_count must be >= 1; got {process_count}')
    n = int(np.prod(axis_sizes, dtype=np.int64))
    if n % process_count:
      raise ValueError(
          f'{n} devices (mesh {axis_sizes}) cannot be divided evenly among '
          f'{process_count} processes')
    per_process = n // process_count
    devices = np.empty(n, dtype=object)
    for d in range(n):
      devices[d] = Device(d, d // per_process)
    return cls(devices.reshape(axis_sizes), axis_names)

  @property
  def devices(self) -> np.ndarray:
    return self._devices

  @property
  def axis_names(self) -> Tuple[str, ...]:
    return self._axis_names

  @property
  def shape(self) -> 'collections.OrderedDict[str, int]':
    """Axis name -> size, in axis order (as jax.sharding.Mesh.shape)."""
    return collections.OrderedDict(zip(self._axis_names, self._devices.shape))

  @property
  def size(self) -> int:
    return int(self._devices.size)

  def __eq__(self, other: Any) -> bool:
    if not isinstance(other, Mesh):
      return NotImplemented
    return (self._axis_names == other.axis_names and
            self._devices.shape == other.devices.shape and
            list(self._devices.flat) == list(other.devices.flat))

  def __hash__(self) -> int:
    return hash((self._axis_names, self._devices.shape,
                 tuple(self._devices.flat)))

  def __repr__(self) -> str:
    shape = ', '.join(f"'{k}': {v}" for k, v in self.shape.items())
    return f'Mesh({shape})'


def _mesh_parts(
    mesh: Any) -> Tuple[Tuple[str, ...], Tuple[int, ...], List[Any]]:
  """(axis names, axis sizes, devices in row-major order) of a ckptdb or
  jax Mesh."""
  if not (hasattr(mesh, 'devices') and hasattr(mesh, 'axis_names')):
    raise TypeError(
        'expected a Mesh (ckptdb.sharding.Mesh or jax.sharding.Mesh); got '
        f'{type(mesh).__name__}')
  devices = np.asarray(mesh.devices, dtype=object)
  names = tuple(mesh.axis_names)
  if devices.ndim != len(names):
    raise ValueError(f'mesh devices of shape {devices.shape} do not match '
                     f'axis names {names}')
  return names, tuple(int(s) for s in devices.shape), list(devices.flat)


def _process_of(device: Any) -> int:
  return int(getattr(device, 'process_index', 0))


# ---- partition specs ---------------------------------------------------------


def _check_entry(entry: Any) -> Any:
  if entry is None or isinstance(entry, str):
    return entry
  if isinstance(entry, (tuple, list)):
    for name in entry:
      if not isinstance(name, str):
        raise TypeError('PartitionSpec entries are None, a mesh axis name or '
                        f'a tuple of names; got {entry!r}')
    return tuple(entry)
  raise TypeError('PartitionSpec entries are None, a mesh axis name or a '
                  f'tuple of names; got {entry!r}')


class PartitionSpec(tuple):
  """jax.sharding.PartitionSpec: one entry per leading array dimension.

  Each entry is None (the dimension is not split), a mesh axis name, or a
  tuple of axis names (split over their product, the first axis major).
  """

  def __new__(cls, *entries: Any) -> 'PartitionSpec':
    return super().__new__(cls, tuple(_check_entry(e) for e in entries))

  def __repr__(self) -> str:
    return f"PartitionSpec({', '.join(repr(e) for e in self)})"

  def __reduce__(self):
    return (PartitionSpec, tuple(self))


P = PartitionSpec


def _entry_axes(entry: Any) -> Tuple[str, ...]:
  """The axis names of one spec entry: None -> (), 'x' -> ('x',)."""
  if entry is None:
    return ()
  if isinstance(entry, str):
    return (entry,)
  return tuple(entry)


def _normalized_spec(spec: Any) -> Tuple[Tuple[str, ...], ...]:
  if spec is None:
    return ()
  if isinstance(spec, str):
    spec = (spec,)
  return tuple(_entry_axes(_check_entry(e)) for e in spec)


def _spec_for_rank(spec: Any, ndim: int) -> Tuple[Tuple[str, ...], ...]:
  """spec as exactly ndim tuples of axis names, padded with ().

  Raises:
    ValueError: the spec has more entries than the array has dimensions.
  """
  entries = _normalized_spec(spec)
  if len(entries) > ndim:
    raise ValueError(
        f'PartitionSpec {tuple(spec)} has {len(entries)} entries but the '
        f'array has rank {ndim}')
  return entries + ((),) * (ndim - len(entries))


def _check_spec(spec: Tuple[Tuple[str, ...], ...],
                axis_names: Sequence[str]) -> None:
  seen = set()
  for entry in spec:
    for name in entry:
      if name not in axis_names:
        raise ValueError(f'PartitionSpec names mesh axis {name!r}, which is '
                         f'not in the mesh axes {tuple(axis_names)}')
      if name in seen:
        raise ValueError(f'PartitionSpec uses mesh axis {name!r} more than '
                         'once')
      seen.add(name)


# ---- named shardings ---------------------------------------------------------


def _box_of(index: Sequence[slice], shape: Sequence[int]) -> Box:
  """(start, stop) per dimension of an index (slice(None) = whole dim)."""
  if len(index) != len(shape):
    raise ValueError(f'index {tuple(index)} has {len(index)} entries for an '
                     f'array of rank {len(shape)}')
  out = []
  for s, n in zip(index, shape):
    start, stop, step = s.indices(n)
    if step != 1:
      raise ValueError(f'index {tuple(index)} has a step')
    out.append((start, max(start, stop)))
  return tuple(out)


class NamedSharding:
  """jax.sharding.NamedSharding: a mesh and a PartitionSpec.

  Attributes:
    mesh: the Mesh (ckptdb's or JAX's, as given).
    spec: the PartitionSpec.

  Raises (constructor):
    ValueError: the spec names an axis the mesh lacks, or one twice.
  """

  def __init__(self, mesh: Any, spec: Any = None):
    if spec is None:
      spec = PartitionSpec()
    elif not isinstance(spec, PartitionSpec):
      spec = PartitionSpec(*(spec if isinstance(spec, (tuple, list))
                             else (spec,)))
    names, sizes, devices = _mesh_parts(mesh)
    self._mesh = mesh
    self._spec = spec
    self._names = names
    self._sizes = dict(zip(names, sizes))
    self._mesh_shape = sizes
    self._devices = devices
    self._entries = _normalized_spec(spec)
    _check_spec(self._entries, names)

  @property
  def mesh(self) -> Any:
    return self._mesh

  @property
  def spec(self) -> PartitionSpec:
    return self._spec

  @property
  def device_set(self) -> set:
    return set(self._devices)

  @property
  def num_devices(self) -> int:
    return len(self._devices)

  @property
  def is_fully_replicated(self) -> bool:
    """True if every device holds the whole array."""
    return all(self._sizes[a] == 1 for e in self._entries for a in e)

  def _split_counts(self, global_shape: Sequence[int]) -> Tuple[int, ...]:
    """Number of pieces of each dimension; checks rank and divisibility."""
    shape = tuple(int(d) for d in global_shape)
    entries = _spec_for_rank(self._spec, len(shape))
    counts = []
    for dim, (size, axes) in enumerate(zip(shape, entries)):
      count = int(np.prod([self._sizes[a] for a in axes], dtype=np.int64))
      if size % count:
        raise ValueError(
            f'dimension {dim} of size {size} is not divisible by {count}, '
            f'the number of shards of mesh axes {axes}: uneven shards are '
            'not supported')
      counts.append(count)
    return tuple(counts)

  def shard_shape(self, global_shape: Sequence[int]) -> Tuple[int, ...]:
    """The shape of every shard of an array of global_shape."""
    counts = self._split_counts(global_shape)
    return tuple(int(d) // c for d, c in zip(global_shape, counts))

  def _device_indices(self, global_shape: Sequence[int]) -> List[Index]:
    """The index of each device, in row-major mesh order."""
    shape = tuple(int(d) for d in global_shape)
    counts = self._split_counts(shape)
    entries = _spec_for_rank(self._spec, len(shape))
    axis_pos = {name: i for i, name in enumerate(self._names)}
    out = []
    for coords in itertools.product(*(range(s) for s in self._mesh_shape)):
      index = []
      for size, axes, count in zip(shape, entries, counts):
        if count == 1:  # not split (JAX's slice(None))
          index.append(slice(None))
          continue
        piece = 0
        for a in axes:
          piece = piece * self._sizes[a] + coords[axis_pos[a]]
        block = size // count
        index.append(slice(piece * block, (piece + 1) * block))
      out.append(tuple(index))
    return out

  def devices_indices_map(self, global_shape: Sequence[int]
                          ) -> Dict[Any, Index]:
    """Device -> its index (tuple of slices), in row-major mesh order.

    Raises:
      ValueError: the spec is longer than the rank, or a split dimension is
        not divisible by its number of shards.
    """
    return dict(zip(self._devices, self._device_indices(global_shape)))

  def _replica_ids(self, global_shape: Sequence[int]) -> List[int]:
    """The replica id of each device, in row-major mesh order."""
    shape = tuple(int(d) for d in global_shape)
    seen: Dict[Box, int] = {}
    out = []
    for index in self._device_indices(shape):
      box = _box_of(index, shape)
      out.append(seen.get(box, 0))
      seen[box] = out[-1] + 1
    return out

  def replica_ids(self, global_shape: Sequence[int]) -> Dict[Any, int]:
    """Device -> replica id: 0 for the lowest row-major mesh position
    holding its box, then 1, 2, ... for the other holders."""
    return dict(zip(self._devices, self._replica_ids(global_shape)))

  def addressable_devices(self, process_index: Optional[int] = None
                          ) -> List[Any]:
    """The devices of process_index (default: multihost.process_index()),
    in row-major mesh order. (JAX's property of the same name is a set for
    the current process.)"""
    if process_index is None:
      process_index = multihost.process_index()
    return [d for d in self._devices if _process_of(d) == process_index]

  def is_fully_addressable(self, process_index: Optional[int] = None) -> bool:
    """True if every device of the mesh belongs to process_index."""
    return len(self.addressable_devices(process_index)) == len(self._devices)

  def __eq__(self, other: Any) -> bool:
    if not isinstance(other, NamedSharding):
      return NotImplemented
    return (self._names == other._names and
            self._mesh_shape == other._mesh_shape and
            self._devices == other._devices and
            self._trimmed_entries() == other._trimmed_entries())

  def __hash__(self) -> int:
    return hash((self._names, self._mesh_shape, tuple(self._devices),
                 self._trimmed_entries()))

  def _trimmed_entries(self) -> Tuple[Tuple[str, ...], ...]:
    """The spec without trailing unsplit entries (P('x') == P('x', None))."""
    entries = self._entries
    while entries and not entries[-1]:
      entries = entries[:-1]
    return entries

  def __repr__(self) -> str:
    return f'NamedSharding(mesh={self._mesh!r}, spec={self._spec!r})'


def _is_named_sharding(s: Any) -> bool:
  """ckptdb's NamedSharding, or any object with .mesh and .spec (JAX's)."""
  return isinstance(s, NamedSharding) or (
      s is not None and hasattr(s, 'mesh') and hasattr(s, 'spec') and
      hasattr(getattr(s, 'mesh'), 'devices') and
      hasattr(getattr(s, 'mesh'), 'axis_names'))


def as_named_sharding(s: Any) -> NamedSharding:
  """ckptdb's NamedSharding for s (itself, or built from a JAX one).

  A jax.sharding.NamedSharding keeps its mesh (JAX's devices work as they
  are); its spec becomes a ckptdb PartitionSpec.

  Raises:
    TypeError: s is not a named sharding.
  """
  if isinstance(s, NamedSharding):
    return s
  if _is_named_sharding(s):
    return NamedSharding(s.mesh, PartitionSpec(*tuple(s.spec)))
  raise TypeError(
      'expected a NamedSharding (ckptdb.sharding.NamedSharding or '
      f'jax.sharding.NamedSharding); got {type(s).__name__}')


def _sharding_parts(sharding: Any) -> Tuple[Tuple[str, ...], Tuple[int, ...],
                                            Tuple[int, ...],
                                            Tuple[Tuple[str, ...], ...]]:
  """(axis_names, axis_sizes, device_processes, spec) of a named sharding.

  device_processes: the process index of each mesh device, row-major.
  spec: one tuple of axis names per spec entry as given (not padded; see
  _spec_for_rank). Works for ckptdb's and JAX's NamedSharding.

  Raises:
    TypeError: not a named sharding. ValueError: an invalid spec.
  """
  s = as_named_sharding(sharding)
  names, sizes, devices = _mesh_parts(s.mesh)
  return (names, sizes, tuple(_process_of(d) for d in devices),
          _normalized_spec(s.spec))


# ---- sharded arrays ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shard:
  """jax.Shard: one device's piece of a global array.

  Attributes:
    device: the device holding it.
    index: its box in the global array (tuple of slices, JAX's form).
    replica_id: 0 for the primary copy of the box, 1.. for the others.
    data: the values, of the box's shape.
  """
  device: Any
  index: Index
  replica_id: int
  data: np.ndarray


def _box_shape(box: Box) -> Tuple[int, ...]:
  return tuple(stop - start for start, stop in box)


class ShardedArray:
  """One process's shards of a global array (jax.Array's addressable view).

  Args:
    global_shape: the shape of the whole array.
    dtype: its dtype.
    sharding: a NamedSharding (ckptdb's or JAX's) valid for global_shape.
    shards: this process's Shards; each index must be the one the sharding
      gives its device, each data of that box's shape.

  Raises:
    ValueError: a shard's index or data shape does not match the sharding,
      or the sharding does not fit global_shape.
  """

  def __init__(self, global_shape: Sequence[int], dtype: Any, sharding: Any,
               shards: Sequence[Shard]):
    self._shape = tuple(int(d) for d in global_shape)
    self._dtype = np.dtype(dtype)
    self._sharding = sharding
    named = as_named_sharding(sharding)
    indices = named.devices_indices_map(self._shape)  # checks the shape
    shards = list(shards)
    for shard in shards:
      if shard.device not in indices:
        raise ValueError(f'shard device {shard.device!r} is not in the mesh')
      box = _box_of(shard.index, self._shape)
      expected = _box_of(indices[shard.device], self._shape)
      if box != expected:
        raise ValueError(
            f'shard of device {shard.device!r} has index {shard.index}, but '
            f'the sharding gives it {indices[shard.device]}')
      data_shape = tuple(np.shape(shard.data))
      if data_shape != _box_shape(box):
        raise ValueError(
            f'shard of device {shard.device!r} at index {shard.index} has '
            f'data of shape {data_shape}; its box has shape '
            f'{_box_shape(box)}')
    self._shards = shards

  # ---- constructors ----

  @classmethod
  def from_callback(cls, shape: Sequence[int], dtype: Any, sharding: Any,
                    callback: Callable[[Index], Any],
                    process_index: Optional[int] = None) -> 'ShardedArray':
    """As jax.make_array_from_callback: callback(index) gives each box.

    Called once per distinct box of process_index's devices (default:
    multihost.process_index()); replicas on that process share the data.
    """
    shape = tuple(int(d) for d in shape)
    dtype = np.dtype(dtype)
    named = as_named_sharding(sharding)
    indices = named.devices_indices_map(shape)
    replicas = named.replica_ids(shape)
    by_box: Dict[Box, np.ndarray] = {}
    shards = []
    for device in named.addressable_devices(process_index):
      index = indices[device]
      box = _box_of(index, shape)
      if box not in by_box:
        # order='C' (not ascontiguousarray, which makes 0-d arrays 1-d).
        by_box[box] = np.asarray(callback(index), dtype=dtype, order='C')
      shards.append(Shard(device, index, replicas[device], by_box[box]))
    return cls(shape, dtype, sharding, shards)

  @classmethod
  def from_global(cls, array: Any, sharding: Any,
                  process_index: Optional[int] = None) -> 'ShardedArray':
    """process_index's shards (copies) of the global numpy array."""
    array = np.asarray(array)
    return cls.from_callback(array.shape, array.dtype, sharding,
                             lambda index: array[index].copy(),
                             process_index)

  # ---- jax.Array's properties ----

  @property
  def shape(self) -> Tuple[int, ...]:
    return self._shape

  @property
  def dtype(self) -> np.dtype:
    return self._dtype

  @property
  def ndim(self) -> int:
    return len(self._shape)

  @property
  def size(self) -> int:
    return int(np.prod(self._shape, dtype=np.int64))

  @property
  def sharding(self) -> Any:
    return self._sharding

  @property
  def addressable_shards(self) -> List[Shard]:
    return list(self._shards)

  @property
  def is_fully_addressable(self) -> bool:
    """True if this process holds a shard for every device of the mesh."""
    named = as_named_sharding(self._sharding)
    return named.device_set == {s.device for s in self._shards}

  def _unique_boxes(self) -> Dict[Box, Shard]:
    out: Dict[Box, Shard] = {}
    for shard in self._shards:
      out.setdefault(_box_of(shard.index, self._shape), shard)
    return out

  def to_numpy(self) -> np.ndarray:
    """The global array, assembled from the local shards.

    Raises:
      ValueError: some element is in no local shard (not fully addressable).
    """
    named = as_named_sharding(self._sharding)
    boxes = self._unique_boxes()
    counts = named._split_counts(self._shape)  # pylint: disable=protected-access
    total = int(np.prod(counts, dtype=np.int64))
    if len(boxes) != total:
      raise ValueError(
          f'array of shape {self._shape} is not fully addressable: the local '
          f'shards hold {len(boxes)} of its {total} boxes')
    out = np.empty(self._shape, dtype=self._dtype)
    for box, shard in boxes.items():
      out[tuple(slice(a, b) for a, b in box)] = shard.data
    return out

  def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
    del copy  # always a new array
    out = self.to_numpy()
    return out if dtype is None else out.astype(dtype, copy=False)

  def __repr__(self) -> str:
    return (f'ShardedArray(shape={self._shape}, dtype={self._dtype}, '
            f'sharding={self._sharding!r}, {len(self._shards)} local shards)')

  # ---- the C++ binding's view ----

  def _ckptdb_parts(self) -> Tuple[Any, ...]:
    """(global_shape, dtype, axis_names, axis_sizes, device_processes, spec,
    shards) for the C++ binding.

    spec has ndim entries (a tuple of axis names per dimension, () if not
    split); shards are the local shards deduplicated by box, sorted by
    start, each (start index tuple, C-contiguous ndarray of self.dtype).
    """
    names, sizes, processes, spec = _sharding_parts(self._sharding)
    shards = []
    for box, shard in sorted(self._unique_boxes().items()):
      data = np.asarray(shard.data, dtype=self._dtype, order='C')
      shards.append((tuple(start for start, _ in box), data))
    return (self._shape, self._dtype, names, sizes, processes,
            _spec_for_rank(spec, self.ndim), shards)

  def _ckptdb_process(self) -> int:
    """The process holding these shards: their devices' process (the
    first shard's), else multihost.process_index()."""
    for shard in self.addressable_shards:
      return _process_of(shard.device)
    return multihost.process_index()


def _from_parts(global_shape: Sequence[int], dtype: Any,
                axis_names: Sequence[str], axis_sizes: Sequence[int],
                device_processes: Sequence[int],
                spec: Sequence[Sequence[str]],
                shards: Sequence[Tuple[Sequence[int], np.ndarray]],
                process_index: Optional[int] = None) -> ShardedArray:
  """A ShardedArray from the parts _ckptdb_parts returns (stand-in devices).

  Device d of the row-major mesh is Device(d, device_processes[d]). Each
  (start, data) becomes a Shard on every device of process_index (default:
  multihost.process_index()) whose box starts at `start`; a box no device
  of that process holds goes to all devices holding it. Replica ids are
  recomputed from the sharding.

  Raises:
    ValueError: a start is no box's start, or the parts are inconsistent.
  """
  shape = tuple(int(d) for d in global_shape)
  sizes = tuple(int(s) for s in axis_sizes)
  n = int(np.prod(sizes, dtype=np.int64))
  if len(device_processes) != n:
    raise ValueError(f'{len(device_processes)} device processes for a mesh of '
                     f'{n} devices {sizes}')
  devices = np.empty(n, dtype=object)
  for d, p in enumerate(device_processes):
    devices[d] = Device(d, int(p))
  mesh = Mesh(devices.reshape(sizes), tuple(axis_names))
  sharding = NamedSharding(mesh, PartitionSpec(*(
      None if not e else e[0] if len(e) == 1 else tuple(e) for e in spec)))
  if process_index is None:
    process_index = multihost.process_index()
  indices = sharding._device_indices(shape)  # pylint: disable=protected-access
  replicas = sharding._replica_ids(shape)  # pylint: disable=protected-access
  holders: Dict[Tuple[int, ...], List[int]] = {}
  for d, index in enumerate(indices):
    start = tuple(a for a, _ in _box_of(index, shape))
    holders.setdefault(start, []).append(d)
  out = []
  for start, data in shards:
    start = tuple(int(s) for s in start)
    if start not in holders:
      raise ValueError(f'no shard of the sharding {sharding!r} starts at '
                       f'{start} (global shape {shape})')
    local = [d for d in holders[start]
             if devices[d].process_index == process_index]
    for d in local or holders[start]:
      out.append(Shard(devices[d], indices[d], replicas[d], data))
  out.sort(key=lambda s: s.device.id)
  return ShardedArray(shape, dtype, sharding, out)


# ---- JAX values --------------------------------------------------------------


def _is_jax_array(x: Any) -> bool:
  return (not isinstance(x, (np.ndarray, ShardedArray)) and
          _is_named_sharding(getattr(x, 'sharding', None)) and
          hasattr(x, 'addressable_shards') and hasattr(x, 'shape'))


def is_sharded_leaf(x: Any) -> bool:
  """True for a ShardedArray, and for an abstract or JAX array with a named
  sharding (ShapeDtypeStruct, jax.ShapeDtypeStruct, jax.Array)."""
  if isinstance(x, ShardedArray):
    return True
  if isinstance(x, (np.ndarray, np.generic)):
    return False
  return (hasattr(x, 'shape') and hasattr(x, 'dtype') and
          _is_named_sharding(getattr(x, 'sharding', None)))


def to_ckptdb(x: Any) -> Any:
  """ckptdb's form of a JAX value; other values are returned unchanged.

  A jax.Array with a NamedSharding becomes a ShardedArray of its
  addressable shards (copied to the host); a jax.ShapeDtypeStruct with a
  NamedSharding a ckptdb ShapeDtypeStruct with a ckptdb NamedSharding (the
  mesh and its devices kept).
  """
  if isinstance(x, (ShardedArray, np.ndarray, np.generic)):
    return x
  sharding = getattr(x, 'sharding', None)
  if not _is_named_sharding(sharding) or not (hasattr(x, 'shape') and
                                              hasattr(x, 'dtype')):
    return x
  named = as_named_sharding(sharding)
  if _is_jax_array(x):
    shards = [Shard(s.device, tuple(s.index), int(s.replica_id),
                    np.asarray(s.data)) for s in x.addressable_shards]
    return ShardedArray(tuple(x.shape), np.dtype(x.dtype), named, shards)
  if isinstance(x, ShapeDtypeStruct) and isinstance(sharding, NamedSharding):
    return x
  return ShapeDtypeStruct(tuple(int(d) for d in x.shape), np.dtype(x.dtype),
                          sharding=named)


__all__ = [
    'Device', 'Mesh', 'NamedSharding', 'P', 'PartitionSpec', 'Shard',
    'ShapeDtypeStruct', 'ShardedArray', 'as_named_sharding',
    'is_sharded_leaf', 'to_ckptdb',
]
