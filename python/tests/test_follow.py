"""A notebook opens the database of a run that is training, with default
options, while the trainer (another process) saves: it follows the trainer,
listing and restoring the new steps as they appear, and cannot write."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ckptdb

STEPS = 12
GATES = (4, 8)  # the trainer waits for the notebook before these steps

TRAINER = r'''
import os, sys, time
import numpy as np
import ckptdb
directory, steps, gates = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
gates = {int(g) for g in gates}
mngr = ckptdb.CheckpointManager(
    directory, options=ckptdb.CheckpointManagerOptions(max_to_keep=3))
deadline = time.monotonic() + 120
for step in range(steps):
  if step in gates:
    while not os.path.exists(os.path.join(directory, f'..', f'go-{step}')):
      if time.monotonic() > deadline:
        sys.exit(5)
      time.sleep(0.005)
  state = {'w': np.full((64, 256), step, np.float32), 'step': step}
  mngr.save(step, args=ckptdb.args.StandardSave(state))
mngr.close()
'''


def _state(step):
  return {'w': np.full((64, 256), step, np.float32), 'step': step}


def test_notebook_follows_a_training_process(tmp_path):
  directory = tmp_path / 'run'
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  trainer = subprocess.Popen(
      [sys.executable, '-c', TRAINER, str(directory), str(STEPS)] +
      [str(g) for g in GATES], env=env)
  try:
    deadline = time.monotonic() + 120
    notebook = None
    while notebook is None:
      assert time.monotonic() < deadline, 'the trainer never created the run'
      try:
        notebook = ckptdb.CheckpointManager(
            directory, options=ckptdb.CheckpointManagerOptions(create=False))
      except (FileNotFoundError, ValueError, RuntimeError):
        time.sleep(0.01)
    assert notebook.following
    seen = []
    while trainer.poll() is None or not seen or seen[-1] != STEPS - 1:
      assert time.monotonic() < deadline, f'stuck; saw {seen}'
      steps = notebook.all_steps()
      if not steps:
        continue
      latest = steps[-1]
      try:
        restored = notebook.restore(latest)
      except ckptdb.NotFoundError:
        continue  # retention deleted it since the listing: list again
      np.testing.assert_array_equal(restored['w'], _state(latest)['w'])
      assert restored['step'] == latest
      if not seen or seen[-1] != latest:
        seen.append(latest)
      for gate in GATES:
        if latest == gate - 1:
          (tmp_path / f'go-{gate}').touch()
      if trainer.poll() is not None:
        time.sleep(0.15)  # the follow interval, then list once more
    assert trainer.wait() == 0
    # It saw the steps before each gate while the trainer waited there.
    assert [g - 1 for g in GATES] == [s for s in seen if s + 1 in GATES]
    assert seen == sorted(seen)
    assert notebook.all_steps() == [STEPS - 3, STEPS - 2, STEPS - 1]
    notebook.close()
  finally:
    if trainer.poll() is None:
      trainer.kill()
      trainer.wait()
