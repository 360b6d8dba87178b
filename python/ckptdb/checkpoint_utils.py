"""Orbax's `ocp.checkpoint_utils.construct_restore_args`.

    restore_args = ckptdb.checkpoint_utils.construct_restore_args(target)
    ckptr.restore(path, item=target, restore_args=restore_args)
"""

from typing import Any, Dict, Optional

import numpy as np

from ckptdb import _tree
from ckptdb import _types


def _leaf_restore_args(value: Any, sharding: Any, set_global_shape: bool,
                       strict: bool) -> Any:
  """Orbax's rule for one target leaf (checkpoint_utils._restore_args)."""
  if value is None:
    return None
  if value is _tree.PLACEHOLDER:
    return _types.RestoreArgs(restore_type=type(_tree.PLACEHOLDER))
  if isinstance(value, np.ndarray):
    return _types.RestoreArgs(restore_type=np.ndarray, dtype=value.dtype)
  if isinstance(value, (bool, int, float, np.number)):
    return _types.RestoreArgs(restore_type=type(value))
  if isinstance(value, str):
    return _types.RestoreArgs(restore_type=str)
  if hasattr(value, 'shape') and hasattr(value, 'dtype'):
    if sharding is None:  # host array
      return _types.RestoreArgs(restore_type=np.ndarray, dtype=value.dtype)
    return _types.ArrayRestoreArgs(
        sharding=sharding, dtype=value.dtype, strict=strict,
        global_shape=tuple(value.shape) if set_global_shape else None)
  raise ValueError(f'Unsupported type: {type(value)}')


def _leaves_by_path(tree: Any) -> Dict[str, Any]:
  out: Dict[str, Any] = {}

  def keep(path: str, leaf: Any) -> Any:
    out[path] = leaf
    return leaf

  _tree.map_with_path(keep, tree)
  return out


def construct_restore_args(target: Any, sharding_tree: Optional[Any] = None,
                           set_global_shape: bool = True,
                           support_layout: bool = False,
                           strict: bool = True) -> Any:
  """A tree of RestoreArgs / ArrayRestoreArgs mirroring `target`.

  numpy arrays give RestoreArgs(restore_type=np.ndarray, dtype); scalars and
  str RestoreArgs(restore_type=their type); abstract arrays
  (ShapeDtypeStruct, ArrayMetadata, jax.Array) with a sharding (from
  sharding_tree, else their own .sharding) give ArrayRestoreArgs(sharding,
  global_shape=shape if set_global_shape, dtype, strict), without one
  RestoreArgs(restore_type=np.ndarray, dtype). support_layout is ignored
  (no device layouts). ValueError for other leaf types.
  """
  del support_layout
  shardings = (_leaves_by_path(sharding_tree)
               if sharding_tree is not None else None)

  def leaf(path: str, value: Any) -> Any:
    sharding = (shardings.get(path) if shardings is not None else
                getattr(value, 'sharding', None))
    return _leaf_restore_args(value, sharding, set_global_shape, strict)

  return _tree.map_with_path(leaf, target)
