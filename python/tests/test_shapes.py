"""Restored shapes by Orbax's rules (orbax-semantics.md 6.4, and
checkpoint_utils.construct_restore_args as issue 16 cites it).

A numpy leaf of a target gives structure and dtype, not shape; a requested
global_shape (ArrayRestoreArgs, or a sharded abstract target leaf) that
differs from the saved shape is a ValueError when strict (the default) and
is padded with zeros or truncated when not.
"""

import types

import numpy as np
import pytest

import ckptdb


@pytest.fixture
def saved(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': np.arange(6.0).reshape(2, 3), 'n': 1})
  return ckptr, tmp_path / 'c'


def test_numpy_target_leaf_gives_dtype_not_shape(tmp_path):
  """Flax migration guide: the target holds a 0-d array where a (2,) array
  was saved, and the saved (2,) array comes back (6.7 / issue 16)."""
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', {'x': np.array([1.5, 2.5]), 'y': np.int32(3)})
  target = {'x': np.array(0.0, np.float32), 'y': np.zeros((), np.int32)}
  got = ckptr.restore(tmp_path / 'c', target)
  assert got['x'].shape == (2,) and got['x'].dtype == np.float32
  np.testing.assert_array_equal(got['x'], [1.5, 2.5])
  assert target['x'].shape == ()


def test_numpy_target_of_other_shape_in_place_opt_in(tmp_path):
  """Same rule with ckptdb's in_place opt-in: a target whose shape differs
  cannot be filled, so the saved shape comes back in a new array."""
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', {'x': np.arange(4.0)})
  target = {'x': np.zeros(2)}
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.StandardRestore(
      target, in_place=True))
  assert got['x'].shape == (4,) and not target['x'].any()


def test_strict_global_shape_mismatch_names_leaf_and_shapes(saved):
  """6.4: `global_shape` != saved shape with strict=True (the default) is
  an error; ckptdb raises ValueError naming the leaf and both shapes."""
  ckptr, path = saved
  args = {'a': ckptdb.ArrayRestoreArgs(global_shape=(4, 3)),
          'n': ckptdb.RestoreArgs()}
  with pytest.raises(ValueError) as e:
    ckptr.restore(path, restore_args=args)
  assert "'a'" in str(e.value) and '(2, 3)' in str(e.value)
  assert '(4, 3)' in str(e.value)


def test_matching_global_shape_is_fine(saved):
  """6.4: a global_shape equal to the saved one restores normally."""
  ckptr, path = saved
  got = ckptr.restore(path, restore_args={
      'a': ckptdb.ArrayRestoreArgs(global_shape=(2, 3)), 'n': None})
  np.testing.assert_array_equal(got['a'], np.arange(6.0).reshape(2, 3))


def test_non_strict_pads_with_zeros_and_truncates(saved):
  """6.4: strict=False pads with zeros / truncates from the end."""
  ckptr, path = saved
  got = ckptr.restore(path, restore_args={
      'a': ckptdb.ArrayRestoreArgs(global_shape=(3, 2), strict=False)})
  np.testing.assert_array_equal(got['a'], [[0.0, 1.0], [3.0, 4.0],
                                           [0.0, 0.0]])
  got = ckptr.restore(path, restore_args={
      'a': ckptdb.ArrayRestoreArgs(shape=(2, 5), strict=False)})
  np.testing.assert_array_equal(got['a'][:, 3:], np.zeros((2, 2)))
  np.testing.assert_array_equal(got['a'][:, :3],
                                np.arange(6.0).reshape(2, 3))


def test_shape_and_global_shape_must_agree():
  """6.4: `shape` is an alias of global_shape and must equal it."""
  with pytest.raises(ValueError):
    ckptdb.ArrayRestoreArgs(global_shape=(2,), shape=(3,))


def test_array_restore_with_array_restore_args(tmp_path):
  """ArrayRestore(restore_args=ArrayRestoreArgs(...)) on a bare array."""
  ckptr = ckptdb.Checkpointer(ckptdb.ArrayCheckpointHandler())
  ckptr.save(tmp_path / 'a', args=ckptdb.args.ArraySave(np.arange(3)))
  got = ckptr.restore(tmp_path / 'a', args=ckptdb.args.ArrayRestore(
      restore_args=ckptdb.ArrayRestoreArgs(global_shape=(5,), strict=False)))
  np.testing.assert_array_equal(got, [0, 1, 2, 0, 0])
  with pytest.raises(ValueError, match=r'\(3,\)'):
    ckptr.restore(tmp_path / 'a', args=ckptdb.args.ArrayRestore(
        restore_args=ckptdb.ArrayRestoreArgs(global_shape=(5,))))


def _sharded_struct(shape, dtype):
  """jax.ShapeDtypeStruct(shape, dtype, sharding=...) stand-in."""
  return types.SimpleNamespace(shape=shape, dtype=np.dtype(dtype),
                               sharding=object())


def test_sharded_abstract_target_requests_its_shape(tmp_path):
  """construct_restore_args: a sharded ShapeDtypeStruct target leaf asks
  for its global shape; StandardRestore(strict=...) decides the outcome."""
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': np.arange(4.0)})
  target = {'w': _sharded_struct((6,), np.float32)}
  with pytest.raises(ValueError, match=r"'w'.*\(4,\).*\(6,\)"):
    ckptr.restore(tmp_path / 'c', target)
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.StandardRestore(
      target, strict=False))
  assert got['w'].dtype == np.float32
  np.testing.assert_array_equal(got['w'], [0, 1, 2, 3, 0, 0])
