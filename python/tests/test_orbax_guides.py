"""Orbax's "Checkpointing with Orbax" (getting started) and "Checkpointing
PyTrees of Arrays" guides, run with only the import changed.

Sources: docs/guides/checkpoint/orbax_checkpoint_101.ipynb and
docs/guides/checkpoint/checkpointing_pytrees.ipynb (google/orbax at
3ff7b24a). Each test runs the code cells of one section in order, as
written, with these substitutions: `import ckptdb as ocp` for `import
orbax.checkpoint as ocp`; JAX replaced by numpy -- `tree_map` below for
`jax.tree_util.tree_map`, numpy arrays for `jax.device_put(x, sharding)`,
`jax.jit` dropped, ckptdb.utils.ShapeDtypeStruct for jax.ShapeDtypeStruct
and a stand-in object for a NamedSharding (a leaf with a sharding requests
its shape, as in Orbax). The guides print their results; the asserts state
what the guides show.
"""

import numpy as np
import pytest

import ckptdb as ocp
from ckptdb import _tree

# ---- JAX stand-ins ------------------------------------------------------------

tree_map = _tree.map_leaves  # jax.tree_util.tree_map for these trees
SHARDING = 'replicated-host-sharding'  # stands for a NamedSharding
create_sharded_array = lambda x: x  # jax.device_put(x, sharding)


@pytest.fixture
def tmp(tmp_path, monkeypatch):
  """The guides write under /tmp/...; run them in a test directory."""
  monkeypatch.chdir(tmp_path)
  return tmp_path


# ---- Checkpointing with Orbax (getting started) -------------------------------


def test_getting_started_saving_and_restoring(tmp):
  """orbax_checkpoint_101: "Saving and Restoring" cells 6-12."""
  path = ocp.test_utils.erase_and_create_empty(tmp / 'my-checkpoints/')
  my_tree = {
      'a': np.arange(8),
      'b': {
          'c': 42,
          'd': np.arange(16),
      },
  }
  abstract_my_tree = tree_map(ocp.utils.to_shape_dtype_struct, my_tree)
  checkpointer = ocp.StandardCheckpointer()
  # 'checkpoint_name' must not already exist.
  checkpointer.save(path / 'checkpoint_name', my_tree)
  restored = checkpointer.restore(
      path / 'checkpoint_name/',
      abstract_my_tree
  )
  np.testing.assert_array_equal(restored['a'], np.arange(8))
  assert restored['b']['c'] == 42
  np.testing.assert_array_equal(restored['b']['d'], np.arange(16))
  meta = checkpointer.metadata(path / 'checkpoint_name').item_metadata
  assert meta['b']['d'].shape == (16,) and meta['b']['d'].dtype == np.int64


def test_getting_started_multiple_objects(tmp):
  """orbax_checkpoint_101: "Multiple Objects" cells 17-22."""
  path = ocp.test_utils.erase_and_create_empty(tmp / 'my-checkpoints/')
  my_tree = {'a': np.arange(8), 'b': {'c': 42, 'd': np.arange(16)}}
  metadata = {
      'version': 1.0,
      'lang': 'en',
  }
  checkpointer = ocp.Checkpointer(
      ocp.CompositeCheckpointHandler()
  )
  checkpointer.save(
      path / 'composite_checkpoint',
      args=ocp.args.Composite(
          state=ocp.args.StandardSave(my_tree),
          metadata=ocp.args.JsonSave(metadata),
      ),
  )
  restored = checkpointer.restore(path / 'composite_checkpoint')
  np.testing.assert_array_equal(restored.state['b']['d'], np.arange(16))
  assert restored.metadata == {'version': 1.0, 'lang': 'en'}
  # Orbax lists the item subdirectories; ckptdb's checkpoint is a database.
  assert list((path / 'composite_checkpoint').iterdir())


def test_getting_started_managing_checkpoints(tmp):
  """orbax_checkpoint_101: "Managing Checkpoints" cells 25-29."""
  path = ocp.test_utils.erase_and_create_empty(tmp / 'checkpoint_manager')
  state = {
      'a': np.arange(8),
      'b': np.arange(16),
  }
  extra_params = [42, 43]
  # Keeps a maximum of 3 checkpoints, and only saves every other step.
  options = ocp.CheckpointManagerOptions(max_to_keep=3, save_interval_steps=2)
  mngr = ocp.CheckpointManager(
      path, options=options, item_names=('state', 'extra_params')
  )

  for step in range(11):  # [0, 1, ..., 10]
    mngr.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            extra_params=ocp.args.JsonSave(extra_params),
        ),
    )
  mngr.wait_until_finished()
  restored = mngr.restore(10)
  restored_state, restored_extra_params = restored.state, restored.extra_params
  np.testing.assert_array_equal(restored_state['b'], np.arange(16))
  assert restored_extra_params == [42, 43]
  assert mngr.all_steps() == [6, 8, 10]
  assert mngr.latest_step() == 10
  assert not mngr.should_save(11)
  mngr.close()


def test_getting_started_standard_recipe(tmp):
  """orbax_checkpoint_101: "A Standard Recipe" cells 33-41."""
  path = ocp.test_utils.erase_and_create_empty(tmp / 'checkpoint_manager_sharded')
  train_state = {
      'a': np.arange(16),
      'b': np.ones(16),
  }
  train_state = tree_map(create_sharded_array, train_state)
  num_steps = 10
  options = ocp.CheckpointManagerOptions(max_to_keep=3, save_interval_steps=2)
  mngr = ocp.CheckpointManager(path, options=options)

  def train_fn(state):
    return tree_map(lambda x: x + 1, state)

  for step in range(num_steps):
    train_state = train_fn(train_state)
    mngr.save(step, args=ocp.args.StandardSave(train_state))
  mngr.wait_until_finished()
  latest = mngr.restore(mngr.latest_step())
  np.testing.assert_array_equal(latest['a'], np.arange(16) + 9)

  train_state = tree_map(np.zeros_like, train_state)
  train_state = tree_map(create_sharded_array, train_state)
  abstract_train_state = tree_map(
      ocp.utils.to_shape_dtype_struct, train_state
  )
  restored = mngr.restore(
      mngr.latest_step(),
      args=ocp.args.StandardRestore(abstract_train_state),
  )
  np.testing.assert_array_equal(restored['b'], np.ones(16) + 9)
  assert mngr.all_steps() == [4, 6, 8]
  mngr.close()


# ---- Checkpointing PyTrees of Arrays -------------------------------------------


def _sharded_state():
  state = {
      'a': np.arange(16),
      'b': np.ones(16),
  }
  state = tree_map(create_sharded_array, state)
  abstract_state = tree_map(
      lambda x: ocp.utils.to_shape_dtype_struct(x).update(sharding=SHARDING),
      state)
  return state, abstract_state


def test_pytrees_basic_and_customized_restore(tmp):
  """checkpointing_pytrees: "Basic Checkpointing" and "Customizing
  Restored Properties" cells 8-28 (dtype cast, strict shape error, pad /
  truncate with strict=False, restore without a target)."""
  state, abstract_state = _sharded_state()
  path = ocp.test_utils.erase_and_create_empty(tmp / 'basic/')
  # Make sure to use async for improved performance!
  ckptr = ocp.AsyncCheckpointer(ocp.StandardCheckpointHandler())
  ckptr.save(path / '1', args=ocp.args.StandardSave(state))
  ckptr.wait_until_finished()
  restored = ckptr.restore(path / '1', args=ocp.args.StandardRestore(abstract_state))
  np.testing.assert_array_equal(restored['a'], np.arange(16))
  restored = ckptr.restore(path / '1', args=ocp.args.StandardRestore(state))
  np.testing.assert_array_equal(restored['b'], np.ones(16))

  def set_restore_dtype(x):
    return x.update(dtype=np.int16)

  cast_dtype_abstract_state = tree_map(
      set_restore_dtype, abstract_state)
  restored = ckptr.restore(
      path / '1',
      args=ocp.args.StandardRestore(cast_dtype_abstract_state),
  )
  assert restored['a'].dtype == np.int16 and restored['b'].dtype == np.int16

  different_shape_abstract_state = {
      'a': ocp.utils.ShapeDtypeStruct(
          shape=(8,),
          dtype=abstract_state['a'].dtype,
          sharding=abstract_state['a'].sharding
      ),
      'b': ocp.utils.ShapeDtypeStruct(
          shape=(32,),
          dtype=abstract_state['b'].dtype,
          sharding=abstract_state['b'].sharding
      ),
  }
  errors = []
  try:
    ckptr.restore(
        path / '1',
        args=ocp.args.StandardRestore(different_shape_abstract_state),
    )
  except BaseException as e:
    errors.append(str(e))
  assert len(errors) == 1 and '(16,)' in errors[0]
  restored = ckptr.restore(
      path / '1',
      args=ocp.args.StandardRestore(different_shape_abstract_state, strict=False),
  )
  np.testing.assert_array_equal(restored['a'], np.arange(8))
  np.testing.assert_array_equal(restored['b'],
                                np.concatenate([np.ones(16), np.zeros(16)]))
  restored = ckptr.restore(path / '1')
  np.testing.assert_array_equal(restored['a'], np.arange(16))
  ckptr.close()


def test_pytrees_partial_restore(tmp):
  """checkpointing_pytrees: "Partial Restore" cells 34-39 (PLACEHOLDER, and
  omission, which needs partial_restore=True)."""
  original_item = {
      'params': {
          'layer1': {
              'kernel': np.arange(8),
              'bias': np.arange(8),
          },
          'layer2': {
              'kernel': np.arange(8),
              'bias': np.arange(8),
          },
      },
      'opt_state': [np.arange(8), np.arange(8)],
      'step': 101,
  }

  path = ocp.test_utils.erase_and_create_empty(tmp / 'partial/')
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(path / '1', args=ocp.args.PyTreeSave(original_item))
  reference_item = {
      'params': {
          'layer1': {
              'kernel': ocp.PLACEHOLDER,
              'bias': ocp.PLACEHOLDER,
          },
          'layer2': {
              'kernel': np.arange(8),
              'bias': np.arange(8),
          },
      },
      'opt_state': [ocp.PLACEHOLDER, ocp.PLACEHOLDER],
      'step': 101,
  }

  got = ckptr.restore(
      path / '1',
      args=ocp.args.PyTreeRestore(
          item=reference_item,
      ),
  )
  assert got['params']['layer1']['kernel'] is ocp.PLACEHOLDER
  assert got['opt_state'] == [ocp.PLACEHOLDER, ocp.PLACEHOLDER]
  np.testing.assert_array_equal(got['params']['layer2']['bias'], np.arange(8))

  reference_item = {
      'params': {
          'layer2': {
              'kernel': np.arange(8),
              'bias': np.arange(8),
          },
      },
      'step': 101,
  }
  printed = []
  # Loading PyTrees with certain leaves missing is unsafe
  try:
    ckptr.restore(
        path / '1',
        args=ocp.args.PyTreeRestore(
            item=reference_item,
        ),
    )
  except ValueError as e:
    printed.append(e)
  assert len(printed) == 1

  # So Partial Restore Omission mode must be opted-into using partial_restore=True
  got = ckptr.restore(
      path / '1',
      args=ocp.args.PyTreeRestore(
          item=reference_item,
          partial_restore=True,
      ),
  )
  assert list(got) == ['params', 'step'] and list(got['params']) == ['layer2']
  assert got['step'] == 101


def test_pytrees_advanced_options(tmp):
  """checkpointing_pytrees: "Advanced Options" cells 44-59 (save_args
  dtype, restore_args, and `transforms` renaming 'a' to 'c')."""
  state, _ = _sharded_state()
  sharding = SHARDING
  path = ocp.test_utils.erase_and_create_empty(tmp / 'advanced/')
  # Make sure to use async for improved performance!
  ckptr = ocp.AsyncCheckpointer(ocp.PyTreeCheckpointHandler())
  ckptr.save(path / '1', args=ocp.args.PyTreeSave(state))
  ckptr.wait_until_finished()
  restored = ckptr.restore(path / '1')
  assert restored['a'].dtype == np.int64 and restored['b'].dtype == np.float64
  ckptr.save(
      path / '2',
      args=ocp.args.PyTreeSave(
          state,
          save_args={
            # We must set one ocp.SaveArgs per leaf.
            'a': ocp.SaveArgs(dtype=np.dtype(np.int16)),
            'b': ocp.SaveArgs()
          }
      ),
  )
  ckptr.wait_until_finished()
  restored = ckptr.restore(path / '2')
  assert restored['a'].dtype == np.int16 and restored['b'].dtype == np.float64
  restored = ckptr.restore(
      path / '2',
      args=ocp.args.PyTreeRestore(
          restore_args={
            # RestoreArgs is the parent class for ArrayRestoreArgs.
            # We must set one RestoreArgs per leaf.
            'a': ocp.RestoreArgs(restore_type=np.ndarray),
            'b': ocp.ArrayRestoreArgs(dtype=np.dtype(np.int16), sharding=sharding)
          }
      ),
  )
  assert restored['a'].dtype == np.int16 and restored['b'].dtype == np.int16
  restored = ckptr.restore(
      path / '2',
      args=ocp.args.PyTreeRestore(
          # `item` serves as a guide to what the result tree structure should look
          # like.
          item={
              # Value doesn't really matter here, as long as it's not None.
              'c': ...,
              # Can add in extra keys.
              'd': np.arange(8)
          },
          # `restore_args` must be relative to the result tree, not the
          # checkpoint.
          restore_args={
            'c': ocp.RestoreArgs(restore_type=np.ndarray),
          },
          transforms={
              'c': ocp.Transform(original_key='a')
          },
      ),
  )
  assert list(restored) == ['c', 'd'] and restored['c'].dtype == np.int16
  np.testing.assert_array_equal(restored['c'], np.arange(16))
  np.testing.assert_array_equal(restored['d'], np.arange(8))
  ckptr.close()
