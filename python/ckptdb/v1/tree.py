"""Orbax v1's ocp.tree: pytree types and merge.

Leaves ckptdb saves: numpy arrays, jax.Array, int, float, bool, complex,
str, bytes (and None / empty nodes); abstract leaves: anything with
`shape` and `dtype` (jax.ShapeDtypeStruct, ckptdb.utils.ShapeDtypeStruct,
ArrayMetadata), scalar types and values, str.
"""

import dataclasses
from typing import Any, Generic, Tuple, TypeVar, Union

import numpy as np

from ckptdb import _tree
from ckptdb.v1 import arrays as _arrays

__all__ = ['AbstractLeaf', 'JsonType', 'Leaf', 'PyTree', 'PyTreeKey',
           'PyTreeKeyPath', 'PyTreeOf', 'merge']

T = TypeVar('T')


class PyTreeOf(Generic[T]):
  """A pytree with leaves of type T (for typing only, as Orbax's)."""


class PyTree:
  """A pytree with any leaves (for typing only)."""


PyTreeKey = Any
PyTreeKeyPath = Tuple[Any, ...]
JsonType = Union[dict, list, str, int, float, bool, None]
Leaf = Union[np.ndarray, _arrays.Scalar, str, Any]  # jax.Array too
AbstractLeaf = Union[_arrays.AbstractArray, _arrays.AbstractScalar, str, Any]


def _merge2(a: Any, b: Any, overwrite: bool, path: str) -> Any:
  if a is None:
    return b
  if b is None:
    return a
  if isinstance(a, dict) and isinstance(b, dict):
    out = dict(a)
    for k, v in b.items():
      out[k] = _merge2(a[k], v, overwrite, f'{path}/{k}') if k in a else v
    return out
  na, nb = _tree.flatten_one_level(a), _tree.flatten_one_level(b)
  if na is not None and nb is not None and type(a) is type(b):
    if list(na.keys) != list(nb.keys):
      if na.is_sequence:
        raise ValueError(f'cannot merge sequences of different lengths at '
                         f"'{path or '/'}'")
      raise ValueError(f"cannot merge nodes with different fields at "
                       f"'{path or '/'}'")
    return na.unflatten([_merge2(x, y, overwrite, f'{path}/{k}')
                         for k, x, y in zip(na.keys, na.children,
                                            nb.children)])
  if overwrite:
    return b
  if na is not None or nb is not None:
    raise ValueError(f"cannot merge a {type(a).__name__} with a "
                     f"{type(b).__name__} at '{path or '/'}'")
  raise ValueError(f"conflicting leaves at '{path or '/'}' (pass "
                   'overwrite=True to keep the later one)')


def merge(*trees: Any, overwrite: bool = False, is_leaf: Any = None) -> Any:
  """Merges trees (Orbax's ocp.tree.merge): mappings by key, sequences
  and other nodes element-wise (same length / fields), None filled by the
  other tree; a leaf present in two trees is a ValueError unless
  `overwrite` (then the later one wins)."""
  if is_leaf is not None:
    raise NotImplementedError('ckptdb.v1.tree.merge(is_leaf=...) is not '
                              'supported')
  out: Any = None
  for t in trees:
    out = _merge2(out, t, overwrite, '')
  return out


del dataclasses
