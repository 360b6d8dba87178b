"""Legacy Flax checkpoints: single msgpack files in a directory.

Read directly, so that checkpoints written by Flax (or NetKet, T5X, ...)
restore without an import step. Discovery follows Flax's _all_checkpoints:
the directory's entries matching f'{prefix}*', without the temporary
f'{prefix}tmp', '*_gda' multiprocess-array directories and Orbax
temporaries, in natural-sort order.
"""

import os
from typing import Any, List

from ckptdb.flax import errors
from ckptdb.flax import serialization
from ckptdb.flax.training import _naming

def list_checkpoints(ckpt_dir: str, prefix: str) -> List[str]:
  """Natural-sorted paths of the prefix's checkpoints in ckpt_dir."""
  try:
    entries = os.listdir(ckpt_dir)
  except (FileNotFoundError, NotADirectoryError):
    return []
  paths = [os.path.join(ckpt_dir, e) for e in entries
           if _naming.is_checkpoint_name(e, prefix)]
  return _naming.natural_sort(paths)


def read_checkpoint(path: str) -> Any:
  """The state dict in a legacy msgpack checkpoint file.

  Raises:
    errors.MsgpackFormatError: naming the file and the byte offset.
    IsADirectoryError: path is a directory (e.g. an Orbax checkpoint, which
      ckptdb does not read).
  """
  if os.path.isdir(path):
    raise IsADirectoryError(
        f'{path} is a directory, not a legacy Flax msgpack checkpoint file '
        '(an Orbax checkpoint directory? ckptdb does not read those)')
  with open(path, 'rb') as f:
    data = f.read()
  if not data:
    raise errors.MsgpackFormatError('the file is empty', path, 0)
  return serialization.decode(data, path)
