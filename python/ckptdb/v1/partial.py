"""Orbax v1's ocp.partial: save a pytree in several calls, then finalize.

    ocp.partial.save(path, {'layer1': ..., 'step': 1})
    ocp.partial.save(path, {'layer2': ..., 'metrics': ...})
    ocp.partial.finalize(path)      # the checkpoint appears at `path`

As Orbax: the calls build the checkpoint at `<path>.partial_save`; each
call adds leaves (a leaf already saved is a ValueError: replacements are
not supported, as in Orbax); custom_metadata dicts are merged (later keys
win); finalize renames `<path>.partial_save` to `path` (one rename(2):
atomic), FileExistsError if `path` exists, FileNotFoundError without a
partial save. Each call is atomic: `<path>.partial_save` is a ckptdb
checkpoint replaced in one commit.

ckptdb's way (a difference in cost, not in result): a ckptdb checkpoint is
one committed tree, so each call reads the tree saved so far and commits
the merged tree (chunks already stored are deduplicated, not written
again, but they are read back). save_async copies numpy arrays before it
returns; saves run one at a time in call order.
"""

import concurrent.futures
import os
import threading
from typing import Any

import numpy as np

from ckptdb import _tree
from ckptdb.v1 import tree as tree_lib
from ckptdb.v1._async import AsyncResponse

PARTIAL_SAVE_SUFFIX = '.partial_save'

__all__ = ['finalize', 'save', 'save_async']

_EXECUTOR = concurrent.futures.ThreadPoolExecutor(
    1, thread_name_prefix='ckptdb-v1-partial')
_LOCK = threading.Lock()


def _paths(path: Any) -> Any:
  p = os.path.abspath(os.fspath(path))
  if p.endswith(PARTIAL_SAVE_SUFFIX):
    return p[:-len(PARTIAL_SAVE_SUFFIX)], p
  return p, p + PARTIAL_SAVE_SUFFIX


def _save_now(ctx: Any, path: Any, state: Any, custom_metadata: Any) -> None:
  from ckptdb import v1  # pylint: disable=g-import-not-at-top
  final, partial = _paths(path)
  with _LOCK, v1.Context(ctx):
    if os.path.exists(final):
      raise FileExistsError(f'Finalized checkpoint already exists at {final}.')
    if os.path.isfile(os.path.join(partial, 'CURRENT')):
      previous = v1.metadata(partial)
      merged_meta = dict(previous.custom_metadata or {})
      merged_meta.update(custom_metadata or {})
      old = v1.load(partial)
      try:
        merged = tree_lib.merge(old, state)
      except ValueError as e:
        raise ValueError(
            f'ckptdb.v1.partial.save: {e}; replacing saved leaves is not '
            'supported (as in Orbax)') from e
      v1.save(partial, merged, overwrite=True,
              custom_metadata=merged_meta or None)
    else:
      v1.save(partial, state, custom_metadata=custom_metadata)


def save(path: Any, state: Any, *, custom_metadata: Any = None) -> None:
  """Adds `state`'s leaves to the partial checkpoint of `path`."""
  save_async(path, state, custom_metadata=custom_metadata).result()


def save_async(path: Any, state: Any, *,
               custom_metadata: Any = None) -> AsyncResponse:
  """save in the background (after earlier partial saves); returns once
  numpy arrays are copied; result() waits for the commit."""
  from ckptdb import v1  # pylint: disable=g-import-not-at-top
  ctx = v1.Context(v1.get_context())
  final, _ = _paths(path)
  if os.path.exists(final):
    raise FileExistsError(f'Finalized checkpoint already exists at {final}.')
  copied = _tree.map_leaves(
      lambda x: np.array(x, copy=True) if isinstance(x, np.ndarray) else x,
      state)
  future = _EXECUTOR.submit(_save_now, ctx, path, copied, custom_metadata)
  return AsyncResponse(future.result, timeout_secs=ctx.asynchronous.timeout_secs,
                       name='ckptdb-v1-partial-save')


def finalize(path: Any) -> None:
  """Makes the partial checkpoint the checkpoint at `path` (atomic rename),
  after the partial saves already started."""
  _EXECUTOR.submit(lambda: None).result()  # earlier saves have run
  final, partial = _paths(path)
  with _LOCK:
    if os.path.exists(final):
      raise FileExistsError(f'Finalized checkpoint already exists at {final}.')
    if not os.path.isfile(os.path.join(partial, 'CURRENT')):
      raise FileNotFoundError(f'No partial save found at {partial} (call '
                              'ocp.partial.save first).')
    os.rename(partial, final)
    fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
      os.fsync(fd)
    finally:
      os.close(fd)
