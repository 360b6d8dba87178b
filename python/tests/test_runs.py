"""Named runs in one database, and forking a run from another's step.

ckptdb's addition (docs/python.md): `CheckpointManager(directory, run=...)`.
"""
import numpy as np
import pytest

import ckptdb


def _state(seed):
  return {'w': np.random.default_rng(seed).standard_normal((256, 256)),
          'seed': seed}


def _sync(max_to_keep=None):
  return ckptdb.CheckpointManagerOptions(enable_async_checkpointing=False,
                                         max_to_keep=max_to_keep)


def test_runs_have_their_own_steps_and_retention(tmp_path):
  with ckptdb.CheckpointManager(tmp_path / 'db', options=_sync(2)) as base, \
      ckptdb.CheckpointManager(tmp_path / 'db', options=_sync(3),
                               run='lr-3e-4') as run:
    assert base.run == '' and run.run == 'lr-3e-4'
    for step in range(5):
      base.save(step, args=ckptdb.args.StandardSave(_state(step)))
      run.save(step, args=ckptdb.args.StandardSave(_state(100 + step)))
    assert base.all_steps() == [3, 4]
    assert run.all_steps() == [2, 3, 4]
    got = run.restore(4)
    np.testing.assert_array_equal(got['w'], _state(104)['w'])
    assert base.restore(4)['seed'] == 4


def test_fork_starts_a_run_from_a_pretrained_step(tmp_path):
  with ckptdb.CheckpointManager(tmp_path / 'db', options=_sync(),
                                run='pretrained') as pre:
    pre.save(0, args=ckptdb.args.StandardSave(_state(0)))
    pre.fork('pretrained', 0, 'ft-a')
    with ckptdb.CheckpointManager(tmp_path / 'db', options=_sync(),
                                  run='ft-a') as ft:
      assert ft.all_steps() == [0]
      np.testing.assert_array_equal(ft.restore(0)['w'], _state(0)['w'])
      with pytest.raises(ckptdb.AlreadyExistsError):
        pre.fork('pretrained', 0, 'ft-a')
    with pytest.raises(ckptdb.NotFoundError):
      pre.fork('pretrained', 5, 'ft-b')


def test_bad_run_name(tmp_path):
  with pytest.raises(ValueError, match='bad run name'):
    ckptdb.CheckpointManager(tmp_path / 'db', run='a/b')
