"""Orbax's `ocp.metadata`: StepMetadata, RootMetadata and step statistics.

One representation for every caller: `CheckpointManager.metadata(step)`,
`Checkpointer.metadata(path)` (Orbax >= 0.9 returns a StepMetadata there
too, whose `item_metadata` holds the saved tree) and v1's metadata
functions all build these dataclasses.
"""

import dataclasses
from typing import Any, Dict, Optional

from ckptdb._ckptdb import ArrayMetadata


@dataclasses.dataclass
class StepStatistics:
  """Orbax's SaveStepStatistics (StepMetadata.performance_metrics).

  For steps saved by a CheckpointManager, ckptdb records Orbax's timings
  of the save call (seconds; start times are Unix times): the whole call
  (checkpoint_manager_blocking_*), waiting for the previous async save
  (wait_for_prev_*), the core's save call (checkpointer_blocking_*: the
  whole write for a synchronous save, the capture of the arrays for an
  async one), time_between_consecutive_saves_sec, synchronous and the
  preemption fields; they are persisted with the database (see
  _step_statistics). get_old_steps_* stay None: retention runs inside the
  core's save. ckptdb adds what its core measures for every save:
  logical_bytes (the arrays' sizes), new_bytes (chunk bytes this save wrote
  after deduplication) and chunk_count (distinct chunks the step uses).
  """
  step: Optional[int] = None
  event_type: Optional[str] = 'save'
  directory: Optional[str] = None
  reached_preemption: Optional[bool] = False
  preemption_received_at: Optional[float] = None
  synchronous: Optional[bool] = False
  wait_for_prev_start_time: Optional[float] = None
  wait_for_prev_duration_secs: Optional[float] = None
  time_between_consecutive_saves_sec: Optional[float] = None
  checkpointer_blocking_start_time: Optional[float] = None
  checkpointer_blocking_duration_secs: Optional[float] = None
  get_old_steps_start_time: Optional[float] = None
  get_old_steps_duration_secs: Optional[float] = None
  checkpoint_manager_blocking_start_time: Optional[float] = None
  checkpoint_manager_blocking_duration_secs: Optional[float] = None
  # ckptdb's measurements.
  logical_bytes: Optional[int] = None
  new_bytes: Optional[int] = None
  chunk_count: Optional[int] = None


# Orbax's name of the class (orbax.checkpoint.logging.step_statistics).
SaveStepStatistics = StepStatistics

# The fields of StepStatistics that Orbax defines (persisted timings).
ORBAX_STATISTICS_FIELDS = tuple(
    f.name for f in dataclasses.fields(StepStatistics)
    if f.name not in ('logical_bytes', 'new_bytes', 'chunk_count'))


@dataclasses.dataclass
class StepMetadata:
  """A step's metadata (Orbax's StepMetadata, plus ckptdb's fields).

  Orbax's fields: item_handlers ({item: handler type name} as known to
  this manager, a single name in single-item mode, None if unknown),
  item_metadata (the saved tree with ArrayMetadata leaves, or a Composite
  of them), metrics ({} when none), performance_metrics (StepStatistics),
  init_timestamp_nsecs, commit_timestamp_nsecs, custom_metadata ({} when
  none). ckptdb's: step, name (the step's display name), item_names,
  logical_bytes, new_bytes, chunk_count, items (per-item summaries).
  """
  item_handlers: Any = None
  item_metadata: Any = None
  metrics: Any = dataclasses.field(default_factory=dict)
  performance_metrics: StepStatistics = dataclasses.field(
      default_factory=StepStatistics)
  init_timestamp_nsecs: Optional[int] = None
  commit_timestamp_nsecs: Optional[int] = None
  custom_metadata: Any = dataclasses.field(default_factory=dict)
  # ckptdb.
  step: Optional[int] = None
  name: Optional[str] = None
  item_names: list = dataclasses.field(default_factory=list)
  logical_bytes: int = 0
  new_bytes: int = 0
  chunk_count: int = 0
  items: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class RootMetadata:
  """Orbax's RootMetadata: the `metadata` given to CheckpointManager.

  Persisted with the database (see _root_metadata): the first manager
  given `metadata=` stores it, later managers (any process) read it back;
  it is never overwritten. {} when none was ever stored.
  """
  internal_metadata: Optional[Dict[str, Any]] = dataclasses.field(
      default_factory=dict)
  custom_metadata: Optional[Dict[str, Any]] = dataclasses.field(
      default_factory=dict)


def from_info(info: Dict[str, Any], item_metadata: Any, item_handlers: Any,
              performance_metrics: Optional[StepStatistics] = None
             ) -> StepMetadata:
  """The StepMetadata of a step from the core's step record (`info`, a
  CheckpointManager's step_metadata() or a Checkpointer's info())."""
  if performance_metrics is None:
    performance_metrics = StepStatistics()
  performance_metrics.logical_bytes = info['logical_bytes']
  performance_metrics.new_bytes = info['new_bytes']
  performance_metrics.chunk_count = info['chunk_count']
  return StepMetadata(
      item_handlers=item_handlers, item_metadata=item_metadata,
      metrics=info['metrics'] if info['metrics'] is not None else {},
      performance_metrics=performance_metrics,
      init_timestamp_nsecs=info['init_timestamp_nsecs'],
      commit_timestamp_nsecs=info['commit_timestamp_nsecs'],
      custom_metadata=(info['custom_metadata']
                       if info['custom_metadata'] is not None else {}),
      step=info['step'], name=info['name'],
      item_names=[i['name'] for i in info['items']],
      logical_bytes=info['logical_bytes'], new_bytes=info['new_bytes'],
      chunk_count=info['chunk_count'], items=info['items'])


__all__ = ['ArrayMetadata', 'RootMetadata', 'SaveStepStatistics',
           'StepMetadata', 'StepStatistics']
