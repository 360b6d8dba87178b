"""ckptdb.v1: Orbax's v1 free functions and training.Checkpointer.

The training tests run the cells of Orbax's "Checkpointing in a Training
Loop" guide (docs/guides/checkpoint/v1/training.ipynb) with only the import
changed (`from ckptdb import v1 as ocp`), JAX replaced by numpy (the
abstract state uses ckptdb.utils.ShapeDtypeStruct) and epath by pathlib;
the others follow the docstrings of Orbax's
experimental/v1/_src/training/checkpointer.py and _src/saving/saving.py /
_src/loading/loading.py.
"""

import numpy as np
import pytest

import ckptdb
from ckptdb import utils
from ckptdb import v1 as ocp

training = ocp.training


def _pytree():
  return {'params': {'layer0': np.arange(16).reshape((8, 2))},
          'opt_state': [np.arange(16)], 'step': 0}


def train_step(state):
  state['step'] += 1
  return state


def test_training_guide_getting_started(tmp_path):
  """training.ipynb "Getting Started": save every step (default policy:
  initial save + continuous checkpointing), then load() the latest."""
  root_directory = tmp_path / 'my-checkpoints-1'
  pytree = _pytree()
  with training.Checkpointer(root_directory) as ckptr:
    num_steps = 10
    for step in range(num_steps):
      saved = ckptr.save(step, pytree)
      assert saved
      pytree = train_step(pytree)
  with training.Checkpointer(root_directory) as ckptr:
    loaded = ckptr.load()
    assert [c.step for c in ckptr.checkpoints] == list(range(10))
  assert loaded['step'] == 9
  np.testing.assert_array_equal(loaded['params']['layer0'],
                                np.arange(16).reshape((8, 2)))


def test_training_guide_policies_metadata_and_gc(tmp_path):
  """training.ipynb "Saving", "Querying", "Inspecting Checkpoint Metadata",
  "Garbage Collection" and "Loading"."""
  pytree = _pytree()
  root_directory = tmp_path / 'my-checkpoints-2'
  with training.Checkpointer(
      root_directory,
      save_decision_policy=training.save_decision_policies.FixedIntervalPolicy(3),
  ) as ckptr:
    for step in range(10):
      ckptr.save(step, pytree)
    assert [c.step for c in ckptr.checkpoints] == [0, 3, 6, 9]

  root_directory = tmp_path / 'my-checkpoints-3'
  with training.Checkpointer(
      root_directory,
      save_decision_policy=training.save_decision_policies.FixedIntervalPolicy(3),
      custom_metadata={'experiment_name': 'my-experiment'},
  ) as ckptr:
    num_steps = 10
    for step in range(num_steps):
      is_final = step == num_steps - 1
      ckptr.save(step, pytree, metrics={'accuracy': 0.85},
                 custom_metadata={'is_final': is_final}, force=is_final)

  ckptr = training.Checkpointer(root_directory)
  latest = ckptr.latest
  assert latest is not None and latest.step == 9
  assert latest.metrics == {'accuracy': 0.85} and latest.metadata is None
  assert [c.step for c in ckptr.checkpoints] == [0, 3, 6, 9]
  assert ckptr.metadata().step == 9
  assert ckptr.metadata(ckptr.checkpoints[0]).step == 0
  assert ckptr.metadata(3).custom_metadata == {'is_final': False}
  assert ckptr.metadata().metrics == {'accuracy': 0.85}
  assert ckptr.metadata().custom_metadata == {'is_final': True}
  tree_meta = ckptr.metadata().metadata
  assert tree_meta['params']['layer0'].shape == (8, 2)
  assert tree_meta['opt_state'][0].dtype == np.int64
  assert ckptr.metadata().commit_timestamp_nsecs > 0
  root = ckptr.root_metadata()
  assert root.custom_metadata == {'experiment_name': 'my-experiment'}
  assert root.directory == root_directory
  ckptr.load()
  ckptr.load(ckptr.checkpoints[0])
  assert ckptr.load(3)['step'] == 0  # the tree saved at step 3
  abstract_state = {
      'params': {'layer0': utils.ShapeDtypeStruct((8, 2), np.float32,
                                                  sharding=None)},
      'opt_state': [utils.ShapeDtypeStruct((16,), np.float32)],
      'step': 0,
  }
  got = ckptr.load(None, abstract_state)
  assert got['params']['layer0'].dtype == np.float32
  assert got['opt_state'][0].dtype == np.float32
  ckptr.close()

  root_directory = tmp_path / 'my-checkpoints-gc'
  with training.Checkpointer(root_directory) as ckptr:
    for step in range(10):
      ckptr.save(step, pytree)
    assert [c.step for c in ckptr.checkpoints] == list(range(10))
  with training.Checkpointer(
      root_directory,
      preservation_policy=training.preservation_policies.AnyPreservationPolicy([
          training.preservation_policies.LatestN(2),
          training.preservation_policies.EveryNSteps(4),
      ]),
  ) as ckptr:
    assert [c.step for c in ckptr.checkpoints] == list(range(10))
    assert ckptr.latest.step == 9
    ckptr.save(10, pytree)
    assert [c.step for c in ckptr.checkpoints] == [0, 4, 8, 9, 10]


def test_training_save_rules(tmp_path):
  """checkpointer.py save_checkpointables_async: an existing step is
  StepAlreadyExistsError unless overwrite (then replaced); a step the
  policy declines returns False; force saves anyway; should_save asks the
  policy; save_async's result() waits."""
  with training.Checkpointer(
      tmp_path / 'r',
      save_decision_policy=training.save_decision_policies.FixedIntervalPolicy(2),
  ) as ckptr:
    assert ckptr.save(0, {'a': np.arange(2)})
    with pytest.raises(training.errors.StepAlreadyExistsError):
      ckptr.save(0, {'a': np.arange(2)})
    assert ckptr.save(0, {'a': np.arange(5)}, overwrite=True)
    assert ckptr.load(0)['a'].shape == (5,)
    assert not ckptr.should_save(1) and not ckptr.save(1, {'a': 1})
    assert ckptr.save(1, {'a': 1}, force=True)
    assert ckptr.should_save(2)
    response = ckptr.save_async(2, {'a': 2})
    assert response.result() is True
    assert ckptr.save_async(3, {'a': 3}) is None
    assert [c.step for c in ckptr.checkpoints] == [0, 1, 2]
    with pytest.raises(training.errors.StepNotFoundError):
      ckptr.load(7)
    # A string is not a step (it said 'No checkpoint found at step 1.').
    with pytest.raises(TypeError, match="step must be an int, got str '1'"):
      ckptr.load('1')
    assert ckptr.load(np.int64(1))['a'] == 1
    with pytest.raises(NotImplementedError):
      ckptr.load_async()
  with training.Checkpointer(tmp_path / 'empty') as ckptr:
    assert ckptr.latest is None and ckptr.checkpoints == []
    with pytest.raises(FileNotFoundError, match='no checkpoints'):
      ckptr.load()


def test_training_checkpointables(tmp_path):
  """save_checkpointables / load_checkpointables (all items, or the subset
  named, each with an abstract tree or None) and checkpointables_metadata."""
  with training.Checkpointer(tmp_path / 'r') as ckptr:
    ckptr.save_checkpointables(0, {'model': {'w': np.ones(3)},
                                   'optimizer': {'m': np.zeros(3)}})
    both = ckptr.load_checkpointables()
    assert sorted(both) == ['model', 'optimizer']
    only = ckptr.load_checkpointables(
        0, {'model': {'w': utils.ShapeDtypeStruct((3,), np.float32)}})
    assert list(only) == ['model'] and only['model']['w'].dtype == np.float32
    meta = ckptr.checkpointables_metadata(0).metadata
    assert meta['optimizer']['m'].shape == (3,)


def test_deprecated_pytree_names_warn_and_work(tmp_path):
  """Orbax keeps save_pytree / load_pytree / pytree_metadata as deprecated
  aliases (load_pytree's abstract_pytree is load's abstract_state)."""
  with training.Checkpointer(tmp_path / 'r') as ckptr:
    with pytest.warns(DeprecationWarning, match='save_pytree'):
      assert ckptr.save_pytree(0, {'a': np.arange(3)}, metrics={'l': 1.0})
    with pytest.warns(DeprecationWarning, match='load_pytree'):
      got = ckptr.load_pytree(abstract_pytree={
          'a': utils.ShapeDtypeStruct((3,), np.int8)})
    assert got['a'].dtype == np.int8
    with pytest.warns(DeprecationWarning):
      assert ckptr.pytree_metadata(0).metrics == {'l': 1.0}
  with pytest.warns(DeprecationWarning):
    ocp.save_pytree(tmp_path / 'p', {'a': np.arange(3)})
  with pytest.warns(DeprecationWarning):
    np.testing.assert_array_equal(
        ocp.load_pytree(tmp_path / 'p')['a'], np.arange(3))


def test_free_functions(tmp_path):
  """saving.py save / save_checkpointables (overwrite) and loading.py load /
  load_checkpointables, metadata: a path is one ckptdb checkpoint."""
  state = {'params': {'w': np.ones((8, 8)), 'b': np.zeros(8)}, 'step': 100}
  path = tmp_path / 'my_checkpoint'
  ocp.save(path, state)
  with pytest.raises(FileExistsError):
    ocp.save(path, state)
  ocp.save(path, {**state, 'step': 101}, overwrite=True)
  assert ocp.load(path)['step'] == 101
  abstract = {'params': {'w': utils.ShapeDtypeStruct((8, 8), np.float32),
                         'b': utils.ShapeDtypeStruct((8,), np.float32)},
              'step': 0}
  got = ocp.load(path, abstract)
  assert got['params']['w'].dtype == np.float32 and got['step'] == 101
  assert ocp.metadata(path).metadata['params']['w'].shape == (8, 8)
  ocp.save_checkpointables(tmp_path / 'c', {'model': state,
                                            'extra': {'n': 1}})
  assert ocp.load_checkpointables(tmp_path / 'c')['extra'] == {'n': 1}
  assert list(ocp.load_checkpointables(tmp_path / 'c', {'extra': None})) == [
      'extra']
  ocp.save_async(tmp_path / 'a', state).result()
  assert ocp.load(tmp_path / 'a')['step'] == 100
  # A checkpoint saved by ckptdb's v0 Checkpointer loads as the root tree.
  ckptdb.StandardCheckpointer().save(tmp_path / 'v0', state)
  assert ocp.load(tmp_path / 'v0')['step'] == 100


def test_v1_is_reachable_as_orbax_spells_it():
  """`from orbax.checkpoint import v1 as ocp` / `ocp.v1.training`."""
  assert ckptdb.v1 is ocp and ckptdb.checkpoint.v1.training is training
  assert ocp.PLACEHOLDER is ckptdb.PLACEHOLDER
  assert issubclass(training.errors.StepNotFoundError, FileNotFoundError)
