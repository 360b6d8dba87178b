"""Orbax v1's training.Checkpointer over ckptdb's CheckpointManager.

    from ckptdb import v1 as ocp
    with ocp.training.Checkpointer(directory) as ckptr:
      for step in range(num_steps):
        ckptr.save(step, state, metrics={'loss': loss})
      state = ckptr.load()            # the latest step

As Orbax's: the default save decision is AnySavePolicy([InitialSavePolicy,
ContinuousCheckpointingPolicy, PreemptionCheckpointingPolicy]) and the
default preservation PreserveAll; `save` blocks until the step is committed
(`save_async` returns at once); a pytree is saved as the item 'pytree' of
the step. The steps live in one ckptdb database at `directory` (a
CheckpointManager database: v0 managers read it too).

context=: an ocp.Context, copied (default: the active one) and used for
every operation: its options apply as for the free functions (see
ckptdb.v1.options); one ckptdb cannot apply raises NotImplementedError from
the constructor. save_async returns an AsyncResponse (result() is True once
committed, waiting up to AsyncOptions.timeout_secs);
AsyncOptions.post_finalization_callback runs after each async commit.
load_async / load_checkpointables_async / load_pytree_async raise
NotImplementedError, as in Orbax (ocp.load_async loads in the background).
"""

import warnings
from typing import Any, Dict, List, Optional, Sequence

from ckptdb import args as args_lib
from ckptdb import checkpoint_manager as manager_lib
from ckptdb import checkpoint_managers as preservation_policies
from ckptdb import save_decision_policy as save_decision_policies
from ckptdb.v1 import _context
from ckptdb.v1 import errors
from ckptdb.v1._async import AsyncResponse
from ckptdb.v1._metadata import CheckpointMetadata
from ckptdb.v1._metadata import RootMetadata
from ckptdb.v1._metadata import step_path

PYTREE_CHECKPOINTABLE_KEY = 'pytree'

__all__ = ['CheckpointMetadata', 'Checkpointer', 'RootMetadata', 'errors',
           'preservation_policies', 'save_decision_policies']


def _step_of(step: Any) -> int:
  return step.step if isinstance(step, CheckpointMetadata) else step


def _async_save_response(manager: manager_lib.CheckpointManager,
                         ctx: _context.Context) -> AsyncResponse:
  """Orbax's _AsyncSaveResponse (AsyncResponse[bool]): result() waits for
  the save to commit (up to AsyncOptions.timeout_secs) and returns True;
  AsyncOptions.post_finalization_callback runs after the commit."""

  def wait() -> bool:
    manager.wait_until_finished()
    return True

  return AsyncResponse(
      wait, timeout_secs=ctx.asynchronous.timeout_secs,
      finalized=ctx.asynchronous.post_finalization_callback,
      name='ckptdb-v1-training-save')


class Checkpointer:
  """A sequence of checkpoints in a training loop (Orbax v1's)."""

  def __init__(self, directory: Any, *, context: Any = None,
               save_decision_policy: Any = None,
               preservation_policy: Any = None, step_name_format: Any = None,
               custom_metadata: Any = None,
               cleanup_tmp_directories: bool = False,
               lightweight_initialize: bool = False):
    # As Orbax: a copy of `context` (else of the active one), used for all
    # of this Checkpointer's operations.
    self._context = _context.Context(context or _context.get_context())
    _context.check(self._context, 'training.Checkpointer')
    if save_decision_policy is None:
      save_decision_policy = save_decision_policies.AnySavePolicy([
          save_decision_policies.InitialSavePolicy(),
          save_decision_policies.ContinuousCheckpointingPolicy(),
          save_decision_policies.PreemptionCheckpointingPolicy(),
      ])
    if preservation_policy is None:
      preservation_policy = preservation_policies.PreserveAll()
    options = manager_lib.CheckpointManagerOptions(
        save_decision_policy=save_decision_policy,
        preservation_policy=preservation_policy,
        step_name_format=step_name_format,
        cleanup_tmp_directories=cleanup_tmp_directories,
        lightweight_initialize=lightweight_initialize,
        max_to_keep=None)
    self._manager = manager_lib.CheckpointManager(
        directory, options=options, metadata=custom_metadata)

  # ---- queries ----

  @property
  def directory(self) -> Any:
    return self._manager.directory

  @property
  def checkpoints(self) -> Sequence[CheckpointMetadata]:
    """The steps, ascending, with cheap properties: step, path, metrics,
    commit_timestamp_nsecs (metadata is None)."""
    out: List[CheckpointMetadata] = []
    for step in sorted(self._manager.all_steps()):
      d = self._manager._core.step_metadata(step)  # pylint: disable=protected-access
      out.append(CheckpointMetadata(
          step=step, path=self._path(step), metadata=None,
          metrics=d['metrics'],
          commit_timestamp_nsecs=d['commit_timestamp_nsecs']))
    return out

  @property
  def latest(self) -> Optional[CheckpointMetadata]:
    checkpoints = self.checkpoints
    return checkpoints[-1] if checkpoints else None

  def _path(self, step: int) -> Any:
    return step_path(self._context.file.path_class(self.directory),
                     self._manager.step_name(step))

  def _resolve(self, step: Any) -> int:
    if step is None:
      latest = self._manager.latest_step()
      if latest is None:
        raise errors.StepNotFoundError(
            'Specified `step=None`, but no checkpoints were found.')
      return latest
    # TypeError for a step that is not an int (load('1') said no step 1).
    step = manager_lib._int64(_step_of(step), 'step')  # pylint: disable=protected-access
    if step not in self._manager.all_steps():
      raise errors.StepNotFoundError(f'No checkpoint found at step {step}.')
    return step

  def should_save(self, step: Any) -> bool:
    return self._manager.should_save(_step_of(step))

  # ---- save ----

  def save_checkpointables_async(self, step: int,
                                 checkpointables: Dict[str, Any], *,
                                 force: bool = False, overwrite: bool = False,
                                 metrics: Any = None,
                                 custom_metadata: Any = None
                                ) -> Optional[AsyncResponse]:
    """Starts saving {name: checkpointable} at `step` if the save decision
    policy says so (or force); None if not. StepAlreadyExistsError if the
    step exists and not overwrite (overwrite deletes it first)."""
    from ckptdb import v1  # pylint: disable=g-import-not-at-top
    items = v1._check_checkpointables(checkpointables)  # pylint: disable=protected-access
    if overwrite:
      try:
        self._manager.delete(step)
      except FileNotFoundError:
        pass
    elif step in self._manager.all_steps():
      raise errors.StepAlreadyExistsError(f'Step {step} already exists.')
    args = args_lib.Composite(
        **{k: v1.save_args_for(v, self._context, name=k)
           for k, v in items.items()})
    if not self._manager.save(step, args=args, metrics=metrics, force=force,
                              custom_metadata=custom_metadata):
      return None
    return _async_save_response(self._manager, self._context)

  def save_checkpointables(self, step: int, checkpointables: Dict[str, Any],
                           **kwargs: Any) -> bool:
    response = self.save_checkpointables_async(step, checkpointables,
                                               **kwargs)
    return False if response is None else response.result()

  def save_async(self, step: int, state: Any, *,
                 checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
                 **kwargs: Any) -> Optional[AsyncResponse]:
    return self.save_checkpointables_async(step, {checkpointable_name: state},
                                           **kwargs)

  def save(self, step: int, state: Any, *,
           checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY,
           force: bool = False, overwrite: bool = False, metrics: Any = None,
           custom_metadata: Any = None) -> bool:
    """Saves `state` at `step` if the policy says so (or force) and waits
    for the commit; returns whether it saved."""
    return self.save_checkpointables(
        step, {checkpointable_name: state}, force=force, overwrite=overwrite,
        metrics=metrics, custom_metadata=custom_metadata)

  # ---- load ----

  def load_checkpointables(self, step: Any = None,
                           abstract_checkpointables: Optional[Dict[str, Any]] = None
                          ) -> Dict[str, Any]:
    """{name: value} at `step` (None: the latest): the names given in
    abstract_checkpointables (values: abstract trees, or None), else all."""
    from ckptdb import v1  # pylint: disable=g-import-not-at-top
    step = self._resolve(step)
    wanted = abstract_checkpointables or {}
    result = self._manager.restore(step, args=args_lib.Composite(
        **{k: v1.restore_args_for(v, self._context)
           for k, v in wanted.items()}))
    return dict(result)

  def load(self, step: Any = None, abstract_state: Any = None, *,
           checkpointable_name: str = PYTREE_CHECKPOINTABLE_KEY) -> Any:
    """The pytree at `step` (None: the latest), in abstract_state's
    structure and dtypes when given."""
    return self.load_checkpointables(
        step, {checkpointable_name: abstract_state})[checkpointable_name]

  def load_async(self, *unused_args: Any, **unused_kwargs: Any) -> Any:
    """Not supported (NotImplementedError), as in Orbax; ocp.load_async
    loads one checkpoint in the background."""
    raise NotImplementedError(
        'training.Checkpointer.load_async is not supported (as in Orbax)')

  def load_checkpointables_async(self, *unused_args: Any,
                                 **unused_kwargs: Any) -> Any:
    raise NotImplementedError(
        'training.Checkpointer.load_checkpointables_async is not supported '
        '(as in Orbax)')

  # ---- metadata ----

  def _checkpoint_metadata(self, step: Any, pytree: bool
                          ) -> CheckpointMetadata:
    step = self._resolve(step)
    m = self._manager.metadata(step)
    items = m.item_metadata
    if pytree:
      items = (items[PYTREE_CHECKPOINTABLE_KEY]
               if PYTREE_CHECKPOINTABLE_KEY in getattr(items, 'keys', lambda: ())()
               else items)
    else:
      items = dict(items) if isinstance(items, args_lib.Composite) else items
    return CheckpointMetadata(
        step=step, path=self._path(step), metadata=items,
        init_timestamp_nsecs=m.init_timestamp_nsecs,
        commit_timestamp_nsecs=m.commit_timestamp_nsecs,
        custom_metadata=m.custom_metadata,
        metrics=self._manager.metrics(step))

  def metadata(self, step: Any = None) -> CheckpointMetadata:
    """Metadata of `step` (None: the latest): `.metadata` is the pytree's
    tree with ckptdb.ArrayMetadata leaves; also timestamps, custom metadata
    and metrics."""
    return self._checkpoint_metadata(step, pytree=True)

  def checkpointables_metadata(self, step: Any = None) -> CheckpointMetadata:
    return self._checkpoint_metadata(step, pytree=False)

  def root_metadata(self) -> RootMetadata:
    """The custom_metadata given to the first Checkpointer of this
    directory (persisted)."""
    return RootMetadata(
        directory=self.directory,
        custom_metadata=self._manager.metadata().custom_metadata)

  # ---- lifecycle ----

  def reload(self) -> None:
    self._manager.reload()

  def is_saving_in_progress(self) -> bool:
    return self._manager.is_saving_in_progress()

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

  def __enter__(self) -> 'Checkpointer':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  # Orbax's deprecated names.
  def save_pytree(self, *args: Any, **kwargs: Any) -> bool:
    _deprecated('save_pytree', 'save')
    return self.save(*args, **kwargs)

  def save_pytree_async(self, *args: Any, **kwargs: Any) -> Any:
    _deprecated('save_pytree_async', 'save_async')
    return self.save_async(*args, **kwargs)

  def load_pytree(self, step: Any = None, abstract_pytree: Any = None,
                  **kwargs: Any) -> Any:
    _deprecated('load_pytree', 'load')
    if 'abstract_state' in kwargs:
      abstract_pytree = kwargs.pop('abstract_state')
    return self.load(step, abstract_pytree, **kwargs)

  def load_pytree_async(self, *args: Any, **kwargs: Any) -> Any:
    _deprecated('load_pytree_async', 'load_async')
    return self.load_async(*args, **kwargs)

  def pytree_metadata(self, *args: Any, **kwargs: Any) -> CheckpointMetadata:
    _deprecated('pytree_metadata', 'metadata')
    return self.metadata(*args, **kwargs)

  def __repr__(self) -> str:
    return f"training.Checkpointer('{self.directory}')"


def _deprecated(old: str, new: str) -> None:
  warnings.warn(f'Checkpointer.{old} is deprecated (as in Orbax): use {new}',
                DeprecationWarning, stacklevel=3)
