"""Flax's `flax.serialization`, byte-compatible with Flax's msgpack files.

    from ckptdb.flax import serialization
    data = serialization.to_bytes(state)            # Flax's bytes
    state = serialization.from_bytes(target, data)
    raw = serialization.msgpack_restore(data)       # lists as {'0': ...}

The format (docs: flax-legacy.md section 1.10) is one msgpack object with
ext types 1 (ndarray), 2 (complex), 3 (numpy scalar); ext type 4 (Orbax's
tuple) is read too. Arrays of more than MAX_CHUNK_SIZE bytes inside dicts
are written as {'__msgpack_chunked_array__': True, 'shape': {...},
'chunks': {...}} maps, and such maps are joined back on restore. Decoding
errors raise errors.MsgpackFormatError with the byte offset.
"""

from typing import Any, Optional

import numpy as np

from ckptdb.flax import _msgpack_ext
from ckptdb.flax import _msgpack_scan
from ckptdb.flax import _state_dict
from ckptdb.flax import errors

# Flax's names, re-exported.
current_path = _state_dict.current_path
from_state_dict = _state_dict.from_state_dict
to_state_dict = _state_dict.to_state_dict
register_serialization_state = _state_dict.register_serialization_state

# Arrays above this many bytes are chunked (Flax: 2**30). Tests lower it.
MAX_CHUNK_SIZE = 2**30

_CHUNKED = '__msgpack_chunked_array__'


def _tuple_to_dict(tpl: Any) -> dict:
  return {str(x): y for x, y in enumerate(tpl)}


def _dict_to_tuple(dct: dict) -> tuple:
  return tuple(dct[str(i)] for i in range(len(dct)))


def _chunk(arr: np.ndarray) -> dict:
  """An array as the canonical dict of 1-D C-order chunks."""
  chunksize = max(1, int(MAX_CHUNK_SIZE / arr.dtype.itemsize))
  data = {_CHUNKED: True, 'shape': _tuple_to_dict(arr.shape)}
  flatarr = arr.reshape(-1)
  chunks = [flatarr[i:i + chunksize]
            for i in range(0, flatarr.size, chunksize)]
  data['chunks'] = _tuple_to_dict(chunks)
  return data


def _unchunk(data: dict) -> np.ndarray:
  """Joins a chunked-array dict back into one array."""
  try:
    shape = tuple(int(d) for d in _dict_to_tuple(data['shape']))
    flatarr = np.concatenate(_dict_to_tuple(data['chunks']))
    return flatarr.reshape(shape)
  except (KeyError, TypeError, ValueError, AttributeError) as e:
    raise ValueError(f'malformed chunked array ({type(e).__name__}: {e})'
                     ) from None


def _too_big(arr: np.ndarray) -> bool:
  return arr.size * arr.dtype.itemsize > MAX_CHUNK_SIZE


def _np_convert_in_place(d: Any) -> Any:
  """Converts array-likes (jax.Array) found through dicts to numpy."""
  if isinstance(d, dict):
    for k, v in d.items():
      if _msgpack_ext.is_array_like(v):
        d[k] = np.asarray(v)
      elif isinstance(v, dict):
        _np_convert_in_place(v)
  elif _msgpack_ext.is_array_like(d):
    return np.asarray(d)
  return d


def _chunk_array_leaves_in_place(d: Any) -> Any:
  """Replaces oversized arrays found through dicts by chunked dicts."""
  if isinstance(d, dict):
    for k, v in d.items():
      if isinstance(v, np.ndarray):
        if _too_big(v):
          d[k] = _chunk(v)
      elif isinstance(v, dict):
        _chunk_array_leaves_in_place(v)
  elif isinstance(d, np.ndarray) and _too_big(d):
    return _chunk(d)
  return d


def _unchunk_array_leaves_in_place(d: Any) -> Any:
  """Replaces chunked-array dicts found through dicts by arrays."""
  if isinstance(d, dict):
    if _CHUNKED in d:
      return _unchunk(d)
    for k, v in d.items():
      if isinstance(v, dict) and _CHUNKED in v:
        d[k] = _unchunk(v)
      elif isinstance(v, dict):
        _unchunk_array_leaves_in_place(v)
  return d


def _copy_containers(tree: Any) -> Any:
  """Flax's jax.tree_util.tree_map(lambda x: x, tree): new containers.

  jax flattens a dict with its keys sorted, so the copy of a dict has
  sorted keys (when they are comparable) -- and so has the msgpack map
  that msgpack_serialize writes, unlike to_bytes, which keeps key order.
  """
  if type(tree) is dict:  # pylint: disable=unidiomatic-typecheck
    try:
      keys = sorted(tree)
    except TypeError:
      keys = list(tree)
    return {k: _copy_containers(tree[k]) for k in keys}
  if type(tree) is list:  # pylint: disable=unidiomatic-typecheck
    return [_copy_containers(x) for x in tree]
  if type(tree) is tuple:  # pylint: disable=unidiomatic-typecheck
    return tuple(_copy_containers(x) for x in tree)
  return tree


def msgpack_serialize(pytree: Any, in_place: bool = False) -> bytes:
  """Encodes a tree of dicts, lists and leaves as Flax's msgpack bytes.

  Args:
    pytree: dicts (str keys), lists, numpy arrays and scalars, complex and
      msgpack-native leaves. Tuples are rejected (TypeError), as in Flax.
    in_place: the dicts of pytree may be modified (oversized arrays are
      replaced by chunk dicts); otherwise they are copied first.

  Returns:
    The msgpack bytes.
  """
  if not in_place:
    pytree = _copy_containers(pytree)
  pytree = _np_convert_in_place(pytree)
  pytree = _chunk_array_leaves_in_place(pytree)
  return _msgpack_ext.packb(pytree)


def decode(data: bytes, path: Optional[str] = None) -> Any:
  """msgpack_restore, naming `path` (the file) in errors.

  Raises:
    errors.MsgpackFormatError: with the byte offset of the first problem.
  """
  try:
    state = _msgpack_ext.unpackb(data, max_depth=_msgpack_scan.MAX_DEPTH)
  except Exception as e:  # pylint: disable=broad-except
    found = _msgpack_scan.find_error(data)
    if found is None:
      raise errors.MsgpackFormatError(f'{type(e).__name__}: {e}', path
                                      ) from e
    raise errors.MsgpackFormatError(found[1], path, found[0]) from e
  if _deeper_than(state, _msgpack_scan.MAX_DEPTH):
    found = _msgpack_scan.find_error(data)
    reason = f'nesting deeper than {_msgpack_scan.MAX_DEPTH}'
    raise errors.MsgpackFormatError(reason, path,
                                    found[0] if found is not None else None)
  try:
    return _unchunk_array_leaves_in_place(state)
  except ValueError as e:
    raise errors.MsgpackFormatError(str(e), path) from e


def _deeper_than(tree: Any, limit: int) -> bool:
  """True if dicts, lists and tuples nest more than `limit` deep in tree
  (as msgpack-python decodes it: those exact types).

  msgpack-python decodes up to about 1,000 levels; the limit is the C++
  importer's, and deeper trees would exhaust Python's recursion later (in
  restore, in the scanner). Level by level, without recursion.
  """
  kinds = {dict, list, tuple}
  level = [tree] if type(tree) in kinds else []
  depth = 1
  while level:
    if depth > limit:
      return True
    below = []
    for x in level:
      children = x.values() if type(x) is dict else x  # pylint: disable=unidiomatic-typecheck
      below += [c for c in children if type(c) in kinds]
    level = below
    depth += 1
  return False


def msgpack_restore(encoded_pytree: bytes) -> Any:
  """Decodes Flax's msgpack bytes to a state dict (lists as '0'.. maps).

  Arrays are read-only numpy arrays over the input; numpy scalars come
  back as numpy scalars. errors.MsgpackFormatError (a ValueError) for bytes
  that are not a valid encoding.
  """
  return decode(encoded_pytree)


def to_bytes(target: Any) -> bytes:
  """to_state_dict(target), encoded with msgpack_serialize."""
  return msgpack_serialize(to_state_dict(target), in_place=True)


def from_bytes(target: Any, encoded_bytes: bytes) -> Any:
  """msgpack_restore(encoded_bytes), restored into target's structure."""
  return from_state_dict(target, msgpack_restore(encoded_bytes))
