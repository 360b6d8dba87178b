"""Orbax's checkpoint handlers, as configuration for Checkpointer.

A handler names the kind of object a Checkpointer (or a CheckpointManager
item) saves, and so which `ocp.args` classes the legacy call style builds:
    Checkpointer(PyTreeCheckpointHandler()).save(path, tree, save_args=...)
is Checkpointer(...).save(path, args=PyTreeSave(tree, save_args=...)).
Storage options of Orbax's handlers (use_ocdbt, save_concurrent_gb, ...)
are accepted; each one set to other than Orbax's default warns once, saying
what ckptdb does instead: every handler stores its item as one ckptdb tree.
"""

from typing import Any, Dict, Optional

from ckptdb import _ignored
from ckptdb import args as args_lib


def _warn_options(cls_name: str, given: Dict[str, Any],
                  defaults: Dict[str, Any]) -> None:
  """Warns once per option set to other than Orbax's default; TypeError
  for a keyword Orbax's handler does not take (as Python would)."""
  for name, value in given.items():
    if name not in defaults:
      raise TypeError(f'{cls_name}() got an unexpected keyword argument '
                      f'{name!r}')
    default = defaults[name]
    if value is default or (not callable(value) and value == default):
      continue
    _ignored.warn_once(f'{cls_name}({name}=...)', _ignored.HANDLER_OPTIONS[name],
                       stacklevel=5)


class CheckpointHandler:
  """Base class. save_args_cls / restore_args_cls: the legacy call style.

  _ORBAX_OPTIONS: the keyword options of Orbax's handler and their
  defaults; ckptdb accepts them and warns once for each one set to another
  value, saying what it does instead (_ignored.HANDLER_OPTIONS).
  """
  save_args_cls = args_lib.PyTreeSave
  restore_args_cls = args_lib.PyTreeRestore
  _ORBAX_OPTIONS: Dict[str, Any] = {}

  def __init__(self, **options: Any):
    _warn_options(type(self).__name__, options, self._ORBAX_OPTIONS)

  def __repr__(self) -> str:
    return f'{type(self).__name__}()'

  def close(self) -> None:
    pass


class PyTreeCheckpointHandler(CheckpointHandler):
  """Any pytree of arrays, scalars and strings."""
  save_args_cls = args_lib.PyTreeSave
  restore_args_cls = args_lib.PyTreeRestore
  _ORBAX_OPTIONS = {
      'save_concurrent_gb': None, 'restore_concurrent_gb': None,
      'save_device_host_concurrent_gb': None, 'memory_limit_options': None,
      'use_ocdbt': True, 'use_zarr3': False, 'use_compression': True,
      'multiprocessing_options': None, 'type_handler_registry': None,
      'handler_impl': None, 'pytree_metadata_options': None,
      'array_metadata_validator': None, 'enable_pinned_host_transfer': None,
      'is_prioritized_key_fn': None,
  }

  def __init__(self, aggregate_filename: Optional[str] = None, **options: Any):
    super().__init__(**options)
    if aggregate_filename is not None:
      _ignored.warn_once(f'{type(self).__name__}(aggregate_filename=...)',
                         _ignored.HANDLER_OPTIONS['aggregate_filename'],
                         stacklevel=3)


class StandardCheckpointHandler(CheckpointHandler):
  """A pytree of arrays and scalars; a bare leaf is rejected."""
  save_args_cls = args_lib.StandardSave
  restore_args_cls = args_lib.StandardRestore
  _ORBAX_OPTIONS = {
      'save_concurrent_gb': 96, 'restore_concurrent_gb': 96,
      'multiprocessing_options': None, 'pytree_metadata_options': None,
      'use_ocdbt': True,
  }


class ArrayCheckpointHandler(CheckpointHandler):
  """A single array or scalar (stored as a one-leaf tree)."""
  save_args_cls = args_lib.ArraySave
  restore_args_cls = args_lib.ArrayRestore

  def __init__(self, checkpoint_name: Optional[str] = None):
    super().__init__()
    self.checkpoint_name = checkpoint_name or 'checkpoint'


class JsonCheckpointHandler(CheckpointHandler):
  """A JSON value, restored as JSON gives it back (see args.JsonSave)."""
  save_args_cls = args_lib.JsonSave
  restore_args_cls = args_lib.JsonRestore
  _ORBAX_OPTIONS = {'multiprocessing_options': None}

  def __init__(self, filename: Optional[str] = None, **options: Any):
    super().__init__(**options)
    self.filename = filename or 'metadata'


class CompositeCheckpointHandler(CheckpointHandler):
  """Several named items, saved and restored with ocp.args.Composite."""
  save_args_cls = args_lib.Composite
  restore_args_cls = args_lib.Composite

  def __init__(self, *item_names: str, composite_options: Any = None,
               handler_registry: Any = None,
               **item_handlers: CheckpointHandler):
    super().__init__()
    if composite_options is not None:
      _ignored.warn_once('CompositeCheckpointHandler(composite_options=...)',
                         _ignored.HANDLER_OPTIONS['composite_options'])
    if handler_registry is not None:
      raise NotImplementedError(
          'ckptdb does not support handler_registry; name the items and '
          'pass args to save and restore')
    self.item_handlers: Dict[str, Optional[CheckpointHandler]] = {
        name: None for name in item_names}
    self.item_handlers.update(item_handlers)


class JaxRandomKeyCheckpointHandler(CheckpointHandler):
  """A JAX random key, typed or not (args.JaxRandomKeySave/Restore)."""
  save_args_cls = args_lib.JaxRandomKeySave
  restore_args_cls = args_lib.JaxRandomKeyRestore

  def __init__(self, key_name: Optional[str] = None):
    super().__init__()
    self.key_name = key_name or 'jax_random_key'


class NumpyRandomKeyCheckpointHandler(CheckpointHandler):
  """A numpy random state (args.NumpyRandomKeySave/Restore)."""
  save_args_cls = args_lib.NumpyRandomKeySave
  restore_args_cls = args_lib.NumpyRandomKeyRestore

  def __init__(self, key_name: Optional[str] = None):
    super().__init__()
    self.key_name = key_name or 'np_random_key'


class ProtoCheckpointHandler(CheckpointHandler):
  """A protocol buffer message (args.ProtoSave/ProtoRestore)."""
  save_args_cls = args_lib.ProtoSave
  restore_args_cls = args_lib.ProtoRestore

  def __init__(self, filename: Optional[str] = None):
    super().__init__()
    self.filename = filename or 'proto.pbtxt'


# Which handler an args class belongs to (to restore an item the way it was
# saved when no restore args are given).
HANDLER_FOR_ARGS = {
    args_lib.PyTreeSave: PyTreeCheckpointHandler,
    args_lib.PyTreeRestore: PyTreeCheckpointHandler,
    args_lib.StandardSave: StandardCheckpointHandler,
    args_lib.StandardRestore: StandardCheckpointHandler,
    args_lib.ArraySave: ArrayCheckpointHandler,
    args_lib.ArrayRestore: ArrayCheckpointHandler,
    args_lib.JsonSave: JsonCheckpointHandler,
    args_lib.JsonRestore: JsonCheckpointHandler,
    args_lib.JaxRandomKeySave: JaxRandomKeyCheckpointHandler,
    args_lib.JaxRandomKeyRestore: JaxRandomKeyCheckpointHandler,
    args_lib.NumpyRandomKeySave: NumpyRandomKeyCheckpointHandler,
    args_lib.NumpyRandomKeyRestore: NumpyRandomKeyCheckpointHandler,
    args_lib.ProtoSave: ProtoCheckpointHandler,
    args_lib.ProtoRestore: ProtoCheckpointHandler,
}
