"""Orbax's CheckpointManager and CheckpointManagerOptions over ckptdb.

    options = ckptdb.CheckpointManagerOptions(max_to_keep=3, keep_period=2)
    with ckptdb.CheckpointManager('/ckpt/run1', options=options) as mngr:
      mngr.save(step, args=ckptdb.args.StandardSave(state))
      state = mngr.restore(mngr.latest_step())

All steps live in one ckptdb database (the directory); save decisions and
retention are the C++ core's implementation of Orbax's rules. Both call
styles work: the current one (`args=`), and the legacy one
(`CheckpointManager(directory, checkpointer, options)` with
`save(step, items, save_kwargs=...)` / `restore(step, items=...,
restore_kwargs=...)`).

A directory that is an Orbax CheckpointManager root (its step folders
written by Orbax) is read in place: its committed steps are listed and
restored through the C++ reader, and every write (save, delete) raises
FailedPreconditionError saying to import it first (`ckptdb import --all`).
"""

import collections.abc
import dataclasses
import datetime
import logging
import operator
import os
import pathlib
import time
import warnings
from typing import Any, Callable, Container, Dict, Mapping, Optional

from ckptdb import _ckptdb
from ckptdb import _ignored
from ckptdb import _orbax_direct
from ckptdb import _preemption
from ckptdb import _root_metadata
from ckptdb import _step_statistics
from ckptdb import _tree
from ckptdb import args as args_lib
from ckptdb import checkpoint_managers
from ckptdb import checkpointers as checkpointers_lib
from ckptdb import handlers as handlers_lib
from ckptdb import metadata as metadata_lib
from ckptdb import save_decision_policy

_log = logging.getLogger(__name__)

DEFAULT_ITEM_NAME = 'default'

# Orbax's metadata classes (defined in ckptdb.metadata, as Orbax's
# ocp.metadata).
StepMetadata = metadata_lib.StepMetadata
StepStatistics = metadata_lib.StepStatistics
RootMetadata = metadata_lib.RootMetadata

# Raised for a forced save of a step that exists (Orbax's name; a
# ValueError and a FileExistsError).
StepAlreadyExistsError = _ckptdb.AlreadyExistsError


@dataclasses.dataclass
class AsyncOptions:
  """Orbax's AsyncOptions; accepted and ignored (no timeouts or barriers)."""
  timeout_secs: int = 1200
  barrier_sync_fn: Any = None
  post_finalization_callback: Any = None
  create_directories_asynchronously: bool = True


def _int64(value: Any, what: str) -> int:
  """`value` as an int that fits int64, else TypeError/ValueError naming it."""
  if isinstance(value, bool):
    raise TypeError(f'{what} must be an int, got bool {value!r}')
  try:
    i = operator.index(value)
  except TypeError:
    raise TypeError(f'{what} must be an int, got {type(value).__name__} '
                    f'{value!r}') from None
  if not -2**63 <= i < 2**63:
    raise ValueError(f'{what} {i} is out of range (64-bit signed integers)')
  return i


@dataclasses.dataclass
class CheckpointManagerOptions:
  """Orbax's CheckpointManagerOptions (same names, defaults and checks).

  Used: save_interval_steps, save_on_steps, should_save_fn, max_to_keep,
  keep_time_interval (timedelta or seconds), keep_period, best_fn,
  best_mode, keep_checkpoints_without_metrics, step_prefix,
  step_format_fixed_length, create, read_only, enable_async_checkpointing,
  preservation_policy.
  save_decision_policy (the sole save decision when given, as in Orbax).
  Not supported (NotImplementedError): step_name_format.
  Accepted and ignored (multi-host, file-system and deletion details that
  ckptdb's single database makes moot): the rest; each warns once, when set
  to other than its default, saying what ckptdb does instead.
  ckptdb additions: gc_garbage_fraction, tuning (StoreTuning), and
  handle_preemption_signal: install a SIGTERM handler (from the main thread)
  after which reached_preemption(step) is True, so the default decision and
  PreemptionCheckpointingPolicy save; close() restores the previous handler.
  (Orbax learns of preemptions from JAX's distributed runtime instead.)
  """
  save_interval_steps: int = 1
  max_to_keep: Optional[int] = None
  keep_time_interval: Optional[Any] = None
  keep_period: Optional[int] = None
  should_keep_fn: Optional[Callable[[int], bool]] = None
  best_fn: Optional[Callable[[Any], float]] = None
  best_mode: str = 'max'
  keep_checkpoints_without_metrics: bool = True
  step_prefix: Optional[str] = None
  step_format_fixed_length: Optional[int] = None
  step_name_format: Any = None
  create: bool = True
  cleanup_tmp_directories: bool = False
  save_on_steps: Optional[Container[int]] = None
  single_host_load_and_broadcast: bool = False
  todelete_subdir: Optional[str] = None
  todelete_full_path: Optional[str] = None
  enable_background_delete: bool = False
  num_deletion_threads: Optional[int] = None
  read_only: bool = False
  enable_async_checkpointing: bool = True
  async_options: Optional[AsyncOptions] = None
  multiprocessing_options: Any = None
  should_save_fn: Optional[Callable[[int, Optional[int]], bool]] = None
  file_options: Any = None
  atomicity_options: Any = None
  save_root_metadata: bool = True
  temporary_path_class: Any = None
  save_decision_policy: Any = None
  preservation_policy: Any = None
  prevent_write_metrics: bool = False
  enable_should_save_is_saving_in_progress_check: bool = True
  enable_per_process_directory_creation: bool = False
  lightweight_initialize: bool = False
  # ckptdb only.
  handle_preemption_signal: bool = False
  gc_garbage_fraction: float = 0.25
  tuning: Any = None

  def __post_init__(self):
    for name in ('save_interval_steps', 'max_to_keep', 'keep_period',
                 'step_format_fixed_length'):
      value = getattr(self, name)
      if value is not None:
        setattr(self, name, _int64(value, f'CheckpointManagerOptions.{name}'))
    if self.save_on_steps is not None:
      self.save_on_steps = [
          _int64(s, 'CheckpointManagerOptions.save_on_steps entry')
          for s in self.save_on_steps]
    if self.best_mode not in ('min', 'max'):
      raise ValueError(
          "`CheckpointManagerOptions.best_mode` must be one of None, 'min' "
          f"or 'max'. Got {self.best_mode}.")
    if self.max_to_keep is not None and self.max_to_keep < 0:
      raise ValueError('Setting of `max_to_keep` must be None or non-negative.')
    if self.read_only:
      # As Orbax: a read-only manager neither saves nor deletes.
      self.save_interval_steps = 0
      self.max_to_keep = None
      self.keep_time_interval = None
      self.keep_period = None
      self.create = False
      self.cleanup_tmp_directories = False
      self.save_on_steps = None
      self.todelete_subdir = None
      self.should_save_fn = None
    if self.should_keep_fn is not None:
      warnings.warn('should_keep_fn is ignored (as in Orbax >= 0.11.13); use '
                    'preservation_policy', stacklevel=2)
    self.save_on_steps = frozenset(self.save_on_steps or ())
    self._warn_ignored()

  def _warn_ignored(self) -> None:
    """Warns once for each ignored option set to other than its default."""
    defaults = {f.name: f.default for f in dataclasses.fields(self)}
    for name, instead in _ignored.MANAGER_OPTIONS.items():
      value = getattr(self, name)
      if name == 'async_options' and value == AsyncOptions():
        continue
      if value != defaults[name]:
        _ignored.warn_once(f'CheckpointManagerOptions.{name}', instead,
                           stacklevel=5)

  def _core_options(self, use_async: bool) -> Dict[str, Any]:
    if self.step_name_format is not None:
      raise NotImplementedError(
          'ckptdb does not support step_name_format; use step_prefix and '
          'step_format_fixed_length')
    if self.keep_period == 0:
      # The core would say Orbax's 'interval_steps must not be 0.' (from its
      # EveryNSteps policy), an option the caller never set: name theirs.
      raise _ckptdb.InvalidArgumentError(
          'keep_period must not be 0 (as in Orbax: interval_steps must not '
          'be 0.)')
    policy = (checkpoint_managers.policy_spec(self.preservation_policy)
              if self.preservation_policy is not None else None)
    interval = self.keep_time_interval
    if isinstance(interval, datetime.timedelta):
      interval = int(interval.total_seconds())
    return {
        'save_interval_steps': self.save_interval_steps,
        'save_on_steps': sorted(self.save_on_steps) or None,
        'should_save_fn': self.should_save_fn,
        'max_to_keep': self.max_to_keep,
        'keep_period': self.keep_period,
        'keep_time_interval_secs': None if interval is None else int(interval),
        'best_fn': self.best_fn,
        'best_mode': self.best_mode,
        'keep_checkpoints_without_metrics':
            self.keep_checkpoints_without_metrics,
        'preservation_policy': policy,
        'step_prefix': self.step_prefix,
        'step_format_fixed_length': self.step_format_fixed_length,
        'create': self.create,
        'read_only': self.read_only,
        'enable_async_checkpointing': use_async,
        'gc_garbage_fraction': self.gc_garbage_fraction,
        'tuning': _tree.tuning_dict(self.tuning),
        'multiprocessing': self._multiprocessing(),
    }

  def _multiprocessing(self) -> Dict[str, Any]:
    """ckptdb.multihost's processes (or JAX's), and Orbax's primary_host."""
    from ckptdb import multihost  # pylint: disable=g-import-not-at-top
    primary = getattr(self.multiprocessing_options, 'primary_host', 0)
    timeout = (self.async_options.timeout_secs
               if self.async_options is not None else 300)
    return {
        'process_index': multihost.process_index(),
        'process_count': multihost.process_count(),
        'primary': 0 if primary is None else int(primary),
        'barrier': multihost.barrier(),
        'timeout_s': float(timeout),
    }


class _StepInfos(collections.abc.Sequence):
  """The saved steps as PolicyCheckpointInfo, oldest first, read lazily
  (a policy usually looks at the last one at most)."""

  def __init__(self, core: Any, steps: list):
    self._core = core
    self._steps = sorted(steps)

  def __len__(self) -> int:
    return len(self._steps)

  def __getitem__(self, i: Any) -> Any:
    if isinstance(i, slice):
      return [self[j] for j in range(*i.indices(len(self)))]
    step = self._steps[i]
    try:
      d = self._core.step_metadata(step)
      ns, metrics = d['init_timestamp_nsecs'], d['metrics']
    except Exception:  # pylint: disable=broad-except  # e.g. in flight
      ns, metrics = time.time_ns(), None
    return checkpoint_managers.PolicyCheckpointInfo(
        step, datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc),
        metrics)


def _handler_for_args(a: Any) -> handlers_lib.CheckpointHandler:
  return handlers_lib.HANDLER_FOR_ARGS.get(
      type(a), handlers_lib.PyTreeCheckpointHandler)()


class CheckpointManager:
  """Numbered steps in one ckptdb database, with Orbax's semantics.

  Differences from Orbax (see docs/python.md): restoring without a target
  keeps tuples, int keys and numpy scalar dtypes (as 0-d arrays); restoring
  with a target fills its arrays in place only when asked (in_place=True);
  metrics are always persisted; deletion is atomic.

  `run` names a run of the database (ckptdb's addition): one database holds
  any number of runs, each with its own steps and retention, sharing one
  chunk store, so the bytes a sweep's runs share are stored once. The
  default ('') is the database's default run.
  """

  def __init__(self, directory: Any, checkpointers: Any = None,
               options: Optional[CheckpointManagerOptions] = None,
               metadata: Optional[Mapping[str, Any]] = None,
               item_names: Optional[Any] = None,
               item_handlers: Optional[Any] = None, logger: Any = None,
               handler_registry: Any = None, run: str = ''):
    self._options = options if options is not None else (
        CheckpointManagerOptions())
    if logger is not None:
      _ignored.warn_once('CheckpointManager(logger=...)',
                         'ckptdb does not log checkpoint events')
    self._directory = pathlib.Path(os.fspath(directory))
    self._handlers: Dict[str, handlers_lib.CheckpointHandler] = {}
    self._single: Optional[bool] = None
    use_async = self._options.enable_async_checkpointing
    if checkpointers is not None and item_names is not None:
      raise ValueError('`item_names` and `checkpointers` are mutually '
                       'exclusive - do not use together.')
    if checkpointers is not None and item_handlers is not None:
      raise ValueError('`item_handlers` and `checkpointers` are mutually '
                       'exclusive - do not use together.')
    if handler_registry is not None:
      raise NotImplementedError(
          'ckptdb does not support handler_registry; use item_handlers, or '
          'simply pass args to save and restore')
    if checkpointers is not None:  # legacy
      if isinstance(checkpointers, checkpointers_lib.Checkpointer):
        self._single = True
        self._handlers[DEFAULT_ITEM_NAME] = checkpointers.handler
        use_async = isinstance(checkpointers,
                               checkpointers_lib.AsyncCheckpointer)
      elif isinstance(checkpointers, collections.abc.Mapping):
        self._single = False
        use_async = False
        for name, c in checkpointers.items():
          if not isinstance(c, checkpointers_lib.Checkpointer):
            raise ValueError(f'Value corresponding to {name} in '
                             '`checkpointers` is not a Checkpointer. Found '
                             f'{type(c)}.')
          self._handlers[name] = c.handler
          use_async |= isinstance(c, checkpointers_lib.AsyncCheckpointer)
      else:
        raise ValueError(
            f'Invalid type for `checkpointers`. Found {checkpointers}.')
    elif item_handlers is not None or item_names is not None:
      if isinstance(item_handlers, handlers_lib.CheckpointHandler):
        if item_names is not None:
          raise ValueError('`item_handlers` in default item mode and '
                           '`item_names` should not be provided together.')
        self._single = True
        self._handlers[DEFAULT_ITEM_NAME] = item_handlers
      else:
        self._single = False
        for name in item_names or ():
          self._handlers.setdefault(name, handlers_lib.PyTreeCheckpointHandler())
        for name, h in (item_handlers or {}).items():
          self._handlers[name] = h
    if metadata is not None:
      metadata = dict(metadata)
      _root_metadata.check_json(metadata)
    # The handler first: installing it may fail (not the main thread), and
    # then no database is left open.
    self._preemption = (_preemption.SignalHandler()
                        if self._options.handle_preemption_signal else None)
    orbax_listing = _orbax_direct.orbax_root_listing(str(self._directory))
    if orbax_listing is not None and run:
      raise ValueError(f"'{self._directory}' is an Orbax CheckpointManager "
                       f'root: it has no runs (got run={run!r})')
    try:
      if orbax_listing is not None:
        self._core = _orbax_direct.RootCore(
            str(self._directory), orbax_listing, self._options.best_fn,
            self._options.best_mode)
      else:
        self._core = _ckptdb.CheckpointManager(
            str(self._directory), self._options._core_options(use_async),  # pylint: disable=protected-access
            run)
    except BaseException:
      if self._preemption is not None:
        self._preemption.close()
      raise
    self._closed = False
    checkpointers_lib.register_live(self)
    # Save timings (StepMetadata.performance_metrics), see _step_statistics.
    self._statistics = _step_statistics.Reader(self._directory, run)
    self._last_save_time: Optional[float] = None
    # Orbax: written once (never overwritten) when metadata is given and the
    # manager may write; read lazily by metadata().
    self._root_metadata: Optional[RootMetadata] = None
    if orbax_listing is not None:  # Orbax's root metadata is not read
      self._root_metadata = RootMetadata(custom_metadata=metadata or {})
      return
    try:
      stored = _root_metadata.exists(self._directory)
      if (metadata is not None and self._options.save_root_metadata and
          not self._options.read_only and not stored):
        _root_metadata.write_once(self._directory, metadata)
      elif self._options.read_only and not stored:
        self._root_metadata = RootMetadata(custom_metadata=metadata or {})
    except BaseException:
      self.close()
      raise

  # ---- properties and queries ----

  @property
  def directory(self) -> pathlib.Path:
    return self._directory

  @property
  def options(self) -> CheckpointManagerOptions:
    return self._options

  @property
  def is_orbax(self) -> bool:
    """ckptdb: True if the directory is an Orbax CheckpointManager root,
    read in place (its steps restore; saving raises)."""
    return isinstance(self._core, _orbax_direct.RootCore)

  @property
  def following(self) -> bool:
    """True while another process (or manager) writes the database: this
    one reads, and each listing or restore first picks up the writer's new
    steps (those committed 100 ms or more before the call). Its saves and
    deletes are committed by the writer, and make it the writer once that
    one has closed, exited or been killed."""
    return self._core.following

  @property
  def run(self) -> str:
    """The run this manager saves and reads ('' for the default run)."""
    return self._core.run

  def fork(self, from_run: str, step: int, new_run: str) -> None:
    """Starts run `new_run` of this database from step `step` of run
    `from_run` (the same step number), sharing every chunk: nothing is
    copied but the tree's records. A fine-tuning sweep forks each job's run
    from the pretrained checkpoint."""
    self._core.fork(from_run, int(step), new_run)

  def all_steps(self, read: bool = False) -> list:
    if read:
      self.reload()
    return list(self._core.all_steps())

  def latest_step(self) -> Optional[int]:
    return self._core.latest_step()

  def best_step(self) -> Optional[int]:
    return self._core.best_step()

  def should_save(self, step: int) -> bool:
    """Orbax's decision: save_decision_policy when given, else the options'
    interval / steps / should_save_fn, initial save, or a preemption."""
    step = _int64(step, 'step')
    if self._options.read_only:
      self._warn_read_only()
      return False
    if self._options.save_decision_policy is not None:
      return self._policy_decision(step)
    if self._core.should_save(step):
      return True
    return self._is_new_step(step) and self.reached_preemption(step)

  def _warn_read_only(self, what: str = 'save') -> None:
    # Orbax's warnings (its should_save and delete); logged, so that they
    # show without any logging set up.
    _log.warning('%s is read only, %s will be skipped', self._directory, what)

  def reached_preemption(self, step: int) -> bool:
    """True once the preemption handler (options.handle_preemption_signal)
    has seen SIGTERM; always False without it."""
    del step
    return self._preemption is not None and self._preemption.reached

  def _is_new_step(self, step: int) -> bool:
    if self._options.read_only:
      return False
    last = self.latest_step()
    return last is None or step > last

  def _policy_decision(self, step: int) -> bool:
    if not self._is_new_step(step):
      return False
    now = datetime.datetime.now(datetime.timezone.utc)
    context = save_decision_policy.DecisionContext(
        is_saving_in_progress=(
            self._options.enable_should_save_is_saving_in_progress_check and
            self.is_saving_in_progress()),
        reached_preemption=self.reached_preemption(step),
        multiprocessing_options=self._options.multiprocessing_options)
    return bool(self._options.save_decision_policy.should_save(
        checkpoint_managers.PolicyCheckpointInfo(step, now, None),
        _StepInfos(self._core, self.all_steps()), context=context))

  def is_saving_in_progress(self) -> bool:
    return self._core.is_saving_in_progress()

  def reload(self) -> None:
    self._core.reload()

  def metrics(self, step: int) -> Any:
    """The metrics saved with `step`, or None."""
    step = _int64(step, 'step')
    return self._core.metrics(step)

  def step_name(self, step: int) -> str:
    """The step's display name ('test_4', '00000004', '4')."""
    step = _int64(step, 'step')
    return self._core.step_name(step)

  def _item_names(self, step: int) -> list:
    step = _int64(step, 'step')
    return [i['name'] for i in self._core.step_metadata(step)['items']]

  def _resolve_single(self, step: int) -> bool:
    if self._single is None:
      self._single = self._item_names(step) == [DEFAULT_ITEM_NAME]
    return self._single

  def item_metadata(self, step: int) -> Any:
    """The saved tree(s) with ArrayMetadata leaves (no array bytes read)."""
    step = _int64(step, 'step')
    if self._resolve_single(step):
      return self._core.item_metadata(step, DEFAULT_ITEM_NAME)
    return args_lib.Composite(**{
        name: self._core.item_metadata(step, name)
        for name in self._item_names(step)})

  def metadata(self, step: Optional[int] = None) -> Any:
    """RootMetadata for step None, else the step's StepMetadata.

    The root metadata is read from the database at the first call (the
    `metadata` some manager stored, in any process), then cached, as Orbax.
    """
    if step is None:
      if self._root_metadata is None:
        stored = _root_metadata.read(self._directory)
        self._root_metadata = RootMetadata(
            custom_metadata=stored if stored is not None else {})
      return self._root_metadata
    step = _int64(step, 'step')
    d = self._core.step_metadata(step)
    names = [i['name'] for i in d['items']]
    handlers = {n: self._handler_type_name(n) for n in names}
    if self._resolve_single(step):
      handlers = handlers.get(DEFAULT_ITEM_NAME)
    elif not any(handlers.values()):
      handlers = None
    return metadata_lib.from_info(d, self.item_metadata(step), handlers,
                                  self._step_statistics(d))

  def _step_statistics(self, d: Dict[str, Any]) -> StepStatistics:
    """The persisted timings of the save of step record `d`, if this
    database has them (saved by a manager of this version)."""
    stats = StepStatistics(step=d['step'], directory=str(self._directory))
    record = self._statistics.find(d['step'], d['init_timestamp_nsecs'])
    if record is not None:
      for name in metadata_lib.ORBAX_STATISTICS_FIELDS:
        if name in record:
          setattr(stats, name, record[name])
    return stats

  def _handler_type_name(self, item: str) -> Optional[str]:
    h = self._handlers.get(item)
    return None if h is None else f'ckptdb.{type(h).__name__}'

  # ---- save ----

  def _validate_args(self, items: Any, args: Any) -> None:
    if isinstance(items, args_lib.CheckpointArgs):
      raise ValueError(
          'Found an instance of `CheckpointArgs` provided for `items`. This '
          'may be due to misuse of the newer API - make sure to specify the '
          'argument keyword (e.g. `args=args`).')
    if args is not None:
      if not isinstance(args, args_lib.CheckpointArgs):
        raise ValueError(
            f'Expected args of type `CheckpointArgs`; found {type(args)}.')
      if self._single is None:
        self._single = not isinstance(args, args_lib.Composite)
      if self._single and isinstance(args, args_lib.Composite):
        raise ValueError(
            'Cannot provide `args` of type `Composite` when dealing with a '
            'single, unnamed (default) checkpointable object.')
      if not self._single and not isinstance(args, args_lib.Composite):
        raise ValueError('Must provide `args` of type `Composite` when '
                         'dealing with multiple checkpointable objects.')

  def save(self, step: int, items: Any = None, save_kwargs: Any = None,
           metrics: Any = None, force: Optional[bool] = False,
           args: Optional[args_lib.CheckpointArgs] = None,
           custom_metadata: Optional[Mapping[str, Any]] = None, *,
           borrow: bool = False) -> bool:
    """Saves a step; returns False if should_save(step) says no.

    A read-only manager saves nothing, even with force=True: it logs Orbax's
    warning ('<directory> is read only, save will be skipped') and returns
    False.

    Async (the default): returns once the arrays are copied (borrow=True:
    not copied; leave them unchanged until wait_until_finished()).
    AlreadyExistsError (Orbax's StepAlreadyExistsError) for a forced save of
    an existing step.
    """
    start = time.time()
    step = _int64(step, 'step')
    if self.is_orbax:
      raise _orbax_direct.refuse_write(self._directory)
    if items is None and args is None:
      raise ValueError('Must provide `args` for `save`.')
    self._validate_args(items, args)
    if self._options.read_only:
      self._warn_read_only()
      return False
    if args is None:  # legacy: items + save_kwargs
      if self._single is None:
        self._single = True
      if self._single:
        items = {DEFAULT_ITEM_NAME: items}
        save_kwargs = {DEFAULT_ITEM_NAME: save_kwargs or {}}
      save_kwargs = save_kwargs or {}
      per_item = {}
      for name, item in items.items():
        handler = self._handlers.get(name) or (
            handlers_lib.PyTreeCheckpointHandler())
        per_item[name] = handler.save_args_cls(item,
                                               **(save_kwargs.get(name) or {}))
    elif self._single:
      per_item = {DEFAULT_ITEM_NAME: args}
    else:
      per_item = dict(args.items())
    if not force and (self._options.save_decision_policy is not None or
                      self.reached_preemption(step)):
      if not self.should_save(step):
        return False
      force = True  # decided here, not by the core's options
    if self._options.best_fn is not None and metrics is None:
      warnings.warn('Requested `tracked_metric`; did not provide metrics.',
                    stacklevel=2)
    for name in per_item:
      _tree.check_item_name(name)
    trees, save_args = {}, {}
    for name, a in per_item.items():
      req = a._save_request()  # pylint: disable=protected-access
      trees[name] = req.tree
      save_args[name] = req.save_args
      if name not in self._handlers:
        self._handlers[name] = _handler_for_args(a)
    stats = StepStatistics(
        step=step, directory=str(self._directory),
        checkpoint_manager_blocking_start_time=start,
        synchronous=not self._options.enable_async_checkpointing)
    if self.reached_preemption(step):
      stats.reached_preemption = True
      stats.preemption_received_at = time.time()
    # The core's save waits for the previous one first: wait here to time it
    # (Orbax's wait_for_prev_*).
    stats.wait_for_prev_start_time = time.time()
    if self._last_save_time is not None:
      stats.time_between_consecutive_saves_sec = (
          stats.wait_for_prev_start_time - self._last_save_time)
    self._core.wait_until_finished()
    stats.checkpointer_blocking_start_time = time.time()
    stats.wait_for_prev_duration_secs = (
        stats.checkpointer_blocking_start_time - stats.wait_for_prev_start_time)
    try:
      saved = self._core.save(
          step, trees, metrics=metrics, has_metrics=metrics is not None,
          force=bool(force), item_save_args=save_args,
          custom_metadata=custom_metadata, borrow=borrow)
    except UnicodeEncodeError as e:
      raise _tree.not_utf8_error(e) from e
    end = time.time()
    if saved:
      stats.checkpointer_blocking_duration_secs = (
          end - stats.checkpointer_blocking_start_time)
      stats.checkpoint_manager_blocking_duration_secs = end - start
      self._last_save_time = end
      self._record_statistics(stats)
    return saved

  def _record_statistics(self, stats: StepStatistics) -> None:
    record = {name: getattr(stats, name)
              for name in metadata_lib.ORBAX_STATISTICS_FIELDS}
    record['run'] = self.run
    _step_statistics.append(self._directory, record)
    if not self.following:
      _step_statistics.compact(self._directory, self.run, self.all_steps())

  # ---- restore ----

  def restore(self, step: Optional[int] = None, items: Any = None,
              restore_kwargs: Any = None, directory: Any = None,
              args: Optional[args_lib.CheckpointArgs] = None) -> Any:
    """Restores a step (None: the latest).

    Single item: returns it; several: a Composite (all items if none are
    named). FileNotFoundError if there is no such step or no steps at all;
    KeyError for an item the step does not have.
    """
    if step is not None:
      step = _int64(step, 'step')
    if directory is not None and (pathlib.Path(os.fspath(directory)) !=
                                  self._directory):
      other_options = CheckpointManagerOptions(
          read_only=True, step_prefix=self._options.step_prefix,
          step_format_fixed_length=self._options.step_format_fixed_length)
      with CheckpointManager(directory, options=other_options) as other:
        other._single = self._single  # pylint: disable=protected-access
        other._handlers = dict(self._handlers)  # pylint: disable=protected-access
        return other.restore(step, items, restore_kwargs, args=args)
    if step is None:
      step = self.latest_step()
      if step is None:
        raise FileNotFoundError(f'No steps found in {self.directory}.')
    single = self._resolve_single(step)
    self._validate_args(items, args)
    if args is None:  # legacy: items + restore_kwargs
      if single:
        handler = self._handlers.get(DEFAULT_ITEM_NAME) or (
            handlers_lib.PyTreeCheckpointHandler())
        per_item = {DEFAULT_ITEM_NAME: handler.restore_args_cls(
            items, **(restore_kwargs or {}))}
      else:
        items = items or {}
        restore_kwargs = restore_kwargs or {}
        names = list(items) + [n for n in restore_kwargs if n not in items]
        per_item = {}
        for name in names:
          handler = self._handlers.get(name) or (
              handlers_lib.PyTreeCheckpointHandler())
          per_item[name] = handler.restore_args_cls(
              items.get(name), **(restore_kwargs.get(name) or {}))
    elif single:
      per_item = {DEFAULT_ITEM_NAME: args}
    else:
      per_item = dict(args.items())
    if not single and not per_item:
      per_item = {name: None for name in self._item_names(step)}
    if not single:
      saved = self._item_names(step)
      missing = [name for name in per_item if name not in saved]
      if missing:  # Orbax raises KeyError for an item it does not have
        raise KeyError(f'step {step} has no item {missing[0]!r} (items: '
                       f'{", ".join(saved)})')
    results = {}
    for name, a in per_item.items():
      if a is None:
        req = args_lib._RestoreRequest(False, None, False, {})  # pylint: disable=protected-access
      else:
        req = a._restore_request()  # pylint: disable=protected-access
        if req.bind is not None:  # transforms: planned from the saved tree
          req = req.bind(self._core.item_metadata(step, name))
      results[name] = req.finish(self._core.restore(
          step, item=name, target=req.target, use_target=req.use_target,
          partial_restore=req.partial_restore,
          restore_args=req.restore_args, in_place=req.in_place))
    if single:
      return results[DEFAULT_ITEM_NAME]
    return args_lib.Composite(**results)

  # ---- maintenance ----

  def delete(self, step: int) -> None:
    """Deletes a step now (FileNotFoundError if it does not exist).

    A read-only manager deletes nothing: it logs Orbax's warning
    ('<directory> is read only, delete will be skipped') and returns.
    """
    step = _int64(step, 'step')
    if self._options.read_only and not self.is_orbax:
      self._warn_read_only('delete')
      return
    self._core.delete(step)

  def apply_retention(self) -> list:
    """ckptdb: applies the preservation policy now; returns deleted steps."""
    return list(self._core.apply_retention())

  def collect_garbage(self) -> None:
    """ckptdb: drops unreferenced chunks and compacts now."""
    self._core.collect_garbage()

  def wait_until_finished(self) -> None:
    self._core.wait_until_finished()

  def check_for_errors(self) -> None:
    self._core.check_for_errors()

  def close(self) -> None:
    if self._closed:
      return
    self._closed = True
    checkpointers_lib.unregister_live(self)
    try:
      self._core.close()
    finally:
      if self._preemption is not None:
        self._preemption.close()

  def __enter__(self) -> 'CheckpointManager':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __repr__(self) -> str:
    return f"CheckpointManager('{self._directory}')"
