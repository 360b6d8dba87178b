"""Flax's msgpack extension types: numpy arrays, numpy scalars, complex.

The byte layout (docs: flax-legacy.md section 1.10, Flax's serialization.py)
is, for ext type 1 (ndarray) and 3 (numpy scalar, a 0-d array):

    msgpack.packb((shape, dtype.name, arr.tobytes('C')), use_bin_type=True)

ext type 2 (Python complex) is msgpack.packb((real, imag)), and ext type 4
(a tuple, written by Orbax's copy of this code) is a msgpack array of the
elements. Other ext codes are returned as msgpack.ExtType, as Flax does.

Tuples nest one inside the other's payload, and msgpack-python's unpackb
keeps a large decoding stack on the C stack: decoding each tuple from the
ext hook (one unpackb inside another) crashed the interpreter at about 200
levels. So the hook returns the payload undecoded (a _TuplePayload) and
unpackb expands those afterwards, one at a time, down to a depth limit.
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
    return _TuplePayload(data)  # expanded by unpackb
  return msgpack.ExtType(code, data)


class _TuplePayload:
  """An ext type 4 payload, not yet decoded; `value` once it is."""

  __slots__ = ('data', 'value')

  def __init__(self, data: bytes):
    self.data = data
    self.value: Any = None


def unpackb(data: bytes, hook: Callable[[int, bytes], Any] = ext_unpack, *,
            max_depth: int) -> Any:
  """Decodes one msgpack object as Flax does (str keys, any key type).

  Raises ValueError('nesting deeper than <max_depth>') for a tuple deeper
  than max_depth in the tree (maps, arrays and tuples each count as a
  level; so does a tuple whose payload is itself a tuple), before its
  payload is decoded. Deep maps and arrays are left to the caller.
  """
  found = []

  def note(code: int, payload: bytes) -> Any:
    value = hook(code, payload)
    if isinstance(value, _TuplePayload):
      found.append(value)
    return value

  tree = _unpack_one(data, note)
  if not found:  # no tuples: no second pass
    return tree
  return _expand_tuples(tree, hook, max_depth)


def _unpack_one(data: bytes, hook: Callable[[int, bytes], Any]) -> Any:
  return msgpack.unpackb(data, ext_hook=hook, raw=False,
                         strict_map_key=False)


def _expand_tuples(tree: Any, hook: Callable[[int, bytes], Any],
                   max_depth: int) -> Any:
  """`tree` with each _TuplePayload replaced by its tuple, without
  recursion: the value that decoding each tuple inside the ext hook gave.

  Pass 1 walks the containers from the top and decodes each payload found
  (its own tuples stay undecoded, for the walk to find), noting where the
  tuple goes. Pass 2 builds the tuples in reverse order, so that each
  one's elements are built before it is; tuples that are map keys go into
  their map (rebuilt in the same key order) once all its keys are built.
  """
  root = [tree]
  # (payload, its decoded contents, slot): slot is (container, key, is_key)
  # for a tuple in a list or map, None for a tuple that is the whole
  # payload of another.
  found = []
  containers = [(root, 0)]  # (container, its level); the root list is 0
  while containers:
    container, level = containers.pop()
    if type(container) is dict:  # pylint: disable=unidiomatic-typecheck
      entries = [(k, (container, k, True)) for k in container
                 if type(k) is _TuplePayload]  # pylint: disable=unidiomatic-typecheck
      entries += [(v, (container, k, False)) for k, v in container.items()]
    else:
      entries = [(v, (container, i, False)) for i, v in enumerate(container)]
    for x, slot in entries:
      depth = level + 1  # x's level; a tuple's contents are at its level
      while type(x) is _TuplePayload:  # pylint: disable=unidiomatic-typecheck
        if depth > max_depth:
          raise ValueError(f'nesting deeper than {max_depth}')
        contents = _unpack_one(x.data, hook)
        x.data = None  # not kept: deep tuples repeat their inner bytes
        found.append((x, contents, slot))
        if type(contents) is _TuplePayload:  # pylint: disable=unidiomatic-typecheck
          depth += 1  # a payload that is a tuple: one more level
        x, slot = contents, None
      if type(x) in (dict, list):
        containers.append((x, depth))
  keys = {}  # id(map) -> (map, {payload: its tuple}) for tuple keys
  for payload, contents, slot in reversed(found):
    if type(contents) is _TuplePayload:  # pylint: disable=unidiomatic-typecheck
      contents = contents.value
    elif type(contents) is dict:  # pylint: disable=unidiomatic-typecheck
      _set_tuple_keys(contents, keys)
    payload.value = tuple(contents)
    if slot is None:
      continue
    container, key, is_key = slot
    if is_key:
      keys.setdefault(id(container), (container, {}))[1][payload] = (
          payload.value)
    else:
      container[key] = payload.value
  for container, _ in list(keys.values()):
    _set_tuple_keys(container, keys)
  return root[0]


def _set_tuple_keys(container: dict, keys: dict) -> None:
  """Replaces the _TuplePayload keys of `container` by their tuples, as if
  inserted in order (a repeated key keeps its first place, last value)."""
  entry = keys.pop(id(container), None)
  if entry is None:
    return
  built = entry[1]
  items = [(built.get(k, k), v) for k, v in container.items()]
  container.clear()
  for k, v in items:
    container[k] = v


def packb(tree: Any) -> bytes:
  """Encodes a tree as Flax does (strict types, ext types above)."""
  return msgpack.packb(tree, default=ext_pack, strict_types=True)
