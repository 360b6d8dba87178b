"""checkpoint_utils.wait_for_new_checkpoint and checkpoints_iterator.

Reference: Orbax's orbax/checkpoint/checkpoint_utils.py docstrings
(wait_for_new_checkpoint: "waits until a step greater than or equal to
`until_step` has been found. If set to None (default), returns the first
step found" and yields "-1 if the timeout was reached"; checkpoints_iterator:
"Continuously yield new checkpoint files as they appear", the timeout /
timeout_fn rules, min_interval_secs), and issue 16.
"""

import os
import subprocess
import sys
import threading
import time

import ckptdb
from ckptdb import checkpoint_utils


def _save(directory, steps):
  with ckptdb.CheckpointManager(directory) as m:
    for step in steps:
      m.save(step, args=ckptdb.args.StandardSave({'step': step}))


def test_wait_returns_the_latest_step(tmp_path):
  """until_step None: the first step found is the latest present."""
  _save(tmp_path / 'm', [0, 4, 7])
  with checkpoint_utils.wait_for_new_checkpoint(tmp_path / 'm',
                                                timeout=5) as step:
    assert step == 7


def test_wait_times_out_with_minus_one(tmp_path):
  """'a new checkpoint step, or -1 if the timeout was reached'; a missing
  directory is waited for (and not created)."""
  start = time.monotonic()
  with checkpoint_utils.wait_for_new_checkpoint(
      tmp_path / 'none', seconds_to_sleep=0.05, timeout=0.3) as step:
    assert step == -1
  assert time.monotonic() - start < 5
  assert not (tmp_path / 'none').exists()
  _save(tmp_path / 'm', [2])
  with checkpoint_utils.wait_for_new_checkpoint(
      tmp_path / 'm', until_step=3, seconds_to_sleep=0.05,
      timeout=0.3) as step:
    assert step == -1


def test_wait_until_step_sees_a_writer(tmp_path):
  """until_step: waits until a step >= until_step is saved (here by a
  manager of this process, which the waiting reader never blocks)."""
  directory = tmp_path / 'm'
  _save(directory, [0])

  def writer():
    with ckptdb.CheckpointManager(directory) as m:
      for step in (1, 2, 3):
        time.sleep(0.1)
        m.save(step, args=ckptdb.args.StandardSave({'step': step}))

  t = threading.Thread(target=writer)
  t.start()
  try:
    with checkpoint_utils.wait_for_new_checkpoint(
        directory, until_step=3, seconds_to_sleep=0.02, timeout=30) as step:
      assert step == 3
  finally:
    t.join()


def test_timeout_fn_decides_whether_to_stop(tmp_path):
  """checkpoints_iterator: after a timeout, timeout_fn() True stops the
  iterator, False keeps waiting."""
  _save(tmp_path / 'm', [1])
  calls = []

  def timeout_fn():  # "not yet" once, then "done"
    calls.append(1)
    return len(calls) > 1

  got = list(checkpoint_utils.checkpoints_iterator(
      tmp_path / 'm', seconds_to_sleep=0.02, timeout=0.1,
      timeout_fn=timeout_fn))
  assert got == [1]
  assert len(calls) >= 2


def test_iterator_follows_another_process(tmp_path):
  """'Continuously yield new checkpoint files as they appear': a trainer in
  another process saves steps 0..5; the iterator yields increasing steps
  ending with the last, and stops after `timeout` without a new one."""
  directory = tmp_path / 'm'
  script = (
      'import sys, time, ckptdb\n'
      'm = ckptdb.CheckpointManager(sys.argv[1])\n'
      'for s in range(6):\n'
      '  time.sleep(0.3)\n'
      '  m.save(s, args=ckptdb.args.StandardSave({"s": s}))\n'
      '  m.wait_until_finished()\n'
      'm.close()\n')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  trainer = subprocess.Popen([sys.executable, '-c', script, str(directory)],
                             env=env)
  try:
    got = []
    for step in checkpoint_utils.checkpoints_iterator(
        directory, seconds_to_sleep=0.05, timeout=15):
      got.append(step)
      if step == 5:
        break
  finally:
    assert trainer.wait(timeout=60) == 0
  assert got[-1] == 5
  assert got == sorted(set(got))
  assert len(got) >= 2  # it saw steps while the trainer was running


def test_iterator_min_interval(tmp_path):
  """min_interval_secs: 'The minimum number of seconds between yielding
  checkpoints.'"""
  directory = tmp_path / 'm'
  _save(directory, [0])
  it = checkpoint_utils.checkpoints_iterator(
      directory, min_interval_secs=0.5, seconds_to_sleep=0.02, timeout=5)
  assert next(it) == 0
  start = time.monotonic()
  _save(directory, [1])
  assert next(it) == 1
  assert time.monotonic() - start >= 0.45
  it.close()
