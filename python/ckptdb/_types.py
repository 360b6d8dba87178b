"""Orbax's per-leaf argument types: SaveArgs, RestoreArgs, ArrayRestoreArgs.

`dtype` casts on save or on restore (done by the C++ core);
ArrayRestoreArgs' global_shape / strict check, pad or truncate the restored
array. The other fields are accepted so that Orbax code runs, and ignored
(ckptdb has no sharding, chunk-shape or aggregate options).
"""

import dataclasses
from typing import Any, Optional, Sequence


@dataclasses.dataclass
class SaveArgs:
  """Per-leaf save arguments. dtype: store the leaf converted to it."""
  aggregate: bool = False
  dtype: Any = None
  chunk_byte_size: Optional[int] = None
  shard_axes: Sequence[int] = ()


@dataclasses.dataclass
class RestoreArgs:
  """Per-leaf restore arguments. dtype: restore the leaf converted to it.

  restore_type is accepted and ignored: arrays always come back as numpy
  arrays, scalars as Python scalars.
  """
  restore_type: Any = None
  dtype: Any = None


@dataclasses.dataclass
class ArrayRestoreArgs(RestoreArgs):
  """Orbax's jax.Array restore arguments.

  dtype: restore the leaf converted to it. global_shape (or its alias
  shape): the shape to restore; if the saved shape differs, strict (the
  default) raises ValueError naming the leaf and both shapes, strict=False
  pads with zeros or truncates at the end of each axis (same rank only).
  mesh, mesh_axes, sharding: ignored (no devices; arrays are host arrays).
  """
  mesh: Any = None
  mesh_axes: Any = None
  sharding: Any = None
  global_shape: Optional[Sequence[int]] = None
  shape: Optional[Sequence[int]] = None
  strict: bool = True

  def __post_init__(self):
    if (self.global_shape is not None and self.shape is not None and
        tuple(self.global_shape) != tuple(self.shape)):
      raise ValueError(
          f'ArrayRestoreArgs: shape {tuple(self.shape)} and global_shape '
          f'{tuple(self.global_shape)} differ')

  def requested_shape(self) -> Optional[tuple]:
    shape = self.global_shape if self.global_shape is not None else self.shape
    return None if shape is None else tuple(int(d) for d in shape)
