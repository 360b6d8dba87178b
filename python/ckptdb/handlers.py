"""Orbax's checkpoint handlers, as configuration for Checkpointer.

A handler names the kind of object a Checkpointer (or a CheckpointManager
item) saves, and so which `ocp.args` classes the legacy call style builds:
    Checkpointer(PyTreeCheckpointHandler()).save(path, tree, save_args=...)
is Checkpointer(...).save(path, args=PyTreeSave(tree, save_args=...)).
Storage options of Orbax's handlers (use_ocdbt, concurrent_gb, ...) are
accepted and ignored: every handler stores its item as one ckptdb tree.
"""

from typing import Any, Dict, Optional

from ckptdb import args as args_lib


class CheckpointHandler:
  """Base class. save_args_cls / restore_args_cls: the legacy call style."""
  save_args_cls = args_lib.PyTreeSave
  restore_args_cls = args_lib.PyTreeRestore

  def __init__(self, *unused_args: Any, **unused_kwargs: Any):
    pass

  def __repr__(self) -> str:
    return f'{type(self).__name__}()'

  def close(self) -> None:
    pass


class PyTreeCheckpointHandler(CheckpointHandler):
  """Any pytree of arrays, scalars and strings."""
  save_args_cls = args_lib.PyTreeSave
  restore_args_cls = args_lib.PyTreeRestore


class StandardCheckpointHandler(CheckpointHandler):
  """A pytree of arrays and scalars; a bare leaf is rejected."""
  save_args_cls = args_lib.StandardSave
  restore_args_cls = args_lib.StandardRestore


class ArrayCheckpointHandler(CheckpointHandler):
  """A single array or scalar (stored as a one-leaf tree)."""
  save_args_cls = args_lib.ArraySave
  restore_args_cls = args_lib.ArrayRestore

  def __init__(self, checkpoint_name: Optional[str] = None, **unused: Any):
    super().__init__()
    self.checkpoint_name = checkpoint_name or 'checkpoint'


class JsonCheckpointHandler(CheckpointHandler):
  """A JSON value, restored as JSON gives it back (see args.JsonSave)."""
  save_args_cls = args_lib.JsonSave
  restore_args_cls = args_lib.JsonRestore

  def __init__(self, filename: Optional[str] = None, **unused: Any):
    super().__init__()
    self.filename = filename or 'metadata'


class CompositeCheckpointHandler(CheckpointHandler):
  """Several named items, saved and restored with ocp.args.Composite."""
  save_args_cls = args_lib.Composite
  restore_args_cls = args_lib.Composite

  def __init__(self, *item_names: str, **item_handlers: CheckpointHandler):
    super().__init__()
    self.item_handlers: Dict[str, Optional[CheckpointHandler]] = {
        name: None for name in item_names}
    self.item_handlers.update(item_handlers)


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
}
