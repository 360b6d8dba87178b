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
"""

import os
import warnings
from typing import Any, Dict, Optional

from ckptdb import _tree
from ckptdb import args as args_lib
from ckptdb import checkpointers as checkpointers_lib
from ckptdb import handlers as handlers_lib
from ckptdb.v1 import errors
from ckptdb.v1 import training
from ckptdb.v1._metadata import CheckpointMetadata

PLACEHOLDER = _tree.PLACEHOLDER
# The name a pytree is saved under (Orbax's STATE_CHECKPOINTABLE_KEY).
PYTREE_CHECKPOINTABLE_KEY = 'pytree'
# load(checkpointable_name=AUTO): 'pytree' if the checkpoint has it, else
# the checkpoint's whole tree (one saved by ckptdb.Checkpointer).
AUTO = '__auto__'

__all__ = [
    'AUTO', 'CheckpointMetadata', 'PLACEHOLDER', 'errors',
    'load', 'load_checkpointables', 'load_pytree', 'metadata',
    'checkpointables_metadata', 'pytree_metadata', 'save', 'save_async',
    'save_checkpointables', 'save_checkpointables_async', 'save_pytree',
    'save_pytree_async', 'training',
]


def save_args_for(value: Any) -> args_lib.CheckpointArgs:
  """How a checkpointable is saved: ocp.args as given, else a pytree."""
  if isinstance(value, args_lib.CheckpointArgs):
    return value
  return args_lib.PyTreeSave(value)


def restore_args_for(abstract: Any) -> args_lib.CheckpointArgs:
  """How a checkpointable is loaded: with an abstract tree, its structure,
  dtypes (and, for sharded leaves, shapes) as StandardRestore; without one,
  as saved."""
  if isinstance(abstract, args_lib.CheckpointArgs):
    return abstract
  if abstract is None:
    return args_lib.PyTreeRestore()
  return args_lib.StandardRestore(abstract)


def _check_checkpointables(checkpointables: Any) -> Dict[str, Any]:
  if not isinstance(checkpointables, dict) or not checkpointables:
    raise ValueError('checkpointables must be a non-empty dict of name -> '
                     f'checkpointable; got {checkpointables!r}')
  for name in checkpointables:
    if not isinstance(name, str) or not name or name.startswith('__'):
      raise ValueError(f'invalid checkpointable name {name!r}')
  return checkpointables


def _composite_checkpointer(async_: bool = False) -> Any:
  cls = (checkpointers_lib.AsyncCheckpointer if async_ else
         checkpointers_lib.Checkpointer)
  return cls(handlers_lib.CompositeCheckpointHandler())


def save_checkpointables(path: Any, checkpointables: Dict[str, Any], *,
                         overwrite: bool = False,
                         custom_metadata: Any = None) -> None:
  """Saves {name: checkpointable} at `path` (a new ckptdb checkpoint).

  overwrite: replace a checkpoint already there (atomically); otherwise
  one there is an AlreadyExistsError (a FileExistsError).
  """
  items = _check_checkpointables(checkpointables)
  _composite_checkpointer().save(
      os.fspath(path), args=args_lib.Composite(
          **{k: save_args_for(v) for k, v in items.items()}),
      force=overwrite, custom_metadata=custom_metadata)


def save(path: Any, state: Any, *,
         checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
         overwrite: bool = False, custom_metadata: Any = None) -> None:
  """Saves a pytree at `path` as the checkpointable `checkpointable_name`."""
  save_checkpointables(path, {checkpointable_name: state},
                       overwrite=overwrite, custom_metadata=custom_metadata)


class AsyncResponse:
  """Orbax's AsyncResponse: result() waits for the background save."""

  def __init__(self, future: Any, closer: Any = None):
    self._future = future
    self._closer = closer

  def result(self, timeout: Optional[float] = None) -> Any:
    del timeout  # ckptdb's saves have no timeout
    try:
      self._future.wait()
    finally:
      if self._closer is not None:
        self._closer.close()
        self._closer = None
    return None


def save_checkpointables_async(path: Any, checkpointables: Dict[str, Any], *,
                               overwrite: bool = False,
                               custom_metadata: Any = None) -> AsyncResponse:
  """save_checkpointables in the background: returns once the arrays are
  copied; result() waits for the commit and raises its error."""
  items = _check_checkpointables(checkpointables)
  ckptr = _composite_checkpointer(async_=True)
  future = ckptr.save(os.fspath(path), args=args_lib.Composite(
      **{k: save_args_for(v) for k, v in items.items()}),
                      force=overwrite, custom_metadata=custom_metadata)
  return AsyncResponse(future, ckptr)


def save_async(path: Any, state: Any, *,
               checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
               overwrite: bool = False,
               custom_metadata: Any = None) -> AsyncResponse:
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


def load(path: Any, abstract_state: Any = None, *,
         checkpointable_name: Optional[str] = AUTO) -> Any:
  """Loads the pytree saved at `path`.

  abstract_state: the result's structure, dtypes and (for sharded leaves)
  shapes; without it the tree comes back as saved. checkpointable_name:
  the item to load; AUTO: 'pytree' if present, else the whole checkpoint;
  None: the whole checkpoint.
  """
  path = os.fspath(path)
  if isinstance(abstract_state, CheckpointMetadata):
    abstract_state = abstract_state.metadata
  name = _resolve_name(path, checkpointable_name)
  if name is None:
    return checkpointers_lib.Checkpointer().restore(
        path, args=restore_args_for(abstract_state))
  return load_checkpointables(path, {name: abstract_state})[name]


def load_checkpointables(path: Any,
                         abstract_checkpointables: Optional[Dict[str, Any]] = None
                        ) -> Dict[str, Any]:
  """Loads checkpointables: those named in abstract_checkpointables (each
  value an abstract tree, or None for "as saved"), else all."""
  if isinstance(abstract_checkpointables, CheckpointMetadata):
    abstract_checkpointables = abstract_checkpointables.metadata
  wanted = abstract_checkpointables or {}
  result = _composite_checkpointer().restore(
      os.fspath(path), args=args_lib.Composite(
          **{k: restore_args_for(v) for k, v in wanted.items()}))
  return dict(result)


def _checkpoint_metadata(path: str, items: Any) -> CheckpointMetadata:
  m = checkpointers_lib.Checkpointer().metadata(path)
  return CheckpointMetadata(
      path=path, metadata=items(m.item_metadata),
      init_timestamp_nsecs=m.init_timestamp_nsecs,
      commit_timestamp_nsecs=m.commit_timestamp_nsecs,
      custom_metadata=m.custom_metadata)


def metadata(path: Any) -> CheckpointMetadata:
  """The pytree's metadata: CheckpointMetadata.metadata is the tree with
  ckptdb.ArrayMetadata leaves; also the save's timestamps and
  custom_metadata."""
  path = os.fspath(path)
  name = _resolve_name(path, AUTO)
  return _checkpoint_metadata(
      path, lambda tree: tree[name] if name is not None else tree)


def checkpointables_metadata(path: Any) -> CheckpointMetadata:
  """{name: metadata tree} of the checkpointables at `path`."""
  return _checkpoint_metadata(os.fspath(path), dict)


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


def load_pytree(path: Any, abstract_pytree: Any = None, **kwargs: Any) -> Any:
  """Orbax's deprecated name of load (abstract_pytree: abstract_state)."""
  _deprecated('load_pytree', 'load')
  if 'abstract_state' in kwargs:
    abstract_pytree = kwargs.pop('abstract_state')
  return load(path, abstract_pytree, **kwargs)


def pytree_metadata(path: Any) -> CheckpointMetadata:
  _deprecated('pytree_metadata', 'metadata')
  return metadata(path)
