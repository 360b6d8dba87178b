"""Tree helpers: leaf paths, per-leaf argument trees, dtype names.

A tree is nested dict / Mapping, list and tuple (namedtuples included); every
other value is a leaf (None included, as in ckptdb's C++ core). A leaf's path
is its keys and indices joined by '/', e.g. 'params/layer0/kernel' or
'opt_state/0/mu' -- the same string the C++ core uses (TreePath::ToString).
"""

import collections.abc
import dataclasses
from typing import Any, Callable, Dict, Optional

import numpy as np

from ckptdb import _ckptdb

# Orbax's ocp.PLACEHOLDER: a restore-target leaf meaning "do not restore".
PLACEHOLDER = ...


def is_container(x: Any) -> bool:
  return isinstance(x, (dict, list, tuple, collections.abc.Mapping))


def join_path(prefix: str, key: Any) -> str:
  return f'{prefix}/{key}' if prefix else str(key)


def map_leaves(fn: Callable[[Any], Any], tree: Any,
               is_leaf: Optional[Callable[[Any], bool]] = None) -> Any:
  """Applies fn to every leaf, keeping container types (namedtuples too).

  None is kept as None (as jax.tree_util treats it: an empty subtree).
  """
  if is_leaf is not None and is_leaf(tree):
    return fn(tree)
  if tree is None:
    return None
  if isinstance(tree, (dict, collections.abc.Mapping)):
    out = {k: map_leaves(fn, v, is_leaf) for k, v in tree.items()}
    return out if type(tree) is dict else _rebuild(tree, out)
  if isinstance(tree, tuple):
    out = [map_leaves(fn, v, is_leaf) for v in tree]
    if type(tree) is tuple:
      return tuple(out)
    if hasattr(tree, '_fields'):  # namedtuple
      return type(tree)(*out)
    return _rebuild(tree, tuple(out))
  if isinstance(tree, list):
    return [map_leaves(fn, v, is_leaf) for v in tree]
  return fn(tree)


def _rebuild(template: Any, plain: Any) -> Any:
  try:
    return type(template)(plain)
  except Exception:  # pylint: disable=broad-except
    return plain


def dtype_name(dtype: Any) -> Optional[str]:
  """The core's name of a dtype given as numpy dtype, type or string."""
  if dtype is None:
    return None
  if isinstance(dtype, str) and dtype.lower() in ('bfloat16', 'bf16'):
    return 'bfloat16'
  name = np.dtype(dtype).name
  if name not in _ckptdb.dtype_names():
    raise TypeError(f'ckptdb cannot store dtype {name!r} (supported: '
                    f'{", ".join(_ckptdb.dtype_names())})')
  return name


def numpy_dtype(dtype: Any) -> np.dtype:
  """A numpy dtype for a dtype given as numpy dtype, type or core name."""
  if isinstance(dtype, str) and dtype_name(dtype) == 'bfloat16':
    if not _ckptdb.have_bfloat16():
      raise TypeError('bfloat16 needs the ml_dtypes package, which is not '
                      'importable here')
    import ml_dtypes  # pylint: disable=g-import-not-at-top
    return np.dtype(ml_dtypes.bfloat16)
  return np.dtype(dtype)


def flatten_dtype_args(args_tree: Any, arg_types: tuple) -> Dict[str, str]:
  """{leaf path: dtype name} for every SaveArgs/RestoreArgs that sets dtype.

  `args_tree` mirrors the item's structure (Orbax's save_args/restore_args);
  a single args object at the root applies to a bare-leaf item.
  """
  out: Dict[str, str] = {}

  def walk(node: Any, prefix: str) -> None:
    if isinstance(node, arg_types):
      name = dtype_name(getattr(node, 'dtype', None))
      if name is not None:
        out[prefix] = name
      return
    if isinstance(node, (dict, collections.abc.Mapping)):
      for k, v in node.items():
        walk(v, join_path(prefix, k))
    elif isinstance(node, (list, tuple)):
      for i, v in enumerate(node):
        walk(v, join_path(prefix, i))

  if args_tree is not None:
    walk(args_tree, '')
  return out


def prepare_target(target: Any) -> Any:
  """Makes a restore target the core accepts.

  Abstract leaves -- anything with .shape and .dtype that is not an array
  (jax.ShapeDtypeStruct, ckptdb.ArrayMetadata) -- become new numpy arrays of
  that shape and dtype (filled in place with in_place=True; otherwise they
  only give structure).
  """

  def leaf(x: Any) -> Any:
    if (not isinstance(x, (np.ndarray, np.generic)) and
        not hasattr(x, '__array__') and hasattr(x, 'shape') and
        hasattr(x, 'dtype')):
      return np.empty(tuple(x.shape), dtype=numpy_dtype(x.dtype))
    return x

  return map_leaves(leaf, target)


def is_empty_tree(item: Any) -> bool:
  """Orbax's 'empty item': None, or an empty top-level container."""
  return item is None or (is_container(item) and len(item) == 0)


@dataclasses.dataclass
class StoreTuning:
  """Open-time storage tuning (ckptdb's StoreTuning; not in Orbax).

  chunk_bytes: arrays are split into chunks of this many bytes, each stored
    once under its hash (a power of two, 4 KiB .. 64 MiB). Default 1 MiB.
  inline_bytes: arrays up to this size are stored inside their tree node.
    Default 1 KiB.
  patch_max_fraction: changed chunks differing from the previous save's in
    at most this fraction of 4 KiB pages are stored as patches; 0 disables.
    Default 0.5.
  mmap_reads: read chunks through mmap (about 1.2x faster restores, but
    mapped page-cache pages count in RSS during restores). Default False.
  num_threads: worker threads for hashing and reading besides the caller.
    Default: hardware threads - 1.
  """
  chunk_bytes: Optional[int] = None
  inline_bytes: Optional[int] = None
  patch_max_fraction: Optional[float] = None
  mmap_reads: Optional[bool] = None
  num_threads: Optional[int] = None

  def to_dict(self) -> Dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def tuning_dict(tuning: Any) -> Optional[Dict[str, Any]]:
  if tuning is None:
    return None
  if isinstance(tuning, StoreTuning):
    return tuning.to_dict()
  return dict(tuning)
