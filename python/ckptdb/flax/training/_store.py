"""Flax checkpoints as the steps of one ckptdb database (ckpt_dir).

Each Flax checkpoint is one step of a ckptdb CheckpointManager whose
database is `ckpt_dir`. Flax names a checkpoint f'{prefix}{step}', with any
prefix and int or float steps, while a ckptdb step is an int64: so the name
is kept in the step's custom metadata, {'flax': {'name', 'prefix', 'step',
'leaf_kinds'}}, and the ckptdb step number is only a key:

* an int step 0 <= s < 2**62 is stored as ckptdb step s when that is free
  (so `ckptdb ls` shows 'checkpoint_100' for prefix 'checkpoint_');
* a float step, a negative one, or one whose number is taken (another
  prefix, or an overwrite) gets the next key from 2**62 up.

Steps saved by ckptdb's own CheckpointManager (no 'flax' metadata) are
listed under their ckptdb step name. A database is opened for each
operation (read-only for reads), so other processes and tools may use it
in between.
"""

import contextlib
import os
from typing import Any, Dict, Iterator, Optional

import ckptdb
from ckptdb.flax.training import _leaves

SYNTHETIC_BASE = 2**62
_META_KEY = 'flax'


def is_database(path: str) -> bool:
  """Whether `path` is a ckptdb (RocksDB) database directory."""
  return os.path.isfile(os.path.join(path, 'CURRENT'))


def _step_prefix(prefix: str) -> Optional[str]:
  """ckptdb's step_prefix naming steps as Flax does, if there is one."""
  if len(prefix) > 1 and prefix.endswith('_'):
    return prefix[:-1]
  return None


class Store:
  """An open database; use `open_store` to get one."""

  def __init__(self, manager: ckptdb.CheckpointManager):
    self._mngr = manager

  def names(self) -> Dict[str, int]:
    """{checkpoint name: ckptdb step}; for a duplicated name, the newest."""
    out: Dict[str, int] = {}
    for key in sorted(self._mngr.all_steps()):
      meta = self._flax_meta(key)
      name = meta['name'] if meta else self._mngr.step_name(key)
      if name not in out or self._newer(key, out[name]):
        out[name] = key
    return out

  def _flax_meta(self, key: int) -> Optional[Dict[str, Any]]:
    custom = self._mngr.metadata(key).custom_metadata
    if isinstance(custom, dict) and isinstance(custom.get(_META_KEY), dict):
      return custom[_META_KEY]
    return None

  def _newer(self, a: int, b: int) -> bool:
    ta = self._mngr.metadata(a).commit_timestamp_nsecs
    tb = self._mngr.metadata(b).commit_timestamp_nsecs
    return (ta, a) > (tb, b)

  def _free_key(self, step: Any) -> int:
    used = set(self._mngr.all_steps())
    if (isinstance(step, int) and not isinstance(step, bool) and
        0 <= step < SYNTHETIC_BASE and step not in used):
      return step
    return max([SYNTHETIC_BASE - 1] + [k for k in used
                                       if k >= SYNTHETIC_BASE]) + 1

  def save(self, name: str, prefix: str, step: Any, state: Any) -> None:
    """Saves `state` as checkpoint `name`; an older one of that name goes.

    The new step is committed before the old one is deleted, so a crash
    leaves one of the two, never neither.
    """
    old = self.names().get(name)
    tree, kinds = _leaves.encode(state)
    meta = {_META_KEY: {'name': name, 'prefix': prefix, 'step': repr(step),
                        'leaf_kinds': kinds}}
    if tree is None or (isinstance(tree, (dict, list)) and not tree):
      args = ckptdb.args.JsonSave(tree)  # PyTreeSave refuses empty items
    else:
      args = ckptdb.args.PyTreeSave(tree)
    self._mngr.save(self._free_key(step), args=args, force=True,
                    custom_metadata=meta)
    if old is not None:
      self._mngr.delete(old)

  def restore(self, name: str) -> Any:
    """The state dict of checkpoint `name` (KeyError if there is none)."""
    key = self.names()[name]
    meta = self._flax_meta(key) or {}
    tree = self._mngr.restore(key, args=ckptdb.args.PyTreeRestore())
    return _leaves.decode(tree, meta.get('leaf_kinds'))

  def delete(self, name: str) -> None:
    self._mngr.delete(self.names()[name])


@contextlib.contextmanager
def open_store(ckpt_dir: str, writable: bool,
               prefix: str = 'checkpoint_') -> Iterator[Store]:
  """Opens the database at ckpt_dir (created if writable and missing).

  Raises ckptdb.FailedPreconditionError if ckpt_dir is a non-empty
  directory that is not a ckptdb database (e.g. legacy Flax files).
  """
  if writable:
    options = ckptdb.CheckpointManagerOptions(
        enable_async_checkpointing=False, step_prefix=_step_prefix(prefix))
  else:
    options = ckptdb.CheckpointManagerOptions(read_only=True)
  mngr = ckptdb.CheckpointManager(ckpt_dir, options=options)
  try:
    yield Store(mngr)
  finally:
    mngr.close()
