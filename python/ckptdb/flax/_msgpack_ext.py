"""Flax's msgpack extension types: numpy arrays, numpy scalars, complex.

The byte layout (docs: flax-legacy.md section 1.10, Flax's serialization.py)
is, for ext type 1 (ndarray) and 3 (numpy scalar, a 0-d array):

    msgpack.packb((shape, dtype.name, arr.tobytes('C')), use_bin_type=True)

ext type 2 (Python complex) is msgpack.packb((real, imag)), and ext type 4
(a tuple, written by Orbax's copy of this code) is a msgpack array of the
elements. Other ext codes are returned as msgpack.ExtType, as Flax does.
"""

import enum
import math
from typing import Any, Callable

import msgpack
import numpy as np


class MsgpackExtType(enum.IntEnum):
  """Ext codes: Flax's three, and Orbax's TUPLE."""
  ndarray = 1
  native_complex = 2
  npscalar = 3
  tuple = 4


def is_array_like(x: Any) -> bool:
  """A non-numpy array (e.g. a jax.Array) that numpy can convert."""
  return (not isinstance(x, (np.ndarray, np.generic)) and
          hasattr(x, '__array__') and hasattr(x, 'shape') and
          hasattr(x, 'dtype'))


def ndarray_to_bytes(arr: Any) -> bytes:
  """The ext 1/3 payload of an array: (shape, dtype name, C-order bytes).

  Arrays in non-native byte order are written converted to native order
  (Flax writes their bytes as they are, under the same dtype name).
  """
  arr = np.asarray(arr)
  if arr.dtype.hasobject or arr.dtype.isalignedstruct:
    raise ValueError('Object and structured dtypes not supported for '
                     'serialization of ndarrays.')
  if not arr.dtype.isnative:
    arr = arr.astype(arr.dtype.newbyteorder('='))
  tpl = (arr.shape, arr.dtype.name, arr.tobytes('C'))
  return msgpack.packb(tpl, use_bin_type=True)


def dtype_from_name(name: bytes) -> np.dtype:
  """numpy dtype of a stored dtype name; bfloat16 needs ml_dtypes."""
  if name == b'bfloat16':
    try:
      import ml_dtypes  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ValueError('the array is bfloat16, which needs the ml_dtypes '
                       'package (not importable here)') from None
    return np.dtype(ml_dtypes.bfloat16)
  try:
    return np.dtype(name.decode('ascii'))
  except (TypeError, ValueError, UnicodeDecodeError):
    raise ValueError(f'unknown dtype name {name!r}') from None


def ndarray_from_bytes(data: bytes) -> np.ndarray:
  """Decodes an ext 1/3 payload to a read-only array over the payload.

  Raises ValueError saying what is wrong with the payload.
  """
  try:
    tpl = msgpack.unpackb(data, raw=True)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'array payload is not msgpack ({e})') from None
  if not isinstance(tpl, list) or len(tpl) != 3:
    raise ValueError('array payload is not [shape, dtype, data]')
  shape, dtype_name, buffer = tpl
  if (not isinstance(shape, list) or
      not all(isinstance(d, int) and d >= 0 for d in shape)):
    raise ValueError(f'array shape {shape!r} is not a list of sizes')
  if not isinstance(dtype_name, bytes) or not isinstance(buffer, bytes):
    raise ValueError('array dtype or data has the wrong msgpack type')
  dtype = dtype_from_name(dtype_name)
  want = math.prod(shape) * dtype.itemsize
  if len(buffer) != want:
    raise ValueError(f'array data is {len(buffer)} bytes; shape {shape} of '
                     f'{dtype.name} needs {want}')
  return np.frombuffer(buffer, dtype=dtype).reshape(shape, order='C')


def complex_from_bytes(data: bytes) -> complex:
  """Decodes an ext 2 payload (real, imag) to a Python complex."""
  try:
    parts = msgpack.unpackb(data)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'complex payload is not msgpack ({e})') from None
  if (not isinstance(parts, list) or len(parts) != 2 or
      not all(isinstance(p, (int, float)) for p in parts)):
    raise ValueError('complex payload is not [real, imag]')
  return complex(parts[0], parts[1])


def ext_pack(x: Any) -> Any:
  """msgpack `default`: arrays, numpy scalars and complex to ext types.

  Anything else is returned unchanged, so msgpack raises TypeError for it
  (a tuple, with strict_types=True, as in Flax).
  """
  if isinstance(x, np.ndarray) or is_array_like(x):
    return msgpack.ExtType(MsgpackExtType.ndarray, ndarray_to_bytes(x))
  if isinstance(x, np.generic):
    return msgpack.ExtType(MsgpackExtType.npscalar,
                           ndarray_to_bytes(np.asarray(x)))
  if isinstance(x, complex):
    return msgpack.ExtType(MsgpackExtType.native_complex,
                           msgpack.packb((x.real, x.imag)))
  return x


def ext_unpack(code: int, data: bytes) -> Any:
  """msgpack `ext_hook`: the inverse of ext_pack, plus Orbax's tuples."""
  if code == MsgpackExtType.ndarray:
    return ndarray_from_bytes(data)
  if code == MsgpackExtType.native_complex:
    return complex_from_bytes(data)
  if code == MsgpackExtType.npscalar:
    return ndarray_from_bytes(data)[()]
  if code == MsgpackExtType.tuple:
    return tuple(unpackb(data))
  return msgpack.ExtType(code, data)


def unpackb(data: bytes, hook: Callable[[int, bytes], Any] = ext_unpack
            ) -> Any:
  """Decodes one msgpack object as Flax does (str keys, any key type)."""
  return msgpack.unpackb(data, ext_hook=hook, raw=False,
                         strict_map_key=False)


def packb(tree: Any) -> bytes:
  """Encodes a tree as Flax does (strict types, ext types above)."""
  return msgpack.packb(tree, default=ext_pack, strict_types=True)
