"""Several processes save into one database with default options.

Each process opens `CheckpointManager(directory)`; the first holds the
database, the others follow it and save through it (docs/design.md, "Many
writers"). Every step any of them saved restores exactly in all of them.
"""
import os
import subprocess
import sys

import numpy as np

import ckptdb

WORKER = r'''
import sys
import numpy as np
import ckptdb
directory, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with ckptdb.CheckpointManager(directory) as mngr:
  for step in range(first, first + count):
    state = {'w': np.full((256, 256), step, np.float32),
             'shared': np.arange(65536, dtype=np.float32), 'step': step}
    assert mngr.save(step, args=ckptdb.args.StandardSave(state), force=True)
  mngr.wait_until_finished()
'''


def test_three_processes_save_into_one_database(tmp_path):
  directory = tmp_path / 'sweep'
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  procs = [
      subprocess.Popen([sys.executable, '-c', WORKER, str(directory),
                        str(1000 * k), '6'], env=env) for k in range(3)
  ]
  for p in procs:
    assert p.wait(timeout=300) == 0
  with ckptdb.CheckpointManager(directory) as mngr:
    steps = mngr.all_steps()
    assert steps == [1000 * k + i for k in range(3) for i in range(6)]
    for step in steps:
      got = mngr.restore(step)
      np.testing.assert_array_equal(got['w'], np.full((256, 256), step,
                                                      np.float32))
      np.testing.assert_array_equal(got['shared'],
                                    np.arange(65536, dtype=np.float32))
      assert got['step'] == step
