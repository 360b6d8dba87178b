"""Sharded arrays through the Orbax-shaped API: a step saved by 4 processes
(ckptdb.multihost), each holding its shards of a 2x2 mesh, restored by other
meshes; restore_args_from_target(target, mesh); one process alone."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ckptdb
from ckptdb import sharding as sh

WORKER = r'''
import sys
import numpy as np
import ckptdb
from ckptdb import sharding as sh
directory, index = sys.argv[1], int(sys.argv[2])
ckptdb.multihost.initialize(index, 4)
mesh = sh.Mesh.create((2, 2), ('x', 'y'), process_count=4)
def leaves(step):
  rng = np.random.default_rng(step)
  return {
      'w': rng.standard_normal((64, 96)).astype(np.float32),
      'v': rng.integers(-100, 100, (8, 4, 32)).astype(np.int8),
      'rep': rng.standard_normal((10, 8)).astype(np.float32),
  }
specs = {'w': sh.P('x', 'y'), 'v': sh.P(None, 'x', 'y'), 'rep': sh.P()}
die_at = int(sys.argv[3]) if len(sys.argv) > 3 else -1
options = ckptdb.CheckpointManagerOptions(  # async, as by default
    async_options=ckptdb.AsyncOptions(timeout_secs=3))
with ckptdb.CheckpointManager(directory, options=options) as mngr:
  for step in (1, 2):
    if step == die_at:
      import os; os._exit(9)  # killed before saving its part
    tree = {name: ckptdb.ShardedArray.from_global(
                a, sh.NamedSharding(mesh, specs[name]), index)
            for name, a in leaves(step).items()}
    tree['step'] = step
    assert mngr.save(step, args=ckptdb.args.StandardSave(tree))
    mngr.wait_until_finished()
'''


def expected(step):
  rng = np.random.default_rng(step)
  return {
      'w': rng.standard_normal((64, 96)).astype(np.float32),
      'v': rng.integers(-100, 100, (8, 4, 32)).astype(np.int8),
      'rep': rng.standard_normal((10, 8)).astype(np.float32),
  }


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  directory = tmp_path_factory.mktemp('sharded') / 'db'
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  procs = [subprocess.Popen([sys.executable, '-c', WORKER, str(directory),
                             str(i)], env=env) for i in range(4)]
  for p in procs:
    assert p.wait(timeout=300) == 0
  return directory


def test_four_processes_save_one_step_and_one_process_reads_it_whole(saved):
  with ckptdb.CheckpointManager(saved) as mngr:
    assert mngr.all_steps() == [1, 2]
    got = mngr.restore(2)
  want = expected(2)
  for name in want:
    np.testing.assert_array_equal(got[name], want[name])
  assert got['step'] == 2


@pytest.mark.parametrize('processes', [1, 2, 8])
def test_other_meshes_restore_their_shards(saved, processes):
  mesh = sh.Mesh.create((processes,), ('d',), process_count=processes)
  want = expected(1)
  with ckptdb.CheckpointManager(saved) as mngr:
    for index in range(processes):
      ckptdb.multihost.initialize(index, processes)
      try:
        args = {name: ckptdb.ArrayRestoreArgs(
                    sharding=sh.NamedSharding(
                        mesh, sh.P(*([None] * (a.ndim - 1) + ['d']))))
                for name, a in want.items()}
        args['step'] = ckptdb.RestoreArgs()
        got = mngr.restore(1, args=ckptdb.args.PyTreeRestore(
            restore_args=args))
      finally:
        ckptdb.multihost.initialize(0, 1)
      for name, a in want.items():
        leaf = got[name]
        assert isinstance(leaf, ckptdb.ShardedArray), name
        assert leaf.shape == a.shape
        for shard in leaf.addressable_shards:
          np.testing.assert_array_equal(shard.data, a[shard.index])


def test_restore_args_from_target_carries_the_mesh(saved):
  mesh = sh.Mesh.create((2,), ('d',), process_count=1)
  target = {name: ckptdb.ShapeDtypeStruct(
                a.shape, a.dtype, sharding=sh.NamedSharding(mesh, sh.P('d')))
            for name, a in expected(1).items()}
  target['step'] = 0
  restore_args = ckptdb.orbax_utils.restore_args_from_target(target, mesh)
  with ckptdb.CheckpointManager(saved) as mngr:
    got = mngr.restore(1, args=ckptdb.args.PyTreeRestore(
        target, restore_args=restore_args))
  for name, a in expected(1).items():
    assert isinstance(got[name], ckptdb.ShardedArray)
    np.testing.assert_array_equal(np.asarray(got[name]), a)


def test_a_wrong_global_shape_is_refused_when_strict(saved):
  mesh = sh.Mesh.create((2,), ('d',), process_count=1)
  args = {'w': ckptdb.ArrayRestoreArgs(sharding=sh.NamedSharding(mesh, sh.P('d')),
                                       global_shape=(66, 96))}
  with ckptdb.CheckpointManager(saved) as mngr:
    with pytest.raises(ValueError, match=r'\(64, 96\)'):
      mngr.restore(1, args=ckptdb.args.PyTreeRestore(
          restore_args=args, partial_restore=True))


def test_one_process_saves_a_sharded_array_alone(tmp_path):
  mesh = sh.Mesh.create((2, 2), ('x', 'y'))
  a = np.arange(8 * 12, dtype=np.float32).reshape(8, 12)
  tree = {'a': ckptdb.ShardedArray.from_global(
      a, sh.NamedSharding(mesh, sh.P('x', 'y')), 0)}
  with ckptdb.CheckpointManager(tmp_path / 'db') as mngr:
    assert mngr.save(0, args=ckptdb.args.StandardSave(tree))
    mngr.wait_until_finished()
    np.testing.assert_array_equal(mngr.restore(0)['a'], a)


JAX_WORKER = r'''
import sys
import numpy as np
sys.path.insert(0, sys.argv[3])
import fake_jax
jax = fake_jax.make(int(sys.argv[2]), 4)
sys.modules['jax'] = jax
import ckptdb
glob = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
x = jax.make_array_from_callback((64, 32), jax.NamedSharding(jax.mesh, ('x', 'y')),
                                 lambda index: glob[index])
assert not x.is_fully_addressable
options = ckptdb.CheckpointManagerOptions(enable_async_checkpointing=False)
with ckptdb.CheckpointManager(sys.argv[1], options=options) as mngr:
  assert mngr.save(0, args=ckptdb.args.StandardSave({'x': x, 'n': 1}))
'''


def test_jax_arrays_through_a_stand_in(tmp_path, monkeypatch):
  """jax.Arrays spread over 4 processes (JAX's process index, no
  multihost.initialize) save their shards; a jax.Array target comes back
  as a jax.Array of its sharding."""
  import fake_jax  # pylint: disable=g-import-not-at-top
  directory = tmp_path / 'db'
  here = os.path.dirname(os.path.abspath(__file__))
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  procs = [subprocess.Popen([sys.executable, '-c', JAX_WORKER, str(directory),
                             str(i), here], env=env) for i in range(4)]
  for p in procs:
    assert p.wait(timeout=300) == 0
  glob = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
  jax = fake_jax.make(0, 1)
  monkeypatch.setitem(sys.modules, 'jax', jax)
  with ckptdb.CheckpointManager(directory) as mngr:
    np.testing.assert_array_equal(mngr.restore(0)['x'], glob)
    sharding = jax.NamedSharding(jax.mesh, (None, 'y'))
    target = {'x': jax.make_array_from_callback((64, 32), sharding,
                                                lambda i: np.zeros((64, 16), np.float32)),
              'n': 0}
    got = mngr.restore(0, args=ckptdb.args.StandardRestore(target))
  assert isinstance(got['x'], jax.Array)
  assert len(got['x'].addressable_shards) == 4
  for shard in got['x'].addressable_shards:
    np.testing.assert_array_equal(shard.data, glob[shard.index])


def test_a_process_killed_before_the_commit_leaves_nothing(tmp_path):
  directory = tmp_path / 'db'
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  procs = [subprocess.Popen(
      [sys.executable, '-c', WORKER, str(directory), str(i),
       '2' if i == 3 else '-1'], env=env, stderr=subprocess.PIPE)
           for i in range(4)]
  codes = [p.wait(timeout=120) for p in procs]
  errors = [p.stderr.read().decode() for p in procs]
  assert codes[3] == 9
  for i in range(3):  # each failed with a clear error within the timeout
    assert codes[i] != 0, errors[i]
  assert 'did not save their part' in errors[0], errors[0]
  with ckptdb.CheckpointManager(directory) as mngr:
    assert mngr.all_steps() == [1]
    np.testing.assert_array_equal(mngr.restore(1)['w'], expected(1)['w'])
