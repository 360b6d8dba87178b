"""Orbax's `ocp.args`: what to save or restore, and how.

    ckptr.save(path, args=ocp.args.StandardSave(tree))
    tree = ckptr.restore(path, args=ocp.args.StandardRestore(target))
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(s),
                                            meta=ocp.args.JsonSave(m)))

Every item is stored as one ckptdb tree; the classes differ in what they
accept (as Orbax's handlers do) and in the options they take.
"""

import collections.abc
import dataclasses
import json
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ckptdb import _big_ints
from ckptdb import _ignored
from ckptdb import _tree
from ckptdb import _types
from ckptdb import transform_utils


class CheckpointArgs:
  """Base class of save and restore arguments."""


@dataclasses.dataclass
class _SaveRequest:
  tree: Any
  save_args: Dict[str, str]
  custom_metadata: Any = None


@dataclasses.dataclass
class _RestoreRequest:
  use_target: bool
  target: Any
  partial_restore: bool
  restore_args: Dict[str, str]
  post: Optional[Callable[[Any], Any]] = None
  # ckptdb's opt-in: fill the target's own arrays (see StandardRestore).
  in_place: bool = False
  # {leaf path: (global_shape, strict)} from ArrayRestoreArgs.
  shapes: Dict[str, Tuple[tuple, bool]] = dataclasses.field(
      default_factory=dict)
  # Set when the request depends on the saved tree (transforms): the caller
  # passes the saved structure (metadata) and restores the request returned.
  bind: Optional[Callable[[Any], '_RestoreRequest']] = None

  def finish(self, result: Any) -> Any:
    result = _tree.decode_bytes(result)
    if self.shapes:
      result = _tree.map_with_path(self._fit, result)
    return self.post(result) if self.post is not None else result

  def _fit(self, path: str, value: Any) -> Any:
    if path not in self.shapes:
      return value
    return _tree.fit_shape(path, value, *self.shapes[path])


def _save_args_dict(save_args: Any) -> Dict[str, str]:
  return _tree.flatten_dtype_args(save_args, (_types.SaveArgs,))


def _restore_args_dict(restore_args: Any) -> Dict[str, str]:
  return _tree.flatten_dtype_args(restore_args, (_types.RestoreArgs,))


def _binding_restore_args(restore_args: Any, item: Any,
                          shapes: Dict[str, Any]) -> Dict[str, Any]:
  """The binding's restore_args: dtype names, and for leaves restored as
  this process's shards a tuple the C++ side restores them with (their
  shapes are then checked there, not by _RestoreRequest._fit)."""
  out: Dict[str, Any] = dict(_restore_args_dict(restore_args))
  sharded = _tree.flatten_sharding_args(
      restore_args, (_types.ArrayRestoreArgs,), item)
  for path, entry in sharded.items():
    if entry[0] is None and path in out:
      entry = (out[path],) + entry[1:]
    out[path] = entry
    shapes.pop(path, None)
  return out


def _target_request(item: Any, restore_args: Any,
                    partial_restore: bool = False,
                    in_place: bool = False) -> _RestoreRequest:
  shapes = _tree.flatten_shape_args(restore_args, (_types.ArrayRestoreArgs,))
  if item is None:
    return _RestoreRequest(False, None, False,
                           _binding_restore_args(restore_args, None, shapes),
                           shapes=shapes)
  target = _tree.prepare_target(_tree.encode_bytes(_tree.to_storable(item)))
  post = None
  if _tree.needs_rebuild(item):  # the target's classes, jax.Arrays
    post = lambda result: _tree.rebuild_like(result, item)
  return _RestoreRequest(True, target, partial_restore,
                         _binding_restore_args(restore_args, item, shapes),
                         post=post, in_place=in_place, shapes=shapes)


def _storable(item: Any) -> Any:
  """item as the core stores it: custom nodes as dicts, bytes as arrays."""
  return _tree.encode_bytes(_tree.to_storable(item))


def _check_not_empty(item: Any) -> None:
  if _tree.is_empty_tree(item):
    raise ValueError('Found empty item.')


def _is_single_leaf(item: Any) -> bool:
  return item is not None and _tree.flatten_one_level(item) is None


# ---- PyTree -----------------------------------------------------------------


@dataclasses.dataclass
class PyTreeSave(CheckpointArgs):
  """Saves a pytree. save_args: a tree of SaveArgs (dtype casts).

  ocdbt_target_data_file_size, enable_pinned_host_transfer: accepted; each
  warns once saying what ckptdb does instead.
  """
  item: Any
  save_args: Any = None
  ocdbt_target_data_file_size: Optional[int] = None
  enable_pinned_host_transfer: Optional[bool] = None
  custom_metadata: Any = None

  def _save_request(self) -> _SaveRequest:
    _check_not_empty(self.item)
    for name in ('ocdbt_target_data_file_size', 'enable_pinned_host_transfer'):
      if getattr(self, name) is not None:
        _ignored.warn_once(f'PyTreeSave({name}=...)',
                           _ignored.HANDLER_OPTIONS[name], stacklevel=4)
    return _SaveRequest(_storable(self.item), _save_args_dict(self.save_args),
                        self.custom_metadata)


@dataclasses.dataclass
class PyTreeRestore(CheckpointArgs):
  """Restores a pytree, into the structure of `item` when given.

  The target gives the structure; the restored arrays are new and the
  target's arrays are left unchanged (as in Orbax). partial_restore: `item`
  may omit dict entries. restore_args: a tree of RestoreArgs (dtype casts).
  transforms: a tree of ocp.Transform in the result's structure (see
  transform_utils; needs `item` and `restore_args`, relative to the result);
  transforms_default_to_original as Orbax. legacy_transform_fn is not
  supported (NotImplementedError).

  in_place (ckptdb, not in Orbax): fill the target's own arrays where dtype
  and shape match (no allocation; the target is overwritten and returned).
  """
  item: Any = None
  restore_args: Any = None
  transforms: Any = None
  transforms_default_to_original: bool = True
  legacy_transform_fn: Any = None
  partial_restore: bool = False
  in_place: bool = False

  def _restore_request(self) -> _RestoreRequest:
    if self.legacy_transform_fn is not None:
      if self.transforms is not None:
        raise ValueError(
            'Cannot provide both `transforms` and `legacy_transform_fn`.')
      raise NotImplementedError(
          'ckptdb does not implement legacy_transform_fn (it edits Orbax\'s '
          'internal parameter infos); use `transforms`')
    if self.transforms is not None:
      if self.in_place:
        raise ValueError('in_place=True cannot be combined with transforms: '
                         'the result is built from the restored leaves')
      if self.item is None:
        raise ValueError('If providing `transforms`, must provide `item` '
                         'matching structure of expected result.')
      return _RestoreRequest(False, None, False, {},
                             bind=self._bind_transforms)
    return _target_request(self.item, self.restore_args, self.partial_restore,
                           self.in_place)

  def _bind_transforms(self, structure: Any) -> _RestoreRequest:
    """The request for a transforms restore of the saved `structure`:
    reads only the leaves the result needs (the others are PLACEHOLDER in
    the target), with the restore args Orbax gives them, then applies the
    transforms."""
    needed, finish = transform_utils.restore_plan(
        structure, self.item, self.restore_args, self.transforms,
        self.transforms_default_to_original)
    dtypes: Dict[str, str] = {}
    shapes: Dict[str, Tuple[tuple, bool]] = {}

    def mask(x: Any, path: str) -> Any:
      if transform_utils.is_bytes_leaf(x):
        return _tree.prepare_target(x) if path in needed else _tree.PLACEHOLDER
      node = _tree.flatten_one_level(x)
      if node is None:
        if x is None or path not in needed:
          return x if x is None else _tree.PLACEHOLDER
        a = needed[path]
        if isinstance(a, _types.RestoreArgs):
          name = _tree.dtype_name(a.dtype)
          if name is not None:
            dtypes[path] = name
          if isinstance(a, _types.ArrayRestoreArgs):
            shape = a.requested_shape()
            if shape is not None:
              shapes[path] = (shape, bool(a.strict))
        return _tree.prepare_target(x)
      return node.unflatten([mask(c, _tree.join_path(path, k))
                             for k, c in zip(node.keys, node.children)])

    target = mask(structure, '')
    # A jax.Array leaf of `item` gives a jax.Array back, as without
    # transforms (_target_request).
    post = finish
    if _tree.needs_rebuild(self.item):
      post = lambda restored: _tree.put_like(finish(restored), self.item)
    return _RestoreRequest(True, target, False, dtypes, post=post,
                           shapes=shapes)


# ---- Standard ---------------------------------------------------------------


@dataclasses.dataclass
class StandardSave(CheckpointArgs):
  """Saves a pytree of arrays and scalars (Orbax's StandardCheckpointHandler).

  A bare array or scalar is rejected, as in Orbax: use ArraySave.
  """
  item: Any
  save_args: Any = None
  custom_metadata: Any = None

  def _save_request(self) -> _SaveRequest:
    _check_not_empty(self.item)
    if _is_single_leaf(self.item):
      raise ValueError(
          f'StandardSave got a single leaf of type {type(self.item).__name__}'
          '; use ArrayCheckpointHandler / ocp.args.ArraySave to save a '
          'single array or scalar.')
    return _SaveRequest(_storable(self.item), _save_args_dict(self.save_args),
                        self.custom_metadata)


@dataclasses.dataclass
class StandardRestore(CheckpointArgs):
  """Restores a pytree, into the structure of `item` when given.

  `item` may hold arrays, abstract leaves with .shape and .dtype
  (jax.ShapeDtypeStruct, ckptdb.ArrayMetadata) or PLACEHOLDER. Restored
  arrays take the target leaf's dtype and are new arrays: the target is left
  unchanged (as in Orbax). A numpy leaf gives dtype, not shape; a leaf with
  a sharding (jax.Array, sharded jax.ShapeDtypeStruct) also requests its
  shape, which must equal the saved one when strict (else ValueError) and is
  padded with zeros or truncated to when not. support_layout and
  fallback_sharding are ignored.

  in_place (ckptdb, not in Orbax): fill the target's own arrays where dtype
  and shape match -- no allocation, ckptdb's zero-copy path; the target is
  overwritten and its arrays are returned. Others get new arrays.
  """
  item: Any = None
  strict: bool = True
  support_layout: bool = False
  fallback_sharding: Any = None
  in_place: bool = False

  def _restore_request(self) -> _RestoreRequest:
    if self.item is None:
      return _RestoreRequest(False, None, False, {})
    restore_args = _tree.map_leaves(self._leaf_restore_args, self.item)
    return _target_request(self.item, restore_args, in_place=self.in_place)

  def _leaf_restore_args(self, x: Any) -> Optional[_types.RestoreArgs]:
    """Orbax's construct_restore_args for one target leaf.

    Arrays give their dtype; a leaf with a sharding (jax.Array,
    jax.ShapeDtypeStruct with sharding) also its shape as global_shape,
    checked per `strict`. A numpy array's shape is not requested.
    """
    if not (hasattr(x, 'dtype') and hasattr(x, 'shape')):
      return None
    if (not isinstance(x, (np.ndarray, np.generic)) and
        getattr(x, 'sharding', None) is not None):
      return _types.ArrayRestoreArgs(dtype=x.dtype, global_shape=x.shape,
                                     strict=self.strict)
    return _types.RestoreArgs(dtype=x.dtype)


# ---- Array ------------------------------------------------------------------


def _check_array_item(item: Any) -> None:
  if not (isinstance(item, (np.ndarray, np.generic, int, float, bool)) or
          hasattr(item, '__array__')):
    raise TypeError(
        'ArrayCheckpointHandler saves a single array or scalar; got '
        f'{type(item).__name__}')


@dataclasses.dataclass
class ArraySave(CheckpointArgs):
  """Saves a single array or scalar. save_args: one SaveArgs."""
  item: Any
  save_args: Optional[_types.SaveArgs] = None

  def _save_request(self) -> _SaveRequest:
    _check_array_item(self.item)
    return _SaveRequest(self.item, _save_args_dict(self.save_args))


@dataclasses.dataclass
class ArrayRestore(CheckpointArgs):
  """Restores a single array as a new array.

  in_place (ckptdb): fill `item` itself when its dtype and shape match.
  """
  item: Any = None
  restore_args: Optional[_types.RestoreArgs] = None
  in_place: bool = False

  def _restore_request(self) -> _RestoreRequest:
    return _target_request(self.item, self.restore_args, in_place=self.in_place)


# ---- Json -------------------------------------------------------------------


def _json_default(x: Any) -> Any:
  """Lets JsonRestore read trees saved by older ckptdb (arrays as lists)."""
  if isinstance(x, (np.ndarray, np.generic)):
    return x.tolist()
  raise TypeError(f'Object of type {type(x).__name__} is not JSON '
                  'serializable')


def _as_json(item: Any, default: Optional[Callable[[Any], Any]] = None
             ) -> Any:
  """item as json.loads(json.dumps(item)) gives it back (as Orbax stores)."""
  return json.loads(json.dumps(item, default=default))


@dataclasses.dataclass
class JsonSave(CheckpointArgs):
  """Saves a JSON value, exactly as Orbax's JsonCheckpointHandler would.

  The item goes through json.dumps / json.loads before it is stored, so
  what is restored is what JSON holds: tuples become lists, dict keys
  strings (1 -> '1', True -> 'true', None -> 'null'). numpy arrays and
  other non-JSON values raise TypeError, as json.dumps does in Orbax. Ints
  beyond 64 bits (JSON has no limit; numpy's PCG64 state holds 128-bit
  ones) are kept exactly (see _big_ints).
  """
  item: Any

  def _save_request(self) -> _SaveRequest:
    return _SaveRequest(_big_ints.encode(_as_json(self.item)), {})


@dataclasses.dataclass
class JsonRestore(CheckpointArgs):
  """Restores a JsonSave item (`item` is ignored, as in Orbax).

  The result is JSON's: items saved by older ckptdb versions with tuples,
  int keys or arrays come back as lists, string keys and lists.
  """
  item: Any = None

  def _restore_request(self) -> _RestoreRequest:
    return _RestoreRequest(
        False, None, False, {},
        post=lambda result: _as_json(_big_ints.decode(result),
                                     default=_json_default))


# ---- Composite --------------------------------------------------------------


class Composite(CheckpointArgs, collections.abc.Mapping):
  """Several named items: Composite(state=StandardSave(s), meta=JsonSave(m)).

  Also what restoring several items returns: values by attribute or key.
  """

  def __init__(self, *args: Any, **items: Any):
    object.__setattr__(self, '_items', dict(*args, **items))
    for k in self._items:
      if not isinstance(k, str):
        raise TypeError(f'Composite keys must be str, got {k!r}')
      if k.startswith('__'):
        raise ValueError(f'Composite keys may not start with "__": {k!r}')

  def __getattr__(self, name: str) -> Any:
    items = object.__getattribute__(self, '_items')
    try:
      return items[name]
    except KeyError:
      raise AttributeError(
          f'Composite has no item {name!r} (items: {sorted(items)})') from None

  def __setattr__(self, name: str, value: Any) -> None:
    raise AttributeError('Composite is immutable')

  def __getitem__(self, key: str) -> Any:
    return self._items[key]

  def __iter__(self):
    return iter(self._items)

  def __len__(self) -> int:
    return len(self._items)

  def __or__(self, other: 'Composite') -> 'Composite':
    return Composite(**{**self._items, **dict(other)})

  def __and__(self, other: 'Composite') -> 'Composite':
    return Composite(**{k: v for k, v in self._items.items() if k in other})

  def __eq__(self, other: Any) -> bool:
    return isinstance(other, Composite) and self._items == other._items

  def __repr__(self) -> str:
    inner = ', '.join(f'{k}={v!r}' for k, v in self._items.items())
    return f'Composite({inner})'


# ---- random keys and protos (built on the classes above) ---------------------

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
from ckptdb._key_proto_args import JaxRandomKeyRestore
from ckptdb._key_proto_args import JaxRandomKeySave
from ckptdb._key_proto_args import NumpyRandomKeyRestore
from ckptdb._key_proto_args import NumpyRandomKeySave
from ckptdb._key_proto_args import ProtoRestore
from ckptdb._key_proto_args import ProtoSave
