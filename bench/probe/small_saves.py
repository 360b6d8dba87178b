"""Probe behind "The durable mark" in docs/design.md: 150 synchronous saves
of a small tree (max_to_keep=3, so each save also deletes one), with the
Python package of the build directory given. Time it as a whole process
against another build's, alternating, e.g. with /usr/bin/time:

  /usr/bin/time -f %e python3 bench/probe/small_saves.py build
  /usr/bin/time -f %e python3 bench/probe/small_saves.py /other/build
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(sys.argv[1], 'python'))
import numpy as np  # noqa: E402
import ckptdb  # noqa: E402

d = tempfile.mkdtemp()
try:
  with ckptdb.CheckpointManager(
      os.path.join(d, 'm'), options=ckptdb.CheckpointManagerOptions(
          enable_async_checkpointing=False, max_to_keep=3)) as m:
    for s in range(150):
      m.save(s, {'a': np.arange(1000) + s, 'b': s})
finally:
  shutil.rmtree(d)
