"""Orbax's `ocp.checkpoint_utils`: restore args and waiting for steps.

    restore_args = ckptdb.checkpoint_utils.construct_restore_args(target)
    ckptr.restore(path, item=target, restore_args=restore_args)

    for step in ckptdb.checkpoint_utils.checkpoints_iterator(path, timeout=60):
      evaluate(step)
"""

import contextlib
import os
import time
from typing import Any, Callable, Dict, Iterator, Optional
import warnings

import numpy as np

from ckptdb import _ckptdb
from ckptdb import _tree
from ckptdb import _types


def _leaf_restore_args(value: Any, sharding: Any, set_global_shape: bool,
                       strict: bool) -> Any:
  """Orbax's rule for one target leaf (checkpoint_utils._restore_args)."""
  if value is None:
    return None
  if value is _tree.PLACEHOLDER:
    return _types.RestoreArgs(restore_type=type(_tree.PLACEHOLDER))
  if isinstance(value, np.ndarray):
    return _types.RestoreArgs(restore_type=np.ndarray, dtype=value.dtype)
  if isinstance(value, (bool, int, float, np.number)):
    return _types.RestoreArgs(restore_type=type(value))
  if isinstance(value, str):
    return _types.RestoreArgs(restore_type=str)
  if hasattr(value, 'shape') and hasattr(value, 'dtype'):
    if sharding is None:  # host array
      return _types.RestoreArgs(restore_type=np.ndarray, dtype=value.dtype)
    return _types.ArrayRestoreArgs(
        sharding=sharding, dtype=value.dtype, strict=strict,
        global_shape=tuple(value.shape) if set_global_shape else None)
  raise ValueError(f'Unsupported type: {type(value)}')


def _leaves_by_path(tree: Any) -> Dict[str, Any]:
  out: Dict[str, Any] = {}

  def keep(path: str, leaf: Any) -> Any:
    out[path] = leaf
    return leaf

  _tree.map_with_path(keep, tree)
  return out


def construct_restore_args(target: Any, sharding_tree: Optional[Any] = None,
                           set_global_shape: bool = True,
                           support_layout: bool = False,
                           strict: bool = True) -> Any:
  """A tree of RestoreArgs / ArrayRestoreArgs mirroring `target`.

  numpy arrays give RestoreArgs(restore_type=np.ndarray, dtype); scalars and
  str RestoreArgs(restore_type=their type); abstract arrays
  (ShapeDtypeStruct, ArrayMetadata, jax.Array) with a sharding (from
  sharding_tree, else their own .sharding) give ArrayRestoreArgs(sharding,
  global_shape=shape if set_global_shape, dtype, strict), without one
  RestoreArgs(restore_type=np.ndarray, dtype). support_layout is ignored
  (no device layouts). ValueError for other leaf types.
  """
  del support_layout
  shardings = (_leaves_by_path(sharding_tree)
               if sharding_tree is not None else None)

  def leaf(path: str, value: Any) -> Any:
    sharding = (shardings.get(path) if shardings is not None else
                getattr(value, 'sharding', None))
    return _leaf_restore_args(value, sharding, set_global_shape, strict)

  return _tree.map_with_path(leaf, target)


# ---- waiting for new steps ----------------------------------------------------


def _latest_step(directory: Any) -> Optional[int]:
  """The highest step of the manager database at directory, None if there
  is none (yet).

  Opens the database read-only (never as its writer, so that a trainer
  starting later still writes it) and sees the steps committed by then. A
  directory that is not (yet) a manager database has no steps.
  """
  from ckptdb import checkpoint_manager  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(directory):
    return None
  options = checkpoint_manager.CheckpointManagerOptions(read_only=True)
  try:
    with checkpoint_manager.CheckpointManager(directory,
                                              options=options) as mngr:
      steps = mngr.all_steps()
  except (_ckptdb.NotFoundError, _ckptdb.FailedPreconditionError,
          _ckptdb.UnavailableError):
    # Not a manager database (yet): missing, being created by its writer,
    # or something else -- a directory without steps, as for Orbax.
    return None
  return max(steps) if steps else None


_warned = set()


def _warn_ignored(step_name_format: Any) -> None:
  if step_name_format is not None and 'step_name_format' not in _warned:
    _warned.add('step_name_format')
    warnings.warn('ckptdb ignores step_name_format here: every step of the '
                  'database is found, whatever its name', stacklevel=3)


def _wait(directory: Any, until_step: Optional[int], seconds_to_sleep: float,
          timeout: Optional[float],
          timeout_fn: Optional[Callable[[], bool]]) -> int:
  """Orbax's _wait_for_new_checkpoint: the latest step once it is >=
  until_step (any step when None), or -1 on timeout."""
  stop_time = time.time() + timeout if timeout is not None else None

  def sleep_or_stop() -> bool:
    if stop_time is not None and time.time() + seconds_to_sleep > stop_time:
      if timeout_fn is None or timeout_fn():
        return True
    time.sleep(seconds_to_sleep)
    return False

  while True:
    step = _latest_step(directory)
    if step is not None and (until_step is None or step >= until_step):
      return step
    if sleep_or_stop():
      return -1


@contextlib.contextmanager
def wait_for_new_checkpoint(checkpoint_dir: Any, *,
                            until_step: Optional[int] = None,
                            seconds_to_sleep: float = 1,
                            timeout: Optional[float] = None,
                            timeout_fn: Optional[Callable[[], bool]] = None,
                            step_prefix: Optional[str] = None,
                            step_format_fixed_length: Optional[int] = None,
                            step_name_format: Any = None) -> Iterator[int]:
  """Waits for a step >= until_step (any step when None); yields it, or -1
  after `timeout` seconds (unless timeout_fn() returns False: keep waiting).

  As Orbax's context manager of the same name, polling every
  seconds_to_sleep; a missing directory is waited for. Differences: the step
  is not locked against the writer's retention (ckptdb has no step locks;
  restoring a step deleted meanwhile raises NotFoundError); step_prefix and
  step_format_fixed_length only name steps in ckptdb, so every step counts.
  """
  del step_prefix, step_format_fixed_length
  _warn_ignored(step_name_format)
  yield _wait(os.fspath(checkpoint_dir), until_step, seconds_to_sleep,
              timeout, timeout_fn)


def checkpoints_iterator(checkpoint_dir: Any, *, min_interval_secs: float = 0,
                         seconds_to_sleep: float = 1,
                         timeout: Optional[float] = None,
                         timeout_fn: Optional[Callable[[], bool]] = None,
                         step_prefix: Optional[str] = None,
                         step_format_fixed_length: Optional[int] = None,
                         step_name_format: Any = None) -> Iterator[int]:
  """Yields the latest step each time a newer one appears (Orbax's).

  Starts with the latest step present; then waits for a later one, at most
  `timeout` seconds each time (then stops, unless timeout_fn() returns
  False), and at least min_interval_secs between yields. Steps saved in
  between are skipped, as in Orbax. A writer in another process is seen
  too (each poll reopens the database read-only).
  """
  del step_prefix, step_format_fixed_length
  _warn_ignored(step_name_format)
  directory = os.fspath(checkpoint_dir)
  last = None
  while True:
    until_step = last + 1 if last is not None else None
    step = _wait(directory, until_step, seconds_to_sleep, timeout, timeout_fn)
    if step == -1:
      if timeout_fn is None or timeout_fn():
        return
      continue
    start = time.time()
    last = step
    yield step
    pause = start + min_interval_secs - time.time()
    if pause > 0:
      time.sleep(pause)
