"""ckptdb.flax.training.checkpoints: naming, listing, storage, legacy dirs.

Expected orders and names come from the reference
(docs/reference/flax-legacy.md sections 1.2 and 1.9, which quote Flax's
tests/checkpoints_test.py).
"""

import os

import numpy as np
import pytest

import ckptdb
from ckptdb.flax import errors
from ckptdb.flax import serialization
from ckptdb.flax.training import checkpoints
from treeutil import assert_tree_equal


@pytest.mark.parametrize('ordered', [
    ['file_1', 'file_2', 'file_10', 'file_11', 'file_21'],
    ['file_0.001', 'file_0.01', 'file_0.1', 'file_1'],
    ['file_-3.0', 'file_-2', 'file_-1', 'file_0.0'],
    ['file_1e1', 'file_1.0e2', 'file_1e3', 'file_1.0e4'],
    ['file_9', 'file_1.0e1', 'file_11'],
])
def test_natural_sort_reference_vectors(ordered):
  shuffled = list(reversed(ordered))
  assert checkpoints.natural_sort(shuffled) == ordered


def test_safe_normpath():
  assert checkpoints.safe_normpath('./a/b/c') == 'a/b/c'
  assert checkpoints.safe_normpath('gs://a//b/c') == 'gs://a/b/c'


def test_float_steps(tmp_path):
  ckpt_dir = str(tmp_path / 'f')
  for step in (1e-05, 0.5, 1.0, 2.5):
    checkpoints.save_checkpoint(ckpt_dir, {'s': step}, step, keep=10)
  assert checkpoints.available_steps(ckpt_dir, step_type=float) == [
      1e-05, 0.5, 1.0, 2.5]
  with pytest.raises(ValueError):  # int('0.5'), as in Flax
    checkpoints.available_steps(ckpt_dir)
  assert checkpoints.latest_checkpoint(ckpt_dir) == f'{ckpt_dir}/checkpoint_2.5'
  assert checkpoints.restore_checkpoint(ckpt_dir, None, step=1e-05) == {
      's': 1e-05}
  assert checkpoints.restore_checkpoint(ckpt_dir, None, step=1.0) == {
      's': 1.0}
  with pytest.raises(errors.InvalidCheckpointError):
    checkpoints.save_checkpoint(ckpt_dir, {}, 2.0)
  # overwrite=True rolls back: the steps after 0.5 go.
  checkpoints.save_checkpoint(ckpt_dir, {'s': -0.5}, 0.5, keep=10,
                              overwrite=True)
  assert checkpoints.available_steps(ckpt_dir, step_type=float) == [1e-05,
                                                                     0.5]
  assert checkpoints.restore_checkpoint(ckpt_dir, None) == {'s': -0.5}


def test_prefixes_share_a_database(tmp_path):
  ckpt_dir = str(tmp_path / 'p')
  checkpoints.save_checkpoint(ckpt_dir, {'v': 'a'}, 3, prefix='a_')
  checkpoints.save_checkpoint(ckpt_dir, {'v': 'b'}, 3, prefix='b_')
  checkpoints.save_checkpoint(ckpt_dir, {'v': 'b4'}, 4, prefix='b_')
  assert checkpoints.available_steps(ckpt_dir, prefix='a_') == [3]
  assert checkpoints.available_steps(ckpt_dir, prefix='b_') == [4]
  assert checkpoints.restore_checkpoint(ckpt_dir, None, prefix='a_') == {
      'v': 'a'}
  # The database is an ordinary ckptdb database: the names are kept.
  with ckptdb.CheckpointManager(
      ckpt_dir, options=ckptdb.CheckpointManagerOptions(read_only=True)) as m:
    names = {m.metadata(s).custom_metadata['flax']['name']
             for s in m.all_steps()}
  assert names == {'a_3', 'b_4'}


def test_leaves_come_back_with_flax_types(tmp_path):
  ckpt_dir = str(tmp_path / 'leaves')
  tree = {'z': 1 - 2j, 'b': b'\x00raw', 'n': np.int8(-4), 'f': np.float32(2),
          'a0': np.array(3.0), 'none': None, 'empty': {}, 'i': 2**40,
          'l': [np.uint8(1), 'x']}
  checkpoints.save_checkpoint(ckpt_dir, tree, 0)
  got = checkpoints.restore_checkpoint(ckpt_dir, None)
  # What Flax's own msgpack round trip gives.
  want = serialization.msgpack_restore(serialization.to_bytes(tree))
  assert list(got) == list(want)
  for k in want:
    assert type(got[k]) is type(want[k]), k
  assert got['z'] == 1 - 2j and got['b'] == b'\x00raw'
  assert got['n'] == -4 and got['l'] == {'0': np.uint8(1), '1': 'x'}
  assert type(got['l']['0']) is np.uint8
  assert got['a0'].shape == () and got['empty'] == {} and got['i'] == 2**40


def test_restore_paths_and_missing(tmp_path):
  ckpt_dir = str(tmp_path / 'r')
  target = {'w': np.zeros(2)}
  assert checkpoints.restore_checkpoint(ckpt_dir, target) is target
  assert checkpoints.latest_checkpoint(ckpt_dir) is None
  path = checkpoints.save_checkpoint(ckpt_dir, {'w': np.ones(2)}, 7)
  assert not os.path.exists(path)  # a name in the database, not a file
  assert_tree_equal(checkpoints.restore_checkpoint(path, target),
                    {'w': np.ones(2)})
  assert checkpoints.restore_checkpoint(ckpt_dir, target, prefix='x_') is (
      target)
  with pytest.raises(ValueError, match='Matching checkpoint not found: '
                     f'{ckpt_dir}/checkpoint_8'):
    checkpoints.restore_checkpoint(ckpt_dir, target, step=8)


def test_legacy_directory_is_read_but_not_written(tmp_path):
  legacy = tmp_path / 'legacy'
  legacy.mkdir()
  for step in (1, 2, 10):
    (legacy / f'checkpoint_{step}').write_bytes(
        serialization.to_bytes({'step': step, 'l': [step]}))
  (legacy / 'checkpoint_tmp').write_bytes(b'\xc1 partial')
  (legacy / 'checkpoint_11_gda').mkdir()
  (legacy / 'other_99').write_bytes(serialization.to_bytes({}))
  assert checkpoints.available_steps(str(legacy)) == [1, 2, 10]
  assert checkpoints.latest_checkpoint(str(legacy)) == str(
      legacy / 'checkpoint_10')
  assert checkpoints.restore_checkpoint(str(legacy), None) == {
      'step': 10, 'l': {'0': 10}}
  assert checkpoints.restore_checkpoint(str(legacy), {'step': 0, 'l': [0]},
                                        step=2) == {'step': 2, 'l': [2]}
  with pytest.raises(ckptdb.FailedPreconditionError,
                     match=r'holds legacy Flax checkpoints \(checkpoint_1, '
                     r'checkpoint_2, checkpoint_10\)'):
    checkpoints.save_checkpoint(str(legacy), {'step': 11}, 11)
  # Other files are not called checkpoints.
  other = tmp_path / 'other'
  other.mkdir()
  (other / 'f.txt').write_text('notes')
  with pytest.raises(ckptdb.FailedPreconditionError,
                     match='other is not a ckptdb database and is not empty'):
    checkpoints.save_checkpoint(str(other), {'step': 1}, 1)
  assert os.listdir(other) == ['f.txt']
  assert sorted(os.listdir(legacy)) == [
      'checkpoint_1', 'checkpoint_10', 'checkpoint_11_gda', 'checkpoint_2',
      'checkpoint_tmp', 'other_99']


def test_async_manager_reports_a_failed_save(tmp_path):
  ckpt_dir = str(tmp_path / 'afail')
  manager = checkpoints.AsyncManager()
  checkpoints.save_checkpoint(ckpt_dir, {'bad': object()}, 0,
                              async_manager=manager)
  with pytest.raises(TypeError):
    manager.wait_previous_save()
  manager.wait_previous_save()  # reported once
