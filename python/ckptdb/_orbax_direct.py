"""Restoring Orbax checkpoints in place, without importing them first.

Checkpointer.restore(path) on an Orbax item or step folder and
CheckpointManager(root) on an Orbax CheckpointManager root read Orbax's
files through the C++ reader (ckptdb::ReadCheckpoint; docs/orbax-import.md)
instead of a ckptdb database. Without a target the tree comes back as
Orbax's _METADATA describes it; with one, in the target's structure, with
the restore args' dtypes, and only the target's leaves are read (a partial
restore reads the chunks of the requested leaves only). Nothing is ever
written there: saving raises FailedPreconditionError saying to import the
checkpoint first (`ckptdb import`).
"""

import os
from typing import Any, Dict, List, Optional

import numpy as np

from ckptdb import _ckptdb
from ckptdb import _tree

DEFAULT_ITEM = 'default'

# An only_paths entry that selects no leaf: reads _METADATA (structure,
# step metadata) without any chunk.
_NOTHING = [['\x00ckptdb: no leaf\x00']]


def _is_database(path: str) -> bool:
  """A ckptdb database (RocksDB's CURRENT file) is never read as Orbax's."""
  return os.path.isfile(os.path.join(path, 'CURRENT'))


def is_orbax_checkpoint(path: str) -> bool:
  """True if `path` is an Orbax item or step folder (not a ckptdb database)."""
  return (os.path.isdir(path) and not _is_database(path) and
          _ckptdb.is_orbax_checkpoint(path))


def is_item_folder(path: str) -> bool:
  """An Orbax item folder (StandardCheckpointer's layout), not a step folder
  of named items (the C++ reader's test)."""
  return any(os.path.isfile(os.path.join(path, name))
             for name in ('_METADATA', 'manifest.ocdbt', 'checkpoint'))


def orbax_root_listing(path: str) -> Optional[Dict[str, Any]]:
  """The listing of an Orbax CheckpointManager root, or None if `path` is
  not one (a ckptdb database, an empty or missing folder, ...)."""
  if not os.path.isdir(path) or _is_database(path):
    return None
  if _ckptdb.is_orbax_checkpoint(path):
    return None  # a step or item folder, not a root
  try:
    listing = _ckptdb.orbax_steps(path)
  except _ckptdb.InvalidArgumentError:
    raise  # Orbax step folders, but two name one step or prefixes differ
  except _ckptdb.Error:
    return None
  unfinished = any(s.endswith(('(unfinished save)', 'while other steps have '
                               'one)')) for s in listing['skipped'])
  if not listing['steps'] and not unfinished:
    return None
  return listing


def refuse_write(path: Any, what: str = 'save') -> _ckptdb.Error:
  """The error for a write into an Orbax checkpoint folder."""
  return _ckptdb.status_exception(
      'FAILED_PRECONDITION',
      f"cannot {what} into '{os.fspath(path)}': it is an Orbax checkpoint, "
      'which ckptdb reads in place but never writes. Import it first '
      '(`ckptdb import DB STEP SRC` for a step or item folder, `ckptdb '
      'import DB --all ROOT` for a CheckpointManager root) and save into '
      'the ckptdb database.')


class ArrayMetadata:
  """An array leaf of an Orbax checkpoint (shape and dtype, as restored)."""

  def __init__(self, array: np.ndarray):
    self.shape = tuple(array.shape)
    self.dtype = array.dtype
    self.dtype_name = array.dtype.name
    self.source_dtype_name = array.dtype.name
    self.nbytes = int(array.nbytes)
    self.size = int(array.size)

  def __eq__(self, other: Any) -> bool:
    return (isinstance(other, ArrayMetadata) and self.shape == other.shape
            and self.dtype == other.dtype)

  def __repr__(self) -> str:
    return f'ArrayMetadata(shape={self.shape}, dtype={self.dtype_name})'


def _as_metadata(tree: Any) -> Any:
  return _tree.map_leaves(
      lambda x: ArrayMetadata(x) if isinstance(x, np.ndarray) else x, tree)


# ---- fitting a read tree to a target ---------------------------------------


def _leaf_paths(target: Any) -> List[List[str]]:
  """The key paths of the target's leaves to read (PLACEHOLDER skipped)."""
  out: List[List[str]] = []

  def walk(x: Any, path: List[str]) -> None:
    if x is _tree.PLACEHOLDER:
      return
    node = _tree.flatten_one_level(x) if x is not None else None
    if node is None:
      out.append(path)
      return
    for k, c in zip(node.keys, node.children):
      walk(c, path + [str(k)])

  walk(target, [])
  return out


def _has_placeholder(target: Any) -> bool:
  if target is _tree.PLACEHOLDER:
    return True
  node = _tree.flatten_one_level(target) if target is not None else None
  return node is not None and any(_has_placeholder(c) for c in node.children)


def _kind(x: Any) -> str:
  if isinstance(x, dict):
    return 'dict'
  if isinstance(x, (list, tuple)):
    return type(x).__name__ if type(x) in (list, tuple) else 'sequence'
  return 'leaf'


class _Fitter:
  """Builds the restore result from a read tree in the target's structure:
  the checks and rules of the core's restore (api/restore.cc)."""

  def __init__(self, where: str, restore_args: Dict[str, Any],
               partial_restore: bool, in_place: bool):
    self._where = where
    self._args = restore_args or {}
    self._partial = partial_restore
    self._in_place = in_place

  def _mismatch(self, path: str, what: str) -> Exception:
    return _ckptdb.status_exception(
        'INVALID_ARGUMENT',
        f"restore target does not match {self._where} at "
        f"'{path or '/'}': {what}")

  def fit(self, saved: Any, target: Any, path: str = '') -> Any:
    if target is _tree.PLACEHOLDER:
      return _tree.PLACEHOLDER
    node = _tree.flatten_one_level(target) if target is not None else None
    saved_container = isinstance(saved, (dict, list, tuple))
    if node is None:
      if saved_container:
        raise self._mismatch(path, f'the checkpoint has a {_kind(saved)}, '
                             'the target has a leaf')
      return self._leaf(saved, target, path)
    if not saved_container:
      raise self._mismatch(path, 'the checkpoint has a leaf, the target has '
                           f'a {_kind(target)}')
    if node.is_sequence and isinstance(saved, dict):
      if hasattr(target, '_fields'):  # a namedtuple saved by field names
        keys = list(target._fields)
      else:  # a list saved as a dict keyed '0'..'n-1'
        keys = [str(i) for i in range(len(node.children))]
      if sorted(keys) != sorted(str(k) for k in saved):
        raise self._mismatch(path, 'the checkpoint has a dict with keys '
                             f'{sorted(saved)}, the target a sequence of '
                             f'{len(node.children)} elements')
      saved = [saved[k] for k in keys]
    if node.is_sequence:
      if isinstance(saved, dict):
        raise self._mismatch(path, 'the checkpoint has a dict, the target '
                             f'has a {_kind(target)}')
      if len(saved) != len(node.children):
        raise self._mismatch(
            path, f'the checkpoint has a {_kind(saved)} of {len(saved)} '
            f'elements, the target has {len(node.children)}')
      children = [self.fit(s, t, _tree.join_path(path, i))
                  for i, (s, t) in enumerate(zip(saved, node.children))]
      return node.unflatten(children)
    if not isinstance(saved, dict):
      if all(isinstance(k, int) for k in node.keys):
        saved = {str(i): v for i, v in enumerate(saved)}
      else:
        raise self._mismatch(path, f'the checkpoint has a {_kind(saved)}, '
                             'the target has a dict')
    used = set()
    children = []
    for key, child in zip(node.keys, node.children):
      found = self._find_key(saved, key)
      if found is None:
        listed = ', '.join(f"'{k}'" for k in list(saved)[:10]) or 'no keys'
        raise self._mismatch(
            _tree.join_path(path, key), 'the target has this key, the '
            f'checkpoint does not (it has: {listed})')
      if found in used:
        raise self._mismatch(
            _tree.join_path(path, key), 'another key of the target (an int '
            'key and an equal str key) already takes this saved entry')
      used.add(found)
      children.append(self.fit(saved[found], child,
                               _tree.join_path(path, key)))
    if not self._partial:
      for k in saved:
        if k not in used:
          raise self._mismatch(
              _tree.join_path(path, k), 'the checkpoint has this key, the '
              'target does not (pass partial_restore to restore a subset)')
    return node.unflatten(children)

  @staticmethod
  def _find_key(saved: Dict[Any, Any], key: Any) -> Any:
    if key in saved:
      return key
    for k in saved:  # Orbax: an int key matches its string form
      if str(k) == str(key):
        return k
    return None

  def _leaf(self, saved: Any, target: Any, path: str) -> Any:
    arg = self._args.get(path)
    if isinstance(arg, tuple):  # a sharded restore: its dtype only
      arg = arg[0]
    if not isinstance(saved, np.ndarray):
      return saved  # scalars and strings as read (as the core does)
    value = saved
    if arg is not None:
      value = saved.astype(_tree.numpy_dtype(arg), copy=False)
    if (self._in_place and isinstance(target, np.ndarray) and
        target.flags.writeable and target.dtype == value.dtype and
        target.shape == value.shape):
      np.copyto(target, value)
      return target
    return value


# ---- reading ------------------------------------------------------------------


def read(path: str, item: Optional[str] = None,
         only_paths: Optional[List[List[str]]] = None) -> Dict[str, Any]:
  """read_checkpoint of an Orbax folder (one item of a step folder when
  `item` names one)."""
  only_items = [item] if item is not None and not is_item_folder(path) else []
  return _ckptdb.read_checkpoint(path, format='orbax', only_items=only_items,
                                 only_paths=only_paths or [])


def item_names(path: str) -> List[str]:
  """The items of a step folder (['default'] for an item folder)."""
  return list(read(path, only_paths=_NOTHING)['item_order'])


def step_info(path: str, step: Optional[int] = None,
              name: Optional[str] = None) -> Dict[str, Any]:
  """The record a ckptdb core's step_metadata()/info() gives, for an Orbax
  folder (no chunk read)."""
  c = read(path, only_paths=_NOTHING)
  return {
      'step': step, 'name': name,
      'init_timestamp_nsecs': c['init_timestamp_nsecs'],
      'commit_timestamp_nsecs': c['commit_timestamp_nsecs'],
      'items': [{'name': n} for n in c['item_order']],
      'metrics': c['metrics'],
      'custom_metadata': c['custom_metadata'],
      'logical_bytes': 0, 'new_bytes': 0, 'chunk_count': 0,
  }


def item_metadata(path: str, item: str) -> Any:
  """The item's tree with ArrayMetadata leaves (its arrays are read)."""
  c = read(path, item=item)
  return _as_metadata(c['items'][item])


def restore_item(path: str, item: str, req: Any, where: str) -> Any:
  """Restores one item per the _RestoreRequest `req` (finished)."""
  if req.bind is not None:  # transforms: planned from the saved tree
    req = req.bind(item_metadata(path, item))
  only_paths = None
  if req.use_target and (req.partial_restore or
                         _has_placeholder(req.target)):
    only_paths = _leaf_paths(req.target) or _NOTHING
  tree = read(path, item=item, only_paths=only_paths)['items'][item]
  if req.use_target:
    tree = _Fitter(where, req.restore_args, req.partial_restore,
                   req.in_place).fit(tree, req.target)
  elif req.restore_args:
    tree = _Fitter(where, req.restore_args, True, False).fit(tree, tree)
  return req.finish(tree)


def single_item(path: str) -> str:
  """The item a single-item restore of `path` reads: the folder itself, the
  step's only item, or its 'default' item."""
  if is_item_folder(path):
    return DEFAULT_ITEM
  names = item_names(path)
  if len(names) == 1:
    return names[0]
  if DEFAULT_ITEM in names:
    return DEFAULT_ITEM
  raise ValueError(
      f"the Orbax step folder '{path}' has items {names}: restore them "
      'with Composite args (ocp.args.Composite(name=...)), or restore an '
      'item folder')


# ---- a CheckpointManager root --------------------------------------------------


class RootCore:
  """What CheckpointManager calls on _ckptdb.CheckpointManager, over an
  Orbax CheckpointManager root: listing and restoring its committed steps,
  refusing every write."""

  following = False
  run = ''

  def __init__(self, directory: str, listing: Dict[str, Any],
               best_fn: Any = None, best_mode: str = 'max'):
    self.directory = directory
    self._best_fn = best_fn
    self._best_mode = best_mode
    self._set(listing)

  def _set(self, listing: Dict[str, Any]) -> None:
    self._steps = {s['step']: s for s in listing['steps']}
    self.skipped = list(listing['skipped'])

  def _dir(self, step: int) -> str:
    if step not in self._steps:
      raise _ckptdb.status_exception(
          'NOT_FOUND', f"no committed step {step} in the Orbax "
          f"CheckpointManager root '{self.directory}' (steps: "
          f'{sorted(self._steps)})')
    return self._steps[step]['dir']

  def all_steps(self) -> List[int]:
    return sorted(self._steps)

  def latest_step(self) -> Optional[int]:
    return max(self._steps) if self._steps else None

  def best_step(self) -> Optional[int]:
    if self._best_fn is None:
      return self.latest_step()
    scored = [(self._best_fn(m), s) for s in self.all_steps()
              for m in [self.metrics(s)] if m is not None]
    if not scored:
      return None
    pick = max if self._best_mode == 'max' else min
    return pick(scored)[1]

  def should_save(self, step: int) -> bool:
    del step
    return False

  def metrics(self, step: int) -> Any:
    return self.step_metadata(step)['metrics']

  def step_metadata(self, step: int) -> Dict[str, Any]:
    return step_info(self._dir(step), step, self._steps[step]['name'])

  def item_metadata(self, step: int, item: str) -> Any:
    return item_metadata(self._dir(step), item)

  def step_name(self, step: int) -> str:
    self._dir(step)
    return self._steps[step]['name']

  def restore(self, step: int, *, item: str, target: Any, use_target: bool,
              partial_restore: bool, restore_args: Any,
              in_place: bool) -> Any:
    from ckptdb import args as args_lib  # pylint: disable=g-import-not-at-top
    req = args_lib._RestoreRequest(  # pylint: disable=protected-access
        use_target, target, partial_restore, restore_args or {},
        in_place=in_place)
    path = self._dir(step)
    return restore_item(path, item, req, f"'{path}' item '{item}'")

  def reload(self) -> None:
    self._set(_ckptdb.orbax_steps(self.directory))

  def save(self, *args: Any, **kwargs: Any) -> bool:
    raise refuse_write(self.directory)

  def delete(self, step: int) -> None:
    raise refuse_write(self.directory, f'delete step {step}')

  def apply_retention(self) -> List[int]:
    raise refuse_write(self.directory, 'apply retention')

  def collect_garbage(self) -> None:
    raise refuse_write(self.directory, 'collect garbage')

  def fork(self, *args: Any) -> None:
    raise refuse_write(self.directory, 'fork a run')

  def wait_until_finished(self) -> None:
    pass

  def check_for_errors(self) -> None:
    pass

  def is_saving_in_progress(self) -> bool:
    return False

  def close(self) -> None:
    pass
