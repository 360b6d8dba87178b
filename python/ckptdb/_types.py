"""Orbax's per-leaf argument types: SaveArgs, RestoreArgs, ArrayRestoreArgs.

Only `dtype` has an effect in ckptdb (a cast on save or on restore, done by
the C++ core); the other fields are accepted so that Orbax code runs, and
ignored (ckptdb has no sharding, chunk-shape or aggregate options).
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
  """Orbax's jax.Array restore arguments; only dtype is used.

  mesh, mesh_axes, sharding: ignored (no devices; arrays are host arrays).
  global_shape / shape / strict: ignored; the saved shape is restored.
  """
  mesh: Any = None
  mesh_axes: Any = None
  sharding: Any = None
  global_shape: Optional[Sequence[int]] = None
  shape: Optional[Sequence[int]] = None
  strict: bool = True
