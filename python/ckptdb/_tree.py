"""Tree helpers: leaf paths, per-leaf argument trees, dtype names.

A tree is nested dict / Mapping, list and tuple (namedtuples included), and
custom nodes: dataclasses (flax.struct too), classes registered with
ckptdb.tree.register_pytree_node and, when JAX is importable, whatever
jax.tree_util flattens. Custom nodes are stored as dicts of their fields
(lists when their children are unnamed); every other value is a leaf (None
included, as in ckptdb's C++ core). A leaf's path
is its keys and indices joined by '/', e.g. 'params/layer0/kernel' or
'opt_state/0/mu' -- the same string the C++ core uses (TreePath::ToString).
"""

import collections.abc
import copy
import dataclasses
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ckptdb import _ckptdb

# Orbax's ocp.PLACEHOLDER: a restore-target leaf meaning "do not restore".
PLACEHOLDER = ...


def is_container(x: Any) -> bool:
  return isinstance(x, (dict, list, tuple, collections.abc.Mapping))


def join_path(prefix: str, key: Any) -> str:
  return f'{prefix}/{key}' if prefix else str(key)


def check_item_name(name: Any) -> None:
  """Raises ValueError for an item name that is not valid UTF-8 text (a
  lone surrogate such as '\\ud800'), before the C++ core fails to cast it."""
  if isinstance(name, str):
    try:
      name.encode('utf-8')
    except UnicodeEncodeError:
      raise ValueError(f'item name {name!r} is not valid UTF-8 text: item '
                       'names must be valid UTF-8 text') from None


def not_utf8_error(e: UnicodeEncodeError) -> ValueError:
  """The ValueError for a UnicodeEncodeError from a save's call into the C++
  core, which encodes each string of the save (keys, string leaves,
  metrics, custom metadata) as UTF-8 as it walks them (so no walk here)."""
  return ValueError(f'{e.object!r} (a dict key, or a string leaf, metric or '
                    'custom metadata value) is not valid UTF-8 text: the '
                    'strings of a save must be valid UTF-8 text')


# ---- pytree nodes -----------------------------------------------------------

# Classes registered with ckptdb.tree.register_pytree_node:
# {class: (flatten_fn, unflatten_fn)}.
_REGISTRY: Dict[type, Tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]]
_REGISTRY = {}


def register_node(nodetype: type, flatten_fn: Callable[[Any], Any],
                  unflatten_fn: Callable[[Any, Any], Any]) -> None:
  """Registers a pytree node class (see ckptdb.tree.register_pytree_node)."""
  _REGISTRY[nodetype] = (flatten_fn, unflatten_fn)


# Values that are always leaves (no need to ask JAX).
_LEAF_TYPES = (np.ndarray, np.generic, str, bytes, int, float, bool,
               type(None), type(Ellipsis))


@dataclasses.dataclass
class Node:
  """One level of a pytree node: its keys, children and how to rebuild it.

  keys are dict keys or field names for a keyed node, indices for a
  sequence node (is_sequence). custom: not a dict, list or tuple (stored as
  a dict of its fields, or a list when its children have no names).
  """
  keys: List[Any]
  children: List[Any]
  is_sequence: bool
  unflatten: Callable[[List[Any]], Any]
  custom: bool


def _mapping_node(x: Any) -> Node:
  keys = list(x.keys())
  if type(x) is dict:
    unflatten = lambda ch: dict(zip(keys, ch))
  else:
    unflatten = lambda ch: _rebuild(x, dict(zip(keys, ch)))
  return Node(keys, [x[k] for k in keys], False, unflatten, False)


def _tuple_node(x: tuple) -> Node:
  if type(x) is tuple:
    unflatten = tuple
  elif hasattr(x, '_fields'):  # namedtuple
    unflatten = lambda ch: type(x)(*ch)
  else:
    unflatten = lambda ch: _rebuild(x, tuple(ch))
  return Node(list(range(len(x))), list(x), True, unflatten, False)


def _registered_node(x: Any) -> Node:
  flatten_fn, unflatten_fn = _REGISTRY[type(x)]
  children, aux = flatten_fn(x)
  children = list(children)
  return Node(list(range(len(children))), children, True,
              lambda ch: unflatten_fn(aux, ch), True)


def _dataclass_node(x: Any) -> Node:
  """A dataclass's fields; pytree_node=False ones (flax.struct) are static."""
  names = [f.name for f in dataclasses.fields(x)
           if f.metadata.get('pytree_node', True)]

  def unflatten(children: List[Any]) -> Any:
    out = copy.copy(x)
    for name, child in zip(names, children):
      object.__setattr__(out, name, child)  # frozen dataclasses too
    return out

  return Node(names, [getattr(x, n) for n in names], False, unflatten, True)


def _jax_key(key: Any) -> Tuple[Any, bool]:
  """(name, is_sequence) of a jax.tree_util key entry."""
  kind = type(key).__name__
  if kind == 'SequenceKey':
    return key.idx, True
  if kind == 'FlattenedIndexKey':
    return key.key, True
  if kind == 'GetAttrKey':
    return key.name, False
  if kind == 'DictKey':
    return key.key, False
  raise ValueError(f'unsupported jax.tree_util key entry {key!r}')


# True once `import jax` has failed. Python does not remember a failed
# import: retrying it searches sys.path again, and _jax_node runs once per
# object of a tree (100,000 leaves: 15.8 s of restore instead of 1.07 s).
_jax_import_failed = False


def jax_module() -> Any:
  """The jax module if importable, else None.

  jax is imported on first use; if that fails it is not tried again (a jax
  module put in sys.modules later, e.g. a test's stand-in, is still used).
  Every jax look-up of the package goes through here.
  """
  global _jax_import_failed
  jax = sys.modules.get('jax')
  if jax is not None or _jax_import_failed:
    return jax
  try:
    import jax  # pylint: disable=g-import-not-at-top,redefined-outer-name
  except ImportError:
    _jax_import_failed = True
    return None
  return jax


def _jax_node(x: Any) -> Optional[Node]:
  """One level of x as jax.tree_util flattens it, if JAX is importable."""
  jax = jax_module()
  if jax is None:
    return None
  flat, treedef = jax.tree_util.tree_flatten_with_path(
      x, is_leaf=lambda y: y is not x)
  if len(flat) == 1 and not flat[0][0] and flat[0][1] is x:
    return None  # a leaf
  keys, seq = [], []
  for path, _ in flat:
    name, is_seq = _jax_key(path[0])
    keys.append(name)
    seq.append(is_seq)
  return Node(keys, [c for _, c in flat], bool(seq) and all(seq),
              treedef.unflatten, True)


def flatten_one_level(x: Any) -> Optional[Node]:
  """x's node, or None if x is a leaf (None is a leaf here)."""
  if type(x) in _REGISTRY:
    return _registered_node(x)
  if isinstance(x, _LEAF_TYPES):
    return None
  if isinstance(x, (dict, collections.abc.Mapping)):
    return _mapping_node(x)
  if isinstance(x, tuple):
    return _tuple_node(x)
  if isinstance(x, list):
    return Node(list(range(len(x))), list(x), True, list, False)
  if hasattr(x, '__array__') or (hasattr(x, 'shape') and
                                 hasattr(x, 'dtype')):
    return None  # arrays and abstract arrays (ShapeDtypeStruct) are leaves
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    return _dataclass_node(x)
  return _jax_node(x)


# Deepest tree searched for custom nodes: the C++ core refuses trees deeper
# than 512 levels (a tree containing itself) with a clear error.
_MAX_DEPTH = 512


def has_custom_nodes(tree: Any) -> bool:
  """True if tree holds a node that is not a dict, list or tuple."""
  stack = [(tree, 0)]
  while stack:
    x, depth = stack.pop()
    node = flatten_one_level(x)
    if node is None or depth > _MAX_DEPTH:
      continue
    if node.custom:
      return True
    stack.extend((c, depth + 1) for c in node.children)
  return False


def to_storable(tree: Any) -> Any:
  """tree with custom nodes as dicts of their fields (lists if unnamed).

  Dicts, lists and tuples keep their types; a tree without custom nodes is
  returned as it is.
  """
  if not has_custom_nodes(tree):
    return tree
  return _storable(tree)


def _storable(x: Any) -> Any:
  node = flatten_one_level(x)
  if node is None:
    return x
  children = [_storable(c) for c in node.children]
  if not node.custom:
    return node.unflatten(children)
  if node.is_sequence:
    return children
  return dict(zip(node.keys, children))


def is_jax_array(x: Any) -> bool:
  """True if x is a jax.Array (JAX imported by the caller)."""
  jax = sys.modules.get('jax')
  return jax is not None and isinstance(x, getattr(jax, 'Array', ()))


def needs_rebuild(target: Any) -> bool:
  """True if a result restored into target must be rebuilt by rebuild_like:
  target has custom nodes or jax.Array leaves."""
  stack = [(target, 0)]
  while stack:
    x, depth = stack.pop()
    node = flatten_one_level(x)
    if node is None:
      if is_jax_array(x):
        return True
      continue
    if node.custom:
      return True
    if depth < _MAX_DEPTH:
      stack.extend((c, depth + 1) for c in node.children)
  return False


def rebuild_like(result: Any, target: Any) -> Any:
  """result (restored into to_storable(target)) with target's node types;
  where target has a jax.Array, a jax.Array with its sharding."""
  if not needs_rebuild(target):
    return result
  return _rebuild_like(result, target)


def _child_of(result: Any, key: Any, index: int) -> Any:
  if isinstance(result, collections.abc.Mapping):
    return result[key] if key in result else result[str(key)]
  return result[index]


def _rebuild_like(result: Any, target: Any) -> Any:
  node = flatten_one_level(target)
  if node is None and is_jax_array(target) and isinstance(result, np.ndarray):
    return sys.modules['jax'].device_put(result, target.sharding)
  if node is None and is_jax_array(target) and hasattr(result,
                                                       'addressable_shards'):
    return _sharded_to_jax(result, target.sharding)
  if node is None or result is None or result is PLACEHOLDER:
    return result
  children = [_rebuild_like(_child_of(result, k, i), c)
              for i, (k, c) in enumerate(zip(node.keys, node.children))]
  return node.unflatten(children)


def _sharded_to_jax(result: Any, sharding: Any) -> Any:
  """A ckptdb.ShardedArray of this process's boxes as a jax.Array of
  `sharding` (the target's), through jax.make_array_from_callback."""
  by_start = {}
  for shard in result.addressable_shards:
    start = tuple(0 if s.start is None else s.start for s in shard.index)
    by_start[start] = shard.data

  def data(index: Any) -> Any:
    return by_start[tuple(0 if s.start is None else s.start for s in index)]

  return sys.modules['jax'].make_array_from_callback(result.shape, sharding,
                                                     data)


def put_like(result: Any, target: Any) -> Any:
  """result -- already in target's structure and node types (a transforms
  restore builds it so) -- with a jax.Array, of the target leaf's sharding,
  wherever target has a jax.Array and result a numpy array."""
  if not needs_rebuild(target):
    return result
  return _put_like(result, target)


def _put_like(result: Any, target: Any) -> Any:
  if is_jax_array(target):
    if isinstance(result, np.ndarray):
      return sys.modules['jax'].device_put(result, target.sharding)
    return result
  node, result_node = flatten_one_level(target), flatten_one_level(result)
  if (node is None or result_node is None or
      len(node.children) != len(result_node.children)):
    return result
  return result_node.unflatten([
      _put_like(r, t) for r, t in zip(result_node.children, node.children)])


def map_leaves(fn: Callable[[Any], Any], tree: Any,
               is_leaf: Optional[Callable[[Any], bool]] = None) -> Any:
  """Applies fn to every leaf, keeping node types (custom nodes too).

  None is kept as None (as jax.tree_util treats it: an empty subtree).
  """
  if is_leaf is not None and is_leaf(tree):
    return fn(tree)
  if tree is None:
    return None
  node = flatten_one_level(tree)
  if node is None:
    return fn(tree)
  return node.unflatten([map_leaves(fn, c, is_leaf) for c in node.children])


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


def _walk_args(args_tree: Any, arg_types: tuple,
               fn: Callable[[str, Any], None]) -> None:
  """Calls fn(leaf path, args) for every args object in args_tree."""

  def walk(node: Any, prefix: str) -> None:
    if isinstance(node, arg_types):
      fn(prefix, node)
      return
    n = flatten_one_level(node)
    if n is not None:
      for k, v in zip(n.keys, n.children):
        walk(v, join_path(prefix, k))

  if args_tree is not None:
    walk(args_tree, '')


def flatten_dtype_args(args_tree: Any, arg_types: tuple) -> Dict[str, str]:
  """{leaf path: dtype name} for every SaveArgs/RestoreArgs that sets dtype.

  `args_tree` mirrors the item's structure (Orbax's save_args/restore_args);
  a single args object at the root applies to a bare-leaf item.
  """
  out: Dict[str, str] = {}

  def add(path: str, args: Any) -> None:
    name = dtype_name(getattr(args, 'dtype', None))
    if name is not None:
      out[path] = name

  _walk_args(args_tree, arg_types, add)
  return out


def flatten_shape_args(args_tree: Any,
                       arg_types: tuple) -> Dict[str, Tuple[tuple, bool]]:
  """{leaf path: (global_shape, strict)} for ArrayRestoreArgs with a shape."""
  out: Dict[str, Tuple[tuple, bool]] = {}

  def add(path: str, args: Any) -> None:
    shape = args.requested_shape()
    if shape is not None:
      out[path] = (shape, bool(args.strict))

  _walk_args(args_tree, arg_types, add)
  return out


def flatten_sharding_args(args_tree: Any, arg_types: tuple,
                          item: Any = None) -> Dict[str, tuple]:
  """{leaf path: the binding's sharded restore tuple} for every leaf restored
  as this process's shards: ArrayRestoreArgs with a sharding (or mesh and
  mesh_axes), and target leaves that carry a named sharding (ckptdb's or
  JAX's ShapeDtypeStruct, jax.Array). The tuple: (dtype name or None,
  sharding parts, global shape or None, strict, process index)."""
  from ckptdb import multihost  # pylint: disable=g-import-not-at-top
  from ckptdb import sharding as sharding_lib  # pylint: disable=g-import-not-at-top
  out: Dict[str, tuple] = {}

  def entry(named: Any, dtype: Any, shape: Any, strict: bool) -> tuple:
    return (None if dtype is None else np.dtype(dtype).name,
            sharding_lib._sharding_parts(named),  # pylint: disable=protected-access
            None if shape is None else tuple(int(d) for d in shape),
            bool(strict), multihost.process_index())

  if item is not None:
    def from_target(path: str, leaf: Any) -> Any:
      named = getattr(leaf, 'sharding', None)
      if (hasattr(leaf, 'shape') and hasattr(leaf, 'dtype') and
          sharding_lib._is_named_sharding(named)):  # pylint: disable=protected-access
        out[path] = entry(sharding_lib.as_named_sharding(named), leaf.dtype,
                          leaf.shape, True)
      return leaf
    map_with_path(from_target, item)

  def add(path: str, args: Any) -> None:
    named = args.resolved_sharding()
    if named is not None:
      out[path] = entry(named, getattr(args, 'dtype', None),
                        args.requested_shape(), args.strict)

  _walk_args(args_tree, arg_types, add)
  return out


def map_with_path(fn: Callable[[str, Any], Any], tree: Any,
                  prefix: str = '') -> Any:
  """map_leaves, with fn also given each leaf's path."""
  node = flatten_one_level(tree)
  if node is None:
    return fn(prefix, tree)
  return node.unflatten([map_with_path(fn, c, join_path(prefix, k))
                         for k, c in zip(node.keys, node.children)])


def fit_shape(path: str, value: Any, shape: tuple, strict: bool) -> Any:
  """value with the requested global shape (Orbax's ArrayRestoreArgs).

  ValueError naming the leaf and both shapes if they differ and strict;
  otherwise pads with zeros or truncates at the end of each axis.
  """
  if not isinstance(value, np.ndarray) or tuple(value.shape) == shape:
    return value
  if strict or value.ndim != len(shape):
    raise ValueError(
        f"leaf '{path}': the saved shape {tuple(value.shape)} differs from "
        f'the requested global_shape {shape}' +
        (' (ArrayRestoreArgs(strict=True); strict=False pads with zeros or '
         'truncates)' if strict else ' (ranks differ: cannot pad or '
                                     'truncate)'))
  out = np.zeros(shape, dtype=value.dtype)
  common = tuple(slice(0, min(a, b)) for a, b in zip(value.shape, shape))
  out[common] = value[common]
  return out


def prepare_target(target: Any) -> Any:
  """Makes a restore target the core accepts.

  Abstract leaves -- anything with .shape and .dtype that is not an array
  (jax.ShapeDtypeStruct, ckptdb.ArrayMetadata) -- and jax.Arrays (not
  copied to the host for this) become new numpy arrays of that shape and
  dtype (filled in place with in_place=True; otherwise they only give
  structure).
  """

  def leaf(x: Any) -> Any:
    if is_jax_array(x) or (
        not isinstance(x, (np.ndarray, np.generic)) and
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
  delta_chunks: a changed chunk is stored as the zstd-compressed byte planes
    of its difference from the previous save's chunk when a sample predicts
    at least 10% saved (training steps). Default True.
  compress_chunks: a chunk stored whole is stored as compressed byte planes
    when a sample predicts at least 20% saved (bfloat16 weights, integer
    tables). Default True.
  direct_reads: a chunk (stored whole or coded) is read with one pread from
    its file into a per-thread buffer (its hash checked there) and copied
    (or decoded) into place, instead of through RocksDB's table reader
    (False: about 3x slower restores). Default True.
  mmap_reads: chunks read through RocksDB (with direct_reads off, or
    where a file's layout is not the expected one) are read through mmap (mapped page-cache pages count
    in RSS during restores). Default False.
  num_threads: worker threads for reading besides the caller (saves use
    num_threads + 1 of their own, see save_nice). Default: hardware
    threads - 1.
  writeback_bytes: a save starts the kernel's writeback of its chunk files
    every this many bytes while writing them (0: only the final fsync).
    Default 1 MiB.
  save_nice: a save's hashing, coding and writing run on their own threads
    (num_threads + 1 of them; the caller waits) niced by this much, so that
    other work (a reader's restore, the training loop beside an async
    save) comes first; no effect on an idle machine. 0: save on the caller
    and the read threads at the caller's priority. 0-19. Default 10.
  """
  chunk_bytes: Optional[int] = None
  inline_bytes: Optional[int] = None
  patch_max_fraction: Optional[float] = None
  delta_chunks: Optional[bool] = None
  compress_chunks: Optional[bool] = None
  direct_reads: Optional[bool] = None
  mmap_reads: Optional[bool] = None
  num_threads: Optional[int] = None
  writeback_bytes: Optional[int] = None
  save_nice: Optional[int] = None

  def to_dict(self) -> Dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def tuning_dict(tuning: Any) -> Optional[Dict[str, Any]]:
  if tuning is None:
    return None
  if isinstance(tuning, StoreTuning):
    return tuning.to_dict()
  return dict(tuning)


# ---- bytes leaves -------------------------------------------------------------
#
# The core's Tree has no bytes leaf: a bytes leaf is stored as a dict with
# the single key BYTES_MARKER holding a uint8 array, and turned back into
# bytes on restore. A user dict may not use that key.

BYTES_MARKER = '__ckptdb_bytes__'


def _is_plain_sequence(x: Any) -> bool:
  return type(x) in (list, tuple)


def _map_children(fn: Callable[[Any, int], Any], tree: Any,
                  depth: int) -> Any:
  """tree (a dict, list or tuple) with fn(child, depth + 1) for each child;
  tree itself when no child changed."""
  changed = False
  if isinstance(tree, dict):
    items = {}
    for k, v in tree.items():
      items[k] = fn(v, depth + 1)
      changed = changed or items[k] is not v
    return items if changed else tree
  children = []
  for c in tree:
    children.append(fn(c, depth + 1))
    changed = changed or children[-1] is not c
  return type(tree)(children) if changed else tree


def _finds(tree: Any, found: Callable[[Any], bool]) -> bool:
  """True if found(x) for a node x of tree (dicts, lists and tuples walked
  iteratively, to the core's depth limit)."""
  stack = [(tree, 0)]
  while stack:
    x, depth = stack.pop()
    if found(x):
      return True
    if depth > _MAX_DEPTH:
      continue
    if isinstance(x, dict):
      stack.extend((v, depth + 1) for v in x.values())
    elif _is_plain_sequence(x):
      stack.extend((c, depth + 1) for c in x)
  return False


def _is_bytes_leaf(x: Any) -> bool:
  """True for bytes; ValueError for a dict using the marker key."""
  if isinstance(x, dict) and BYTES_MARKER in x:
    raise ValueError(f'dict key {BYTES_MARKER!r} is reserved by ckptdb '
                     '(it marks a bytes leaf)')
  return isinstance(x, bytes)


def encode_bytes(tree: Any) -> Any:
  """tree (dicts, lists, tuples) with bytes leaves as marker dicts.

  Returns tree itself when it holds no bytes.
  """
  if not _finds(tree, _is_bytes_leaf):
    return tree
  return _encode(tree, 0)


def _encode(tree: Any, depth: int) -> Any:
  if isinstance(tree, bytes):
    return {BYTES_MARKER: np.frombuffer(tree, np.uint8).copy()}
  if isinstance(tree, dict) or _is_plain_sequence(tree):
    return _map_children(_encode, tree, depth)
  return tree


def _is_bytes_marker(x: Any) -> bool:
  return (isinstance(x, dict) and len(x) == 1 and BYTES_MARKER in x and
          isinstance(x[BYTES_MARKER], np.ndarray) and
          x[BYTES_MARKER].dtype == np.uint8)


def decode_bytes(tree: Any) -> Any:
  """Inverse of encode_bytes on a restored tree (dicts, lists, tuples)."""
  if not _finds(tree, _is_bytes_marker):
    return tree
  return _decode(tree, 0)


def _decode(tree: Any, depth: int) -> Any:
  if _is_bytes_marker(tree):
    return tree[BYTES_MARKER].tobytes()
  if isinstance(tree, dict) or _is_plain_sequence(tree):
    return _map_children(_decode, tree, depth)
  return tree
