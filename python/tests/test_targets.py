"""Restoring into a target leaves the target unchanged (Orbax's rule).

Orbax returns new arrays when restoring with a target; the target only gives
structure and dtypes (reference: orbax-semantics.md section 6.2,
StandardCheckpointHandler "Restore targets may be real values", and 6.5,
"result has item's structure"). ckptdb's zero-copy fill is an opt-in,
in_place=True (tested in test_inplace.py).
"""

import sys
import types
import warnings

import numpy as np
import pytest

import ckptdb


def _src():
  return {'w': np.arange(12, dtype=np.float32).reshape(3, 4),
          'b': np.full(5, 7, np.int64), 'step': 3}


def _target():
  return {'w': np.zeros((3, 4), np.float32), 'b': np.zeros(5, np.int64),
          'step': 0}


def _assert_untouched(got, target, src):
  for k in ('w', 'b'):
    assert got[k] is not target[k], k
    assert not np.shares_memory(got[k], target[k]), k
    assert not target[k].any(), f'target {k} was overwritten'
    np.testing.assert_array_equal(got[k], src[k])
  assert got['step'] == 3 and target['step'] == 0


def test_manager_standard_restore_leaves_target_unchanged(tmp_path):
  """Orbax getting-started: `mngr.restore(step, args=StandardRestore(state))`
  returns the saved values; the state passed in is not rewound (issue 16)."""
  src = _src()
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ckptdb.args.StandardSave(src))
    target = _target()
    got = mngr.restore(0, args=ckptdb.args.StandardRestore(target))
  _assert_untouched(got, target, src)


def test_pytree_restore_with_item_leaves_target_unchanged(tmp_path):
  """PyTreeRestore(item=...) (orbax-semantics.md 6.1/6.5): result has the
  item's structure, new arrays."""
  src = _src()
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', src)
  target = _target()
  got = ckptr.restore(tmp_path / 'c',
                      args=ckptdb.args.PyTreeRestore(item=target))
  _assert_untouched(got, target, src)


def test_legacy_restore_item_leaves_target_unchanged(tmp_path):
  """The legacy call style `ckptr.restore(path, item=target)`."""
  src = _src()
  ckptr = ckptdb.Checkpointer(ckptdb.PyTreeCheckpointHandler())
  ckptr.save(tmp_path / 'c', src)
  target = _target()
  got = ckptr.restore(tmp_path / 'c', item=target)
  _assert_untouched(got, target, src)


def test_standard_checkpointer_casts_into_a_new_array(tmp_path):
  """StandardRestore restores into the target's dtype (6.2), still new."""
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': np.linspace(0, 1, 5)})
  target = {'w': np.zeros(5, np.float32)}
  got = ckptr.restore(tmp_path / 'c', target)
  assert got['w'].dtype == np.float32 and got['w'] is not target['w']
  assert not target['w'].any()
  np.testing.assert_allclose(got['w'], np.linspace(0, 1, 5), rtol=1e-6)


def test_array_restore_leaves_item_unchanged(tmp_path):
  """ArrayRestore(item) (6.1): a single array comes back new."""
  ckptr = ckptdb.Checkpointer(ckptdb.ArrayCheckpointHandler())
  ckptr.save(tmp_path / 'a', args=ckptdb.args.ArraySave(np.arange(4.0)))
  target = np.zeros(4)
  got = ckptr.restore(tmp_path / 'a', args=ckptdb.args.ArrayRestore(target))
  assert got is not target and not target.any()
  np.testing.assert_array_equal(got, np.arange(4.0))


def test_composite_restore_leaves_targets_unchanged(tmp_path):
  """Composite(state=StandardRestore(t)) (6.1) through a manager."""
  src = _src()
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ckptdb.args.Composite(
        state=ckptdb.args.StandardSave(src)))
    target = _target()
    got = mngr.restore(0, args=ckptdb.args.Composite(
        state=ckptdb.args.StandardRestore(target)))
  _assert_untouched(got.state, target, src)


def test_composite_checkpointer_in_place_needs_every_item(tmp_path):
  """ckptdb's opt-in through one Checkpointer restore of several items:
  honoured when all items ask, else new arrays and a warning."""
  src = _src()
  ckptr = ckptdb.Checkpointer(ckptdb.CompositeCheckpointHandler())
  ckptr.save(tmp_path / 'c', args=ckptdb.args.Composite(
      a=ckptdb.args.StandardSave(src), b=ckptdb.args.StandardSave(src)))
  ta, tb = _target(), _target()
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.Composite(
      a=ckptdb.args.StandardRestore(ta, in_place=True),
      b=ckptdb.args.StandardRestore(tb, in_place=True)))
  assert got.a['w'] is ta['w'] and got.b['w'] is tb['w']
  ta, tb = _target(), _target()
  with pytest.warns(UserWarning, match='in_place'):
    got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.Composite(
        a=ckptdb.args.StandardRestore(ta, in_place=True),
        b=ckptdb.args.StandardRestore(tb)))
  _assert_untouched(got.a, ta, src)
  _assert_untouched(got.b, tb, src)


def test_default_restore_returns_the_restored_buffer_without_copy(tmp_path):
  """The new array is the C++ restore buffer itself (a capsule-owned numpy
  view), not a copy made in Python."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': np.arange(1 << 16, dtype=np.float32)})
  target = {'w': np.zeros(1 << 16, np.float32)}
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    got = ckptr.restore(tmp_path / 'c', item=target)
  assert type(got['w'].base).__name__ == 'PyCapsule'
  assert got['w'].flags.writeable


class _FakeJaxArray:
  """jax.Array stand-in: a device array with a sharding."""

  def __init__(self, value, sharding):
    self.value = np.asarray(value)
    self.sharding = sharding
    self.shape, self.dtype = self.value.shape, self.value.dtype

  def __array__(self, dtype=None, copy=None):
    del copy
    return self.value if dtype is None else self.value.astype(dtype)


@pytest.fixture
def fake_jax(monkeypatch):
  jax = types.ModuleType('jax')
  jax.Array = _FakeJaxArray
  jax.device_put = lambda x, sharding: _FakeJaxArray(x, sharding)
  monkeypatch.setitem(sys.modules, 'jax', jax)
  return jax


def test_jax_array_target_leaf_comes_back_as_jax_array(tmp_path, fake_jax):
  """Issue 16 / orbax-semantics.md 6.2: with a jax.Array target leaf the
  restored leaf is a jax.Array with the target's sharding (JAX faked)."""
  del fake_jax
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': np.arange(4.0), 'n': 2})
  sharding = object()
  target = {'w': _FakeJaxArray(np.zeros(4, np.float32), sharding), 'n': 0}
  got = ckptr.restore(tmp_path / 'c', target)
  assert isinstance(got['w'], _FakeJaxArray) and got['w'] is not target['w']
  assert got['w'].sharding is sharding and got['w'].dtype == np.float32
  np.testing.assert_array_equal(got['w'].value, np.arange(4.0))
  assert not target['w'].value.any() and got['n'] == 2
  # Its shape is a requested global_shape (strict by default).
  small = {'w': _FakeJaxArray(np.zeros(2), sharding), 'n': 0}
  with pytest.raises(ValueError, match=r"'w'"):
    ckptr.restore(tmp_path / 'c', small)
