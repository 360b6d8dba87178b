"""ocp.utils.to_shape_dtype_struct and ocp.checkpoint_utils.
construct_restore_args (orbax checkpoint/_src/tree/utils.py and
checkpoint_utils.py, as cited by issue 16; shape rules: orbax-semantics.md
6.4)."""

import sys
import types

import numpy as np
import pytest

import ckptdb
from ckptdb import checkpoint_utils
from ckptdb import utils


def test_to_shape_dtype_struct_of_arrays_and_scalars():
  """to_shape_dtype_struct: np.ndarray -> ShapeDtypeStruct(shape, dtype or
  the override); int/float/np.number stay scalars unless scalar_dtype; other
  types are ValueError('Unexpected type')."""
  s = utils.to_shape_dtype_struct(np.zeros((2, 3), np.float32))
  assert s.shape == (2, 3) and s.dtype == np.float32 and s.sharding is None
  s = utils.to_shape_dtype_struct(np.zeros(2), dtype=np.int8)
  assert s.dtype == np.int8
  assert utils.to_shape_dtype_struct(3) == 3
  assert utils.to_shape_dtype_struct(3, scalar_dtype=float) == 3.0
  assert type(utils.to_shape_dtype_struct(3, scalar_dtype=float)) is float
  with pytest.raises(ValueError, match='Unexpected type'):
    utils.to_shape_dtype_struct('text')


def test_to_shape_dtype_struct_uses_jax_class_when_importable(monkeypatch):
  """With JAX the result is a jax.ShapeDtypeStruct (faked here)."""

  class FakeStruct:
    def __init__(self, shape, dtype, sharding=None):
      self.shape, self.dtype, self.sharding = shape, dtype, sharding

  jax = types.ModuleType('jax')
  jax.ShapeDtypeStruct = FakeStruct
  monkeypatch.setitem(sys.modules, 'jax', jax)
  assert isinstance(utils.to_shape_dtype_struct(np.zeros(2)), FakeStruct)


def test_abstract_state_restores_with_standard_restore(tmp_path):
  """Orbax getting-started: restore into a tree of ShapeDtypeStructs made
  from the state (arrays come back new, with the saved values)."""
  state = {'w': np.arange(6.0).reshape(2, 3), 'step': 4}
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(4, args=ckptdb.args.StandardSave(state))
    abstract = ckptdb._tree.map_leaves(utils.to_shape_dtype_struct, state)  # pylint: disable=protected-access
    got = mngr.restore(4, args=ckptdb.args.StandardRestore(abstract))
  np.testing.assert_array_equal(got['w'], state['w'])
  assert got['step'] == 4


def test_construct_restore_args_per_leaf_kind():
  """checkpoint_utils.construct_restore_args: np.ndarray ->
  RestoreArgs(restore_type=np.ndarray, dtype); scalars and str ->
  RestoreArgs(restore_type=type); a ShapeDtypeStruct without sharding ->
  RestoreArgs(np.ndarray, dtype); with one -> ArrayRestoreArgs(sharding,
  global_shape, dtype, strict)."""
  sharding = object()
  target = {'a': np.zeros(3, np.int16), 'n': 1, 's': 'x',
            'h': utils.ShapeDtypeStruct((4,), np.float32),
            'j': utils.ShapeDtypeStruct((5,), np.float64, sharding=sharding)}
  ra = checkpoint_utils.construct_restore_args(target)
  assert ra['a'] == ckptdb.RestoreArgs(restore_type=np.ndarray,
                                       dtype=np.int16)
  assert ra['n'].restore_type is int and ra['s'].restore_type is str
  assert type(ra['h']) is ckptdb.RestoreArgs and ra['h'].dtype == np.float32
  assert isinstance(ra['j'], ckptdb.ArrayRestoreArgs)
  assert ra['j'].global_shape == (5,) and ra['j'].sharding is sharding
  assert ra['j'].strict
  ra = checkpoint_utils.construct_restore_args(
      target, set_global_shape=False, strict=False)
  assert ra['j'].global_shape is None and not ra['j'].strict
  with pytest.raises(ValueError, match='Unsupported type'):
    checkpoint_utils.construct_restore_args({'x': object()})


def test_construct_restore_args_sharding_tree_and_restore(tmp_path):
  """sharding_tree overrides the leaves' shardings; the resulting
  ArrayRestoreArgs' global_shape is enforced on restore (strict)."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': np.arange(4.0)})
  target = {'w': utils.ShapeDtypeStruct((6,), np.float64)}
  ra = checkpoint_utils.construct_restore_args(target, {'w': object()})
  with pytest.raises(ValueError, match=r"'w'.*\(4,\).*\(6,\)"):
    ckptr.restore(tmp_path / 'c', item=target, restore_args=ra)
  ra = checkpoint_utils.construct_restore_args(target, {'w': object()},
                                               strict=False)
  got = ckptr.restore(tmp_path / 'c', item=target, restore_args=ra)
  np.testing.assert_array_equal(got['w'], [0, 1, 2, 3, 0, 0])
  ra = checkpoint_utils.construct_restore_args(target)  # no sharding: host
  got = ckptr.restore(tmp_path / 'c', item=target, restore_args=ra)
  assert got['w'].shape == (4,)
