"""Save-decision policies and preemption (Orbax's save_decision_policy.py).

Reference: orbax-semantics.md section 2 (`save_decision_policy`: "If set,
sole save-decision logic (overrides interval/on_steps/should_save_fn)") and
2.1 (should_save: read_only and steps not after the latest are never saved;
FixedInterval is step % n == 0, SpecificSteps step in the set, InitialSave
"no steps exist yet", Preemption "preemption sync point reached", and
ContinuousCheckpointingPolicy "save whenever no save in progress and >= min
interval since last checkpoint time"); orbax/checkpoint/_src/
checkpoint_managers/save_decision_policy.py for the classes' signatures.
"""

import datetime
import signal
import threading
import time

import pytest

import ckptdb
from ckptdb import checkpoint_managers as cm


def _saved_steps(tmp_path, policy, steps, **options):
  opts = ckptdb.CheckpointManagerOptions(save_decision_policy=policy,
                                         enable_async_checkpointing=False,
                                         **options)
  with ckptdb.CheckpointManager(tmp_path / 'm', options=opts) as m:
    for step in steps:
      m.save(step, args=ckptdb.args.StandardSave({'step': step}))
    return m.all_steps()


def _info(step, seconds_ago=0):
  now = datetime.datetime.now(datetime.timezone.utc)
  return cm.PolicyCheckpointInfo(
      step, now - datetime.timedelta(seconds=seconds_ago), None)


def _context(saving=False, preempted=False):
  return cm.DecisionContext(is_saving_in_progress=saving,
                            reached_preemption=preempted)


def test_fixed_interval_policy(tmp_path):
  """2.1: FixedInterval(n) saves iff step % n == 0 (absolute modulo)."""
  assert _saved_steps(tmp_path, cm.FixedIntervalPolicy(3),
                      range(1, 11)) == [3, 6, 9]


def test_specific_steps_policy(tmp_path):
  """2.1: SpecificSteps saves iff step is in the set."""
  assert _saved_steps(tmp_path, cm.SpecificStepsPolicy({2, 5}),
                      range(8)) == [2, 5]


def test_initial_save_policy(tmp_path):
  """2.1: InitialSave saves when no steps exist yet."""
  assert _saved_steps(tmp_path, cm.InitialSavePolicy(), range(3, 7)) == [3]


def test_any_save_policy(tmp_path):
  """2.1: the default policy is AnySavePolicy of these; any True saves."""
  policy = cm.AnySavePolicy([cm.FixedIntervalPolicy(4),
                             cm.InitialSavePolicy()])
  assert _saved_steps(tmp_path, policy, range(1, 10)) == [1, 4, 8]


def test_policy_is_the_sole_decision(tmp_path):
  """Section 2: save_decision_policy overrides save_interval_steps and
  save_on_steps (and the initial-save rule)."""
  got = _saved_steps(tmp_path, cm.FixedIntervalPolicy(5), range(1, 11),
                     save_interval_steps=2, save_on_steps=[3])
  assert got == [5, 10]


def test_continuous_policy_saves_every_step(tmp_path):
  """2.1: ContinuousCheckpointingPolicy() saves whenever no save is in
  progress."""
  assert _saved_steps(tmp_path, cm.ContinuousCheckpointingPolicy(),
                      range(4)) == [0, 1, 2, 3]


def test_continuous_policy_minimum_interval(tmp_path):
  """2.1: ... and >= minimum_interval_secs since the last checkpoint."""
  policy = cm.ContinuousCheckpointingPolicy(minimum_interval_secs=3600)
  assert _saved_steps(tmp_path, policy, range(4)) == [0]


def test_continuous_policy_rules():
  """save_decision_policy.py: False while saving; else True without
  previous steps or interval; else compares step times."""
  p = cm.ContinuousCheckpointingPolicy(minimum_interval_secs=10)
  assert not p.should_save(_info(1), [], context=_context(saving=True))
  assert p.should_save(_info(1), [], context=_context())
  assert not p.should_save(_info(2), [_info(1, 5)], context=_context())
  assert p.should_save(_info(2), [_info(1, 20)], context=_context())


def test_preemption_policy_rule():
  """2.1: Preemption saves iff the preemption point is reached."""
  p = cm.PreemptionCheckpointingPolicy()
  assert p.should_save(_info(1), [_info(0)], context=_context(preempted=True))
  assert not p.should_save(_info(1), [], context=_context())


def test_custom_policy_gets_steps_and_context(tmp_path):
  """Section 2: any SaveDecisionPolicy works; previous_steps are the saved
  steps (oldest first) with step and time."""
  calls = []

  class EveryOther:

    def should_save(self, step, previous_steps, *, context):
      calls.append((step.step, [p.step for p in previous_steps],
                    all(isinstance(p.time, datetime.datetime)
                        for p in previous_steps),
                    context.reached_preemption))
      return step.step % 2 == 0

  assert _saved_steps(tmp_path, EveryOther(), range(4)) == [0, 2]
  assert calls == [(0, [], True, False), (1, [0], True, False),
                   (2, [0], True, False), (3, [0, 2], True, False)]
  assert isinstance(EveryOther(), cm.SaveDecisionPolicy)


def test_policy_never_saves_old_steps_or_read_only(tmp_path):
  """2.1: a step not after the latest, or a read-only manager, is never
  saved, whatever the policy says."""
  always = cm.ContinuousCheckpointingPolicy()
  assert _saved_steps(tmp_path, always, [5, 3, 5]) == [5]
  opts = ckptdb.CheckpointManagerOptions(save_decision_policy=always,
                                         read_only=True)
  with ckptdb.CheckpointManager(tmp_path / 'm', options=opts) as m:
    assert not m.should_save(9)


def test_module_path_as_orbax():
  """Orbax: ocp.checkpoint_managers.save_decision_policy.<Policy>."""
  assert (cm.save_decision_policy.FixedIntervalPolicy is
          cm.FixedIntervalPolicy)


def _raise_sigterm(m):
  signal.raise_signal(signal.SIGTERM)
  deadline = time.monotonic() + 2
  while not m.reached_preemption(0) and time.monotonic() < deadline:
    time.sleep(0.01)


def test_reached_preemption_after_sigterm(tmp_path):
  """4 (reached_preemption) and 2.1 (Preemption): with the handler opted
  in, SIGTERM makes reached_preemption true and
  PreemptionCheckpointingPolicy saves; close() puts the old handler back."""
  seen = []
  previous = signal.signal(signal.SIGTERM, lambda *a: seen.append(a))
  try:
    opts = ckptdb.CheckpointManagerOptions(
        handle_preemption_signal=True, enable_async_checkpointing=False,
        save_decision_policy=cm.AnySavePolicy([
            cm.FixedIntervalPolicy(100),
            cm.PreemptionCheckpointingPolicy()]))
    m = ckptdb.CheckpointManager(tmp_path / 'm', options=opts)
    with m:
      assert not m.reached_preemption(1)
      assert not m.save(1, args=ckptdb.args.StandardSave({'a': 1}))
      _raise_sigterm(m)
      assert m.reached_preemption(2)
      assert m.save(2, args=ckptdb.args.StandardSave({'a': 2}))
      assert m.all_steps() == [2]
    assert not seen  # the manager's handler took the signal
    signal.raise_signal(signal.SIGTERM)
    assert len(seen) == 1  # the previous handler is back
  finally:
    signal.signal(signal.SIGTERM, previous)


def test_default_policy_saves_at_preemption(tmp_path):
  """2.1: the default policy includes Preemption next to the interval."""
  previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
  try:
    opts = ckptdb.CheckpointManagerOptions(
        save_interval_steps=100, handle_preemption_signal=True,
        enable_async_checkpointing=False)
    with ckptdb.CheckpointManager(tmp_path / 'm', options=opts) as m:
      for step in range(3):
        m.save(step, args=ckptdb.args.StandardSave({'a': step}))
      assert m.all_steps() == [0]
      _raise_sigterm(m)
      assert m.should_save(5)
      assert m.save(5, args=ckptdb.args.StandardSave({'a': 5}))
      assert m.all_steps() == [0, 5]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
  finally:
    signal.signal(signal.SIGTERM, previous)


def test_no_handler_without_opt_in(tmp_path):
  """Orbax's reached_preemption is False unless preemption is wired up;
  ckptdb installs no handler by default."""
  before = signal.getsignal(signal.SIGTERM)
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    assert signal.getsignal(signal.SIGTERM) is before
    assert not m.reached_preemption(0)


def test_handler_needs_the_main_thread(tmp_path):
  """Python delivers signals to the main thread only: opting in elsewhere is
  a ValueError, no handler is installed and no database is left open."""
  before = signal.getsignal(signal.SIGTERM)
  errors = []

  def open_manager():
    try:
      ckptdb.CheckpointManager(
          tmp_path / 'm', options=ckptdb.CheckpointManagerOptions(
              handle_preemption_signal=True))
    except ValueError as e:
      errors.append(e)

  t = threading.Thread(target=open_manager)
  t.start()
  t.join()
  assert len(errors) == 1 and 'main thread' in str(errors[0])
  assert signal.getsignal(signal.SIGTERM) is before
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    assert not m.following  # nobody else holds the database
