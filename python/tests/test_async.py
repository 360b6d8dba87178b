"""AsyncCheckpointer and async managers: capture by copy or borrow."""

import gc
import sys

import numpy as np

import ckptdb
from treeutil import assert_tree_equal


def test_copy_capture_lets_the_caller_change_its_arrays_at_once(tmp_path):
  a = np.arange(1 << 20, dtype=np.float32)
  expected = a.copy()
  ckptr = ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler())
  future = ckptr.save(tmp_path / 'c', {'a': a})
  a[:] = -1  # the save copied the array before returning
  ckptr.wait_until_finished()
  assert future.done()
  assert_tree_equal(ckptr.restore(tmp_path / 'c'), {'a': expected})
  ckptr.close()


def test_borrow_capture_holds_the_array_until_the_save_is_done(tmp_path):
  a = np.arange(1 << 20, dtype=np.float32)
  gc.collect()
  refs = sys.getrefcount(a)
  ckptr = ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler())
  future = ckptr.save(tmp_path / 'c', {'a': a}, borrow=True)
  future.wait()  # released from the background thread, with the GIL
  assert sys.getrefcount(a) == refs
  ckptr.wait_until_finished()
  assert_tree_equal(ckptr.restore(tmp_path / 'c'), {'a': a})
  ckptr.close()


def test_restore_waits_for_the_save_in_flight(tmp_path):
  ckptr = ckptdb.AsyncCheckpointer(ckptdb.StandardCheckpointHandler())
  tree = {'w': np.random.default_rng(0).standard_normal(1 << 21)}
  ckptr.save(tmp_path / 'c', args=ckptdb.args.StandardSave(tree))
  assert_tree_equal(ckptr.restore(tmp_path / 'c'), tree)  # no explicit wait
  ckptr.close()


def test_errors_are_raised_by_the_call_that_starts_the_save(tmp_path):
  ckptr = ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler())
  ckptr.save(tmp_path / 'c', {'a': 1})
  ckptr.wait_until_finished()
  try:
    ckptr.save(tmp_path / 'c', {'a': 2})
    raise AssertionError('expected FileExistsError')
  except FileExistsError:
    pass
  ckptr.save(tmp_path / 'c', {'a': 3}, force=True)
  ckptr.check_for_errors()
  ckptr.close()
  assert ckptdb.PyTreeCheckpointer().restore(tmp_path / 'c') == {'a': 3}
  try:
    ckptr.save(tmp_path / 'd', {'a': 1})
    raise AssertionError('expected FailedPreconditionError')
  except ckptdb.FailedPreconditionError as e:
    assert 'closed' in str(e)


def test_async_manager_copy_and_borrow(tmp_path):
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    state = {'w': np.zeros(1 << 18, np.float32)}
    for step in range(4):
      state['w'][:] = step
      mngr.save(step, args=ckptdb.args.StandardSave(state),
                borrow=(step % 2 == 1))
      if step % 2 == 1:
        mngr.wait_until_finished()  # borrowed: keep it unchanged until then
    mngr.wait_until_finished()
    for step in range(4):
      assert mngr.restore(step)['w'][0] == step


def test_exit_with_a_borrowed_save_in_flight(tmp_path):
  """Interpreter exit finishes in-flight saves (and releases their arrays)."""
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  script = f'''
import numpy as np, ckptdb
a = np.full(1 << 23, 7.0)
c = ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler())
c.save({str(tmp_path / 'c')!r}, {{'a': a}}, borrow=True)
m = ckptdb.CheckpointManager({str(tmp_path / 'm')!r})
m.save(0, args=ckptdb.args.StandardSave({{'a': a}}), borrow=True)
'''
  env = dict(os.environ,
             PYTHONPATH=os.path.dirname(os.path.dirname(ckptdb.__file__)))
  r = subprocess.run([sys.executable, '-c', script], env=env, timeout=120,
                     capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  assert r.stderr == ''
  got = ckptdb.PyTreeCheckpointer().restore(tmp_path / 'c')
  assert got['a'].shape == (1 << 23,) and (got['a'] == 7.0).all()
  with ckptdb.CheckpointManager(tmp_path / 'm', options=ckptdb.CheckpointManagerOptions(
      read_only=True)) as m:
    assert m.all_steps() == [0] and (m.restore(0)['a'] == 7.0).all()
