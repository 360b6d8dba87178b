"""The GIL is released while the C++ core does I/O."""

import sys
import threading
import time

import numpy as np

import ckptdb


def _python_steps_during(fn):
  """How many steps a Python thread makes while fn runs.

  The thread gives the GIL up after every step (it sleeps 1 ms), so it
  never holds up fn. The switch interval is raised to 10 s: a call that
  keeps the GIL for less than that leaves the thread no step at all, so the
  count is 0 exactly when fn kept the GIL throughout (however loaded the
  machine is) and positive once fn released it long enough for the thread
  to run.
  """
  steps = [0]
  stop = threading.Event()
  started = threading.Event()

  def step():
    started.set()
    while not stop.is_set():
      steps[0] += 1
      time.sleep(0.001)  # releases the GIL

  old = sys.getswitchinterval()
  sys.setswitchinterval(10)
  t = threading.Thread(target=step)
  t.start()
  try:
    started.wait()
    c0 = steps[0]
    fn()
    c1 = steps[0]
  finally:
    stop.set()
    sys.setswitchinterval(old)
    t.join()
  return c1 - c0


def _steps_during_some_of(fn, tries=3):
  """Steps during fn, retried: a thread the OS did not schedule while fn
  released the GIL makes no step, but no retry helps a fn that keeps it."""
  for _ in range(tries):
    n = _python_steps_during(fn)
    if n > 0:
      return n
  return 0


def test_save_and_restore_release_the_gil(tmp_path):
  big = {'w': np.random.default_rng(0).standard_normal(1 << 24)}  # 128 MiB
  ckptr = ckptdb.PyTreeCheckpointer()
  n = [0]

  def save():
    ckptr.save(tmp_path / f'c{n[0]}', big)
    n[0] += 1

  # The measurement can tell: a C call that keeps the GIL leaves no step,
  # one that releases it (time.sleep) leaves some.
  assert _python_steps_during(lambda: sum(range(2_000_000))) == 0
  assert _steps_during_some_of(lambda: time.sleep(0.3)) > 0
  assert _steps_during_some_of(save) > 0
  assert _steps_during_some_of(lambda: ckptr.restore(tmp_path / 'c0')) > 0


def test_first_conversions_on_two_threads_do_not_deadlock(tmp_path):
  """Two threads whose first calls convert trees at the same moment (a
  fresh interpreter each time: the race is on first use)."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  script = f'''
import threading, numpy as np, ckptdb
def work(i):
  m = ckptdb.CheckpointManager({str(tmp_path)!r} + f'/m{{i}}',
      options=ckptdb.CheckpointManagerOptions(enable_async_checkpointing=False))
  for s in range(3):
    m.save(s, args=ckptdb.args.StandardSave({{'a': np.ones(3) * s}}))
  m.close()
ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
'''
  env = dict(os.environ,
             PYTHONPATH=os.path.dirname(os.path.dirname(ckptdb.__file__)))
  for run in range(4):
    r = subprocess.run([sys.executable, '-c', script], env=env, timeout=60,
                       capture_output=True, text=True)
    assert r.returncode == 0, (run, r.stderr)
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(tmp_path / 'm0')
    shutil.rmtree(tmp_path / 'm1')
