"""Python ints beyond 64 bits in JSON items and numpy random states.

The core's Tree holds 64-bit ints only. JSON (and so Orbax's JsonSave)
holds any int, and numpy's bit generator states hold 128-bit ones (PCG64's
'state' and 'inc'). JsonSave and NumpyRandomKeySave therefore store an int
outside int64 as a dict with the single key INT_MARKER holding its decimal
text, and their restores turn it back into the int. Other trees keep the
64-bit rule (OverflowError naming the leaf). A dict of such an item may not
use that key.
"""

from typing import Any

INT_MARKER = '__ckptdb_int__'
_MIN, _MAX = -2**63, 2**63 - 1


def _is_big(x: Any) -> bool:
  return type(x) is int and not _MIN <= x <= _MAX  # pylint: disable=unidiomatic-typecheck


def encode(tree: Any) -> Any:
  """tree (dicts, lists, tuples) with ints beyond int64 as marker dicts."""
  if _is_big(tree):
    return {INT_MARKER: str(tree)}
  if isinstance(tree, dict):
    if INT_MARKER in tree:
      raise ValueError(f'dict key {INT_MARKER!r} is reserved by ckptdb (it '
                       'marks an int beyond 64 bits)')
    return {k: encode(v) for k, v in tree.items()}
  if type(tree) in (list, tuple):
    return type(tree)(encode(c) for c in tree)
  return tree


def _is_marker(x: Any) -> bool:
  return (isinstance(x, dict) and len(x) == 1 and
          isinstance(x.get(INT_MARKER), str))


def decode(tree: Any) -> Any:
  """Inverse of encode on a restored tree."""
  if _is_marker(tree):
    return int(tree[INT_MARKER])
  if isinstance(tree, dict):
    return {k: decode(v) for k, v in tree.items()}
  if type(tree) in (list, tuple):
    return type(tree)(decode(c) for c in tree)
  return tree
