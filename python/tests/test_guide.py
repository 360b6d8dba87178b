"""The Flax "Migrate checkpointing to Orbax" guide's examples, with only the
import changed (`import ckptdb as orbax`, ckptdb.orbax_utils for
flax.training.orbax_utils) and jnp.arange replaced by np.arange.

Expected values come from the guide and from Orbax's retention rules
(docs reference, orbax-semantics.md section 3.2): max_to_keep=3 with
keep_period=2 keeps the union of LatestN(3) and step % 2 == 0, so saving
steps 0..4 leaves [0, 2, 3, 4]; step_prefix='test' names them 'test_<n>'.
"""

import numpy as np
import pytest

import ckptdb as orbax
from ckptdb import orbax_utils
from treeutil import assert_tree_equal

MAX_STEPS = 5
CKPT_PYTREE = [12, {'foo': 'str', 'bar': np.array((2, 3))}, [1, 4, 10]]
TARGET_PYTREE = [0, {'foo': '', 'bar': np.array((0))}, [0, 0, 0]]
# What every restore in the guide gives back: the saved tree.
EXPECTED = [12, {'foo': 'str', 'bar': np.array([2, 3])}, [1, 4, 10]]


def test_most_common_use_case_manager(tmp_path):
  ckpt_dir = str(tmp_path / 'orbax')
  mgr_options = orbax.checkpoint.CheckpointManagerOptions(
      create=True, max_to_keep=3, keep_period=2, step_prefix='test')
  ckpt_mgr = orbax.checkpoint.CheckpointManager(
      ckpt_dir,
      orbax.checkpoint.Checkpointer(
          orbax.checkpoint.PyTreeCheckpointHandler()), mgr_options)
  for step in range(MAX_STEPS):
    save_args = orbax_utils.save_args_from_target(CKPT_PYTREE)
    assert ckpt_mgr.save(step, CKPT_PYTREE, save_kwargs={'save_args': save_args})
  restore_args = orbax_utils.restore_args_from_target(TARGET_PYTREE, mesh=None)
  restored = ckpt_mgr.restore(4, items=TARGET_PYTREE,
                              restore_kwargs={'restore_args': restore_args})
  assert_tree_equal(restored, EXPECTED)
  assert ckpt_mgr.all_steps() == [0, 2, 3, 4]
  assert [ckpt_mgr.step_name(s) for s in ckpt_mgr.all_steps()] == [
      'test_0', 'test_2', 'test_3', 'test_4']
  assert ckpt_mgr.latest_step() == 4
  with pytest.raises(FileNotFoundError):
    ckpt_mgr.restore(1)
  ckpt_mgr.close()
  # A new manager on the same directory sees the same steps.
  with orbax.CheckpointManager(ckpt_dir, options=mgr_options) as again:
    assert again.all_steps() == [0, 2, 3, 4]
    assert_tree_equal(again.restore(None), EXPECTED)


def test_most_common_use_case_current_api(tmp_path):
  """The same with the current API (args=, async by default)."""
  options = orbax.CheckpointManagerOptions(max_to_keep=3, keep_period=2,
                                           step_prefix='test')
  with orbax.CheckpointManager(tmp_path / 'mgr', options=options) as mngr:
    for step in range(MAX_STEPS):
      assert mngr.save(step, args=orbax.args.StandardSave(CKPT_PYTREE))
    mngr.wait_until_finished()
    assert mngr.all_steps() == [0, 2, 3, 4]
    restored = mngr.restore(4, args=orbax.args.StandardRestore(TARGET_PYTREE))
    assert_tree_equal(restored, EXPECTED)


def test_pure_checkpointer_with_force(tmp_path):
  pure_ckpt_dir = str(tmp_path / 'pure')
  ckptr = orbax.checkpoint.Checkpointer(
      orbax.checkpoint.PyTreeCheckpointHandler())
  for _ in range(2):  # force=True replaces the existing checkpoint
    ckptr.save(pure_ckpt_dir, CKPT_PYTREE,
               save_args=orbax_utils.save_args_from_target(CKPT_PYTREE),
               force=True)
  restored = ckptr.restore(
      pure_ckpt_dir, item=TARGET_PYTREE,
      restore_args=orbax_utils.restore_args_from_target(TARGET_PYTREE,
                                                        mesh=None))
  assert_tree_equal(restored, EXPECTED)
  # Without force, Orbax's Checkpointer raises ValueError.
  with pytest.raises(ValueError):
    ckptr.save(pure_ckpt_dir, CKPT_PYTREE)


def test_restore_without_target(tmp_path):
  notarget_ckpt_dir = str(tmp_path / 'no_target')
  ckptr = orbax.checkpoint.Checkpointer(
      orbax.checkpoint.PyTreeCheckpointHandler())
  ckptr.save(notarget_ckpt_dir, CKPT_PYTREE,
             save_args=orbax_utils.save_args_from_target(CKPT_PYTREE))
  assert_tree_equal(ckptr.restore(notarget_ckpt_dir, item=None), EXPECTED)
  # CheckpointManager.restore(step, items=None) likewise.
  mgr = orbax.CheckpointManager(
      tmp_path / 'mgr', orbax.Checkpointer(orbax.PyTreeCheckpointHandler()))
  mgr.save(0, CKPT_PYTREE)
  assert_tree_equal(mgr.restore(0, items=None), EXPECTED)
  mgr.close()


def test_async_checkpointing(tmp_path):
  path = str(tmp_path / 'async')
  ckptr = orbax.checkpoint.AsyncCheckpointer(
      orbax.checkpoint.PyTreeCheckpointHandler())
  ckptr.save(path, CKPT_PYTREE,
             save_args=orbax_utils.save_args_from_target(CKPT_PYTREE))
  ckptr.wait_until_finished()
  assert_tree_equal(ckptr.restore(path), EXPECTED)
  ckptr.close()
  # And through a manager configured with an AsyncCheckpointer.
  mgr = orbax.CheckpointManager(
      tmp_path / 'mgr',
      orbax.AsyncCheckpointer(orbax.PyTreeCheckpointHandler()),
      orbax.CheckpointManagerOptions(max_to_keep=2))
  for step in range(3):
    mgr.save(step, CKPT_PYTREE)
  mgr.wait_until_finished()
  assert mgr.all_steps() == [1, 2]
  assert_tree_equal(mgr.restore(2), EXPECTED)
  mgr.close()


def test_single_array(tmp_path):
  arr_ckpt_dir = str(tmp_path / 'singleton')
  ckptr = orbax.checkpoint.Checkpointer(
      orbax.checkpoint.ArrayCheckpointHandler())
  ckptr.save(arr_ckpt_dir, np.arange(10))
  assert_tree_equal(ckptr.restore(arr_ckpt_dir, item=None), np.arange(10))
  # Current style.
  ckptr.save(tmp_path / 'a2', args=orbax.args.ArraySave(np.arange(3.0)))
  assert_tree_equal(ckptr.restore(tmp_path / 'a2',
                                  args=orbax.args.ArrayRestore()),
                    np.arange(3.0))
  # A bare leaf is not a StandardSave item (Orbax: use ArraySave).
  with pytest.raises(ValueError, match='ArraySave'):
    orbax.StandardCheckpointer().save(tmp_path / 'a3', np.arange(3))
