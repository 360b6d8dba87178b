"""Orbax v1's ocp.arrays: array types and to_shape_dtype_struct."""

from typing import Any, Optional, Protocol, Tuple, Union

import numpy as np

from ckptdb import utils as _utils

__all__ = ['AbstractArray', 'AbstractScalar', 'AbstractShardedArray',
           'ArrayLike', 'DType', 'Scalar', 'Shape', 'to_shape_dtype_struct']

Shape = Tuple[int, ...]
DType = np.dtype
Scalar = Union[int, float, np.number, bytes, bool]
AbstractScalar = Scalar
ArrayLike = Any  # np.ndarray or jax.Array


class AbstractArray(Protocol):
  """An abstract array: shape and dtype (np.ndarray, ShapeDtypeStruct,
  ckptdb.ArrayMetadata)."""
  shape: Optional[Shape]
  dtype: Optional[DType]


class AbstractShardedArray(Protocol):
  """An abstract sharded array (jax.ShapeDtypeStruct with a sharding)."""
  shape: Shape
  dtype: DType
  sharding: Any


to_shape_dtype_struct = _utils.to_shape_dtype_struct
