"""Orbax's `ocp.checkpoint_managers`: preservation (retention) policies,
and the save-decision policies of save_decision_policy.py.

    options = ckptdb.CheckpointManagerOptions(
        preservation_policy=ckptdb.checkpoint_managers.AnyPreservationPolicy([
            ckptdb.checkpoint_managers.LatestN(2),
            ckptdb.checkpoint_managers.BestN(
                get_metric_fn=lambda m: m['loss'], reverse=True, n=3),
        ]))

The built-in policies run in C++ (ckptdb's compaction/preservation_policy.cc,
which evaluates them exactly as Orbax does); get_metric_fn is called back in
Python. Any other object with Orbax's `should_preserve(checkpoints, *,
context)` method works too and is called with PolicyCheckpointInfo objects.
"""

import dataclasses
import datetime
from typing import Any, Callable, List, Optional, Sequence

from ckptdb import _ckptdb
from ckptdb import save_decision_policy
# Orbax exports the save-decision policies here too.
from ckptdb.save_decision_policy import AnySavePolicy
from ckptdb.save_decision_policy import ContinuousCheckpointingPolicy
from ckptdb.save_decision_policy import DecisionContext
from ckptdb.save_decision_policy import FixedIntervalPolicy
from ckptdb.save_decision_policy import InitialSavePolicy
from ckptdb.save_decision_policy import PreemptionCheckpointingPolicy
from ckptdb.save_decision_policy import SaveDecisionPolicy
from ckptdb.save_decision_policy import SpecificStepsPolicy


@dataclasses.dataclass(frozen=True)
class PolicyCheckpointInfo:
  """What a policy knows about one step (Orbax's PolicyCheckpointInfo)."""
  step: int
  time: datetime.datetime
  metrics: Any


@dataclasses.dataclass(kw_only=True)
class PreservationContext:
  """Extra properties for a preservation decision (none yet, as in Orbax)."""


class PreservationPolicy:
  """Base class: should_preserve(checkpoints, *, context) -> [bool, ...]."""

  def _spec(self) -> tuple:
    raise NotImplementedError

  def should_preserve(self, checkpoints: Sequence[PolicyCheckpointInfo], *,
                      context: Optional[PreservationContext] = None
                      ) -> List[bool]:
    """Evaluates the policy (in C++) over `checkpoints`, in list order."""
    infos = [(c.step, _to_ns(c.time), c.metrics) for c in checkpoints]
    now = datetime.datetime.now(datetime.timezone.utc)
    return _ckptdb.evaluate_policy(self._spec(), infos, _to_ns(now))


def _to_ns(t: datetime.datetime) -> int:
  if t.tzinfo is None:
    t = t.replace(tzinfo=datetime.timezone.utc)
  return int(t.timestamp() * 1e9)


def _seconds(x: Any) -> int:
  if isinstance(x, datetime.timedelta):
    return int(x.total_seconds())
  return int(x)


@dataclasses.dataclass
class PreserveAll(PreservationPolicy):
  """Keeps every checkpoint."""

  def _spec(self) -> tuple:
    return ('PreserveAll',)


@dataclasses.dataclass
class LatestN(PreservationPolicy):
  """Keeps the last n (all if n is None, none if n == 0)."""
  n: Optional[int] = None

  def _spec(self) -> tuple:
    return ('LatestN', self.n)


@dataclasses.dataclass
class EveryNSeconds(PreservationPolicy):
  """Keeps the first, then each one >= interval_secs after the last kept."""
  interval_secs: int

  def _spec(self) -> tuple:
    return ('EveryNSeconds', _seconds(self.interval_secs))


@dataclasses.dataclass
class EveryNSteps(PreservationPolicy):
  """exact_interval: step % interval_steps == 0; else >= interval apart."""
  interval_steps: int
  exact_interval: bool = True
  max_to_keep: Optional[int] = None

  def _spec(self) -> tuple:
    return ('EveryNSteps', self.interval_steps, self.exact_interval,
            self.max_to_keep)


@dataclasses.dataclass
class EveryNStepsClosest(PreservationPolicy):
  """The checkpoint closest to each multiple of interval_steps, and the last."""
  interval_steps: int
  max_to_keep: Optional[int] = None

  def _spec(self) -> tuple:
    return ('EveryNStepsClosest', self.interval_steps, self.max_to_keep)


@dataclasses.dataclass
class CustomSteps(PreservationPolicy):
  """Keeps exactly the listed steps."""
  steps: Sequence[int]

  def _spec(self) -> tuple:
    return ('CustomSteps', [int(s) for s in self.steps])


@dataclasses.dataclass(kw_only=True)
class BestN(PreservationPolicy):
  """Keeps the n best by get_metric_fn(metrics): highest, or lowest if reverse.

  Checkpoints without metrics are kept when keep_checkpoints_without_metrics.
  """
  get_metric_fn: Callable[[Any], float]
  reverse: bool = False
  n: Optional[int] = None
  keep_checkpoints_without_metrics: bool = True

  def _spec(self) -> tuple:
    return ('BestN', self.get_metric_fn, self.reverse, self.n,
            self.keep_checkpoints_without_metrics)


@dataclasses.dataclass
class LatestDuration(PreservationPolicy):
  """Keeps checkpoints recorded within `duration` of now (seconds/timedelta)."""
  duration: Any

  def _spec(self) -> tuple:
    return ('LatestDuration', _seconds(self.duration))


@dataclasses.dataclass
class AnyPreservationPolicy(PreservationPolicy):
  """Keeps a checkpoint if any of the policies keeps it."""
  policies: Sequence[Any]

  def _spec(self) -> tuple:
    return ('AnyOf', [policy_spec(p) for p in self.policies])


def policy_spec(policy: Any) -> tuple:
  """The description of a policy that the C++ core builds it from."""
  if (isinstance(policy, PreservationPolicy) and
      type(policy).should_preserve is PreservationPolicy.should_preserve):
    return policy._spec()  # pylint: disable=protected-access
  if not hasattr(policy, 'should_preserve'):
    raise TypeError(f'{policy!r} is not a preservation policy (it has no '
                    'should_preserve method)')

  def adapter(infos: List[tuple], now_ns: int) -> List[bool]:
    del now_ns
    checkpoints = [
        PolicyCheckpointInfo(
            step, datetime.datetime.fromtimestamp(t / 1e9,
                                                  datetime.timezone.utc), m)
        for step, t, m in infos
    ]
    return list(policy.should_preserve(checkpoints,
                                       context=PreservationContext()))

  return ('Python', adapter, repr(policy))
