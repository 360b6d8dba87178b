"""Checkpointer.metadata(path) as Orbax's StepMetadata, and the save timings
of StepMetadata.performance_metrics.

From Orbax's _src/checkpointers/checkpointer.py (`metadata(directory) ->
StepMetadata`: the step metadata read from the checkpoint, with
`item_metadata = handler.metadata(directory)`; a CompositeCheckpointHandler
gives per-item metadata), _src/metadata/checkpoint.py (StepMetadata's
fields), checkpoint_manager.py's save() (SaveStepStatistics: the
checkpoint_manager_blocking_*, wait_for_prev_*, checkpointer_blocking_*,
time_between_consecutive_saves_sec, synchronous and preemption fields, set
around the save call) and _src/logging/step_statistics.py.
"""

import json
import os
import time

import numpy as np
import pytest

import ckptdb as ocp
from ckptdb import _step_statistics


def test_standard_checkpointer_metadata_is_step_metadata(tmp_path):
  """orbax_checkpoint_101 "Metadata" cell: checkpointer.metadata(path);
  Orbax >= 0.9 returns StepMetadata whose item_metadata is the tree."""
  ckptr = ocp.StandardCheckpointer()
  before = time.time_ns()
  ckptr.save(tmp_path / 'c', {'a': np.arange(8), 'b': {'c': 42}},
             custom_metadata={'note': 'first'})
  after = time.time_ns()
  meta = ckptr.metadata(tmp_path / 'c')
  assert isinstance(meta, ocp.StepMetadata)
  assert isinstance(meta, ocp.metadata.StepMetadata)
  assert meta.item_metadata['a'].shape == (8,)
  assert meta.item_metadata['a'].dtype == np.int64
  assert meta.item_metadata['b']['c'] == 42
  assert meta.item_handlers == 'ckptdb.StandardCheckpointHandler'
  assert meta.custom_metadata == {'note': 'first'}
  assert meta.metrics == {}
  assert before <= meta.init_timestamp_nsecs <= meta.commit_timestamp_nsecs
  assert meta.commit_timestamp_nsecs <= after
  assert meta.performance_metrics.logical_bytes == 64
  # Orbax's Checkpointer records no timings.
  assert meta.performance_metrics.checkpointer_blocking_duration_secs is None
  assert meta.step is None
  # Without custom metadata: {} (Orbax's default).
  ckptr.save(tmp_path / 'd', {'a': np.arange(2)})
  assert ckptr.metadata(tmp_path / 'd').custom_metadata == {}
  with pytest.raises(FileNotFoundError):
    ckptr.metadata(tmp_path / 'missing')


def test_composite_checkpointer_metadata_is_per_item(tmp_path):
  """Checkpointer(CompositeCheckpointHandler()).metadata: item_metadata
  per item (Orbax's CompositeItemMetadata), handlers by item name."""
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler(
      state=ocp.StandardCheckpointHandler()))
  ckptr.save(tmp_path / 'c', args=ocp.args.Composite(
      state=ocp.args.StandardSave({'w': np.ones(3, np.float32)}),
      extra=ocp.args.JsonSave({'version': 1})))
  meta = ckptr.metadata(tmp_path / 'c')
  assert isinstance(meta.item_metadata, ocp.args.Composite)
  assert meta.item_metadata.state['w'].dtype == np.float32
  assert meta.item_metadata['extra'] == {'version': 1}
  assert meta.item_handlers == {'state': 'ckptdb.StandardCheckpointHandler',
                                'extra': None}


def test_async_checkpointer_metadata_waits_for_the_save(tmp_path):
  """AsyncCheckpointer.metadata reads the committed checkpoint (the save
  in flight to that path is waited for), custom metadata included."""
  with ocp.AsyncCheckpointer(ocp.PyTreeCheckpointHandler()) as ckptr:
    ckptr.save(tmp_path / 'c', args=ocp.args.PyTreeSave({'x': np.zeros(5)}),
               custom_metadata={'k': [1, 2]})
    meta = ckptr.metadata(tmp_path / 'c')
    assert meta.item_metadata['x'].shape == (5,)
    assert meta.custom_metadata == {'k': [1, 2]}
    assert meta.item_handlers == 'ckptdb.PyTreeCheckpointHandler'


_TIMINGS = ('checkpoint_manager_blocking_start_time',
            'checkpoint_manager_blocking_duration_secs',
            'checkpointer_blocking_start_time',
            'checkpointer_blocking_duration_secs',
            'wait_for_prev_start_time', 'wait_for_prev_duration_secs')


@pytest.mark.parametrize('use_async', [False, True])
def test_save_timings_are_recorded_and_persisted(tmp_path, use_async):
  """checkpoint_manager.py save(): SaveStepStatistics with the manager's
  blocking time around the whole call, the checkpointer's inside it, the
  wait for the previous save before it; time_between_consecutive_saves_sec
  from the second save on; synchronous as the manager is. ckptdb persists
  them: a new manager reads the same values back."""
  options = ocp.CheckpointManagerOptions(enable_async_checkpointing=use_async)
  tree = {'w': np.arange(1 << 16, dtype=np.float32)}
  saved = {}
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    for step in range(3):
      t0 = time.time()
      assert mngr.save(step, args=ocp.args.StandardSave(tree))
      t1 = time.time()
      saved[step] = (t0, t1)
    mngr.wait_until_finished()
    live = {s: mngr.metadata(s).performance_metrics for s in range(3)}
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    for step in range(3):
      perf = mngr.metadata(step).performance_metrics
      assert perf == live[step]
      t0, t1 = saved[step]
      assert perf.step == step and perf.event_type == 'save'
      assert perf.synchronous is (not use_async)
      assert all(getattr(perf, f) is not None for f in _TIMINGS), perf
      start = perf.checkpoint_manager_blocking_start_time
      total = perf.checkpoint_manager_blocking_duration_secs
      assert t0 <= start and start + total <= t1
      assert start <= perf.wait_for_prev_start_time
      assert (perf.wait_for_prev_start_time + perf.wait_for_prev_duration_secs
              <= perf.checkpointer_blocking_start_time + 1e-6)
      assert (perf.checkpointer_blocking_start_time +
              perf.checkpointer_blocking_duration_secs <= start + total + 1e-6)
      assert 0 < perf.checkpointer_blocking_duration_secs <= total
      # Retention runs inside the core's save: not timed separately.
      assert perf.get_old_steps_duration_secs is None
      assert perf.reached_preemption is False
      assert perf.logical_bytes == 1 << 18
      if step == 0:
        assert perf.time_between_consecutive_saves_sec is None
      else:
        gap = perf.time_between_consecutive_saves_sec
        assert 0 <= gap <= t1 - saved[step - 1][0]


def test_timings_follow_the_step_not_an_older_save_of_its_number(tmp_path):
  """A step deleted and saved again shows the new save's timings (records
  are matched by the core's init timestamp), and steps saved before this
  version (no record) keep None."""
  tree = {'w': np.arange(4.0)}
  options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    mngr.save(0, args=ocp.args.StandardSave(tree))
    first = mngr.metadata(0).performance_metrics
    mngr.delete(0)
    time.sleep(0.01)
    mngr.save(0, args=ocp.args.StandardSave(tree), force=True)
    second = mngr.metadata(0).performance_metrics
    assert (second.checkpoint_manager_blocking_start_time >
            first.checkpoint_manager_blocking_start_time +
            first.checkpoint_manager_blocking_duration_secs)
  os.remove(tmp_path / 'm' / _step_statistics.FILENAME)
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    perf = mngr.metadata(0).performance_metrics
    assert perf.checkpoint_manager_blocking_duration_secs is None
    assert perf.step == 0 and perf.logical_bytes == 32


def test_no_record_for_a_save_the_policy_skipped(tmp_path):
  """save() returning False (should_save says no) records nothing."""
  options = ocp.CheckpointManagerOptions(save_interval_steps=2,
                                         enable_async_checkpointing=False)
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    assert mngr.save(0, args=ocp.args.StandardSave({'w': np.ones(2)}))
    assert not mngr.save(1, args=ocp.args.StandardSave({'w': np.ones(2)}))
  with open(tmp_path / 'm' / _step_statistics.FILENAME) as f:
    records = [json.loads(line) for line in f]
  assert [r['step'] for r in records] == [0]


def test_statistics_file_is_compacted_to_live_steps(tmp_path):
  """With max_to_keep the deleted steps' records are dropped once they
  dominate the file; a torn last line is skipped."""
  options = ocp.CheckpointManagerOptions(max_to_keep=2,
                                         enable_async_checkpointing=False)
  path = tmp_path / 'm' / _step_statistics.FILENAME
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    for step in range(80):
      mngr.save(step, args=ocp.args.StandardSave({'w': np.ones(2)}))
    with open(path) as f:
      steps = [json.loads(line)['step'] for line in f]
    assert len(steps) < 70 and steps[-1] == 79 and 0 not in steps
  with open(path, 'a') as f:
    f.write('{"step": 79, "checkpoint_manager_blo')  # torn
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    perf = mngr.metadata(79).performance_metrics
    assert perf.checkpoint_manager_blocking_duration_secs > 0


def test_runs_keep_their_own_timings(tmp_path):
  """Two runs of one database may both have a step 0: each gets its own
  save's record."""
  options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False)
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as a:
    a.save(0, args=ocp.args.StandardSave({'w': np.ones(2)}))
    perf_a = a.metadata(0).performance_metrics
  time.sleep(0.01)
  with ocp.CheckpointManager(tmp_path / 'm', options=options, run='b') as b:
    b.save(0, args=ocp.args.StandardSave({'w': np.ones(2)}))
    perf_b = b.metadata(0).performance_metrics
  assert perf_a.checkpoint_manager_blocking_duration_secs is not None
  assert perf_b.checkpoint_manager_blocking_duration_secs is not None
  assert (perf_b.checkpoint_manager_blocking_start_time >
          perf_a.checkpoint_manager_blocking_start_time)
  with ocp.CheckpointManager(tmp_path / 'm', options=options) as a:
    assert a.metadata(0).performance_metrics == perf_a
