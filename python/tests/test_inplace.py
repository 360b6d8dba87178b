"""No copies: saves read numpy memory in place, restores with the in_place
opt-in fill targets in place, and restores hand out the restored buffers
themselves."""

import gc
import tracemalloc

import numpy as np
import pytest

import ckptdb
from ckptdb import orbax_utils

MiB = 1 << 20


def _ptr(a):
  return a.__array_interface__['data'][0]


def _saved(tmp_path, tree, name='c'):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / name, tree)
  return ckptr, tmp_path / name


def test_restore_fills_the_targets_memory(tmp_path):
  src = {'w': np.random.default_rng(1).standard_normal((512, 256)),
         'b': np.arange(1000, dtype=np.int32), 'step': 3}
  ckptr, path = _saved(tmp_path, src)
  target = {'w': np.zeros((512, 256)), 'b': np.zeros(1000, np.int32),
            'step': 0}
  ptrs = {k: _ptr(target[k]) for k in ('w', 'b')}
  got = ckptr.restore(path, item=target, in_place=True)
  for k in ('w', 'b'):
    assert got[k] is target[k], k
    assert _ptr(got[k]) == ptrs[k]
    assert np.shares_memory(got[k], target[k])
    np.testing.assert_array_equal(target[k], src[k])
  assert got['step'] == 3


def test_flax_style_restore_args_fill_in_place_too(tmp_path):
  src = {'w': np.arange(12, dtype=np.float32).reshape(3, 4)}
  ckptr, path = _saved(tmp_path, src)
  target = {'w': np.zeros((3, 4), np.float32)}
  got = ckptr.restore(path, item=target, in_place=True,
                      restore_args=orbax_utils.restore_args_from_target(target))
  assert got['w'] is target['w']
  np.testing.assert_array_equal(target['w'], src['w'])


def test_manager_restore_fills_in_place(tmp_path):
  src = {'w': np.full((64, 64), 2.0, np.float32)}
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ckptdb.args.StandardSave(src))
    target = {'w': np.zeros((64, 64), np.float32)}
    got = mngr.restore(
        0, args=ckptdb.args.StandardRestore(target, in_place=True))
    assert got['w'] is target['w'] and target['w'][5, 5] == 2.0


def test_standard_restore_casts_into_the_targets_dtype_in_place(tmp_path):
  ckptr, path = _saved(tmp_path, {'w': np.linspace(0, 1, 5)})  # float64
  target = {'w': np.zeros(5, np.float32)}
  got = ckptdb.StandardCheckpointer().restore(
      path, args=ckptdb.args.StandardRestore(target, in_place=True))
  assert got['w'] is target['w']
  np.testing.assert_array_equal(target['w'],
                                np.linspace(0, 1, 5).astype(np.float32))


@pytest.mark.parametrize('make_target', [
    lambda: np.zeros(5, np.float32),                  # other dtype
    lambda: np.zeros(6),                              # other shape
    lambda: np.zeros(10)[::2],                        # not contiguous
    lambda: np.frombuffer(bytes(40), np.float64),     # read-only
], ids=['dtype', 'shape', 'strided', 'readonly'])
def test_targets_that_cannot_be_filled_get_new_arrays(tmp_path, make_target):
  src = np.linspace(0, 1, 5)
  ckptr, path = _saved(tmp_path, {'w': src})
  t = make_target()
  before = t.copy()
  got = ckptr.restore(path, item={'w': t}, in_place=True)
  assert got['w'] is not t and not np.shares_memory(got['w'], t)
  assert got['w'].dtype == np.float64
  np.testing.assert_array_equal(got['w'], src)
  np.testing.assert_array_equal(t, before)  # untouched


def test_restore_without_target_exposes_the_restored_buffers(tmp_path):
  ckptr, path = _saved(tmp_path, {'w': np.arange(1 << 18, dtype=np.float32)})
  got = ckptr.restore(path)['w']
  # A view over C++ memory kept alive by a capsule, not a numpy copy.
  assert type(got.base).__name__ == 'PyCapsule'
  assert not got.flags.owndata and got.flags.writeable
  del ckptr
  gc.collect()
  got[0] = 42.0  # still valid, writable memory
  assert got[0] == 42.0 and got[-1] == (1 << 18) - 1


def _numpy_peak(fn):
  """Peak of Python/numpy allocations (tracemalloc) while fn runs."""
  gc.collect()
  tracemalloc.start()
  try:
    fn()
    return tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()


def test_save_and_restore_allocate_no_array_sized_numpy_memory(tmp_path):
  big = np.random.default_rng(2).integers(0, 255, 32 * MiB, dtype=np.uint8)
  ckptr = ckptdb.PyTreeCheckpointer()
  peak = _numpy_peak(lambda: ckptr.save(tmp_path / 'a', {'big': big}))
  assert peak < 1 * MiB, peak
  out = {}
  peak = _numpy_peak(lambda: out.update(ckptr.restore(tmp_path / 'a')))
  assert peak < 1 * MiB, peak
  np.testing.assert_array_equal(out['big'], big)
  target = {'big': np.zeros_like(big)}
  peak = _numpy_peak(
      lambda: ckptr.restore(tmp_path / 'a', item=target, in_place=True))
  assert peak < 1 * MiB, peak
  # Without the opt-in: a new array, but still no numpy-side copy.
  peak = _numpy_peak(lambda: ckptr.restore(tmp_path / 'a', item=target))
  assert peak < 1 * MiB, peak
  # The measurement sees copies: a strided array is copied to be saved.
  strided = np.zeros(64 * MiB, np.uint8)[::2]
  peak = _numpy_peak(lambda: ckptr.save(tmp_path / 'b', {'s': strided}))
  assert peak >= 32 * MiB, peak
