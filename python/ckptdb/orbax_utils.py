"""Flax's `flax.training.orbax_utils` helpers, for numpy trees.

    save_args = ckptdb.orbax_utils.save_args_from_target(tree)
    ckptr.save(path, tree, save_args=save_args)
    restore_args = ckptdb.orbax_utils.restore_args_from_target(target)
    ckptr.restore(path, item=target, restore_args=restore_args)
"""

from typing import Any

import numpy as np

from ckptdb import _tree
from ckptdb import _types


def _is_array_like(x: Any) -> bool:
  return isinstance(x, (np.ndarray, np.generic)) or (
      hasattr(x, 'shape') and hasattr(x, 'dtype'))


def save_args_from_target(target: Any) -> Any:
  """A tree of SaveArgs() mirroring `target` (store every leaf as it is)."""
  return _tree.map_leaves(lambda _: _types.SaveArgs(), target)


def _has_sharding(x: Any) -> bool:
  """A sharded leaf: ShardedArray, a ShapeDtypeStruct with a sharding, or a
  jax.Array (numpy arrays have no sharding)."""
  return (not isinstance(x, (np.ndarray, np.generic)) and
          _is_array_like(x) and getattr(x, 'sharding', None) is not None)


def restore_args_from_target(target: Any, mesh: Any = None) -> Any:
  """A tree of RestoreArgs mirroring `target` (Flax's helper).

  Sharded leaves (ckptdb.ShardedArray, a ShapeDtypeStruct with a sharding, a
  jax.Array) get ArrayRestoreArgs(sharding=leaf.sharding,
  global_shape=leaf.shape, dtype=leaf.dtype); with `mesh` given and a leaf
  sharding that has a spec, ArrayRestoreArgs(mesh=mesh, mesh_axes=spec,
  global_shape, dtype) instead: the leaf's partition spec over that mesh.
  Other array leaves get RestoreArgs(restore_type=np.ndarray,
  dtype=leaf.dtype): the restored array is converted to the target's dtype
  (and so can be filled in place with in_place=True when the shape matches
  too); others get RestoreArgs().
  """

  def leaf(x: Any) -> _types.RestoreArgs:
    if _has_sharding(x):
      spec = getattr(x.sharding, 'spec', None)
      if mesh is not None and spec is not None:
        return _types.ArrayRestoreArgs(mesh=mesh, mesh_axes=spec,
                                       global_shape=tuple(x.shape),
                                       dtype=x.dtype)
      return _types.ArrayRestoreArgs(sharding=x.sharding,
                                     global_shape=tuple(x.shape),
                                     dtype=x.dtype)
    if _is_array_like(x):
      return _types.RestoreArgs(restore_type=np.ndarray, dtype=x.dtype)
    return _types.RestoreArgs()

  return _tree.map_leaves(leaf, target)
