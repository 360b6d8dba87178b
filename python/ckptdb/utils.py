"""Orbax's `ocp.utils` helpers that make sense without devices.

    # with JAX:
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    state = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
"""

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np

from ckptdb import _tree


@dataclasses.dataclass(frozen=True)
class ShapeDtypeStruct:
  """jax.ShapeDtypeStruct's stand-in when JAX is not importable.

  An abstract array: a restore target leaf giving dtype (and, with a
  sharding, the requested shape).
  """
  shape: Tuple[int, ...]
  dtype: Any
  sharding: Any = None

  @property
  def ndim(self) -> int:
    return len(self.shape)

  @property
  def size(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64))

  def update(self, **kwargs: Any) -> 'ShapeDtypeStruct':
    """A copy with fields replaced (jax.ShapeDtypeStruct.update)."""
    return dataclasses.replace(self, **kwargs)


def _struct_class() -> Any:
  jax = _tree.jax_module()
  if jax is None:
    return ShapeDtypeStruct
  return getattr(jax, 'ShapeDtypeStruct', ShapeDtypeStruct)


def _is_scalar(x: Any) -> bool:
  return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def to_shape_dtype_struct(x: Any, dtype: Any = None,
                          scalar_dtype: Optional[type] = None) -> Any:
  """The abstract array (jax.ShapeDtypeStruct, or ckptdb's) of x.

  As Orbax: arrays, ShapeDtypeStructs and ArrayMetadata give their shape,
  dtype (or `dtype`) and sharding; int / float / numpy scalars stay
  scalars, converted by `scalar_dtype` if given; other values raise
  ValueError('Unexpected type: ...').
  """
  struct = _struct_class()
  if isinstance(x, np.ndarray):
    return struct(tuple(x.shape), dtype if dtype is not None else x.dtype)
  if _is_scalar(x):
    return scalar_dtype(x) if scalar_dtype is not None else x
  if hasattr(x, 'shape') and hasattr(x, 'dtype'):
    sharding = getattr(x, 'sharding', None)
    out_dtype = dtype if dtype is not None else x.dtype
    if sharding is None:
      return struct(tuple(x.shape), out_dtype)
    return struct(tuple(x.shape), out_dtype, sharding=sharding)
  raise ValueError(f'Unexpected type: {type(x)}.')
