"""Orbax's v1 API (orbax.checkpoint.v1 / .experimental.v1) over ckptdb.

    from ckptdb import v1 as ocp      # instead of: from orbax.checkpoint import v1 as ocp

    ocp.save('/tmp/ckpt', state)                  # one checkpoint (database)
    state = ocp.load('/tmp/ckpt', abstract_state)
    with ocp.training.Checkpointer('/tmp/run') as ckptr:
      ckptr.save(step, state, metrics={'loss': 0.1})
      state = ckptr.load()                        # the latest step

A checkpoint path is one ckptdb database (as for ckptdb.Checkpointer),
holding each checkpointable as an item: a pytree is saved as the item
'pytree'. `save_pytree` / `load_pytree` / `pytree_metadata` are Orbax's
deprecated names of save / load / metadata (DeprecationWarning).

Options come from the active ocp.Context (`with ocp.Context() as ctx:`, see
ckptdb.v1.options): those ckptdb can apply are applied, those that only
choose Orbax's file layout warn once, the others raise NotImplementedError
naming the option.
"""

import os
import warnings
from typing import Any, Dict, Optional

from ckptdb import _tree
from ckptdb import args as args_lib
from ckptdb import checkpointers as checkpointers_lib
from ckptdb import _orbax_direct
from ckptdb import handlers as handlers_lib
from ckptdb.v1 import arrays
from ckptdb.v1 import errors
from ckptdb.v1 import handlers
from ckptdb.v1 import multihost
from ckptdb.v1 import options
from ckptdb.v1 import partial
from ckptdb.v1 import path
from ckptdb.v1 import training
from ckptdb.v1 import tree
from ckptdb.v1.handlers import AbstractCheckpointable
from ckptdb.v1.handlers import Checkpointable
from ckptdb.v1.handlers import CheckpointableHandler
from ckptdb.v1.handlers import StatefulCheckpointable
from ckptdb.v1 import _checkpointables
from ckptdb.v1._async import AsyncResponse
from ckptdb.v1._context import Context
from ckptdb.v1._context import get_context
from ckptdb.v1._metadata import CheckpointMetadata
from ckptdb.v1 import _context

PLACEHOLDER = _tree.PLACEHOLDER
# The name a pytree is saved under (Orbax's STATE_CHECKPOINTABLE_KEY).
PYTREE_CHECKPOINTABLE_KEY = 'pytree'
# load(checkpointable_name=AUTO): 'pytree' if the checkpoint has it, else
# the checkpoint's whole tree (one saved by ckptdb.Checkpointer).
AUTO = '__auto__'

__all__ = [
    'AUTO', 'AbstractCheckpointable', 'Checkpointable',
    'CheckpointableHandler', 'StatefulCheckpointable', 'arrays', 'multihost',
    'partial',
    'path', 'tree', 'AsyncResponse', 'CheckpointMetadata', 'Context', 'PLACEHOLDER',
    'PyTreeMetadata', 'errors', 'get_context', 'handlers', 'is_orbax_checkpoint', 'load',
    'load_async', 'load_checkpointables', 'load_checkpointables_async',
    'load_pytree', 'load_pytree_async', 'metadata', 'checkpointables_metadata',
    'options', 'pytree_metadata', 'save', 'save_async',
    'save_checkpointables', 'save_checkpointables_async', 'save_pytree',
    'save_pytree_async', 'training',
]

# Orbax's PyTreeMetadata: the type of CheckpointMetadata.metadata for a pytree
# (here the saved tree with ckptdb.ArrayMetadata leaves; for typing only).
PyTreeMetadata = Any


def _pytree_args(ctx: Context, value: Any) -> args_lib.CheckpointArgs:
  return args_lib.PyTreeSave(value, save_args=_context.save_args(ctx, value))


def save_args_for(value: Any, ctx: Optional[Context] = None,
                  name: Optional[str] = None) -> args_lib.CheckpointArgs:
  """How a checkpointable is saved as a database item: ocp.args as given,
  else by the handler resolved for it (ctx's registry, else the global
  one): PyTreeHandler -> a pytree (with the dtype casts of ctx's array
  storage options), JsonHandler -> JsonSave, ProtoHandler -> ProtoSave.
  A handler writing a folder of its own raises NotImplementedError here
  (training.Checkpointer: a step has no folder; use save_checkpointables)."""
  if isinstance(value, args_lib.CheckpointArgs):
    return value
  ctx = ctx if ctx is not None else get_context()
  key = name if name is not None else '__value__'
  db, folders, _ = _checkpointables.plan_save(
      ctx, {key: value}, lambda v: _pytree_args(ctx, v))
  if folders:
    handler = folders[key][0]
    raise NotImplementedError(
        f'checkpointable {name!r} resolves to {type(handler).__name__}, a '
        'handler writing a folder of its own: a training.Checkpointer keeps '
        'all steps in one database, without per-step folders; save it with '
        'ocp.save_checkpointables(path, ...) instead')
  return db[key]


def restore_args_for(abstract: Any, ctx: Optional[Context] = None
                    ) -> args_lib.CheckpointArgs:
  """How a checkpointable is loaded: with an abstract tree, its structure,
  dtypes (and, for sharded leaves, shapes) as StandardRestore, per ctx's
  options (partial_load, enable_padding_and_truncation); a protocol buffer
  message class as ProtoRestore; without one, as saved."""
  if isinstance(abstract, args_lib.CheckpointArgs):
    return abstract
  if abstract is None:
    return args_lib.PyTreeRestore()
  if handlers.ProtoHandler().is_abstract_handleable(abstract):
    return args_lib.ProtoRestore(abstract)
  ctx = ctx if ctx is not None else get_context()
  return _context.restore_args(ctx, abstract)


def _check_checkpointables(checkpointables: Any) -> Dict[str, Any]:
  if not isinstance(checkpointables, dict) or not checkpointables:
    raise ValueError('checkpointables must be a non-empty dict of name -> '
                     f'checkpointable; got {checkpointables!r}')
  for name in checkpointables:
    if (not isinstance(name, str) or not name or name.startswith('__') or
        name == _checkpointables.RECORD_ITEM):
      raise ValueError(f'invalid checkpointable name {name!r}')
  return checkpointables


def _composite_checkpointer(async_: bool = False) -> Any:
  cls = (checkpointers_lib.AsyncCheckpointer if async_ else
         checkpointers_lib.Checkpointer)
  return cls(handlers_lib.CompositeCheckpointHandler())


def _composite_save_args(ctx: Context, items: Dict[str, Any]) -> Any:
  return args_lib.Composite(
      **{k: save_args_for(v, ctx) for k, v in items.items()})


def _save_checkpointables(ctx: Context, path: Any, items: Dict[str, Any],
                          overwrite: bool, custom_metadata: Any,
                          async_: bool) -> Any:
  """Saves; returns a function waiting for the commit (and finishing)."""
  path = os.fspath(path)
  db, folders, record = _checkpointables.plan_save(
      ctx, items, lambda v: _pytree_args(ctx, v))
  ckptr = _composite_checkpointer(async_=async_)
  if not record:
    try:
      future = ckptr.save(path, args=args_lib.Composite(**db),
                          force=overwrite, custom_metadata=custom_metadata)
    except BaseException:
      ckptr.close()
      raise

    def commit() -> None:
      try:
        if future is not None and hasattr(future, 'wait'):
          future.wait()
      finally:
        ckptr.close()
      if overwrite:
        _checkpointables.remove_unreferenced(path, None)

    return commit
  job = _checkpointables.FolderSave(ctx, path, folders, record, overwrite)
  try:
    job.write_folders()
    db[_checkpointables.RECORD_ITEM] = _checkpointables.dumps(record)
    future = ckptr.save(job.target(), args=args_lib.Composite(**db),
                        force=job.exists, custom_metadata=custom_metadata)
  except BaseException:
    ckptr.close()
    job.abort()
    raise

  def commit_folders() -> None:
    try:
      try:
        if future is not None and hasattr(future, 'wait'):
          future.wait()
      finally:
        ckptr.close()
      job.finish()
    except BaseException:
      job.abort()
      raise

  return commit_folders


def save_checkpointables(path: Any, checkpointables: Dict[str, Any], *,
                         overwrite: bool = False,
                         custom_metadata: Any = None) -> None:
  """Saves {name: checkpointable} at `path` (a new ckptdb checkpoint).

  Each checkpointable is saved by the handler resolved for it (see
  ckptdb.v1.handlers): pytrees, JSON and protos as database items, others
  in a folder their handler writes, recorded in the database commit.
  overwrite: replace a checkpoint already there (atomically); otherwise
  one there is an AlreadyExistsError (a FileExistsError).
  """
  ctx = get_context()
  _context.check(ctx, 'save_checkpointables')
  items = _check_checkpointables(checkpointables)
  _save_checkpointables(ctx, path, items, overwrite, custom_metadata,
                        async_=False)()


def save(path: Any, state: Any, *,
         checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
         overwrite: bool = False, custom_metadata: Any = None) -> None:
  """Saves a pytree at `path` as the checkpointable `checkpointable_name`."""
  save_checkpointables(path, {checkpointable_name: state},
                       overwrite=overwrite, custom_metadata=custom_metadata)


def save_checkpointables_async(path: Any, checkpointables: Dict[str, Any], *,
                               overwrite: bool = False,
                               custom_metadata: Any = None) -> AsyncResponse:
  """save_checkpointables in the background: returns once the arrays are
  copied (the caller may change them at once) and the folders of handlers
  other than the pytree / JSON / proto ones are written (both parts of
  their save run before this returns); result() waits for the commit (up
  to AsyncOptions.timeout_secs) and raises its error;
  AsyncOptions.post_finalization_callback is called after the commit."""
  ctx = get_context()
  _context.check(ctx, 'save_checkpointables_async')
  items = _check_checkpointables(checkpointables)
  commit = _save_checkpointables(ctx, path, items, overwrite,
                                 custom_metadata, async_=True)
  return AsyncResponse(
      commit, timeout_secs=ctx.asynchronous.timeout_secs,
      finalized=ctx.asynchronous.post_finalization_callback,
      name='ckptdb-v1-save')


def save_async(path: Any, state: Any, *,
               checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
               overwrite: bool = False,
               custom_metadata: Any = None) -> AsyncResponse:
  """save in the background (see save_checkpointables_async)."""
  return save_checkpointables_async(path, {checkpointable_name: state},
                                    overwrite=overwrite,
                                    custom_metadata=custom_metadata)


def _resolve_name(path: Any, checkpointable_name: Optional[str]
                 ) -> Optional[str]:
  if checkpointable_name != AUTO:
    return checkpointable_name
  meta = checkpointers_lib.Checkpointer().metadata(path).item_metadata
  if isinstance(meta, dict) and PYTREE_CHECKPOINTABLE_KEY in meta:
    return PYTREE_CHECKPOINTABLE_KEY
  return None


def _load(ctx: Context, path: Any, abstract_state: Any,
          checkpointable_name: Optional[str]) -> Any:
  path = os.fspath(path)
  _check_layout(path)
  if isinstance(abstract_state, CheckpointMetadata):
    abstract_state = abstract_state.metadata
  name = _resolve_name(path, checkpointable_name)
  if name is None:
    if _checkpointables.RECORD_ITEM in _items(path):
      return _load_checkpointables(ctx, path, abstract_state)
    return checkpointers_lib.Checkpointer().restore(
        path, args=restore_args_for(abstract_state, ctx))
  return _load_checkpointables(ctx, path, {name: abstract_state})[name]


def _check_layout(path: str) -> None:
  """InvalidLayoutError (Orbax's) for an existing, non-empty folder that is
  neither a ckptdb checkpoint nor an Orbax checkpoint ckptdb can read."""
  if (os.path.isdir(path) and not _checkpointables.is_database(path) and
      not _orbax_direct.is_orbax_checkpoint(path) and os.listdir(path)):
    raise errors.InvalidLayoutError(
        f"'{path}' is not a checkpoint: neither a ckptdb database (no "
        'RocksDB CURRENT file) nor an Orbax checkpoint folder')


def _items(path: str) -> Any:
  """The checkpoint's items' metadata ({} for an Orbax folder or a
  checkpoint not saved as checkpointables)."""
  if _orbax_direct.is_orbax_checkpoint(path):
    return {}
  meta = checkpointers_lib.Checkpointer().metadata(path).item_metadata
  return meta if isinstance(meta, dict) else {}


def load(path: Any, abstract_state: Any = None, *,
         checkpointable_name: Optional[str] = AUTO) -> Any:
  """Loads the pytree saved at `path`.

  abstract_state: the result's structure, dtypes and (for sharded leaves)
  shapes; without it the tree comes back as saved. checkpointable_name:
  the item to load; AUTO: 'pytree' if present, else the whole checkpoint;
  None: the whole checkpoint.
  """
  ctx = get_context()
  _context.check(ctx, 'load')
  return _load(ctx, path, abstract_state, checkpointable_name)


def load_async(path: Any, abstract_state: Any = None, *,
               checkpointable_name: Optional[str] = AUTO) -> AsyncResponse:
  """load on a background thread: result() returns the pytree (waiting up
  to AsyncOptions.timeout_secs). Orbax supports this only for safetensors
  checkpoints; ckptdb loads any checkpoint so. Leave the checkpoint alone
  until result() returns."""
  ctx = get_context()
  _context.check(ctx, 'load_async')
  return AsyncResponse(
      lambda: _load(ctx, path, abstract_state, checkpointable_name),
      timeout_secs=ctx.asynchronous.timeout_secs, name='ckptdb-v1-load')


def _load_checkpointables(ctx: Context, path: Any,
                          abstract_checkpointables: Any) -> Dict[str, Any]:
  path = os.fspath(path)
  _check_layout(path)
  if isinstance(abstract_checkpointables, CheckpointMetadata):
    abstract_checkpointables = abstract_checkpointables.metadata
  wanted = dict(abstract_checkpointables or {})
  items = _items(path)
  record = _checkpointables.read_record(path, items)
  if not record:
    result = _composite_checkpointer().restore(
        path, args=args_lib.Composite(
            **{k: restore_args_for(v, ctx) for k, v in wanted.items()}))
    return dict(result)
  names = list(wanted) or [n for n in items
                           if n != _checkpointables.RECORD_ITEM] + [
                               n for n, e in record.items()
                               if e.get('kind') == 'folder']
  missing = [n for n in names if n not in items and n not in record
             or n == _checkpointables.RECORD_ITEM]
  if missing:
    raise KeyError(f"checkpointables {missing} are not in the checkpoint at "
                   f"'{path}' (it has "
                   f'{[n for n in items if n != _checkpointables.RECORD_ITEM]}'
                   f' and {[n for n in record if n not in items]})')
  folders = [n for n in names if record.get(n, {}).get('kind') == 'folder']
  db = {n: _checkpointables.restore_args(
      record.get(n), wanted.get(n), lambda a: restore_args_for(a, ctx))
        for n in names if n not in folders}
  result = dict(_composite_checkpointer().restore(
      path, args=args_lib.Composite(**db))) if db else {}
  for n in folders:
    result[n] = _checkpointables.load_folder(ctx, path, n, record[n],
                                             wanted.get(n))
  return {n: result[n] for n in names}


def load_checkpointables(path: Any,
                         abstract_checkpointables: Optional[Dict[str, Any]] = None
                        ) -> Dict[str, Any]:
  """Loads checkpointables: those named in abstract_checkpointables (each
  value an abstract tree, or None for "as saved"), else all."""
  ctx = get_context()
  _context.check(ctx, 'load_checkpointables')
  return _load_checkpointables(ctx, path, abstract_checkpointables)


def load_checkpointables_async(
    path: Any, abstract_checkpointables: Optional[Dict[str, Any]] = None
) -> AsyncResponse:
  """load_checkpointables on a background thread (Orbax raises
  NotImplementedError here; ckptdb can)."""
  ctx = get_context()
  _context.check(ctx, 'load_checkpointables_async')
  return AsyncResponse(
      lambda: _load_checkpointables(ctx, path, abstract_checkpointables),
      timeout_secs=ctx.asynchronous.timeout_secs, name='ckptdb-v1-load')


def _items_metadata(ctx: Context, path: str, tree: Any) -> Any:
  """Item metadata with the record left out and each folder's metadata
  from its handler (None where the handler has none)."""
  if not isinstance(tree, dict) or _checkpointables.RECORD_ITEM not in tree:
    return tree
  record = _checkpointables.read_record(path, tree)
  out = {k: v for k, v in tree.items() if k != _checkpointables.RECORD_ITEM}
  for name, entry in record.items():
    if entry.get('kind') == 'folder':
      out[name] = _checkpointables.folder_metadata(ctx, path, name, entry)
  return out


def _checkpoint_metadata(ctx: Context, path: str, items: Any
                        ) -> CheckpointMetadata:
  _check_layout(path)
  m = checkpointers_lib.Checkpointer().metadata(path)
  tree = m.item_metadata
  if isinstance(tree, args_lib.Composite):
    tree = dict(tree)
  return CheckpointMetadata(
      path=ctx.file.path_class(path),
      metadata=items(_items_metadata(ctx, path, tree)),
      init_timestamp_nsecs=m.init_timestamp_nsecs,
      commit_timestamp_nsecs=m.commit_timestamp_nsecs,
      custom_metadata=m.custom_metadata)


def metadata(path: Any, checkpointable_name: Optional[str] = AUTO
            ) -> CheckpointMetadata:
  """The pytree's metadata: CheckpointMetadata.metadata is the tree with
  ckptdb.ArrayMetadata leaves; also the save's timestamps and
  custom_metadata. checkpointable_name as for load."""
  ctx = get_context()
  _context.check(ctx, 'metadata')
  path = os.fspath(path)
  _check_layout(path)
  name = _resolve_name(path, checkpointable_name)
  return _checkpoint_metadata(
      ctx, path, lambda tree: tree[name] if name is not None else tree)


def checkpointables_metadata(path: Any) -> CheckpointMetadata:
  """{name: metadata tree} of the checkpointables at `path`."""
  ctx = get_context()
  _context.check(ctx, 'checkpointables_metadata')
  return _checkpoint_metadata(ctx, os.fspath(path), dict)


def is_orbax_checkpoint(path: Any) -> bool:
  """Whether `path` is a checkpoint ocp.load can read: here, a committed
  ckptdb checkpoint (Orbax's own directories are not: import them with the
  ckptdb import tool)."""
  try:
    checkpointers_lib.Checkpointer().metadata(os.fspath(path))
  except (FileNotFoundError, ValueError, OSError, RuntimeError, KeyError):
    return False
  return True


def _deprecated(old: str, new: str) -> None:
  warnings.warn(f'{old} is deprecated (as in Orbax): use {new}',
                DeprecationWarning, stacklevel=3)


def save_pytree(*args: Any, **kwargs: Any) -> None:
  """Orbax's deprecated name of save."""
  _deprecated('save_pytree', 'save')
  return save(*args, **kwargs)


def save_pytree_async(*args: Any, **kwargs: Any) -> AsyncResponse:
  _deprecated('save_pytree_async', 'save_async')
  return save_async(*args, **kwargs)


def _abstract_kwarg(abstract_pytree: Any, kwargs: Dict[str, Any]) -> Any:
  if 'abstract_state' in kwargs:
    return kwargs.pop('abstract_state')
  return abstract_pytree


def load_pytree(path: Any, abstract_pytree: Any = None, **kwargs: Any) -> Any:
  """Orbax's deprecated name of load (abstract_pytree: abstract_state)."""
  _deprecated('load_pytree', 'load')
  return load(path, _abstract_kwarg(abstract_pytree, kwargs), **kwargs)


def load_pytree_async(path: Any, abstract_pytree: Any = None,
                      **kwargs: Any) -> AsyncResponse:
  """Orbax's deprecated name of load_async."""
  _deprecated('load_pytree_async', 'load_async')
  return load_async(path, _abstract_kwarg(abstract_pytree, kwargs), **kwargs)


def pytree_metadata(path: Any, *args: Any, **kwargs: Any) -> CheckpointMetadata:
  _deprecated('pytree_metadata', 'metadata')
  return metadata(path, *args, **kwargs)
