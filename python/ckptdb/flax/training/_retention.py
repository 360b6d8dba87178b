"""Flax's rules for which checkpoints a save makes invalid.

Pure functions over natural-sorted checkpoint paths (no I/O), following
Flax's `_check_overwrite_error` and `_remove_invalid_ckpts` (docs:
flax-legacy.md sections 1.4 and 1.5):

* overwrite: every checkpoint that sorts after the one just saved is
  deleted (history rolls back to it);
* keep: the `keep` newest are kept; among the older ones,
  keep_every_n_steps keeps a chain, oldest first, in which each kept step
  is at least n after the previous kept one. The chain starts at the
  oldest non-zero step: step 0 is never preserved (Flax tests `if step`).
"""

import math
from typing import List, Optional, Sequence, Tuple

from ckptdb.flax import errors
from ckptdb.flax.training import _naming


def check_overwrite(existing: Sequence[str], ckpt_path: str, step: object,
                    tmp_path: Optional[str] = None) -> None:
  """Raises InvalidCheckpointError unless ckpt_path would be the newest.

  Args:
    existing: the paths of the checkpoints with the same prefix.
    ckpt_path: the path of the checkpoint about to be saved.
    step: its step (for the message).
    tmp_path: a temporary path to ignore if it sorts last.
  """
  if ckpt_path in existing:
    raise errors.InvalidCheckpointError(ckpt_path, step)
  paths = _naming.natural_sort(list(existing) + [ckpt_path])
  if tmp_path is not None and paths[-1] == tmp_path:
    paths.pop()
  if ckpt_path != paths[-1]:
    raise errors.InvalidCheckpointError(ckpt_path, step)


def invalid_checkpoints(existing: Sequence[str], ckpt_path: str, keep: int,
                        overwrite: bool,
                        keep_every_n_steps: Optional[float]
                        ) -> Tuple[List[str], List[str]]:
  """The checkpoints a save of ckpt_path removes.

  Args:
    existing: paths of the checkpoints with the prefix, the new one
      included (any order).
    ckpt_path: the path just saved.
    keep: how many of the newest to keep.
    overwrite: the save was an overwrite (removes newer checkpoints).
    keep_every_n_steps: keep a chain of older steps at least this far apart.

  Returns:
    (newer, older): paths to delete because they are newer than an
    overwritten checkpoint, and old ones beyond `keep` not in the chain.
  """
  files = _naming.natural_sort(existing)
  newer: List[str] = []
  if overwrite and ckpt_path in files:
    ind = files.index(ckpt_path) + 1
    newer = files[ind:]
    files = files[:ind]
  older: List[str] = []
  last_kept = -math.inf
  if len(files) > keep:
    for path in files[:-keep]:  # oldest first; keep=0 keeps all (Flax)
      if keep_every_n_steps:
        step_number = _naming.checkpoint_path_step(path)
        if step_number and (step_number - last_kept) >= keep_every_n_steps:
          last_kept = step_number
          continue
      older.append(path)
  return newer, older
