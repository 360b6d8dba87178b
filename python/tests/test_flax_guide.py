"""The Flax migration guide's legacy ("before") code blocks, on ckptdb.flax.

Only the imports differ from the guide (`import ckptdb.flax as flax`,
`from ckptdb.flax.training import checkpoints`), and jnp.arange is
np.arange. The expected steps follow Flax's legacy retention rule, from
the reference docs/reference/flax-legacy.md section 1.5
(`_remove_invalid_ckpts`): after each save, of the natural-sorted
checkpoints all but the `keep` newest are candidates, oldest first; one is
preserved when its step is non-zero and at least keep_every_n_steps after
the last preserved one. Saving steps 0..4 with keep=3, n=2:
  save 3: candidates [0]; 0 is falsy -> deleted           -> [1, 2, 3]
  save 4: candidates [1]; 1 - (-inf) >= 2 -> preserved     -> [1, 2, 3, 4]
Orbax's keep_period=2 would instead keep [0, 2, 3, 4] (test_guide.py).
"""

import math

import numpy as np
import pytest

import ckptdb.flax as flax
from ckptdb.flax.training import checkpoints
from treeutil import assert_tree_equal

MAX_STEPS = 5
CKPT_PYTREE = [12, {'foo': 'str', 'bar': np.array((2, 3))}, [1, 4, 10]]
TARGET_PYTREE = [0, {'foo': '', 'bar': np.array((0))}, [0, 0, 0]]


def flax_survivors(steps, keep, keep_every_n_steps):
  """Flax's rule (reference section 1.5), simulated over integer steps."""
  alive = []
  for s in steps:
    alive = sorted(alive + [s])
    last_kept = -math.inf
    if len(alive) > keep:
      survivors = []
      for old in alive[:-keep]:
        if keep_every_n_steps and old and old - last_kept >= keep_every_n_steps:
          last_kept = old
          survivors.append(old)
      alive = survivors + alive[-keep:]
  return alive


def test_rule_simulation_matches_reference_examples():
  # The reference's own worked examples (section 1.5).
  assert flax_survivors(range(0, 101, 10), 2, 30) == [10, 40, 70, 90, 100]
  assert flax_survivors(range(0, 101, 10), 1, 25) == [10, 40, 70, 100]
  assert flax_survivors(range(5), 3, 2) == [1, 2, 3, 4]


def test_save_with_keep_every_n_steps_and_prefix(tmp_path):
  ckpt_dir = str(tmp_path / 'flax_ckpt')
  paths = []
  for step in range(MAX_STEPS):
    paths.append(checkpoints.save_checkpoint(
        ckpt_dir=ckpt_dir, target=CKPT_PYTREE, step=step, prefix='test_',
        keep=3, keep_every_n_steps=2))
  assert paths == [f'{ckpt_dir}/test_{s}' for s in range(MAX_STEPS)]
  expected_steps = flax_survivors(range(MAX_STEPS), 3, 2)
  assert checkpoints.available_steps(ckpt_dir, prefix='test_') == (
      expected_steps)
  assert checkpoints.latest_checkpoint(ckpt_dir, prefix='test_') == (
      f'{ckpt_dir}/test_4')
  restored = checkpoints.restore_checkpoint(
      ckpt_dir, target=TARGET_PYTREE, step=4, prefix='test_')
  assert_tree_equal(restored, CKPT_PYTREE)
  with pytest.raises(ValueError, match='Matching checkpoint not found'):
    checkpoints.restore_checkpoint(ckpt_dir, target=None, step=0,
                                   prefix='test_')


@pytest.mark.parametrize('keep,n', [(2, 30), (1, 25), (3, None), (2, 20)])
def test_keep_every_n_steps_chain_over_many_saves(tmp_path, keep, n):
  ckpt_dir = str(tmp_path / 'chain')
  for step in range(0, 101, 10):
    checkpoints.save_checkpoint(ckpt_dir, {'s': step}, step, keep=keep,
                                keep_every_n_steps=n)
  assert checkpoints.available_steps(ckpt_dir) == flax_survivors(
      range(0, 101, 10), keep, n)


def test_restore_without_target_gives_lists_as_dicts(tmp_path):
  ckpt_dir = str(tmp_path / 'no_target')
  checkpoints.save_checkpoint(ckpt_dir, target=CKPT_PYTREE, step=0)
  raw = checkpoints.restore_checkpoint(ckpt_dir, target=None)
  assert_tree_equal(raw, {'0': 12,
                          '1': {'foo': 'str', 'bar': np.array([2, 3])},
                          '2': {'0': 1, '1': 4, '2': 10}})
  # Same as Flax's own bytes decoded without a target.
  assert_tree_equal(raw, flax.serialization.msgpack_restore(
      flax.serialization.to_bytes(CKPT_PYTREE)))


def test_overwrite_rolls_back_newer_steps(tmp_path):
  ckpt_dir = str(tmp_path / 'overwrite')
  for step in range(MAX_STEPS):
    checkpoints.save_checkpoint(ckpt_dir, {'step': step}, step, keep=10)
  with pytest.raises(flax.errors.InvalidCheckpointError,
                     match=r'outdated checkpoint at step: "2" and path: '):
    checkpoints.save_checkpoint(ckpt_dir, {'step': 20}, 2, keep=10)
  path = checkpoints.save_checkpoint(ckpt_dir, {'step': 20}, 2, keep=10,
                                     overwrite=True)
  assert path == f'{ckpt_dir}/checkpoint_2'
  assert checkpoints.available_steps(ckpt_dir) == [0, 1, 2]
  assert checkpoints.restore_checkpoint(ckpt_dir, None) == {'step': 20}
  assert checkpoints.restore_checkpoint(ckpt_dir, None, step=1) == {'step': 1}


def test_guide_overwrite_with_keep_2(tmp_path):
  """The guide's first block: save_checkpoint(..., overwrite=True, keep=2)."""
  ckpt_dir = str(tmp_path / 'basic')
  for _ in range(2):
    checkpoints.save_checkpoint(ckpt_dir=ckpt_dir, target=CKPT_PYTREE,
                                step=0, overwrite=True, keep=2)
  assert checkpoints.available_steps(ckpt_dir) == [0]
  assert_tree_equal(
      checkpoints.restore_checkpoint(ckpt_dir, target=TARGET_PYTREE),
      CKPT_PYTREE)


def test_single_array(tmp_path):
  ckpt_dir = str(tmp_path / 'array')
  checkpoints.save_checkpoint(ckpt_dir, target=np.arange(10), step=0)
  restored = checkpoints.restore_checkpoint(ckpt_dir, target=None, step=0)
  np.testing.assert_array_equal(restored, np.arange(10))


def test_async_manager(tmp_path):
  ckpt_dir = str(tmp_path / 'async')
  async_manager = checkpoints.AsyncManager()
  arr = np.arange(4.0)
  checkpoints.save_checkpoint(ckpt_dir, {'a': arr}, step=0,
                              async_manager=async_manager)
  arr[:] = -1  # the save captured the array: this change is not saved
  checkpoints.save_checkpoint(ckpt_dir, {'a': arr}, step=1, keep=2,
                              async_manager=async_manager)
  async_manager.wait_previous_save()
  np.testing.assert_array_equal(
      checkpoints.restore_checkpoint(ckpt_dir, None, step=0)['a'],
      np.arange(4.0))
  np.testing.assert_array_equal(
      checkpoints.restore_checkpoint(ckpt_dir, None)['a'], -np.ones(4))


def test_save_checkpoint_multiprocess_is_save_checkpoint(tmp_path):
  ckpt_dir = str(tmp_path / 'mp')
  for step in range(3):
    checkpoints.save_checkpoint_multiprocess(ckpt_dir, {'s': step}, step,
                                             keep=2)
  assert checkpoints.available_steps(ckpt_dir) == [1, 2]
  with pytest.raises(flax.errors.InvalidCheckpointError):
    checkpoints.save_checkpoint_multiprocess(ckpt_dir, {'s': 0}, 1)


def test_config_flag_selects_orbax_path_checks(tmp_path):
  ckpt_dir = str(tmp_path / 'orbax_path')
  checkpoints.save_checkpoint(ckpt_dir, {'s': 5}, 5, keep=5)
  assert not flax.config.flax_use_orbax_checkpointing
  flax.config.update('flax_use_orbax_checkpointing', True)
  try:
    # Flax's Orbax path does not check the step order (reference 1.3) ...
    checkpoints.save_checkpoint(ckpt_dir, {'s': 3}, 3, keep=5)
    # ... but refuses an existing checkpoint with ValueError.
    with pytest.raises(ValueError, match='already exists'):
      checkpoints.save_checkpoint(ckpt_dir, {'s': 5}, 5, keep=5)
  finally:
    flax.config.update('flax_use_orbax_checkpointing', False)
  assert checkpoints.available_steps(ckpt_dir) == [3, 5]
  with pytest.raises(LookupError):
    flax.config.update('no_such_flag', True)
