"""Orbax v1's ocp.handlers: not provided by ckptdb.

Orbax's CheckpointableHandler protocol writes each checkpointable into its
own directory; a ckptdb checkpoint is one database, so there are no v1
handlers or handler registries. A checkpointable is a pytree, or an
ocp.args object (ckptdb.args.JsonSave, ProtoSave, ...) for the other kinds.
Any name of this module raises AttributeError saying so.
"""

from typing import Any

_NAMES = ('Checkpointable', 'AbstractCheckpointable', 'CheckpointableHandler',
          'StatefulCheckpointable', 'PyTreeHandler', 'ProtoHandler',
          'JsonHandler', 'CheckpointableHandlerRegistry', 'global_registry',
          'local_registry', 'register_handler')


def __getattr__(name: str) -> Any:
  known = (f"Orbax's ocp.handlers.{name}" if name in _NAMES else
           f'ocp.handlers.{name}')
  raise AttributeError(
      f'{known} is not provided by ckptdb.v1: a checkpoint is one ckptdb '
      'database, without per-checkpointable handlers or registries; save a '
      'pytree, or an ocp.args object (e.g. ckptdb.args.JsonSave) for other '
      'kinds of checkpointable')
