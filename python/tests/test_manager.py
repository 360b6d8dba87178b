"""CheckpointManager: Orbax's save decisions, retention and items.

Expected step lists are worked out by hand from Orbax's algorithm (the
reference's sections 2.1, 3.1-3.4): after each save, the policy runs over
the surviving steps in list order, the new step included.
"""

import datetime
import logging
import threading

import numpy as np
import pytest

import ckptdb
from ckptdb import checkpoint_managers as cm
from treeutil import assert_tree_equal

SYNC = dict(enable_async_checkpointing=False)


def _mngr(tmp_path, name='m', **options):
  return ckptdb.CheckpointManager(
      tmp_path / name, options=ckptdb.CheckpointManagerOptions(**options))


def _save_steps(mngr, steps, metrics=None):
  for i, step in enumerate(steps):
    m = None if metrics is None else metrics[i]
    mngr.save(step, args=ckptdb.args.StandardSave({'step': step}), metrics=m)
  mngr.wait_until_finished()


def test_best_fn_keeps_the_best(tmp_path):
  accs = [0.5, 0.9, 0.1, 0.8, 0.3]
  with _mngr(tmp_path, 'max', best_fn=lambda m: m['acc'], max_to_keep=2) as m:
    _save_steps(m, range(5), [{'acc': a} for a in accs])
    assert m.all_steps() == [1, 3]
    assert m.best_step() == 1
    assert m.metrics(3) == {'acc': 0.8}
  with _mngr(tmp_path, 'min', best_fn=lambda m: m['loss'], best_mode='min',
             max_to_keep=2) as m:
    _save_steps(m, range(5), [{'loss': a} for a in accs])
    assert m.all_steps() == [2, 4]
    assert m.best_step() == 2


def test_preservation_policies(tmp_path):
  losses = [0.5, 0.2, 0.9, 0.7]
  policy = cm.AnyPreservationPolicy([
      cm.LatestN(1),
      cm.BestN(get_metric_fn=lambda m: m['loss'], reverse=True, n=1)])
  with _mngr(tmp_path, 'any', preservation_policy=policy) as m:
    _save_steps(m, range(4), [{'loss': l} for l in losses])
    assert m.all_steps() == [1, 3]
  # reference 3.4: EveryNSteps(4) over steps 0..9 -> [0, 4, 8].
  with _mngr(tmp_path, 'every', preservation_policy=cm.EveryNSteps(4)) as m:
    _save_steps(m, range(10))
    assert m.all_steps() == [0, 4, 8]
  with _mngr(tmp_path, 'custom',
             preservation_policy=cm.CustomSteps([1, 5])) as m:
    _save_steps(m, range(7))
    assert m.all_steps() == [1, 5]


def test_policies_evaluated_directly_match_orbax_semantics():
  t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
  infos = [cm.PolicyCheckpointInfo(s, t0 + datetime.timedelta(seconds=10 * s),
                                   {'loss': 1.0}) for s in range(5)]
  # Ties keep the newer steps (stable sort), reference 3.3.
  assert cm.BestN(get_metric_fn=lambda m: m['loss'], reverse=True,
                  n=2).should_preserve(infos) == [False] * 3 + [True] * 2
  assert cm.LatestN(n=0).should_preserve(infos) == [False] * 5
  assert cm.EveryNSeconds(interval_secs=25).should_preserve(infos) == [
      True, False, False, True, False]
  assert cm.EveryNSteps(2, exact_interval=False).should_preserve(infos) == [
      True, False, True, False, True]


def test_python_preservation_policy(tmp_path):
  seen = []

  class KeepEven:

    def should_preserve(self, checkpoints, *, context):
      assert isinstance(context, cm.PreservationContext)
      seen.append([(c.step, type(c.time), c.metrics) for c in checkpoints])
      return [c.step % 2 == 0 for c in checkpoints]

  with _mngr(tmp_path, preservation_policy=KeepEven(), **SYNC) as m:
    _save_steps(m, range(5))
    assert m.all_steps() == [0, 2, 4]
  assert seen[1] == [(0, datetime.datetime, None), (1, datetime.datetime, None)]


def test_forced_lower_step_is_appended(tmp_path):
  # reference 3.1: save 0, 10, 20, then force 5 with max_to_keep=2.
  with _mngr(tmp_path, max_to_keep=2) as m:
    _save_steps(m, [0, 10, 20])
    assert not m.save(5, args=ckptdb.args.StandardSave({'a': 1}))
    assert m.save(5, args=ckptdb.args.StandardSave({'a': 1}), force=True)
    m.wait_until_finished()
    assert m.all_steps() == [20, 5] and m.latest_step() == 5


def test_save_decisions(tmp_path):
  with _mngr(tmp_path, 'interval', save_interval_steps=2,
             save_on_steps=[3]) as m:
    saved = [s for s in range(6)
             if m.save(s, args=ckptdb.args.StandardSave({'s': s}))]
    assert saved == [0, 2, 3, 4]
    assert not m.should_save(4) and m.should_save(6) and not m.should_save(7)
  calls = []

  def fn(step, latest):
    calls.append((step, latest))
    return step % 3 == 1

  with _mngr(tmp_path, 'fn', should_save_fn=fn, **SYNC) as m:
    saved = [s for s in range(7)
             if m.save(s, args=ckptdb.args.StandardSave({'s': s}))]
    assert saved == [1, 4]  # no initial save with should_save_fn
    assert (5, 4) in calls and (0, None) in calls


def test_callback_exceptions_propagate(tmp_path):
  def bad_best(metrics):
    raise ZeroDivisionError('from best_fn')

  with _mngr(tmp_path, 'b', best_fn=bad_best, max_to_keep=1, **SYNC) as m:
    m.save(0, args=ckptdb.args.StandardSave({'a': 1}), metrics={'x': 1})
    with pytest.raises(ZeroDivisionError, match='from best_fn'):
      m.save(1, args=ckptdb.args.StandardSave({'a': 1}), metrics={'x': 1})

  def bad_should_save(step, latest):
    raise KeyError('from should_save_fn')

  with _mngr(tmp_path, 's', should_save_fn=bad_should_save) as m:
    with pytest.raises(KeyError, match='from should_save_fn'):
      m.should_save(3)


def test_calling_the_manager_from_a_callback_raises(tmp_path):
  """best_fn and policies run while the manager applies retention: calling
  back into it raises RuntimeError (it used to deadlock)."""
  box = {}

  def reentrant_best(metrics):
    box['m'].latest_step()
    return metrics['loss']

  class ReentrantPolicy:

    def should_preserve(self, checkpoints, *, context=None):
      box['p'].all_steps()
      return [True] * len(checkpoints)

  errors = []

  def run():
    try:
      with _mngr(tmp_path, 'b', best_fn=reentrant_best, best_mode='min',
                 max_to_keep=1, **SYNC) as m:
        box['m'] = m
        for s in range(3):
          try:
            m.save(s, args=ckptdb.args.StandardSave({'a': s}),
                   metrics={'loss': float(s)})
          except RuntimeError as e:
            errors.append(str(e))
        assert m.all_steps()[-1] == 2  # the saves themselves went ahead
      with _mngr(tmp_path, 'p', preservation_policy=ReentrantPolicy(),
                 **SYNC) as m:
        box['p'] = m
        try:
          m.save(0, args=ckptdb.args.StandardSave({'a': 0}))
        except RuntimeError as e:
          errors.append(str(e))
    except Exception as e:  # pylint: disable=broad-except
      errors.append(repr(e))

  t = threading.Thread(target=run, daemon=True)
  t.start()
  t.join(timeout=60)
  assert not t.is_alive(), 'deadlocked'
  assert errors, 'no error raised'
  assert all('cannot be called from inside best_fn or a preservation policy'
             in e for e in errors), errors
  assert any('latest_step()' in e for e in errors)
  assert any('all_steps()' in e for e in errors)


def test_read_only_manager(tmp_path):
  with _mngr(tmp_path, max_to_keep=5) as m:
    _save_steps(m, range(3))
  with _mngr(tmp_path, read_only=True) as ro:
    assert ro.all_steps() == [0, 1, 2]
    assert not ro.save(9, args=ckptdb.args.StandardSave({'a': 1}))
    assert ro.restore(1) == {'step': 1}
    ro.delete(1)  # a no-op, as in Orbax
    assert ro.all_steps() == [0, 1, 2]


def test_read_only_save_is_skipped_with_orbax_warning(tmp_path, caplog):
  """orbax-semantics.md 2.1: a read-only manager's should_save is False
  and Orbax logs '<directory> is read only, save will be skipped'. save()
  returned False silently, even with force=True; now it logs the same
  warning (force=True included: nothing is saved either way)."""
  with _mngr(tmp_path, **SYNC) as m:
    _save_steps(m, [0])
  expected = [f'{tmp_path / "m"} is read only, save will be skipped']
  with _mngr(tmp_path, read_only=True) as ro:
    for force in (False, True):
      caplog.clear()
      with caplog.at_level(logging.WARNING):
        assert ro.save(5, args=ckptdb.args.StandardSave({'a': 1}),
                       force=force) is False
      assert [r.getMessage() for r in caplog.records] == expected, force
      assert caplog.records[0].levelno == logging.WARNING
    caplog.clear()
    with caplog.at_level(logging.WARNING):
      assert not ro.should_save(6)
    assert [r.getMessage() for r in caplog.records] == expected
    assert ro.all_steps() == [0]


def test_read_only_delete_is_skipped_with_orbax_warning(tmp_path, caplog):
  """orbax-semantics.md 3: a read-only manager's delete(step) logs
  '<directory> is read only, delete will be skipped' and deletes nothing
  (a missing step included: Orbax warns before it looks). It was a silent
  no-op."""
  with _mngr(tmp_path, **SYNC) as m:
    _save_steps(m, [0, 1])
  expected = [f'{tmp_path / "m"} is read only, delete will be skipped']
  with _mngr(tmp_path, read_only=True) as ro:
    for step in (1, 7):
      caplog.clear()
      with caplog.at_level(logging.WARNING, logger='ckptdb.checkpoint_manager'):
        assert ro.delete(step) is None
      assert [r.getMessage() for r in caplog.records] == expected, step
      assert caplog.records[0].levelno == logging.WARNING
      assert caplog.records[0].name == 'ckptdb.checkpoint_manager'
    assert ro.all_steps() == [0, 1]
    # The other mutating methods are not silent: they raise.
    for call in (ro.apply_retention, ro.collect_garbage,
                 lambda: ro.fork('', 0, 'other')):
      with pytest.raises(ckptdb.FailedPreconditionError, match='read-only'):
        call()


def test_delete_metrics_metadata_and_names(tmp_path):
  with _mngr(tmp_path, step_format_fixed_length=8, step_prefix='ckpt') as m:
    m.save(0, args=ckptdb.args.StandardSave({'w': np.ones(3)}),
           metrics={'loss': 0.5}, custom_metadata={'run': 'abc'})
    m.save(1, args=ckptdb.args.StandardSave({'w': np.ones(3)}))
    m.wait_until_finished()
    assert m.step_name(1) == 'ckpt_00000001'
    assert m.metrics(0) == {'loss': 0.5} and m.metrics(1) is None
    meta = m.metadata(0)
    assert meta.custom_metadata == {'run': 'abc'} and meta.name == 'ckpt_00000000'
    assert meta.item_names == ['default'] and meta.logical_bytes == 24
    assert meta.commit_timestamp_nsecs > 0 and meta.init_timestamp_nsecs > 0
    m.delete(0)
    assert m.all_steps() == [1]


def test_several_items_current_api(tmp_path):
  state = {'w': np.arange(6.0).reshape(2, 3), 'opt': (np.zeros(3), 7)}
  extra = {'epoch': 3, 'names': ['a', 'b']}
  with _mngr(tmp_path) as m:
    m.save(0, args=ckptdb.args.Composite(
        state=ckptdb.args.StandardSave(state),
        extra=ckptdb.args.JsonSave(extra)))
    everything = m.restore(0)
    assert isinstance(everything, ckptdb.Composite)
    assert sorted(everything) == ['extra', 'state']
    assert_tree_equal(everything.state, state)
    assert everything['extra'] == extra
    target = {'w': np.zeros((2, 3)), 'opt': (np.ones(3), 0)}
    only = m.restore(0, args=ckptdb.args.Composite(
        state=ckptdb.args.StandardRestore(target)))
    assert list(only) == ['state'] and only.state['w'] is not target['w']
    assert not target['w'].any()  # Orbax leaves the target unchanged
    assert_tree_equal(only.state, state)
    meta = m.item_metadata(0)
    assert meta.state['w'].shape == (2, 3) and meta.extra == extra
  # A fresh manager finds out it is multi-item from the step itself.
  with _mngr(tmp_path, read_only=True) as ro:
    assert isinstance(ro.restore(0), ckptdb.Composite)


def test_several_items_legacy_api(tmp_path):
  ckptrs = {'state': ckptdb.Checkpointer(ckptdb.PyTreeCheckpointHandler()),
            'step': ckptdb.Checkpointer(ckptdb.ArrayCheckpointHandler())}
  mgr = ckptdb.CheckpointManager(
      tmp_path / 'm', ckptrs, ckptdb.CheckpointManagerOptions(max_to_keep=1))
  state = {'w': np.ones(4, np.float32)}
  for step in range(3):
    mgr.save(step, {'state': state, 'step': np.int64(step)}, save_kwargs={
        'state': {'save_args': {'w': ckptdb.SaveArgs(dtype=np.float16)}}})
  assert mgr.all_steps() == [2]
  target = {'w': np.zeros(4, np.float32)}
  got = mgr.restore(2, items={'state': target, 'step': None},
                    restore_kwargs={'state': {'restore_args': {
                        'w': ckptdb.RestoreArgs(dtype=np.float32)}}})
  assert got['state']['w'][0] == 1.0 and not target['w'].any()
  assert got['step'] == 2 and got['step'].dtype == np.int64
  # ckptdb's opt-in through restore_kwargs: the target is filled.
  got = mgr.restore(2, items={'state': target, 'step': None},
                    restore_kwargs={'state': {
                        'in_place': True, 'restore_args': {
                            'w': ckptdb.RestoreArgs(dtype=np.float32)}}})
  assert got['state']['w'] is target['w'] and target['w'][0] == 1.0
  mgr.close()


def test_restore_from_another_directory(tmp_path):
  with _mngr(tmp_path, 'a') as a:
    _save_steps(a, [3])
  with _mngr(tmp_path, 'b') as b:
    assert b.restore(None, directory=tmp_path / 'a') == {'step': 3}


def test_async_manager_does_not_deadlock_with_python_callbacks(tmp_path):
  """best_fn runs on the saving thread while others query the manager."""
  stop = threading.Event()
  errors = []

  def poll(m):
    try:
      while not stop.is_set():
        m.all_steps()
        m.best_step()
        m.is_saving_in_progress()
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  with _mngr(tmp_path, best_fn=lambda x: x['acc'], max_to_keep=3) as m:
    threads = [threading.Thread(target=poll, args=(m,)) for _ in range(2)]
    for t in threads:
      t.start()
    for step in range(12):
      m.save(step, args=ckptdb.args.StandardSave({'w': np.full(1000, step)}),
             metrics={'acc': step % 5})
    m.wait_until_finished()
    stop.set()
    for t in threads:
      t.join(timeout=30)
      assert not t.is_alive()
    assert not errors
    # acc by step: 0..4, 0..4, 0, 1 -> the best three are the 4s (steps 4
    # and 9) and the newer of the 3s (step 8: ties keep the newer step).
    assert sorted(m.all_steps()) == [4, 8, 9]
