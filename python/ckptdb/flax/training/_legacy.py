"""Legacy Flax checkpoints: single msgpack files in a directory.

Read directly, so that checkpoints written by Flax (or NetKet, T5X, ...)
restore without an import step. Discovery follows Flax's _all_checkpoints:
the directory's entries matching f'{prefix}*', without the temporary
f'{prefix}tmp', '*_gda' multiprocess-array directories and Orbax
temporaries, in natural-sort order.
"""

import os
import stat
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
    errors.MsgpackFormatError: naming the file and the byte offset; or
      path is not a regular file once symlinks are followed (a FIFO, a
      device, a socket: refused before it is opened, which could block
      forever).
    IsADirectoryError: path is a directory (e.g. an Orbax checkpoint, which
      ckptdb does not read).
  """
  if os.path.isdir(path):
    raise IsADirectoryError(
        f'{path} is a directory, not a legacy Flax msgpack checkpoint file '
        '(an Orbax checkpoint directory? ckptdb does not read those)')
  mode = os.stat(path).st_mode
  if not stat.S_ISREG(mode):
    raise errors.MsgpackFormatError(
        f'not a regular file ({_file_kind(mode)}); ckptdb reads legacy '
        'checkpoints only from regular files', path)
  with open(path, 'rb') as f:
    data = f.read()
  if not data:
    raise errors.MsgpackFormatError('the file is empty', path, 0)
  return serialization.decode(data, path)


def _file_kind(mode: int) -> str:
  """What a file that is neither a regular file nor a directory is."""
  if stat.S_ISFIFO(mode):
    return 'a FIFO'
  if stat.S_ISCHR(mode):
    return 'a character device'
  if stat.S_ISBLK(mode):
    return 'a block device'
  if stat.S_ISSOCK(mode):
    return 'a socket'
  return f'file type {stat.S_IFMT(mode):#o}'
