"""Flax's legacy `flax.training.checkpoints` API, stored in ckptdb.

    from ckptdb.flax.training import checkpoints
    checkpoints.save_checkpoint(ckpt_dir, state, step, keep=3)
    state = checkpoints.restore_checkpoint(ckpt_dir, target=state)

Checkpoints are the steps of one ckptdb database at ckpt_dir, named
f'{prefix}{step}' as Flax names its files; paths returned and accepted are
os.path.join(ckpt_dir, name), as in Flax, though no such file exists.
Retention (`keep`, `keep_every_n_steps`), overwrite and the outdated-step
check follow Flax's rules (docs: flax-legacy.md section 1). A directory or
file holding legacy Flax msgpack checkpoints is read directly by
restore_checkpoint, latest_checkpoint and available_steps; ckptdb does not
write into such a directory.
"""

import concurrent.futures
import logging
import os
from typing import Any, Callable, List, Optional

import ckptdb
from ckptdb.flax import errors
from ckptdb.flax import serialization
from ckptdb.flax.config import config
from ckptdb.flax.training import _leaves
from ckptdb.flax.training import _legacy
from ckptdb.flax.training import _naming
from ckptdb.flax.training import _retention
from ckptdb.flax.training import _store

natural_sort = _naming.natural_sort
safe_normpath = _naming.safe_normpath

_log = logging.getLogger(__name__)


class AsyncManager:
  """Runs one save at a time in the background (Flax's AsyncManager).

  save_checkpoint(..., async_manager=m) captures the state (a copy of its
  arrays) on the calling thread, then writes and applies retention on the
  manager's thread. Unlike Flax, an error of a background save is raised by
  the next wait_previous_save (and so by the next save through m).
  """

  def __init__(self, max_workers: int = 1):
    self.executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=max_workers)
    self.save_future: Optional[concurrent.futures.Future] = None

  def wait_previous_save(self) -> None:
    """Blocks until the previous save is done; raises its error, once."""
    future, self.save_future = self.save_future, None
    if future is None:
      return
    if not future.done():
      _log.warning('The previous async save_checkpoint has not finished yet. '
                   'Waiting for it to complete before the next save.')
    future.result()

  def save_async(self, task: Callable[[], Any]) -> None:
    """Waits for the previous save, then runs task in the background."""
    self.wait_previous_save()
    self.save_future = self.executor.submit(task)


# ---- listing ---------------------------------------------------------------


def _all_checkpoints(ckpt_dir: str, prefix: str) -> List[str]:
  """Natural-sorted paths of the prefix's checkpoints (database or files)."""
  if _store.is_database(ckpt_dir):
    with _store.open_store(ckpt_dir, writable=False) as store:
      names = store.names()
    paths = [os.path.join(ckpt_dir, n) for n in names
             if _naming.is_checkpoint_name(n, prefix)]
    return _naming.natural_sort(paths)
  return _legacy.list_checkpoints(ckpt_dir, prefix)


def latest_checkpoint(ckpt_dir: Any,
                      prefix: str = 'checkpoint_') -> Optional[str]:
  """The path of the newest checkpoint (natural sort), or None."""
  paths = _all_checkpoints(safe_normpath(os.fspath(ckpt_dir)), prefix)
  return paths[-1] if paths else None


def available_steps(ckpt_dir: Any, prefix: str = 'checkpoint_',
                    step_type: Callable[[str], Any] = int) -> List[Any]:
  """The steps of the prefix's checkpoints, oldest first.

  step_type converts the text after the prefix: float for float steps
  (int raises ValueError on '2.0', as in Flax).
  """
  paths = _all_checkpoints(safe_normpath(os.fspath(ckpt_dir)), prefix)
  return [_naming.step_from_name(p, prefix, step_type) for p in paths]


# ---- save ------------------------------------------------------------------


def _check_new_checkpoint(ckpt_dir: str, ckpt_path: str, step: Any,
                          prefix: str, orbax_path: bool) -> None:
  """Flax's overwrite=False check, on its legacy or its Orbax path."""
  existing = _all_checkpoints(ckpt_dir, prefix)
  if orbax_path:
    if ckpt_path in existing:  # Orbax refuses an existing destination
      raise ValueError(f'Destination {ckpt_path} already exists. To '
                       'overwrite, pass overwrite=True.')
    return
  tmp_path = os.path.join(ckpt_dir, f'{prefix}tmp')
  _retention.check_overwrite(existing, ckpt_path, step, tmp_path)


def _save_and_clean(ckpt_dir: str, state: Any, step: Any, prefix: str,
                    keep: int, overwrite: bool,
                    keep_every_n_steps: Optional[int]) -> None:
  """Stores the state, then deletes what Flax's retention removes."""
  name = _naming.checkpoint_name(step, prefix)
  ckpt_path = os.path.join(ckpt_dir, name)
  with _store.open_store(ckpt_dir, writable=True, prefix=prefix) as store:
    store.save(name, prefix, step, state)
    existing = [os.path.join(ckpt_dir, n) for n in store.names()
                if _naming.is_checkpoint_name(n, prefix)]
    newer, older = _retention.invalid_checkpoints(
        existing, ckpt_path, keep, overwrite, keep_every_n_steps)
    for path in newer + older:
      _log.info('Removing checkpoint at %s', path)
      store.delete(os.path.basename(path))


def _check_writable_dir(ckpt_dir: str, prefix: str) -> None:
  """Refuses a non-empty directory that is not a ckptdb database."""
  if (os.path.isdir(ckpt_dir) and os.listdir(ckpt_dir) and
      not _store.is_database(ckpt_dir)):
    legacy = [os.path.basename(p)
              for p in _legacy.list_checkpoints(ckpt_dir, prefix)]
    if legacy:
      shown = ', '.join(legacy[:3]) + (', ...' if len(legacy) > 3 else '')
      what = f'holds legacy Flax checkpoints ({shown})'
    else:
      what = 'is not a ckptdb database'
    raise ckptdb.FailedPreconditionError(
        f'{ckpt_dir} {what} and is not empty: ckptdb saves checkpoints '
        'into a database directory of its own. restore_checkpoint reads '
        'legacy files where they are; save into a new directory (or import '
        'them with `ckptdb import DB --all SRC_DIR`).')


def save_checkpoint(ckpt_dir: Any, target: Any, step: Any,
                    prefix: str = 'checkpoint_', keep: int = 1,
                    overwrite: bool = False,
                    keep_every_n_steps: Optional[int] = None,
                    async_manager: Optional[AsyncManager] = None,
                    orbax_checkpointer: Any = None) -> str:
  """Saves target as checkpoint f'{prefix}{step}' of the database ckpt_dir.

  Args:
    ckpt_dir: the database directory (created if missing).
    target: any tree serialization.to_state_dict accepts.
    step: int or float; with the prefix, it names the checkpoint.
    prefix: checkpoint name prefix.
    keep: number of newest checkpoints (with this prefix) to keep.
    overwrite: replace an existing checkpoint of this step and delete every
      newer one; without it, saving a step that is not newer than every
      saved one raises errors.InvalidCheckpointError (with
      config.flax_use_orbax_checkpointing: only an existing one fails, with
      ValueError, as on Flax's Orbax path).
    keep_every_n_steps: among older checkpoints, also keep a chain of steps
      at least this far apart (Flax's rule, not Orbax's keep_period).
    async_manager: write in the background through this AsyncManager.
    orbax_checkpointer: not used to save; given, it selects the checks of
      Flax's Orbax path, as the config flag does.

  Returns:
    The checkpoint's path, os.path.join(ckpt_dir, f'{prefix}{step}').
  """
  if async_manager is not None:
    async_manager.wait_previous_save()
  ckpt_dir = safe_normpath(os.fspath(ckpt_dir))
  ckpt_path = _naming.checkpoint_path(ckpt_dir, step, prefix)
  _check_writable_dir(ckpt_dir, prefix)
  if not overwrite:
    orbax_path = (config.flax_use_orbax_checkpointing or
                  orbax_checkpointer is not None)
    _check_new_checkpoint(ckpt_dir, ckpt_path, step, prefix, orbax_path)
  state = serialization.to_state_dict(target)
  if async_manager is None:
    _save_and_clean(ckpt_dir, state, step, prefix, keep, overwrite,
                    keep_every_n_steps)
  else:
    state = _leaves.copy_arrays(state)  # the caller may change its arrays
    async_manager.save_async(
        lambda: _save_and_clean(ckpt_dir, state, step, prefix, keep,
                                overwrite, keep_every_n_steps))
  return ckpt_path


def save_checkpoint_multiprocess(ckpt_dir: Any, target: Any, step: Any,
                                 prefix: str = 'checkpoint_', keep: int = 1,
                                 overwrite: bool = False,
                                 keep_every_n_steps: Optional[int] = None,
                                 async_manager: Optional[AsyncManager] = None,
                                 gda_manager: Any = None,
                                 orbax_checkpointer: Any = None) -> str:
  """save_checkpoint for multi-process runs; ckptdb runs one process.

  This process is process 0, every array is fully addressable (host numpy
  arrays), so this is save_checkpoint; gda_manager is ignored.
  """
  del gda_manager
  return save_checkpoint(ckpt_dir, target, step, prefix=prefix, keep=keep,
                         overwrite=overwrite,
                         keep_every_n_steps=keep_every_n_steps,
                         async_manager=async_manager,
                         orbax_checkpointer=orbax_checkpointer)


# ---- restore ---------------------------------------------------------------


def _in_database(path: str) -> bool:
  """Whether path is os.path.join(database, name of one of its steps)."""
  ckpt_dir, name = os.path.split(path)
  if not name or not _store.is_database(ckpt_dir):
    return False
  with _store.open_store(ckpt_dir, writable=False) as store:
    return name in store.names()


def _read_state(path: str) -> Any:
  """The state dict at path: a database step or a legacy msgpack file."""
  if not os.path.exists(path) and _in_database(path):
    ckpt_dir, name = os.path.split(path)
    with _store.open_store(ckpt_dir, writable=False) as store:
      return store.restore(name)
  if _store.is_database(path):
    raise ValueError(f'{path} is a ckptdb database: restore from it with '
                     'ckpt_dir=it, not as a checkpoint path')
  if os.path.isdir(path) and _is_orbax_checkpoint(path):
    path = _orbax_aggregate_file(path)
  return _legacy.read_checkpoint(path)


def _resolve_latest(ckpt_dir: str, prefix: str) -> Optional[str]:
  """The path restore_checkpoint(step=None) reads, or None for `target`."""
  if _in_database(ckpt_dir):
    return ckpt_dir
  if not os.path.exists(ckpt_dir):
    _log.info('Found no checkpoint directory at %s', ckpt_dir)
    return None
  if os.path.isdir(ckpt_dir):
    if _is_orbax_checkpoint(ckpt_dir):
      return ckpt_dir
    path = latest_checkpoint(ckpt_dir, prefix)
    if path is None:
      _log.info('Found no checkpoint files in %s with prefix %s', ckpt_dir,
                prefix)
    return path
  return ckpt_dir


def _is_orbax_checkpoint(path: str) -> bool:
  return any(os.path.exists(os.path.join(path, f))
             for f in ('checkpoint', '_METADATA', 'manifest.ocdbt'))


def _orbax_aggregate_file(path: str) -> str:
  """An Orbax/T5X checkpoint directory's msgpack file 'checkpoint'.

  Such directories keep the tree (and small arrays) in one msgpack file
  named 'checkpoint', the format of legacy Flax files; it is read as one.
  Other Orbax directories are returned as they are (and refused).
  """
  aggregate = os.path.join(path, 'checkpoint')
  return aggregate if os.path.isfile(aggregate) else path


def restore_checkpoint(ckpt_dir: Any, target: Any, step: Any = None,
                       prefix: str = 'checkpoint_', parallel: bool = True,
                       gda_manager: Any = None,
                       allow_partial_mpa_restoration: bool = False,
                       orbax_checkpointer: Any = None,
                       orbax_transforms: Any = None) -> Any:
  """Restores the checkpoint of `step` (None: the newest) from ckpt_dir.

  Args:
    ckpt_dir: a ckptdb database, a directory of legacy Flax msgpack files,
      a legacy file, or a checkpoint path (database/name) as returned by
      save_checkpoint or latest_checkpoint.
    target: the structure to restore into (serialization.from_state_dict),
      or None for the raw state dict: lists as {'0': ...} dicts, numpy
      scalars as numpy scalars.
    step: the step to restore; None: the newest (natural sort).
    prefix: checkpoint name prefix.
    parallel, gda_manager, allow_partial_mpa_restoration: ignored.
    orbax_checkpointer, orbax_transforms: not supported unless None.

  Returns:
    The restored tree; `target` unchanged if step is None and there is no
    checkpoint (or no ckpt_dir).

  Raises:
    ValueError: no checkpoint of `step` ('Matching checkpoint not found').
    errors.MsgpackFormatError: a legacy file that cannot be decoded.
  """
  del parallel, gda_manager, allow_partial_mpa_restoration
  if orbax_checkpointer is not None or orbax_transforms is not None:
    raise NotImplementedError('ckptdb.flax restores with its own store: '
                              'pass orbax_checkpointer=None and '
                              'orbax_transforms=None')
  ckpt_dir = safe_normpath(os.fspath(ckpt_dir))
  if step is not None:
    ckpt_path = _naming.checkpoint_path(ckpt_dir, step, prefix)
    if not os.path.exists(ckpt_path) and not _in_database(ckpt_path):
      raise ValueError(f'Matching checkpoint not found: {ckpt_path}')
  else:
    ckpt_path = _resolve_latest(ckpt_dir, prefix)
    if ckpt_path is None:
      return target
  _log.info('Restoring legacy Flax checkpoint from %s', ckpt_path)
  state = _read_state(ckpt_path)
  if target is None:
    return state
  return serialization.from_state_dict(target, state)

