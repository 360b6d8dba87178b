"""Flax state-dict leaves that a ckptdb tree stores differently.

A ckptdb tree holds numpy arrays, numpy scalars (stored as 0-d arrays),
None, bool, int, float and str. A Flax state dict may also hold Python
complex and bytes, and expects numpy scalars back as numpy scalars. These
leaves are stored as arrays, and their paths listed by kind in the step's
custom metadata, so that restoring gives back what Flax's msgpack gives:

    tree, kinds = encode(state)      # kinds: {'npscalar': [path, ...], ...}
    state = decode(tree, kinds)

A path is the list of keys (or list indices) from the root.
"""

from typing import Any, Dict, List

import numpy as np

NPSCALAR = 'npscalar'
COMPLEX = 'complex'
BYTES = 'bytes'


def _encode_leaf(x: Any, path: List[Any], kinds: Dict[str, list]) -> Any:
  if isinstance(x, np.generic):
    kinds[NPSCALAR].append(list(path))
    return x
  if isinstance(x, complex):
    kinds[COMPLEX].append(list(path))
    return np.asarray(x, dtype=np.complex128)
  if isinstance(x, bytes):
    kinds[BYTES].append(list(path))
    return np.frombuffer(x, dtype=np.uint8).copy()
  return x


def _walk_encode(x: Any, path: List[Any], kinds: Dict[str, list]) -> Any:
  if type(x) is dict:  # pylint: disable=unidiomatic-typecheck
    return {k: _walk_encode(v, path + [k], kinds) for k, v in x.items()}
  if type(x) is list:  # pylint: disable=unidiomatic-typecheck
    return [_walk_encode(v, path + [i], kinds) for i, v in enumerate(x)]
  return _encode_leaf(x, path, kinds)


def encode(state: Any) -> tuple:
  """(tree for ckptdb, {kind: [paths]} of the leaves stored converted)."""
  kinds: Dict[str, list] = {NPSCALAR: [], COMPLEX: [], BYTES: []}
  tree = _walk_encode(state, [], kinds)
  return tree, {k: v for k, v in kinds.items() if v}


def _convert(x: Any, kind: str) -> Any:
  if kind == NPSCALAR:
    return np.asarray(x)[()]
  if kind == COMPLEX:
    return complex(np.asarray(x)[()])
  return np.asarray(x, dtype=np.uint8).tobytes()


def _replace(tree: Any, path: List[Any], kind: str) -> Any:
  if not path:
    return _convert(tree, kind)
  node = tree
  for key in path[:-1]:
    node = node[key]
  node[path[-1]] = _convert(node[path[-1]], kind)
  return tree


def decode(tree: Any, kinds: Any) -> Any:
  """Turns the leaves listed in `kinds` back into their Flax types."""
  for kind, paths in (kinds or {}).items():
    for path in paths:
      tree = _replace(tree, list(path), kind)
  return tree


def copy_arrays(state: Any) -> Any:
  """A copy of state's containers and arrays (for a background save)."""
  if type(state) is dict:  # pylint: disable=unidiomatic-typecheck
    return {k: copy_arrays(v) for k, v in state.items()}
  if type(state) is list:  # pylint: disable=unidiomatic-typecheck
    return [copy_arrays(v) for v in state]
  if isinstance(state, np.ndarray):
    return state.copy()
  if hasattr(state, '__array__') and hasattr(state, 'dtype'):
    return np.array(state)
  return state
