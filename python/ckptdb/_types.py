"""Orbax's per-leaf argument types: SaveArgs, RestoreArgs, ArrayRestoreArgs.

`dtype` casts on save or on restore (done by the C++ core);
ArrayRestoreArgs' global_shape / strict check, pad or truncate the restored
array, and its sharding (or mesh + mesh_axes) names the boxes to restore
(resolved_sharding()). The other fields are accepted so that Orbax code
runs, and ignored (ckptdb has no chunk-shape or aggregate options).
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
  sharding: a NamedSharding (ckptdb.sharding's or JAX's) to restore with;
  mesh + mesh_axes (a PartitionSpec, or a sequence of its entries): the
  same as NamedSharding(mesh, mesh_axes), and taking precedence over
  sharding, as in Orbax. resolved_sharding() gives the result.
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

  def resolved_sharding(self) -> Any:
    """The NamedSharding to restore with, or None.

    mesh + mesh_axes give ckptdb.sharding.NamedSharding(mesh,
    PartitionSpec(*mesh_axes)); else a named `sharding` (ckptdb's, or JAX's
    converted to ckptdb's); else None (other shardings, such as a single
    device's, name no boxes).

    Raises:
      ValueError: mesh_axes names an axis the mesh lacks, or one twice.
    """
    from ckptdb import sharding as sharding_lib  # pylint: disable=g-import-not-at-top
    if self.mesh is not None and self.mesh_axes is not None:
      axes = self.mesh_axes
      if not isinstance(axes, sharding_lib.PartitionSpec):
        axes = sharding_lib.PartitionSpec(
            *(axes if isinstance(axes, (tuple, list)) else (axes,)))
      return sharding_lib.NamedSharding(self.mesh, axes)
    if sharding_lib._is_named_sharding(self.sharding):  # pylint: disable=protected-access
      return sharding_lib.as_named_sharding(self.sharding)
    return None
