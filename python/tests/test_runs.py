"""Named runs in one database, and forking a run from another's step.

ckptdb's addition (docs/python.md): `CheckpointManager(directory, run=...)`.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import ckptdb

_BUILD = pathlib.Path(
    os.environ.get('CKPTDB_BUILD_DIR',
                   pathlib.Path(__file__).resolve().parents[2] / 'build'))


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


def test_each_runs_retention_is_stored_and_replayed_by_gc(tmp_path):
  """Each run's manager stores its retention (b's, following a's manager,
  through a's process); `ckptdb gc` replays each run's own."""
  db = tmp_path / 'db'
  for run, seed in (('a', 0), ('b', 100)):
    with ckptdb.CheckpointManager(db, options=_sync(), run=run) as m:
      for step in range(4):
        m.save(step, args=ckptdb.args.StandardSave(_state(seed + step)))
  with ckptdb.CheckpointManager(db, options=_sync(1), run='a'), \
      ckptdb.CheckpointManager(db, options=_sync(2), run='b'):
    pass  # recorded, not applied: no save
  gc = subprocess.run([str(_BUILD / 'tools' / 'ckptdb'), 'gc', str(db),
                       '--json', '--no-progress'],
                      check=True, capture_output=True, text=True)
  report = json.loads(gc.stdout)
  runs = {r['run']: r for r in report['runs']}
  assert runs['a']['retention'] == 'max_to_keep=1'
  assert [s['step'] for s in runs['a']['deleted']] == [0, 1, 2]
  assert runs['b']['retention'] == 'max_to_keep=2'
  assert [s['step'] for s in runs['b']['deleted']] == [0, 1]
  assert report['deleted'] == []
  read = ckptdb.CheckpointManagerOptions(read_only=True)
  with ckptdb.CheckpointManager(db, options=read, run='a') as a, \
      ckptdb.CheckpointManager(db, options=read, run='b') as b:
    assert a.all_steps() == [3]
    assert b.all_steps() == [2, 3]
    np.testing.assert_array_equal(b.restore(2)['w'], _state(102)['w'])
