"""The GIL is released while the C++ core does I/O."""

import sys
import threading
import time

import numpy as np

import ckptdb


def _python_progress_during(fn):
  """How far a busy Python thread gets while fn runs, per second of fn.

  The switch interval is raised to 0.5 s: a shorter call that kept the GIL
  would leave the other thread no time at all.
  """
  count = [0]
  stop = threading.Event()

  def spin():
    while not stop.is_set():
      count[0] += 1

  old = sys.getswitchinterval()
  sys.setswitchinterval(0.5)
  t = threading.Thread(target=spin)
  t.start()
  try:
    time.sleep(0.05)  # releases the GIL: let the thread start spinning
    c0, t0 = count[0], time.perf_counter()
    fn()
    c1, t1 = count[0], time.perf_counter()
  finally:
    stop.set()
    sys.setswitchinterval(old)
    t.join()
  return (c1 - c0) / (t1 - t0)


def test_save_and_restore_release_the_gil(tmp_path):
  big = {'w': np.random.default_rng(0).standard_normal(1 << 24)}  # 128 MiB
  ckptr = ckptdb.PyTreeCheckpointer()
  baseline = _python_progress_during(lambda: time.sleep(0.3))
  during_save = _python_progress_during(lambda: ckptr.save(tmp_path / 'c', big))
  during_restore = _python_progress_during(
      lambda: ckptr.restore(tmp_path / 'c'))
  held = _python_progress_during(lambda: sum(range(2_000_000)))  # keeps it
  assert held < 0.01 * baseline  # the measurement can tell
  assert during_save > 0.2 * baseline, (during_save, baseline)
  assert during_restore > 0.2 * baseline, (during_restore, baseline)


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
