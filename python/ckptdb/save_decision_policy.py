"""Orbax's save-decision policies (`ocp.checkpoint_managers.save_decision_policy`).

    options = ckptdb.CheckpointManagerOptions(
        save_decision_policy=ckptdb.checkpoint_managers.AnySavePolicy([
            ckptdb.checkpoint_managers.FixedIntervalPolicy(100),
            ckptdb.checkpoint_managers.PreemptionCheckpointingPolicy(),
        ]))

A policy's should_save(step, previous_steps, *, context) gets the candidate
step (its time is now), the steps already saved (oldest first) and a
DecisionContext; the manager saves when it returns True. Any object with
that method works. The policies run in Python (the core decides only for
save_interval_steps / save_on_steps / should_save_fn).
"""

import dataclasses
import datetime
from typing import Any, Container, Optional, Protocol, Sequence
import typing


@dataclasses.dataclass(kw_only=True)
class DecisionContext:
  """What a save decision may look at besides the steps.

  reached_preemption: the manager's reached_preemption(step) (true once the
  preemption handler has seen its signal). multiprocessing_options: kept for
  Orbax's signature (ckptdb has one process writing).
  """
  is_saving_in_progress: bool
  reached_preemption: bool
  multiprocessing_options: Any = None


@typing.runtime_checkable
class SaveDecisionPolicy(Protocol):
  """should_save(step, previous_steps, *, context) -> bool."""

  def should_save(self, step: Any, previous_steps: Sequence[Any], *,
                  context: DecisionContext) -> bool:
    ...


@dataclasses.dataclass
class FixedIntervalPolicy(SaveDecisionPolicy):
  """Saves steps that are multiples of interval (step % interval == 0)."""
  interval: int

  def should_save(self, step, previous_steps, *, context) -> bool:
    del previous_steps, context
    return step.step % self.interval == 0


@dataclasses.dataclass
class SpecificStepsPolicy(SaveDecisionPolicy):
  """Saves the listed steps."""
  steps: Container[int]

  def should_save(self, step, previous_steps, *, context) -> bool:
    del previous_steps, context
    return step.step in self.steps


@dataclasses.dataclass(kw_only=True)
class ContinuousCheckpointingPolicy(SaveDecisionPolicy):
  """Saves whenever no save is in progress and, if minimum_interval_secs is
  set, at least that long after the last saved step's time."""
  minimum_interval_secs: Optional[int] = None

  def should_save(self, step, previous_steps, *, context) -> bool:
    if context.is_saving_in_progress:
      return False
    if not previous_steps or self.minimum_interval_secs is None:
      return True
    elapsed = step.time - previous_steps[-1].time
    return elapsed >= datetime.timedelta(seconds=self.minimum_interval_secs)


class PreemptionCheckpointingPolicy(SaveDecisionPolicy):
  """Saves when the manager has reached a preemption (see
  CheckpointManagerOptions.enable_preemption_handler)."""

  def should_save(self, step, previous_steps, *, context) -> bool:
    del step, previous_steps
    return bool(context.reached_preemption)

  def __eq__(self, other: Any) -> bool:
    return type(other) is type(self)

  def __repr__(self) -> str:
    return 'PreemptionCheckpointingPolicy()'


class InitialSavePolicy(SaveDecisionPolicy):
  """Saves when no step has been saved yet."""

  def should_save(self, step, previous_steps, *, context) -> bool:
    del step, context
    return not previous_steps

  def __eq__(self, other: Any) -> bool:
    return type(other) is type(self)

  def __repr__(self) -> str:
    return 'InitialSavePolicy()'


@dataclasses.dataclass
class AnySavePolicy(SaveDecisionPolicy):
  """Saves if any of the policies (asked in order) says so."""
  policies: Sequence[Any]

  def should_save(self, step, previous_steps, *, context) -> bool:
    return any(
        p.should_save(step, previous_steps=previous_steps, context=context)
        for p in self.policies)
